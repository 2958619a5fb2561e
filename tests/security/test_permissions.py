"""The permission matrix, cell by cell, and each role refused what it must not do."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest

from vigil.cases import holds, service
from vigil.errors import ForbiddenError
from vigil.security import (
    ACTIONS,
    MATRIX,
    ROLES,
    SCOPES,
    Database,
    Principal,
    allowed,
    approvals,
    audit,
    create_api_key,
    create_user,
    require,
)

from .dbfixtures import People

# who may do what, written out independently of MATRIX (a change must change both)
ROLE_MAY = {
    "analyst": {
        "decisions:read",
        "alerts:read",
        "cases:read",
        "cases:write",
        "rules:read",
        "changes:propose",
        "holds:read",
        "holds:write",
        "ads:read",
    },
    "lead": {
        "decisions:read",
        "alerts:read",
        "cases:read",
        "cases:write",
        "cases:assign_any",
        "cases:reopen",
        "rules:read",
        "changes:propose",
        "changes:approve",
        "audit:read",
        "holds:read",
        "holds:write",
        "holds:release_denied",
        "ads:read",
    },
}
ROLE_MAY["admin"] = ROLE_MAY["lead"] | {"users:manage", "keys:manage"}
ROLE_MAY["advertiser"] = {"ads:read"}  # a person at an advertiser: their campaigns only
SCOPE_MAY = {
    "events:write": {"events:write"},
    "decisions:read": {"decisions:read"},
    "alerts:read": {"alerts:read"},
    "cases:read": {"cases:read"},
    "cases:write": {"cases:write"},
    "rules:read": {"rules:read"},
    "rules:write": {"changes:propose"},
    "holds:read": {"holds:read"},
    "holds:write": {"holds:write"},
    "ads:read": {"ads:read"},
}


def user(role: str) -> Principal:
    return Principal(kind="user", id=1, name="u", role=role)  # type: ignore[arg-type]


def key(*scopes: str) -> Principal:
    return Principal(kind="key", id=1, name="k", scopes=frozenset(scopes))  # type: ignore[arg-type]


def test_matrix_covers_every_action() -> None:
    assert set(MATRIX) == set(ACTIONS)
    assert set(SCOPE_MAY) == set(SCOPES)


@pytest.mark.parametrize(("role", "action"), list(itertools.product(ROLES, ACTIONS)))
def test_role_cell(role: str, action: str) -> None:
    expected = action in ROLE_MAY[role]
    assert allowed(user(role), action) is expected  # type: ignore[arg-type]
    if not expected:
        with pytest.raises(ForbiddenError, match=f"user:u \\(role {role}\\) may not {action}"):
            require(user(role), action)  # type: ignore[arg-type]


@pytest.mark.parametrize(("scope", "action"), list(itertools.product(SCOPES, ACTIONS)))
def test_scope_cell(scope: str, action: str) -> None:
    assert allowed(key(scope), action) is (action in SCOPE_MAY[scope])  # type: ignore[arg-type]


def test_a_key_without_scopes_may_nothing_and_machines_never_approve() -> None:
    assert not any(allowed(key(), a) for a in ACTIONS)
    with pytest.raises(ForbiddenError, match="a person, not an API key"):
        require(key(*SCOPES), "changes:approve")


def _held(db: Database, people: People) -> tuple[str, str]:
    """A refund held for review and one denied, ids as the simulator makes them."""
    made = [
        holds.NewHold(
            refund_id=rid, decision=decision, score=score, reasons=("session_risk:no_mfa",),
            explanation="session without MFA", source="api", agent_id="ag-20",
        )
        for rid, decision, score in (
            ("rf-5b2e9c1d0a7f43", "review", 0.7), ("rf-0c4d1e9a7b2f55", "deny", 0.97),
        )
    ]  # fmt: skip
    with db.transaction() as s:
        holds.open_holds(s, people.system, made)
    return made[0].refund_id, made[1].refund_id


def _actions(
    db: Database, people: People, case_id: int
) -> dict[str, Callable[[Any, Principal], Any]]:
    review, deny = _held(db, people)
    return {
        "holds:read": lambda s, p: holds.list_holds(s, p),
        "holds:write": lambda s, p: holds.block(s, p, review, "empty box at the centre"),
        "holds:release_denied": lambda s, p: holds.release(s, p, deny, "carrier confirmed"),
        "users:manage": lambda s, p: create_user(s, p, "zed", "long enough password", "admin"),
        "keys:manage": lambda s, p: create_api_key(s, p, "x", ["events:write"]),
        "audit:read": lambda s, p: audit.list_entries(s, p),
        "changes:approve": lambda s, p: approvals.approve_change(
            s, p, approvals.propose_change(s, people.lead2, "threshold", "t", 0.7, "why").id
        ),
        "cases:assign_any": lambda s, p: service.assign(s, p, case_id, people.lead2.id),
        "cases:write": lambda s, p: service.add_note(s, p, case_id, "hello"),
        "cases:read": lambda s, p: service.list_cases(s, p),
    }


@pytest.mark.parametrize("who", ["analyst", "lead", "admin", "reader_key", "writer_key"])
def test_each_principal_is_refused_what_it_must_not_do(
    db: Database, people: People, who: str
) -> None:
    """Through the real service functions: the refusals follow the matrix exactly."""
    from vigil.detectors.base import Alert

    alert = Alert(
        detector="d", version=1, subject_type="refund", subject_id="r1", score=0.9,
        reasons=(), explanation="", event_time_ms=0, alert_id="a1", customer_id="c1",
    )  # fmt: skip
    with db.transaction() as s:
        case_id = service.ingest_alerts(s, people.system, [alert]).opened[0]
    principal = {
        "analyst": people.analyst,
        "lead": people.lead,
        "admin": people.admin,
        "reader_key": key("cases:read", "decisions:read", "holds:read"),
        "writer_key": key("cases:write", "events:write", "holds:write"),
    }[who]
    for action, call in _actions(db, people, case_id).items():
        with db.transaction() as s:
            if allowed(principal, action):  # type: ignore[arg-type]
                call(s, principal)
            else:
                with pytest.raises(ForbiddenError, match="may not"):
                    call(s, principal)

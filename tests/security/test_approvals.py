"""Four eyes: a change takes effect only when a different lead or admin approves it."""

from __future__ import annotations

import pytest

from vigil.errors import (
    ConflictError,
    ForbiddenError,
    RequestError,
    SelfApprovalError,
)
from vigil.security import Database, Principal, approvals
from vigil.security.approvals import effective_value

from .dbfixtures import People


def test_nothing_changes_until_a_second_person_approves(db: Database, people: People) -> None:
    with db.transaction() as s:
        change = approvals.propose_change(
            s, people.lead, "threshold", "review_threshold", 0.6, "too many reviews"
        )
        assert change.status == "pending" and change.current_value is None
        assert effective_value(s, "threshold", "review_threshold") is None
    with db.transaction() as s, pytest.raises(SelfApprovalError, match="cannot approve") as info:
        approvals.approve_change(s, people.lead, change.id)
    assert info.value.http_status == 403
    with db.transaction() as s:
        assert effective_value(s, "threshold", "review_threshold") is None
        applied: list[approvals.ChangeView] = []
        done = approvals.approve_change(s, people.lead2, change.id, on_apply=applied.append)
        assert (done.status, done.decided_by, done.requested_by) == (
            "applied",
            "user:lena",
            "user:lee",
        )
        assert applied == [done]
        assert effective_value(s, "threshold", "review_threshold") == 0.6
    with db.transaction() as s, pytest.raises(ConflictError, match="already applied"):
        approvals.approve_change(s, people.admin, change.id)


@pytest.mark.parametrize("approver", ["analyst", "key", "system"])
def test_only_a_lead_or_admin_person_approves(db: Database, people: People, approver: str) -> None:
    with db.transaction() as s:
        change = approvals.propose_change(s, people.analyst, "rule", "r1", {"when": "x"}, "new")
    principal = {
        "analyst": people.analyst2,
        "key": Principal(kind="key", id=9, name="ci", scopes=frozenset({"rules:write"})),
        "system": people.system,
    }[approver]
    with db.transaction() as s, pytest.raises(ForbiddenError):
        approvals.approve_change(s, principal, change.id)
    with db.transaction() as s:
        assert effective_value(s, "rule", "r1") is None
        assert approvals.approve_change(s, people.admin, change.id).status == "applied"
        assert effective_value(s, "rule", "r1") == {"when": "x"}


def test_a_failing_apply_hook_rolls_the_approval_back(db: Database, people: People) -> None:
    with db.transaction() as s:
        change = approvals.propose_change(s, people.lead, "threshold", "t", 0.4, "why")

    def broken(_view: approvals.ChangeView) -> None:
        raise RuntimeError("rule store unavailable")

    with pytest.raises(RuntimeError), db.transaction() as s:
        approvals.approve_change(s, people.lead2, change.id, on_apply=broken)
    with db.transaction() as s:
        assert approvals.get_change(s, people.analyst, change.id).status == "pending"
        assert effective_value(s, "threshold", "t") is None


def test_a_stale_change_is_refused(db: Database, people: People) -> None:
    with db.transaction() as s:
        first = approvals.propose_change(s, people.lead, "threshold", "t", 0.5, "one")
        second = approvals.propose_change(s, people.lead, "threshold", "t", 0.9, "two")
        approvals.approve_change(s, people.lead2, first.id)
        with pytest.raises(ConflictError, match="changed since it was proposed"):
            approvals.approve_change(s, people.lead2, second.id)
        third = approvals.propose_change(s, people.lead, "threshold", "t", 0.9, "three")
        assert third.current_value == 0.5 and third.base_version == 1
        approvals.approve_change(s, people.admin, third.id)
        assert effective_value(s, "threshold", "t") == 0.9


def test_reject_and_withdraw(db: Database, people: People) -> None:
    with db.transaction() as s:
        a = approvals.propose_change(s, people.analyst, "threshold", "t", 0.3, "why")
        b = approvals.propose_change(s, people.analyst, "threshold", "u", 0.3, "why")
        with pytest.raises(ForbiddenError):
            approvals.reject_change(s, people.analyst2, a.id, "no")
        assert approvals.reject_change(s, people.lead, a.id, "too low").status == "rejected"
        assert approvals.reject_change(s, people.analyst, b.id, "withdrawn").status == "rejected"
        assert approvals.list_changes(s, people.analyst) == []
        assert len(approvals.list_changes(s, people.analyst, status=None)) == 2


@pytest.mark.parametrize(
    ("kind", "value", "match"),
    [
        ("threshold", 1.5, "not a number in"),
        ("threshold", True, "not a number in"),
        ("rule", "drop table", "rule definition"),
        ("model", 1, "unknown change kind"),
    ],
)
def test_bad_changes_are_refused(
    db: Database, people: People, kind: str, value: object, match: str
) -> None:
    with db.transaction() as s, pytest.raises(RequestError, match=match):
        approvals.propose_change(s, people.lead, kind, "t", value, "why")

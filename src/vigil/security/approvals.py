"""Four eyes: a rule or threshold change takes effect only when a second person approves it.

Anyone allowed to ``changes:propose`` (analysts, leads, admins; machines with the
``rules:write`` scope) files a change request: what (``kind`` rule or threshold, ``target``
its name), the new value, and why. It takes effect (``effective_value``; the optional
``on_apply`` hook, e.g. writing the rule store) only when a *person* with ``changes:approve``
(lead or admin) who is *not* its author approves it. Self-approval raises
``SelfApprovalError``; API keys and the command line never approve. A change written
against a value that has since changed is refused (``ConflictError``): propose it again,
so the approver always sees the difference they are approving.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, get_args

import sqlalchemy as sa
from sqlalchemy.orm import Session

from vigil.errors import (
    ConflictError,
    ForbiddenError,
    NotFoundError,
    RequestError,
    SelfApprovalError,
)
from vigil.security import audit
from vigil.security.db import utcnow
from vigil.security.models import ApprovedSetting, ChangeRequest
from vigil.security.permissions import Principal, require

__all__ = [
    "ChangeKind",
    "ChangeView",
    "approve_change",
    "effective_value",
    "get_change",
    "list_changes",
    "propose_change",
    "reject_change",
]

ChangeKind = Literal["rule", "threshold"]
ChangeStatus = Literal["pending", "applied", "rejected"]
KINDS: tuple[ChangeKind, ...] = get_args(ChangeKind)


@dataclass(frozen=True, slots=True)
class ChangeView:
    id: int
    kind: ChangeKind
    target: str
    value: Any
    #: the value in force when the change was proposed (what the approver compares against)
    current_value: Any
    base_version: int
    reason: str
    status: ChangeStatus
    requested_by: str
    requested_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    decision_reason: str | None


def _setting(session: Session, kind: str, target: str) -> ApprovedSetting | None:
    return session.get(ApprovedSetting, (kind, target))


def _view(session: Session, change: ChangeRequest) -> ChangeView:
    setting = _setting(session, change.kind, change.target)
    return ChangeView(
        id=change.id,
        kind=change.kind,  # type: ignore[arg-type]
        target=change.target,
        value=change.value,
        current_value=None if setting is None else setting.value,
        base_version=change.base_version,
        reason=change.reason,
        status=change.status,  # type: ignore[arg-type]
        requested_by=change.requested_by,
        requested_at=change.requested_at,
        decided_by=change.decided_by,
        decided_at=change.decided_at,
        decision_reason=change.decision_reason,
    )


def _check_value(kind: str, target: str, value: Any) -> None:
    if kind not in KINDS:
        raise RequestError(f"unknown change kind {kind!r}; use one of {', '.join(KINDS)}")
    if not target or len(target) > 128:
        raise RequestError("a change needs a target name of 1-128 characters")
    if kind == "threshold" and not (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and 0.0 <= value <= 1.0
    ):
        raise RequestError(f"threshold {target!r}: value {value!r} is not a number in [0, 1]")
    if kind == "rule" and not (value is None or isinstance(value, dict)):
        raise RequestError(
            f"rule {target!r}: value must be the rule definition (an object), or null to remove it"
        )


def propose_change(
    session: Session,
    actor: Principal,
    kind: str,
    target: str,
    value: Any,
    reason: str,
    *,
    now: datetime | None = None,
) -> ChangeView:
    """File a change request; nothing changes until another lead or admin approves it."""
    require(actor, "changes:propose")
    _check_value(kind, target, value)
    if not reason.strip():
        raise RequestError("a change needs a reason (the approver reads it)")
    setting = _setting(session, kind, target)
    change = ChangeRequest(
        kind=kind,
        target=target,
        value=value,
        base_version=0 if setting is None else setting.version,
        reason=reason.strip(),
        status="pending",
        requested_by=actor.actor,
        requested_at=now or utcnow(),
    )
    session.add(change)
    session.flush()
    after = {"kind": kind, "target": target, "value": value, "reason": change.reason}
    audit.record(session, actor, "change.propose", "change", change.id, None, after, now=now)
    return _view(session, change)


def _pending(session: Session, change_id: int) -> ChangeRequest:
    change = session.get(ChangeRequest, change_id, with_for_update=True)
    if change is None:
        raise NotFoundError(f"change request {change_id} does not exist")
    if change.status != "pending":
        raise ConflictError(
            f"change request {change_id} is already {change.status} "
            f"(by {change.decided_by} at {change.decided_at})"
        )
    return change


def _check_second_person(actor: Principal, change: ChangeRequest, verb: str) -> None:
    require(actor, "changes:approve")
    if actor.kind != "user":
        raise ForbiddenError(
            f"{actor.actor} may not {verb} change request {change.id}: "
            "four eyes need a person (a lead or admin), not a key or the command line"
        )
    if change.requested_by == actor.actor:
        raise SelfApprovalError(
            f"{actor.actor} proposed change request {change.id} and cannot {verb} it; "
            "another lead or admin must"
        )


def approve_change(
    session: Session,
    actor: Principal,
    change_id: int,
    *,
    reason: str | None = None,
    on_apply: Callable[[ChangeView], None] | None = None,
    now: datetime | None = None,
) -> ChangeView:
    """A second person approves: the change takes effect in this transaction.

    ``on_apply`` runs last, inside the transaction (an exception rolls the approval back).
    """
    change = _pending(session, change_id)
    _check_second_person(actor, change, "approve")
    setting = _setting(session, change.kind, change.target)
    version = 0 if setting is None else setting.version
    if version != change.base_version:
        raise ConflictError(
            f"change request {change_id}: {change.kind} {change.target!r} changed since it was "
            f"proposed (version {change.base_version} -> {version}); reject it and propose again"
        )
    at = now or utcnow()
    before = None if setting is None else {"value": setting.value, "version": setting.version}
    if setting is None:
        setting = ApprovedSetting(
            kind=change.kind,
            target=change.target,
            value=change.value,
            version=1,
            change_id=change.id,
            updated_at=at,
        )
        session.add(setting)
    else:
        setting.value = change.value
        setting.version += 1
        setting.change_id = change.id
        setting.updated_at = at
    change.status = "applied"
    change.decided_by = actor.actor
    change.decided_at = at
    change.decision_reason = reason
    session.flush()
    after = {"value": setting.value, "version": setting.version, "change_id": change.id}
    audit.record(
        session, actor, "change.approve", change.kind, change.target, before, after, now=at
    )
    view = _view(session, change)
    if on_apply is not None:
        on_apply(view)
    return view


def reject_change(
    session: Session,
    actor: Principal,
    change_id: int,
    reason: str,
    *,
    now: datetime | None = None,
) -> ChangeView:
    """A lead or admin other than the author turns the change down (with a reason).

    Authors withdraw their own changes the same way: rejecting one's own change is allowed.
    """
    change = _pending(session, change_id)
    if change.requested_by != actor.actor:
        _check_second_person(actor, change, "reject")
    if not reason.strip():
        raise RequestError("a rejection needs a reason (the author reads it)")
    at = now or utcnow()
    change.status = "rejected"
    change.decided_by = actor.actor
    change.decided_at = at
    change.decision_reason = reason.strip()
    session.flush()
    audit.record(
        session,
        actor,
        "change.reject",
        "change",
        change.id,
        {"status": "pending"},
        {"status": "rejected", "reason": change.decision_reason},
        now=at,
    )
    return _view(session, change)


def get_change(session: Session, actor: Principal, change_id: int) -> ChangeView:
    require(actor, "rules:read")
    change = session.get(ChangeRequest, change_id)
    if change is None:
        raise NotFoundError(f"change request {change_id} does not exist")
    return _view(session, change)


def list_changes(
    session: Session, actor: Principal, status: str | None = "pending", limit: int = 100
) -> list[ChangeView]:
    require(actor, "rules:read")
    query = sa.select(ChangeRequest).order_by(ChangeRequest.id.desc()).limit(min(limit, 1000))
    if status is not None:
        query = query.where(ChangeRequest.status == status)
    return [_view(session, c) for c in session.scalars(query)]


def effective_value(session: Session, kind: str, target: str) -> Any:
    """The approved value in force (None: never set; the built-in default applies)."""
    setting = _setting(session, kind, target)
    return None if setting is None else setting.value

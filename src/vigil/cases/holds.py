"""Refund holds: review holds the payout until a second person releases or blocks it.

A refund whose request-time answer was **review** is ``held``; one whose answer was **deny**
is ``denied``. Either waits for a person: **release** (the money may go: the refund is
legitimate) or **block** (it may not: fraud), with a reason. The status table:

===========  ==========================================================
from         to
===========  ==========================================================
held         released, blocked
denied       released (``holds:release_denied``: lead or admin), blocked
released     nowhere (resolved)
blocked      nowhere (resolved)
===========  ==========================================================

Nobody reviews their own refund: a principal whose ``agent_id`` is the agent who issued the
refund gets ``OwnRefundError`` (403), whatever their role (the insider problem, applied to
Vigil itself). Every change is audited (``refund_hold`` rows of the audit log, with the
status before and after, the reason and the outcome), and a resolution queues an
``investigation_outcome`` event about the refund (``legitimate`` for a release, ``fraud``
for a block) in the case outbox, in the same transaction: ``flush_outbox`` delivers it to
the runtime's input, which turns it into a label on the customer for later decisions.

Holds are opened by the API's background feeder (``vigil.api.holds.HoldFeeder``) from the
answers ``decide`` gave and the runtime's request-time decisions, never on the decision's
own path; ``open_holds`` is idempotent by refund id. Like ``service``, every function takes
the caller's ``Session`` and the acting ``Principal``, checks the permission matrix, audits
and flushes, but never commits. See docs/cases.md, "Holds".
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Final, Literal, get_args

import sqlalchemy as sa
from sqlalchemy.orm import Session

from vigil.cases.models import CaseAlert, CaseMember, OutboxRow, RefundHold
from vigil.cases.text import SPACE, written
from vigil.errors import ConflictError, ForbiddenError, NotFoundError, RequestError
from vigil.events.codec import encode_one
from vigil.events.schemas import InvestigationOutcome
from vigil.security import audit
from vigil.security.db import utcnow
from vigil.security.permissions import Action, Principal, allowed, require

__all__ = [
    "AUDITED_REFUSALS",
    "MAX_PAGE",
    "MAX_REASON_CHARS",
    "MIN_REASON_CHARS",
    "OPEN",
    "OUTCOME",
    "STATUSES",
    "TRANSITIONS",
    "HoldDetails",
    "HoldEvent",
    "HoldFilter",
    "HoldPage",
    "HoldResolvedError",
    "HoldStatus",
    "HoldView",
    "NewHold",
    "OpenResult",
    "OwnRefundError",
    "Resolution",
    "block",
    "count_holds",
    "fill_details",
    "find_hold",
    "get_hold",
    "holds_for_refunds",
    "link_cases",
    "list_holds",
    "open_holds",
    "record_refusal",
    "refusal",
    "release",
    "resolve",
    "without_details",
]

HoldStatus = Literal["held", "denied", "released", "blocked"]
Resolution = Literal["released", "blocked"]
STATUSES: Final[tuple[HoldStatus, ...]] = get_args(HoldStatus)
OPEN: Final[frozenset[HoldStatus]] = frozenset({"held", "denied"})

# fmt: off
TRANSITIONS: Final[dict[HoldStatus, frozenset[HoldStatus]]] = {
    "held":     frozenset({"released", "blocked"}),
    "denied":   frozenset({"released", "blocked"}),
    "released": frozenset(),
    "blocked":  frozenset(),
}
#: moves that need more than ``holds:write``: paying out what the decision denied
NEEDS: Final[dict[tuple[HoldStatus, HoldStatus], Action]] = {
    ("denied", "released"): "holds:release_denied",
}
# fmt: on
#: the label a resolution sends to the runtime (``investigation_outcome`` about the refund)
OUTCOME: Final[dict[Resolution, Literal["fraud", "legitimate"]]] = {
    "released": "legitimate",
    "blocked": "fraud",
}
#: the status a request-time answer opens
_OPENS: Final[dict[str, HoldStatus]] = {"review": "held", "deny": "denied"}
MIN_REASON_CHARS = 3
MAX_REASON_CHARS = 500
MAX_PAGE = 500
#: at most this many refunds are looked up at once (a case page, a batch of links)
MAX_REFUNDS = 1000


class HoldResolvedError(ConflictError):
    """The hold was already released or blocked: a resolution is final."""

    code = "hold_resolved"


class OwnRefundError(ForbiddenError):
    """The principal acts as the agent who issued the refund: someone else must review it."""

    code = "own_refund"


# --- values ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewHold:
    """A request-time answer of review or deny, as the feeder found it."""

    refund_id: str
    decision: Literal["review", "deny"]
    score: float
    reasons: tuple[str, ...]
    explanation: str
    source: Literal["api", "runtime"]
    order_id: str | None = None
    customer_id: str | None = None
    agent_id: str | None = None
    session_id: str | None = None
    amount_cents: int | None = None
    requested_at_ms: int | None = None


@dataclass(frozen=True, slots=True)
class HoldDetails:
    """What a hold may learn after it was opened (from the runtime's facts about the refund)."""

    refund_id: str
    order_id: str | None = None
    customer_id: str | None = None
    agent_id: str | None = None
    session_id: str | None = None
    amount_cents: int | None = None
    requested_at_ms: int | None = None


@dataclass(frozen=True, slots=True)
class HoldEvent:
    """One audit row about the hold, oldest first."""

    at: datetime
    actor: str
    action: str
    before: Any
    after: Any


@dataclass(frozen=True, slots=True)
class HoldView:
    id: int
    refund_id: str
    status: HoldStatus
    decision: str
    score: float
    reasons: tuple[str, ...]
    explanation: str
    source: str
    order_id: str | None
    customer_id: str | None
    agent_id: str | None
    session_id: str | None
    amount_cents: int | None
    requested_at_ms: int | None
    created_at: datetime
    resolved_by: str | None
    resolved_at: datetime | None
    resolution_reason: str | None
    case_id: int | None
    #: the hold's audit rows (``get_hold`` only; empty in lists)
    history: tuple[HoldEvent, ...] = ()

    @property
    def resolved(self) -> bool:
        return self.status not in OPEN


@dataclass(frozen=True, slots=True)
class HoldFilter:
    """Which holds ``list_holds`` returns; every field narrows, None means any."""

    statuses: tuple[HoldStatus, ...] | None = None
    agent_id: str | None = None
    customer_id: str | None = None
    case_id: int | None = None


@dataclass(frozen=True, slots=True)
class HoldPage:
    items: tuple[HoldView, ...]
    #: pass as ``cursor`` for the next (older) page; None at the end
    next_cursor: int | None


@dataclass(frozen=True, slots=True)
class OpenResult:
    opened: tuple[str, ...] = ()
    #: runtime holds the API's own answer replaced (the answer the refund system acted on)
    restated: tuple[str, ...] = ()
    duplicates: int = 0


# --- opening (the feeder) ----------------------------------------------------------------


def open_holds(
    session: Session, actor: Principal, holds: Iterable[NewHold], *, now: datetime | None = None
) -> OpenResult:
    """Open a hold for each answer of review or deny; idempotent by refund id.

    A refund already held keeps its hold, except that the API's answer replaces a runtime
    one that nobody has resolved yet: what ``decide`` answered is what the refund system
    acted on.
    """
    require(actor, "holds:write")
    at = now or utcnow()
    wanted: dict[str, NewHold] = {}
    for h in holds:
        if h.decision not in _OPENS:
            raise RequestError(f"refund {h.refund_id!r}: {h.decision!r} holds nothing")
        if h.refund_id not in wanted or h.source == "api":
            wanted[h.refund_id] = h
    existing = {
        row.refund_id: row
        for ids in _chunks(list(wanted))
        for row in session.scalars(sa.select(RefundHold).where(RefundHold.refund_id.in_(ids)))
    }
    opened: list[str] = []
    restated: list[str] = []
    duplicates = 0
    for rid, h in wanted.items():
        row = existing.get(rid)
        if row is None:
            row = RefundHold(
                refund_id=rid,
                order_id=h.order_id,
                customer_id=h.customer_id,
                agent_id=h.agent_id,
                session_id=h.session_id,
                amount_cents=h.amount_cents,
                decision=h.decision,
                score=h.score,
                reasons=list(h.reasons),
                explanation=h.explanation,
                source=h.source,
                requested_at_ms=h.requested_at_ms,
                created_at=at,
                status=_OPENS[h.decision],
                case_id=None,
            )
            session.add(row)  # flushed with its audit row
            audit.record(session, actor, "hold.open", "refund_hold", rid, None, _snap(row), now=at)
            opened.append(rid)
        elif row.source == "runtime" and h.source == "api" and row.status in OPEN:
            before = _snap(row)
            row.source, row.decision, row.status = "api", h.decision, _OPENS[h.decision]
            row.score, row.reasons, row.explanation = h.score, list(h.reasons), h.explanation
            _fill(row, h)
            session.flush()
            after = _snap(row)
            audit.record(session, actor, "hold.restate", "refund_hold", rid, before, after, now=at)
            restated.append(rid)
        else:
            duplicates += 1
    return OpenResult(tuple(opened), tuple(restated), duplicates)


def fill_details(
    session: Session, actor: Principal, details: Iterable[HoldDetails]
) -> tuple[str, ...]:
    """Fill what a hold did not know yet (never overwrites a known value); audited.
    Returns the refunds whose hold learnt something."""
    require(actor, "holds:write")
    by_id = {d.refund_id: d for d in details}
    changed: list[str] = []
    for ids in _chunks(list(by_id)):
        for row in session.scalars(sa.select(RefundHold).where(RefundHold.refund_id.in_(ids))):
            before = _snap(row)
            if _fill(row, by_id[row.refund_id]):
                session.flush()
                after = _snap(row)
                audit.record(
                    session, actor, "hold.details", "refund_hold", row.refund_id, before, after
                )
                changed.append(row.refund_id)
    return tuple(changed)


def link_cases(
    session: Session, actor: Principal, alerts_of_refund: Mapping[str, Sequence[str]]
) -> dict[str, int]:
    """Give holds not yet in a case the case holding one of the alerts about their refund
    (refund -> alert ids); returns refund -> case for the holds linked now."""
    require(actor, "holds:write")
    linked: dict[str, int] = {}
    for ids in _chunks(list(alerts_of_refund)):
        rows = list(
            session.scalars(
                sa.select(RefundHold).where(
                    RefundHold.refund_id.in_(ids), RefundHold.case_id.is_(None)
                )
            )
        )
        if not rows:
            continue
        alert_ids = {a for row in rows for a in alerts_of_refund[row.refund_id]}
        found = session.execute(
            sa.select(CaseAlert.alert_id, CaseAlert.case_id).where(
                CaseAlert.alert_id.in_(alert_ids)
            )
        )
        case_of: dict[str, int] = {alert_id: case_id for alert_id, case_id in found}
        for row in rows:
            cases = sorted(case_of[a] for a in alerts_of_refund[row.refund_id] if a in case_of)
            if not cases:
                continue
            row.case_id = cases[0]
            session.flush()
            after = {"case_id": row.case_id}
            audit.record(
                session, actor, "hold.link_case", "refund_hold", row.refund_id, None, after
            )
            linked[row.refund_id] = row.case_id
    return linked


# --- reads -------------------------------------------------------------------------------


def get_hold(session: Session, actor: Principal, refund_id: str) -> HoldView:
    """One hold with its history (its audit rows, oldest first)."""
    require(actor, "holds:read")
    row = _hold(session, refund_id)
    history = tuple(
        HoldEvent(e.at, e.actor, e.action, e.before, e.after)
        for e in reversed(audit.entries_for(session, "refund_hold", refund_id, limit=1000))
    )
    return replace(_view(row), history=history)


def find_hold(session: Session, refund_id: str) -> HoldView | None:
    """The hold of a refund, if any, without a permission check: for a caller that already
    checked one (``GET /v1/decisions/{id}`` shows the hold to whoever may read the decision)."""
    row = session.scalar(sa.select(RefundHold).where(RefundHold.refund_id == refund_id))
    return None if row is None else _view(row)


def list_holds(
    session: Session,
    actor: Principal,
    filters: HoldFilter | None = None,
    *,
    cursor: int | None = None,
    limit: int = 50,
) -> HoldPage:
    """Holds newest first, filtered; ``cursor`` is the previous page's ``next_cursor`` (a hold
    id), so a page never repeats or skips a hold while new ones are opened."""
    require(actor, "holds:read")
    if not 1 <= limit <= MAX_PAGE:
        raise RequestError(f"paging: limit must be 1-{MAX_PAGE}")
    query = sa.select(RefundHold).where(*_conditions(filters or HoldFilter()))
    if cursor is not None:
        query = query.where(RefundHold.id < cursor)
    rows = list(session.scalars(query.order_by(RefundHold.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    items = tuple(_view(r) for r in rows[:limit])
    return HoldPage(items=items, next_cursor=items[-1].id if more else None)


def count_holds(
    session: Session, actor: Principal, filters: HoldFilter | None = None
) -> dict[HoldStatus, tuple[int, int]]:
    """status -> (holds, money in cents) among the holds ``filters`` selects (its
    ``statuses`` aside): the queue's tabs."""
    require(actor, "holds:read")
    f = replace(filters or HoldFilter(), statuses=None)
    rows = session.execute(
        sa.select(
            RefundHold.status,
            sa.func.count(),
            sa.func.coalesce(sa.func.sum(RefundHold.amount_cents), 0),
        )
        .where(*_conditions(f))
        .group_by(RefundHold.status)
    )
    found = {status: (int(n), int(cents or 0)) for status, n, cents in rows}
    return {s: found.get(s, (0, 0)) for s in STATUSES}


def without_details(session: Session, actor: Principal, *, limit: int) -> tuple[str, ...]:
    """Refunds of open holds that do not know their customer yet, newest first (answers
    given without the refund's event: the feeder looks for the runtime's facts again)."""
    require(actor, "holds:read")
    return tuple(
        session.scalars(
            sa.select(RefundHold.refund_id)
            .where(RefundHold.status.in_(tuple(OPEN)), RefundHold.customer_id.is_(None))
            .order_by(RefundHold.id.desc())
            .limit(limit)
        )
    )


def holds_for_refunds(
    session: Session, actor: Principal, refund_ids: Iterable[str]
) -> tuple[HoldView, ...]:
    """The holds of these refunds (a case page's), newest first; at most ``MAX_REFUNDS``."""
    require(actor, "holds:read")
    ids = list(dict.fromkeys(refund_ids))[:MAX_REFUNDS]
    if not ids:
        return ()
    rows = session.scalars(
        sa.select(RefundHold).where(RefundHold.refund_id.in_(ids)).order_by(RefundHold.id.desc())
    )
    return tuple(_view(r) for r in rows)


# --- actions -----------------------------------------------------------------------------


def release(
    session: Session,
    actor: Principal,
    refund_id: str,
    reason: str,
    *,
    now: datetime | None = None,
    event_time_ms: int | None = None,
) -> HoldView:
    """Let the payout go: the refund is legitimate (a denied one needs a lead or admin)."""
    return resolve(
        session, actor, refund_id, "released", reason, now=now, event_time_ms=event_time_ms
    )


def block(
    session: Session,
    actor: Principal,
    refund_id: str,
    reason: str,
    *,
    now: datetime | None = None,
    event_time_ms: int | None = None,
) -> HoldView:
    """Stop the payout: the refund is fraud."""
    return resolve(
        session, actor, refund_id, "blocked", reason, now=now, event_time_ms=event_time_ms
    )


def resolve(
    session: Session,
    actor: Principal,
    refund_id: str,
    to: Resolution,
    reason: str,
    *,
    now: datetime | None = None,
    event_time_ms: int | None = None,
) -> HoldView:
    """Release or block the hold, with a reason; audited; the label event goes to the outbox.

    The event is stamped ``event_time_ms`` (the API passes its ``EventClock``: the stream's
    time during a replay), else the time of the action.
    """
    require(actor, "holds:write")
    if to not in OUTCOME:
        raise RequestError(f"refund {refund_id!r}: a hold is released or blocked, not {to!r}")
    text = _reason(refund_id, reason)
    row = _hold(session, refund_id, for_update=True)
    _check(actor, row, to)
    at = now or utcnow()
    before = {"status": row.status}
    row.status = to
    row.resolved_by = actor.actor
    row.resolved_at = at
    row.resolution_reason = text
    session.flush()
    outcome = OUTCOME[to]
    event = InvestigationOutcome(
        event_id=f"hold-{row.id}",
        event_time_ms=event_time_ms if event_time_ms is not None else int(at.timestamp() * 1000),
        subject_type="refund",
        subject_id=refund_id,
        outcome=outcome,
    )
    session.add(
        OutboxRow(
            event_id=event.event_id,
            event_json=encode_one(event).decode(),
            created_at=at,
            delivered_at=None,
        )
    )
    session.flush()
    after = {"status": to, "reason": text, "outcome": outcome, "event_id": event.event_id}
    action = "hold.release" if to == "released" else "hold.block"
    audit.record(session, actor, action, "refund_hold", refund_id, before, after, now=at)
    return _view(row)


@dataclass(frozen=True, slots=True)
class CaseBlocks:
    """What labelling a case fraud did to its refunds' holds."""

    blocked: tuple[str, ...] = ()
    #: (refund id, why not) of the open holds left for a person
    left: tuple[tuple[str, str], ...] = ()


def block_holds_of_case(
    session: Session,
    actor: Principal,
    case_id: int,
    *,
    now: datetime | None = None,
    event_time_ms: int | None = None,
) -> CaseBlocks:
    """A case labelled fraud: block the payouts of its refunds that still wait (held or
    denied at request time), as the person who labelled it, with the case as the reason. A
    hold that person may not block (the agent who issued the refund; a key without
    ``holds:write``) is left open for someone else, and said so."""
    refunds = [
        e.removeprefix("refund:")
        for e in session.scalars(
            sa.select(CaseMember.entity).where(
                CaseMember.case_id == case_id, CaseMember.entity.like("refund:%")
            )
        )
    ]
    rows = session.scalars(
        sa.select(RefundHold).where(
            sa.or_(RefundHold.refund_id.in_(refunds), RefundHold.case_id == case_id),
            RefundHold.status.in_(tuple(OPEN)),
        )
    ).all()
    blocked: list[str] = []
    left: list[tuple[str, str]] = []
    for row in sorted(rows, key=lambda r: r.id):
        why = refusal(actor, _view(row), "blocked")
        if why is not None:
            left.append((row.refund_id, why))
            continue
        resolve(
            session, actor, row.refund_id, "blocked", f"case {case_id} labelled fraud",
            now=now, event_time_ms=event_time_ms,
        )  # fmt: skip
        blocked.append(row.refund_id)
    return CaseBlocks(tuple(blocked), tuple(left))


def record_refusal(
    session: Session,
    actor: Principal,
    refund_id: str,
    to: Resolution,
    error: Exception,
    *,
    now: datetime | None = None,
) -> None:
    """Audit a release or block that was refused (the issuing agent trying to release their
    own refund, a second resolution, a role that may not): in its own transaction, since the
    refused one rolled back. The attempt is what an investigator looks for first."""
    after = {"attempted": to, "refused": type(error).__name__, "why": str(error)}
    audit.record(session, actor, "hold.refused", "refund_hold", refund_id, None, after, now=now)


#: refusals that are audited (``record_refusal``): who tried what, not bad input
AUDITED_REFUSALS: Final = (ForbiddenError, ConflictError)


def refusal(actor: Principal, hold: HoldView, to: Resolution) -> str | None:
    """Why ``actor`` may not move ``hold`` to ``to`` (None: it may); the console disables a
    form with this sentence. The same checks ``resolve`` makes, in the same order."""
    try:
        require(actor, "holds:write")
        _check(actor, hold, to)
    except (ConflictError, ForbiddenError) as exc:
        return str(exc)
    return None


# --- helpers -----------------------------------------------------------------------------


def _canonical_agent(agent_id: str) -> str:
    """An agent id as a person reads it: compatibility-normalised (NFKC), without the
    characters a screen does not show (zero-width, direction marks, controls) and case."""
    folded = unicodedata.normalize("NFKC", agent_id)
    return "".join(c for c in folded if c.isprintable() and not c.isspace()).casefold()


def same_agent(a: str, b: str | None) -> bool:
    """Whether two agent ids name the same agent to a reader: ``ag-12`` and ``ag-12`` with a
    zero-width space are one agent, so an id dressed up with invisible characters cannot
    slip a refund past the rule that nobody reviews their own."""
    return b is not None and _canonical_agent(a) == _canonical_agent(b)


def _check(actor: Principal, hold: RefundHold | HoldView, to: Resolution) -> None:
    """The status table, the insider rule and the permission a move needs; raises."""
    status: HoldStatus = hold.status  # type: ignore[assignment]
    if status not in OPEN:
        raise HoldResolvedError(
            f"hold on refund {hold.refund_id!r} is already {status} by {hold.resolved_by} "
            f"at {_iso(hold.resolved_at)}: a resolution is final"
        )
    if to not in TRANSITIONS[status]:  # pragma: no cover - every open status may go both ways
        raise ConflictError(f"hold on refund {hold.refund_id!r}: {status} cannot become {to}")
    if actor.agent_id is not None and same_agent(actor.agent_id, hold.agent_id):
        raise OwnRefundError(
            f"{actor.actor} acts as agent {actor.agent_id}, who issued refund "
            f"{hold.refund_id!r}: nobody reviews their own refund; someone else must release "
            "or block it"
        )
    needs = NEEDS.get((status, to))
    if needs is not None and not allowed(actor, needs):
        raise ForbiddenError(
            f"{actor.actor} may not release refund {hold.refund_id!r}: the decision denied it, "
            "and paying out a denied refund needs a lead or an admin"
        )


def _reason(refund_id: str, reason: str) -> str:
    text = written(reason, MIN_REASON_CHARS, MAX_REASON_CHARS)
    if text is None:
        raise RequestError(
            f"refund {refund_id!r}: give a reason of {MIN_REASON_CHARS}-{MAX_REASON_CHARS} "
            f"characters once trimmed (got {len(reason.strip(SPACE))})"
        )
    return text


def _hold(session: Session, refund_id: str, *, for_update: bool = False) -> RefundHold:
    query = sa.select(RefundHold).where(RefundHold.refund_id == refund_id)
    if for_update:
        query = query.with_for_update()
    row = session.scalar(query)
    if row is None:
        raise NotFoundError(
            f"no hold on refund {refund_id!r}: only refunds answered review or deny are held"
        )
    return row


def _conditions(f: HoldFilter) -> list[sa.ColumnElement[bool]]:
    out: list[sa.ColumnElement[bool]] = []
    if f.statuses is not None:
        unknown = [s for s in f.statuses if s not in STATUSES]
        if unknown:
            raise RequestError(f"unknown status {unknown[0]!r}; use one of {', '.join(STATUSES)}")
        out.append(RefundHold.status.in_(f.statuses))
    if f.agent_id is not None:
        out.append(RefundHold.agent_id == f.agent_id)
    if f.customer_id is not None:
        out.append(RefundHold.customer_id == f.customer_id)
    if f.case_id is not None:
        out.append(RefundHold.case_id == f.case_id)
    return out


_DETAILS = (
    "order_id",
    "customer_id",
    "agent_id",
    "session_id",
    "amount_cents",
    "requested_at_ms",
)


def _fill(row: RefundHold, source: NewHold | HoldDetails) -> bool:
    changed = False
    for name in _DETAILS:
        value = getattr(source, name)
        if value is not None and getattr(row, name) is None:
            setattr(row, name, value)
            changed = True
    return changed


def _snap(row: RefundHold) -> dict[str, Any]:
    return {
        "status": row.status,
        "decision": row.decision,
        "score": row.score,
        "source": row.source,
        **{name: getattr(row, name) for name in _DETAILS},
    }


def _view(row: RefundHold) -> HoldView:
    return HoldView(
        id=row.id,
        refund_id=row.refund_id,
        status=row.status,  # type: ignore[arg-type]
        decision=row.decision,
        score=row.score,
        reasons=tuple(row.reasons),
        explanation=row.explanation,
        source=row.source,
        order_id=row.order_id,
        customer_id=row.customer_id,
        agent_id=row.agent_id,
        session_id=row.session_id,
        amount_cents=row.amount_cents,
        requested_at_ms=row.requested_at_ms,
        created_at=row.created_at,
        resolved_by=row.resolved_by,
        resolved_at=row.resolved_at,
        resolution_reason=row.resolution_reason,
        case_id=row.case_id,
    )


def _iso(at: datetime | None) -> str:
    return "?" if at is None else at.isoformat(timespec="seconds")


def _chunks(ids: list[str], size: int = MAX_REFUNDS) -> Iterable[list[str]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]

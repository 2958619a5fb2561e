"""The case service: every action on cases, authorised, audited, in the caller's transaction.

Each function takes the SQLAlchemy ``Session`` of the caller's unit of work and the acting
``Principal``; it checks the permission matrix (``vigil.security.require``), changes the
rows, appends the audit row(s) and ``flush``es, but never commits, so the action, its audit
row and (for labels) its outbox events commit together or not at all::

    with db.transaction() as session:
        page = list_cases(session, principal, CaseFilter(statuses=("new",)), Paging())
        transition(session, principal, page.items[0].id, "triage")
    flush_outbox(db, outbox_path)          # after commit: label events -> JSONL

Errors are ``vigil.errors.ServiceError`` subclasses that know their HTTP status.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased

from vigil.cases.grouping import Group, group_of
from vigil.cases.models import (
    Case,
    CaseAlert,
    CaseIdentifier,
    CaseLabel,
    CaseMember,
    CaseNote,
    OutboxRow,
)
from vigil.cases.text import written
from vigil.cases.transitions import OPEN, RESOLVED, STATUSES, check_transition, is_reopen
from vigil.cases.views import (
    AlertView,
    CaseDetail,
    CaseFilter,
    CasePage,
    CaseSummary,
    EntityHit,
    HistoryItem,
    IngestResult,
    LabelResult,
    LabelView,
    NoteView,
    Paging,
    RelatedCase,
)
from vigil.detectors.base import Alert
from vigil.errors import ConflictError, NotFoundError, RequestError
from vigil.events.codec import encode_one
from vigil.events.schemas import AnalystDecision
from vigil.security import audit, pii
from vigil.security.db import utcnow
from vigil.security.models import User
from vigil.security.permissions import STAFF_ROLES, Principal, require

__all__ = [
    "add_note",
    "assign",
    "find_cases_by_identifier",
    "get_case",
    "ingest_alerts",
    "label",
    "link_identifier",
    "list_cases",
    "transition",
]

MAX_NOTE_CHARS = 10_000
MAX_PAGE = 500
_OPEN = tuple(OPEN)


# --- ingest ------------------------------------------------------------------------------


def ingest_alerts(
    session: Session, actor: Principal, alerts: Iterable[Alert], *, now: datetime | None = None
) -> IngestResult:
    """Put each alert in the open case of its ring, agent or customer, or open one.

    Idempotent by alert id: an alert already in a case is counted as a duplicate and left.
    """
    require(actor, "cases:write")
    at = now or utcnow()
    case_of: dict[str, int] = {}
    opened: list[int] = []
    added = duplicates = 0
    for alert in alerts:
        if alert.alert_id in case_of or session.get(CaseAlert, alert.alert_id) is not None:
            duplicates += 1
            continue
        group = group_of(alert)
        case = _open_case_for(session, group)
        if case is None:
            case = _open_case(session, actor, group, at)
            opened.append(case.id)
        _add_alert(session, actor, case, group, alert, at)
        case_of[alert.alert_id] = case.id
        added += 1
    return IngestResult(case_of=case_of, opened=tuple(opened), added=added, duplicates=duplicates)


def _open_case_for(session: Session, group: Group) -> Case | None:
    if group.ring_lookup:
        ring_case = session.scalar(
            sa.select(Case)
            .join(CaseMember, CaseMember.case_id == Case.id)
            .where(
                Case.group_type == "ring",
                Case.status.in_(_OPEN),
                CaseMember.entity.in_(group.ring_lookup),
            )
            .order_by(Case.id)
            .limit(1)
        )
        if ring_case is not None:
            return ring_case
    if group.refund_lookup:  # one incident, one case: the open case that has its refunds
        shared = session.scalar(
            sa.select(Case)
            .join(CaseMember, CaseMember.case_id == Case.id)
            .where(Case.status.in_(_OPEN), CaseMember.entity.in_(group.refund_lookup))
            .order_by(Case.id)
            .limit(1)
        )
        if shared is not None:
            return shared
    return session.scalar(
        sa.select(Case).where(
            Case.group_type == group.group_type,
            Case.group_key == group.group_key,
            Case.status.in_(_OPEN),
        )
    )


def _open_case(session: Session, actor: Principal, group: Group, at: datetime) -> Case:
    case = Case(
        group_type=group.group_type,
        group_key=group.group_key,
        status="new",
        title=group.title[:256],
        assignee_id=None,
        score_max=0.0,
        amount_cents=0,
        alert_count=0,
        label=None,
        opened_at=at,
        updated_at=at,
        resolved_at=None,
    )
    try:  # another writer may open the same group's case at the same moment
        with session.begin_nested():
            session.add(case)
            session.flush()
    except sa.exc.IntegrityError:
        existing = _open_case_for(session, group)
        if existing is None:
            raise
        return existing
    audit.record(session, actor, "case.open", "case", case.id, None, _snapshot(case), now=at)
    return case


def _add_alert(
    session: Session, actor: Principal, case: Case, group: Group, alert: Alert, at: datetime
) -> None:
    session.add(
        CaseAlert(
            alert_id=alert.alert_id,
            case_id=case.id,
            detector=alert.detector,
            subject_type=alert.subject_type,
            subject_id=alert.subject_id,
            score=alert.score,
            amount_cents=alert.amount_cents,
            event_time_ms=alert.event_time_ms,
            payload=msgspec.to_builtins(alert),
            added_at=at,
        )
    )
    known = set(
        session.scalars(
            sa.select(CaseMember.entity).where(
                CaseMember.case_id == case.id, CaseMember.entity.in_(group.members)
            )
        )
    )
    for entity in dict.fromkeys(group.members):
        if entity not in known:
            session.add(CaseMember(case_id=case.id, entity=entity))
    before = _snapshot(case)
    case.alert_count += 1
    case.score_max = max(case.score_max, alert.score)
    session.flush()
    case.amount_cents = _money_at_risk(session, case.id)
    if case.group_type == "ring":
        case.title = group.title[:256] if case.group_key == group.group_key else case.title
    case.updated_at = at
    session.flush()
    after = {**_snapshot(case), "alert_id": alert.alert_id, "detector": alert.detector}
    audit.record(session, actor, "case.add_alert", "case", case.id, before, after, now=at)


def _money_at_risk(session: Session, case_id: int) -> int:
    """Refund money the case covers, each refund counted once.

    Refund alerts carry their own refund's amount; alerts about an agent, session or ring
    carry a total over several refunds. The case's money is the larger of the distinct
    refunds' sum and the largest such total (a lower bound, never a double count).
    """
    per_refund: dict[str, int] = {}
    largest_total = 0
    rows = session.execute(
        sa.select(CaseAlert.subject_type, CaseAlert.subject_id, CaseAlert.amount_cents).where(
            CaseAlert.case_id == case_id
        )
    )
    for subject_type, subject_id, amount in rows:
        if subject_type == "refund":
            per_refund[subject_id] = max(per_refund.get(subject_id, 0), amount)
        else:
            largest_total = max(largest_total, amount)
    return max(sum(per_refund.values()), largest_total)


# --- reads -------------------------------------------------------------------------------


def list_cases(
    session: Session,
    actor: Principal,
    filters: CaseFilter | None = None,
    paging: Paging | None = None,
) -> CasePage:
    """The case queue: filtered, ordered (priority, newest or updated) and paged."""
    require(actor, "cases:read")
    f = filters or CaseFilter()
    p = paging or Paging()
    if not 1 <= p.limit <= MAX_PAGE or p.offset < 0:
        raise RequestError(f"paging: limit must be 1-{MAX_PAGE} and offset >= 0")
    conditions: list[sa.ColumnElement[bool]] = []
    if f.statuses is not None:
        unknown = [s for s in f.statuses if s not in STATUSES]
        if unknown:
            raise RequestError(f"unknown status {unknown[0]!r}; use one of {', '.join(STATUSES)}")
        conditions.append(Case.status.in_(f.statuses))
    if f.unassigned:
        conditions.append(Case.assignee_id.is_(None))
    elif f.assignee_id is not None:
        conditions.append(Case.assignee_id == f.assignee_id)
    if f.group_type is not None:
        conditions.append(Case.group_type == f.group_type)
    if f.group_key is not None:
        conditions.append(Case.group_key == f.group_key)
    if f.min_score is not None:
        conditions.append(Case.score_max >= f.min_score)
    if f.label is not None:
        conditions.append(Case.label == f.label)
    order = {
        "priority": (Case.score_max.desc(), Case.amount_cents.desc(), Case.id.desc()),
        "newest": (Case.opened_at.desc(), Case.id.desc()),
        "updated": (Case.updated_at.desc(), Case.id.desc()),
    }[p.order]
    total = session.scalar(sa.select(sa.func.count()).select_from(Case).where(*conditions)) or 0
    rows = session.execute(
        sa.select(Case, User.username)
        .outerjoin(User, User.id == Case.assignee_id)
        .where(*conditions)
        .order_by(*order)
        .limit(p.limit)
        .offset(p.offset)
    )
    items = tuple(_summary(case, username) for case, username in rows)
    return CasePage(items=items, total=total, limit=p.limit, offset=p.offset)


def get_case(session: Session, actor: Principal, case_id: int) -> CaseDetail:
    """One case with its alerts (oldest first), members, notes, labels and history."""
    require(actor, "cases:read")
    case = _case(session, case_id)
    alerts = tuple(
        AlertView(
            a.alert_id,
            a.detector,
            a.subject_type,
            a.subject_id,
            a.score,
            a.amount_cents,
            a.event_time_ms,
            a.payload,
        )
        for a in session.scalars(
            sa.select(CaseAlert)
            .where(CaseAlert.case_id == case_id)
            .order_by(CaseAlert.event_time_ms, CaseAlert.alert_id)
        )
    )
    members = tuple(
        session.scalars(
            sa.select(CaseMember.entity)
            .where(CaseMember.case_id == case_id)
            .order_by(CaseMember.entity)
        )
    )
    notes = tuple(
        NoteView(n.id, n.author, n.body, n.created_at)
        for n in session.scalars(
            sa.select(CaseNote).where(CaseNote.case_id == case_id).order_by(CaseNote.id)
        )
    )
    labels = tuple(
        LabelView(lb.id, lb.outcome, lb.author, lb.created_at)
        for lb in session.scalars(
            sa.select(CaseLabel).where(CaseLabel.case_id == case_id).order_by(CaseLabel.id)
        )
    )
    history = tuple(
        HistoryItem(e.at, e.actor, e.action, e.before, e.after)
        for e in reversed(audit.entries_for(session, "case", case_id, limit=1000))
    )
    return CaseDetail(
        case=_summary(case, _username(session, case.assignee_id)),
        alerts=alerts,
        members=members,
        notes=notes,
        labels=labels,
        history=history,
    )


# --- actions -----------------------------------------------------------------------------


def assign(
    session: Session,
    actor: Principal,
    case_id: int,
    assignee_id: int | None,
    *,
    now: datetime | None = None,
) -> CaseSummary:
    """Give the case to a user (None: back to the queue).

    With ``cases:write`` a person may take an unassigned case or give back their own;
    assigning anyone else, or taking a case from someone, needs ``cases:assign_any``.
    """
    require(actor, "cases:write")
    case = _case(session, case_id, for_update=True)
    own = actor.kind == "user" and (
        (assignee_id == actor.id and case.assignee_id is None)
        or (assignee_id is None and case.assignee_id == actor.id)
    )
    if not own:
        require(actor, "cases:assign_any")
    if assignee_id is not None:
        user = session.get(User, assignee_id)
        if user is None or not user.active or user.role not in STAFF_ROLES:
            raise NotFoundError(f"case {case_id}: no active user {assignee_id} to assign it to")
    if case.assignee_id == assignee_id:
        return _summary(case, _username(session, assignee_id))
    before = {"assignee_id": case.assignee_id}
    at = now or utcnow()
    case.assignee_id = assignee_id
    case.updated_at = at
    session.flush()
    after = {"assignee_id": assignee_id}
    audit.record(session, actor, "case.assign", "case", case_id, before, after, now=at)
    return _summary(case, _username(session, assignee_id))


def transition(
    session: Session,
    actor: Principal,
    case_id: int,
    to_status: str,
    *,
    note: str | None = None,
    now: datetime | None = None,
) -> CaseSummary:
    """Move the case along the transition table (resolving is done by ``label``)."""
    require(actor, "cases:write")
    case = _case(session, case_id, for_update=True)
    if to_status in RESOLVED:
        raise RequestError(
            f"case {case_id}: a case is resolved by labelling it fraud or legitimate "
            f"(label), not by moving it to {to_status!r}"
        )
    target = check_transition(case_id, case.status, to_status)
    if is_reopen(case.status, target):
        require(actor, "cases:reopen")
        other = session.scalar(
            sa.select(Case.id).where(
                Case.group_type == case.group_type,
                Case.group_key == case.group_key,
                Case.status.in_(_OPEN),
                Case.id != case.id,
            )
        )
        if other is not None:
            raise ConflictError(
                f"case {case_id} cannot be reopened: case {other} is open for the same "
                f"{case.group_type} {case.group_key!r}; work in case {other}"
            )
    at = now or utcnow()
    before = {"status": case.status, "label": case.label}
    case.status = target
    case.updated_at = at
    if is_reopen(before["status"] or "", target):
        case.label = None
        case.resolved_at = None
    session.flush()
    after = {"status": target, "label": case.label}
    audit.record(session, actor, "case.transition", "case", case_id, before, after, now=at)
    if note:
        add_note(session, actor, case_id, note, now=at)
    return _summary(case, _username(session, case.assignee_id))


def add_note(
    session: Session, actor: Principal, case_id: int, body: str, *, now: datetime | None = None
) -> NoteView:
    require(actor, "cases:write")
    text = written(body, 1, MAX_NOTE_CHARS)
    if text is None:
        raise RequestError(
            f"case {case_id}: a note needs 1-{MAX_NOTE_CHARS:,} characters, not only spaces"
        )
    case = _case(session, case_id)
    at = now or utcnow()
    note = CaseNote(case_id=case_id, author=actor.actor, body=text, created_at=at)
    session.add(note)
    case.updated_at = at
    session.flush()
    after = {"note_id": note.id, "body": text}
    audit.record(session, actor, "case.note", "case", case_id, None, after, now=at)
    return NoteView(note.id, note.author, note.body, note.created_at)


def label(
    session: Session,
    actor: Principal,
    case_id: int,
    outcome: str,
    *,
    note: str | None = None,
    now: datetime | None = None,
    event_time_ms: int | None = None,
) -> LabelResult:
    """Resolve the case as fraud or legitimate and queue one label event per alert.

    The ``AnalystDecision`` events go to the outbox table in this transaction;
    ``flush_outbox`` appends them to the JSONL file the models read, after commit. They are
    stamped ``event_time_ms`` (the API passes its ``EventClock``: the stream's time during a
    replay), else the time of the label.
    """
    require(actor, "cases:write")
    if outcome not in ("fraud", "legitimate"):
        raise RequestError(f"case {case_id}: label {outcome!r} is not 'fraud' or 'legitimate'")
    case = _case(session, case_id, for_update=True)
    target = check_transition(case_id, case.status, f"resolved_{outcome}")
    at = now or utcnow()
    before = {"status": case.status, "label": case.label}
    row = CaseLabel(case_id=case_id, outcome=outcome, author=actor.actor, created_at=at)
    session.add(row)
    case.status = target
    case.label = outcome
    case.resolved_at = at
    case.updated_at = at
    session.flush()
    at_ms = event_time_ms if event_time_ms is not None else int(at.timestamp() * 1000)
    alert_ids = session.scalars(
        sa.select(CaseAlert.alert_id)
        .where(CaseAlert.case_id == case_id)
        .order_by(CaseAlert.alert_id)
    )
    events = tuple(
        AnalystDecision(
            event_id=f"label-{row.id}-{n}",
            event_time_ms=at_ms,
            alert_id=alert_id,
            analyst_id=actor.actor,
            outcome=outcome,  # type: ignore[arg-type]
        )
        for n, alert_id in enumerate(alert_ids, 1)
    )
    for event in events:
        session.add(
            OutboxRow(
                event_id=event.event_id,
                event_json=encode_one(event).decode(),
                created_at=at,
                delivered_at=None,
            )
        )
    session.flush()
    after = {"status": target, "label": outcome, "label_id": row.id, "events": len(events)}
    audit.record(session, actor, "case.label", "case", case_id, before, after, now=at)
    if note:
        add_note(session, actor, case_id, note, now=at)
    return LabelResult(case=_summary(case, _username(session, case.assignee_id)), events=events)


def link_identifier(
    session: Session,
    actor: Principal,
    case_id: int,
    kind: pii.PiiKind,
    value: str,
    secret: bytes,
    *,
    now: datetime | None = None,
) -> str:
    """Record that personal data (email, phone, address, payment) is linked to the case.

    Only its salted hash is stored (and audited); the hash is returned.
    """
    require(actor, "cases:write")
    _case(session, case_id)
    digest = pii.hash_value(kind, value, secret)
    if session.get(CaseIdentifier, (case_id, kind, digest)) is None:
        at = now or utcnow()
        session.add(
            CaseIdentifier(
                case_id=case_id, kind=kind, value_hash=digest, added_by=actor.actor, added_at=at
            )
        )
        session.flush()
        after = {"kind": kind, "value_hash": digest}
        audit.record(session, actor, "case.link_identifier", "case", case_id, None, after, now=at)
    return digest


def find_cases_by_identifier(
    session: Session, actor: Principal, kind: pii.PiiKind, value: str, secret: bytes
) -> tuple[int, ...]:
    """Cases linked to this email, phone, address or payment fingerprint (by its hash)."""
    require(actor, "cases:read")
    digest = pii.hash_value(kind, value, secret)
    return tuple(
        session.scalars(
            sa.select(CaseIdentifier.case_id)
            .where(CaseIdentifier.kind == kind, CaseIdentifier.value_hash == digest)
            .order_by(CaseIdentifier.case_id)
        )
    )


#: the kinds of entity a case may hold, as its members name them (``kind:id``)
ENTITY_KINDS = ("account", "agent", "refund", "order", "session", "device", "card", "payment",
                "address", "ip", "email", "phone", "ring")  # fmt: skip
#: the words a person may write before the colon, and the kind a case's members use
KIND_ALIASES = {"customer": "account", "card": "payment"}
#: members in common listed per related case, and related cases listed per case
MAX_SHARED = 8
MAX_RELATED = 20


def find_entity(session: Session, actor: Principal, text: str) -> tuple[EntityHit, ...]:
    """The entities whose id is ``text`` (any kind; or ``kind:id`` as written) and the cases
    that hold each, newest case first. What the console's search box asks."""
    require(actor, "cases:read")
    text = text.strip()
    if not text:
        return ()
    wanted: list[str] = []
    for typed in dict.fromkeys((text, text.lower())):  # ids are lower case; people may not be
        kind, sep, rest = typed.partition(":")
        if sep and kind in (*ENTITY_KINDS, *KIND_ALIASES):
            wanted.append(f"{KIND_ALIASES.get(kind, kind)}:{rest}")
        wanted += [f"{k}:{typed}" for k in ENTITY_KINDS]  # ids may hold a colon (pf:...)
    rows = session.execute(
        sa.select(CaseMember.entity, Case)
        .join(Case, Case.id == CaseMember.case_id)
        .where(CaseMember.entity.in_(wanted))
        .order_by(CaseMember.entity, Case.id.desc())
    ).all()
    by_entity: dict[str, list[CaseSummary]] = {}
    names = _usernames(session, {case.assignee_id for _, case in rows})
    for entity, case in rows:
        by_entity.setdefault(entity, []).append(_summary(case, names.get(case.assignee_id)))
    return tuple(EntityHit(entity, tuple(cases)) for entity, cases in by_entity.items())


def related_cases(session: Session, actor: Principal, case_id: int) -> tuple[RelatedCase, ...]:
    """Other cases holding any of this case's accounts, agents, refunds or orders: an
    earlier case of a customer who comes back (and its label), or a case that shares
    refunds with this one. Newest first."""
    require(actor, "cases:read")
    mine = sa.select(CaseMember.entity).where(
        CaseMember.case_id == case_id,
        sa.or_(
            *(CaseMember.entity.like(f"{k}:%") for k in ("account", "agent", "refund", "order"))
        ),
    )
    rows = session.execute(
        sa.select(CaseMember.case_id, CaseMember.entity)
        .where(CaseMember.entity.in_(mine), CaseMember.case_id != case_id)
        .order_by(CaseMember.case_id.desc(), CaseMember.entity)
    ).all()
    shared: dict[int, list[str]] = {}
    for other, entity in rows:
        if len(shared) >= MAX_RELATED and other not in shared:
            continue
        shared.setdefault(other, []).append(entity)
    cases = {c.id: c for c in session.scalars(sa.select(Case).where(Case.id.in_(shared)))}
    names = _usernames(session, {c.assignee_id for c in cases.values()})
    return tuple(
        RelatedCase(
            _summary(cases[cid], names.get(cases[cid].assignee_id)), tuple(entities[:MAX_SHARED])
        )
        for cid, entities in shared.items()
    )


def detectors_of(
    session: Session, actor: Principal, case_ids: Iterable[int]
) -> dict[int, tuple[str, ...]]:
    """The detectors that raised each case's alerts (a queue's "what" column)."""
    require(actor, "cases:read")
    ids = list(case_ids)
    out: dict[int, list[str]] = {}
    if ids:
        rows = session.execute(
            sa.select(CaseAlert.case_id, CaseAlert.detector)
            .where(CaseAlert.case_id.in_(ids))
            .distinct()
            .order_by(CaseAlert.case_id, CaseAlert.detector)
        )
        for case_id, detector in rows:
            out.setdefault(case_id, []).append(detector)
    return {k: tuple(v) for k, v in out.items()}


def earlier_labels(
    session: Session, actor: Principal, case_ids: Iterable[int]
) -> dict[int, tuple[str, ...]]:
    """For each case, the labels of other cases about the same accounts or agents (``fraud``
    first): the queue marks a customer labelled fraud who comes back."""
    require(actor, "cases:read")
    ids = list(case_ids)
    if not ids:
        return {}
    mine = aliased(CaseMember)
    theirs = aliased(CaseMember)
    rows = session.execute(
        sa.select(mine.case_id, Case.label)
        .join(theirs, sa.and_(theirs.entity == mine.entity, theirs.case_id != mine.case_id))
        .join(Case, Case.id == theirs.case_id)
        .where(
            mine.case_id.in_(ids),
            Case.label.is_not(None),
            sa.or_(mine.entity.like("account:%"), mine.entity.like("agent:%")),
        )
        .distinct()
    )
    out: dict[int, set[str]] = {}
    for case_id, label in rows:
        out.setdefault(case_id, set()).add(str(label))
    return {k: tuple(sorted(v, key=lambda x: x != "fraud")) for k, v in out.items()}


def refund_labels(session: Session) -> dict[str, str]:
    """The label of each refund a labelled case holds (``fraud`` wins when two cases
    disagree: the money is at least in question). For the console's figures, which check
    their reader's permission themselves."""
    out: dict[str, str] = {}
    rows = session.execute(
        sa.select(CaseMember.entity, Case.label)
        .join(Case, Case.id == CaseMember.case_id)
        .where(Case.label.is_not(None), CaseMember.entity.like("refund:%"))
    )
    for entity, label in rows:
        rid = entity.removeprefix("refund:")
        if out.get(rid) != "fraud":
            out[rid] = str(label)
    return out


def _usernames(session: Session, ids: set[int | None]) -> dict[int | None, str]:
    wanted = [i for i in ids if i is not None]
    if not wanted:
        return {}
    rows = session.execute(sa.select(User.id, User.username).where(User.id.in_(wanted))).all()
    return {uid: name for uid, name in rows}


# --- helpers -----------------------------------------------------------------------------


def _case(session: Session, case_id: int, *, for_update: bool = False) -> Case:
    case = session.get(Case, case_id, with_for_update=for_update or None)
    if case is None:
        raise NotFoundError(f"case {case_id} does not exist")
    return case


def _username(session: Session, user_id: int | None) -> str | None:
    if user_id is None:
        return None
    return session.scalar(sa.select(User.username).where(User.id == user_id))


def _summary(case: Case, assignee: str | None) -> CaseSummary:
    return CaseSummary(
        id=case.id,
        group_type=case.group_type,
        group_key=case.group_key,
        title=case.title,
        status=case.status,  # type: ignore[arg-type]
        assignee_id=case.assignee_id,
        assignee=assignee,
        score_max=case.score_max,
        amount_cents=case.amount_cents,
        alert_count=case.alert_count,
        label=case.label,
        opened_at=case.opened_at,
        updated_at=case.updated_at,
        resolved_at=case.resolved_at,
    )


def _snapshot(case: Case) -> dict[str, Any]:
    return {
        "status": case.status,
        "group_type": case.group_type,
        "group_key": case.group_key,
        "assignee_id": case.assignee_id,
        "score_max": case.score_max,
        "amount_cents": case.amount_cents,
        "alert_count": case.alert_count,
        "label": case.label,
    }

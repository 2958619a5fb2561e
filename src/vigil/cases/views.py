"""What the case service returns: plain frozen values (no ORM objects leave the service).

They are standard dataclasses, so FastAPI can use them as response models and
``dataclasses.asdict`` turns them into JSON-ready dicts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from vigil.cases.transitions import STATUSES, TRANSITIONS, CaseStatus
from vigil.events.schemas import AnalystDecision

__all__ = [
    "AlertView",
    "CaseDetail",
    "CaseFilter",
    "CasePage",
    "CaseSummary",
    "HistoryItem",
    "IngestResult",
    "LabelResult",
    "LabelView",
    "NoteView",
    "Paging",
]

CaseOrder = Literal["priority", "newest", "updated"]


@dataclass(frozen=True, slots=True)
class CaseFilter:
    """Which cases ``list_cases`` returns; every field narrows, None means any."""

    statuses: tuple[CaseStatus, ...] | None = None
    assignee_id: int | None = None
    unassigned: bool = False
    group_type: str | None = None
    group_key: str | None = None
    min_score: float | None = None
    label: Literal["fraud", "legitimate"] | None = None


@dataclass(frozen=True, slots=True)
class Paging:
    limit: int = 50
    offset: int = 0
    #: priority: highest score first; newest: last opened first; updated: last changed first
    order: CaseOrder = "priority"


@dataclass(frozen=True, slots=True)
class CaseSummary:
    id: int
    group_type: str
    group_key: str
    title: str
    status: CaseStatus
    assignee_id: int | None
    assignee: str | None
    score_max: float
    amount_cents: int
    alert_count: int
    label: str | None
    opened_at: datetime
    updated_at: datetime
    resolved_at: datetime | None

    @property
    def allowed_transitions(self) -> tuple[CaseStatus, ...]:
        nxt = TRANSITIONS[self.status]
        return tuple(s for s in STATUSES if s in nxt)


@dataclass(frozen=True, slots=True)
class CasePage:
    items: tuple[CaseSummary, ...]
    total: int
    limit: int
    offset: int


@dataclass(frozen=True, slots=True)
class AlertView:
    alert_id: str
    detector: str
    subject_type: str
    subject_id: str
    score: float
    amount_cents: int
    event_time_ms: int
    #: the whole alert (reasons, explanation, refund ids, members, evidence)
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class NoteView:
    id: int
    author: str
    body: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class LabelView:
    id: int
    outcome: str
    author: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class HistoryItem:
    """One audit row about the case, oldest first: the case's timeline of actions."""

    at: datetime
    actor: str
    action: str
    before: Any
    after: Any

    @property
    def change(self) -> str:
        """What changed, in words: ``status: new -> triage``, ``label: fraud``, ``alert
        refund_without_return:refund:rf-... (refund_without_return)``."""
        before = self.before if isinstance(self.before, dict) else {}
        after = self.after if isinstance(self.after, dict) else {}
        if self.action == "case.add_alert":
            return f"alert {after.get('alert_id')} ({after.get('detector')})"
        if self.action == "case.note":
            return "note"
        if self.action == "case.open":
            return f"opened: {after.get('title', '')}".rstrip(": ")
        keys = ("status", "label", "assignee_id", "kind")
        out = []
        for key in keys:
            if key in after and before.get(key) != after.get(key):
                was, now = before.get(key), after.get(key)
                name = "assignee" if key == "assignee_id" else key
                out.append(f"{name}: {_or_dash(was)} -> {_or_dash(now)}")
        return "; ".join(out)


@dataclass(frozen=True, slots=True)
class CaseDetail:
    case: CaseSummary
    alerts: tuple[AlertView, ...]
    members: tuple[str, ...]
    notes: tuple[NoteView, ...]
    labels: tuple[LabelView, ...]
    history: tuple[HistoryItem, ...]


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What ``ingest_alerts`` did: alert id -> case id, and counts."""

    case_of: dict[str, int] = field(default_factory=dict)
    opened: tuple[int, ...] = ()
    added: int = 0
    duplicates: int = 0


@dataclass(frozen=True, slots=True)
class LabelResult:
    case: CaseSummary
    #: one ``AnalystDecision`` per alert of the case, queued in the outbox
    events: tuple[AnalystDecision, ...]


@dataclass(frozen=True, slots=True)
class RelatedCase:
    """Another case that holds some of the same entities (an earlier case about the same
    customer, a case that shares refunds): what it is and what they share."""

    case: CaseSummary
    shared: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class EntityHit:
    """An entity a search found (``account:c-...``, ``refund:rf-...``) and the cases about it,
    newest first."""

    entity: str
    cases: tuple[CaseSummary, ...]


def _or_dash(value: Any) -> str:
    return "-" if value is None else str(value)

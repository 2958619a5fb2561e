"""Request and response models of the HTTP API (pydantic, for the OpenAPI document).

Why pydantic here and msgspec elsewhere: FastAPI builds its OpenAPI document, request
validation and 422 errors from pydantic models, and a complete, correct document is part of
the contract. The hot responses (decisions, alerts) are encoded with msgspec from the same
field names and returned as ready bytes, so pydantic is not on their output path; the
``tests/api`` suite and schemathesis check that what is sent matches these models.
Events themselves are validated by Vigil's own msgspec codec (``vigil.events.codec``), which
names the record and field of every error; the OpenAPI document describes them loosely
(one object per event with a ``type`` and ``event_id``) and points to docs/events.md.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from vigil.cases.text import pattern, written

#: the largest integer every JSON reader keeps exact (IEEE double): the documented bound of
#: amounts and times, so no client's parser can round a value past the check
MAX_SAFE_INT = 2**53 - 1


def _whole(value: object) -> object:
    """JSON has one number type: ``2.0`` is the integer 2 (strict models reject ``"2"``)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


_WHOLE = BeforeValidator(_whole)

#: what an id may not hold: control characters, and the format and separator characters a
#: screen does not show (zero-width, text direction, line and paragraph separators, byte order
#: mark): with them ``ag-12`` and ``ag-12`` + a zero-width space are two ids that read as one,
#: and the insider rule compares agents by id. Written with escapes every regex engine on the
#: path reads alike (Python's, pydantic's Rust one, JSON Schema's for the OpenAPI document).
ID_PATTERN = (
    r"^[^\x00-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2064"
    r"\u2066-\u206f\ufeff\ufff9-\ufffb]+$"
)
#: why an id with characters a reader cannot see is refused
UNPRINTABLE_ID = (
    "must be printable text: no control, format (zero-width, text-direction) or "
    "line-separator characters, which make one id look like another"
)
Id = Annotated[str, Field(min_length=1, max_length=128, pattern=ID_PATTERN)]
#: the refund id of a ``decide``: its stream event is ``decide:<refund_id>``, and an event id
#: is at most 128 characters, so that the stream accepts every refund the API accepts
DECIDE_PREFIX = "decide:"
RefundId = Annotated[
    str, Field(min_length=1, max_length=128 - len(DECIDE_PREFIX), pattern=ID_PATTERN)
]
Score = Annotated[float, Field(ge=0.0, le=1.0)]
DecisionLevel = Literal["approve", "review", "deny"]


class ErrorBody(BaseModel):
    """Every 4xx/5xx answer of the API (422 request-validation errors use FastAPI's shape)."""

    error: str = Field(description="stable code: unauthorized, forbidden, not_found, ...")
    detail: str = Field(description="what failed and what to do")


# --- events ------------------------------------------------------------------------------


class EventResult(BaseModel):
    """What happened to one record of a ``POST /v1/events`` body."""

    index: int = Field(ge=0, description="0-based position of the record in the body")
    line_no: int = Field(ge=1, description="1-based line (JSONL) or array position + 1")
    status: Literal["accepted", "too_early", "too_late", "rejected"] = Field(
        description="accepted; too_early (more than a day ahead of the wall clock) or "
        "too_late (more than the allowed lateness behind the stream): appended, and kept by "
        "the runtime as a dead letter, not processed; rejected (not a valid event: kept in "
        "the API's dead letters)"
    )
    event_id: str | None = None
    type: str | None = None
    field: str | None = Field(default=None, description="the field that failed validation")
    reason: str | None = Field(default=None, description="why the record was rejected")


class IngestResponse(BaseModel):
    accepted: int = Field(ge=0)
    too_early: int = Field(ge=0, default=0)
    too_late: int = Field(ge=0, default=0)
    rejected: int = Field(ge=0)
    results: list[EventResult]


# --- decisions ---------------------------------------------------------------------------


class DecideRequest(BaseModel):
    """ "May this refund go through?" The refund as it is requested, before it is issued.

    Unless ``record_event`` is false, the request is also appended to the stream as a
    ``refund_requested`` event (id ``decide:<refund_id>``), so the runtime decides it too and
    the detectors see it; send it as false when the refund system posts its own
    ``refund_requested`` events. Post ``refund_issued`` to ``/v1/events`` when the refund is
    paid out.
    """

    model_config = ConfigDict(extra="forbid", strict=True)

    refund_id: RefundId
    order_id: Id
    customer_id: Id
    amount_cents: Annotated[int, Field(ge=0, le=MAX_SAFE_INT), _WHOLE]
    policy: Literal["on_receipt", "on_first_scan", "returnless", "manual_override"]
    agent_id: Id | None = None
    session_id: Id | None = None
    return_id: Id | None = None
    currency: Annotated[str, Field(min_length=1, max_length=8)] = "USD"
    method: Literal["original_payment", "store_credit", "gift_card"] = "original_payment"
    issued_by: Literal["system", "agent"] = "system"
    event_time_ms: Annotated[int, Field(ge=0, le=MAX_SAFE_INT), _WHOLE] | None = Field(
        default=None,
        description="when the refund is requested; default: now, or the newest event time "
        "the API has seen when the stream runs more than a day behind the clock (a replay); "
        "at most a day ahead of that (a 422 otherwise)",
    )
    record_event: bool = True
    skus: list[Id] = Field(
        default_factory=list,
        max_length=200,
        description="the items refunded (empty: the whole order, or a goodwill amount)",
    )
    reason: Annotated[str, Field(min_length=1, max_length=64)] | None = Field(
        default=None, description="the customer's claim, e.g. item_not_received"
    )
    channel: Literal["self_service", "agent", "automatic"] | None = Field(
        default=None,
        description="how the request came: the customer in self-service, an agent in the "
        "support tools, or a policy trigger (a first scan, a receipt); default: agent when "
        "an agent issues it, automatic for on_first_scan / on_receipt, else self_service",
    )
    wait_ms: Annotated[int, Field(ge=0, le=5_000), _WHOLE] = Field(
        default=0,
        description="wait up to this long for the runtime to have processed every event "
        "appended before this request (those just posted to /v1/events), so the answer "
        "rests on them (only while a runtime is publishing); the answer's caught_up says "
        "whether it did",
    )


_MId = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
_MWhole = (
    Annotated[int, msgspec.Meta(ge=0, le=MAX_SAFE_INT)]
    | Annotated[float, msgspec.Meta(ge=0, le=MAX_SAFE_INT)]
)


class DecideBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """``DecideRequest`` as the handler decodes it: msgspec, about 20x cheaper than FastAPI's
    body parsing and pydantic on the hot path, with the same rules (strict types, unknown
    fields rejected, the same bounds; a float is accepted for an integer field only when
    it is whole: ``decisions.decode_decide_body`` checks that). ``DecideRequest`` stays the
    documented schema; ``tests/api`` checks that the two agree field by field."""

    refund_id: Annotated[str, msgspec.Meta(min_length=1, max_length=128 - len(DECIDE_PREFIX))]
    order_id: _MId
    customer_id: _MId
    amount_cents: _MWhole
    policy: Literal["on_receipt", "on_first_scan", "returnless", "manual_override"]
    agent_id: _MId | None = None
    session_id: _MId | None = None
    return_id: _MId | None = None
    currency: Annotated[str, msgspec.Meta(min_length=1, max_length=8)] = "USD"
    method: Literal["original_payment", "store_credit", "gift_card"] = "original_payment"
    issued_by: Literal["system", "agent"] = "system"
    event_time_ms: _MWhole | None = None
    record_event: bool = True
    skus: Annotated[list[_MId], msgspec.Meta(max_length=200)] = []
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | None = None
    channel: Literal["self_service", "agent", "automatic"] | None = None
    wait_ms: (
        Annotated[int, msgspec.Meta(ge=0, le=5_000)]
        | Annotated[float, msgspec.Meta(ge=0, le=5_000)]
    ) = 0


class ContributionOut(BaseModel):
    """One detector's strongest finding that counts toward a decision."""

    detector: str
    score: Score
    alert_id: str
    reasons: list[str]
    explanation: str


class PolicyOut(BaseModel):
    review_threshold: Score
    deny_threshold: Score


class EvidenceOut(BaseModel):
    """Which of the refund's entities the index held findings about."""

    refund: bool
    agent: bool
    session: bool
    customer: bool
    ring: bool


class DecideResponse(BaseModel):
    refund_id: str
    decision: DecisionLevel
    score: Score
    reasons: list[str] = Field(description="``detector:reason`` codes, strongest detector first")
    explanation: str = Field(description="one line for a person")
    contributions: list[ContributionOut]
    evidence: EvidenceOut
    set_aside: list[str] = Field(
        default_factory=list,
        description="ids of alerts about the agent not weighed: every refund each lists was "
        "made in a session judged not the agent's (a takeover), and this request is not in it",
    )
    policy: PolicyOut
    event_id: str | None = Field(description="id of the refund_requested event appended, if any")
    decided_at_ms: int = Field(description="wall time of the decision, epoch ms")
    index_age_s: float = Field(
        ge=0.0, description="how stale the evidence could be when it was decided"
    )
    caught_up: bool = Field(
        description="the evidence reflected every event appended before the request (with "
        "wait_ms, after waiting for it)"
    )


class StreamDecision(BaseModel):
    """The runtime's current decision about a refund (last line of ``decisions.jsonl``): its
    request-time decision (``stage`` request) until the stream's findings revise it."""

    refund_id: str
    decision: DecisionLevel
    score: Score
    reasons: list[str]
    explanation: str
    contributions: list[ContributionOut]
    event_time_ms: int
    revision: int
    amount_cents: int = 0
    customer_id: str | None = None
    agent_id: str | None = None
    order_id: str | None = None
    stage: Literal["request", "stream"] = "stream"
    set_aside: list[str] = Field(default_factory=list)


class HoldState(BaseModel):
    """Where a refund's hold stands: what a refund system polls before it pays out."""

    status: Literal["held", "denied", "released", "blocked"] = Field(
        description="held (review) or denied (deny): waiting for a person; released: the "
        "payout may go; blocked: it may not"
    )
    reason: str | None = Field(description="why it was released or blocked")
    by: str | None = Field(description="who released or blocked it (user:..., key:...)")
    at: datetime | None = Field(description="when it was released or blocked")


class DecisionView(BaseModel):
    refund_id: str
    current: DecisionLevel = Field(
        description="the stream's decision if it has one, else the synchronous one"
    )
    stream: StreamDecision | None
    requested: DecideResponse | None
    hold: HoldState | None = Field(
        default=None,
        description="the refund's hold (review and deny hold the payout until a person "
        "releases or blocks it); null when it is not held, or without a case database",
    )


# --- alerts ------------------------------------------------------------------------------


class EvidenceLink(BaseModel):
    a: str
    b: str
    via: str
    time_ms: int
    weight: float = 1.0


SubjectType = Literal["refund", "agent", "session", "order", "account", "ring"]


class AlertOut(BaseModel):
    seq: int = Field(ge=0, description="position in the alert stream (use for paging)")
    alert_id: str
    detector: str
    version: int
    subject_type: SubjectType
    subject_id: str
    score: Score
    reasons: list[str]
    explanation: str
    event_time_ms: int
    refund_ids: list[str]
    amount_cents: int
    customer_id: str | None = None
    agent_id: str | None = None
    order_id: str | None = None
    session_id: str | None = None
    members: list[str]
    evidence: list[EvidenceLink]


class AlertPage(BaseModel):
    items: list[AlertOut]
    next_cursor: int | None = Field(
        description="pass as ``cursor`` for the next page; null at the end"
    )


# --- ads ---------------------------------------------------------------------------------


class AdFiguresOut(BaseModel):
    """One campaign's (or advertiser's, or campaign-day's) figures (docs/ads.md)."""

    day: str | None = Field(default=None, description="YYYY-MM-DD (UTC), with by=day")
    campaign_id: str | None = Field(default=None, description="null with by=advertiser")
    advertiser_id: str
    platform: str | None = None
    impressions: int
    clicks: int
    spend_micros: int
    orders: int = Field(description="orders credited to a click (last click in its window)")
    revenue_cents: int
    view_orders: int = Field(description="view-through conversions, never in orders")
    view_revenue_cents: int
    refunded_cents: int = Field(description="paid back on credited orders, up to their totals")
    fraud_orders: int
    fraud_cents: int
    invalid_impressions: int = Field(description="judged invalid traffic (docs/ads.md)")
    invalid_clicks: int
    invalid_spend_micros: int = Field(description="what invalid traffic cost: owed back")
    spend_cents: float
    invalid_spend_cents: float
    valid_spend_cents: float = Field(description="spend less invalid: CPA and ROAS use it")
    ctr: float | None = Field(description="valid clicks over valid impressions")
    cpa_cents: float | None
    roas: float | None
    net_revenue_cents: int = Field(description="revenue less refunded and fraud")
    net_roas: float | None
    view_roas: float | None


class AdFiguresPage(BaseModel):
    by: Literal["campaign", "advertiser", "day"]
    advertiser_id: str | None = Field(description="the advertiser the figures are limited to")
    items: list[AdFiguresOut]


# --- health ------------------------------------------------------------------------------


class RuntimeHealth(BaseModel):
    managed: bool = Field(description="the runtime is a child process of this server")
    alive: bool | None = Field(description="null when the runtime is external")
    pid: int | None = None
    exit_code: int | None = None


class IndexHealth(BaseModel):
    alerts: int
    decisions: int
    dropped_alerts: int = Field(
        0, description="alerts dropped as older than the index retention (since the start)"
    )
    dropped_decisions: int = Field(
        0, description="stream decisions dropped as older than the index retention"
    )
    tail_age_s: float = Field(description="seconds since the outputs were last read to the end")
    pending_s: float = Field(
        description="age of the oldest event appended since the runtime last published its "
        "outputs (0: everything appended is reflected)"
    )


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    reasons: list[str] = Field(default=[], description="why it is degraded (empty when ok)")
    runtime: RuntimeHealth
    index: IndexHealth


# --- cases -------------------------------------------------------------------------------


#: largest database id accepted in a path or body (PostgreSQL ``integer``)
MAX_DB_ID = 2_147_483_647


def _trimmed(low: int, high: int) -> AfterValidator:
    """Free text of ``low``-``high`` characters once JSON's whitespace is trimmed
    (:mod:`vigil.cases.text`). The schema states the rule as a pattern; the check is ours, so
    a refusal says it in words rather than quoting a regular expression."""

    def check(text: str) -> str:
        if written(text, low, high) is None:
            raise ValueError(f"give {low}-{high:,} characters, not counting spaces around them")
        return text

    return AfterValidator(check)


def _text_field(low: int, high: int) -> Any:
    return Field(min_length=low, max_length=high, json_schema_extra={"pattern": pattern(low)})


#: a case note
_Note = Annotated[str, _text_field(1, 10_000), _trimmed(1, 10_000)]
#: why a hold is released or blocked
_Reason = Annotated[str, _text_field(3, 500), _trimmed(3, 500)]


class TransitionRequest(BaseModel):
    """Open states only: a case is resolved by labelling it (``/label``)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    status: Literal["new", "triage", "investigating"]
    note: _Note | None = None


class AssignRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    assignee_id: Annotated[int, Field(ge=1, le=MAX_DB_ID), _WHOLE] | None = Field(
        description="the user to assign the case to; null to unassign"
    )


class NoteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    text: _Note


class LabelRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    label: Literal["fraud", "legitimate"]
    note: _Note | None = None


# --- holds -------------------------------------------------------------------------------


class ResolveHoldRequest(BaseModel):
    """Why the refund is released (legitimate) or blocked (fraud): kept in the audit log."""

    model_config = ConfigDict(extra="forbid", strict=True)
    reason: _Reason


class HoldEventOut(BaseModel):
    """One audit row about a hold."""

    at: datetime
    actor: str
    action: str = Field(description="hold.open, hold.details, hold.link_case, hold.release, ...")
    before: Any = None
    after: Any = None


class HoldOut(BaseModel):
    """A refund whose request-time answer was review (held) or deny (denied)."""

    id: int = Field(ge=1, description="the hold's id (the queue's paging cursor)")
    refund_id: str
    status: Literal["held", "denied", "released", "blocked"]
    decision: Literal["review", "deny"] = Field(description="the request-time answer")
    score: Score
    reasons: list[str]
    explanation: str
    source: Literal["api", "runtime"] = Field(
        description="api: the answer decide gave; runtime: the runtime's request-time "
        "decision for a refund nobody asked the API about"
    )
    order_id: str | None
    customer_id: str | None
    agent_id: str | None = Field(description="the agent who issued the refund, if one did")
    session_id: str | None
    amount_cents: int | None
    requested_at_ms: int | None = Field(description="event time of the refund request")
    created_at: datetime
    resolved_by: str | None
    resolved_at: datetime | None
    resolution_reason: str | None
    case_id: int | None = Field(description="the case whose alerts name the refund, if any")
    history: list[HoldEventOut] = Field(
        default_factory=list, description="its audit rows, oldest first (one hold only)"
    )


class HoldPageOut(BaseModel):
    items: list[HoldOut]
    next_cursor: int | None = Field(
        description="pass as ``cursor`` for the next (older) page; null at the end"
    )


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for the error statuses a route can answer."""
    text = {
        400: "The request cannot be read (e.g. the body is not JSON or JSON Lines)",
        401: "No API key, or an unknown or revoked one (header X-API-Key)",
        403: "The API key lacks the scope this endpoint needs",
        404: "No such resource",
        409: "Conflicts with the current state (e.g. another request for the same refund id)",
        413: "The body is larger than the server accepts",
        415: "The body's content type is not accepted",
        503: "The service is not ready",
    }
    return {s: {"model": ErrorBody, "description": text[s]} for s in statuses}

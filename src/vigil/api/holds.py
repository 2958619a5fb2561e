"""Held refunds: the feeder that opens holds off the decision path, and ``/v1/holds``.

**The feeder** (``HoldFeeder``, a background task of the app while a database is configured)
opens a hold (``vigil.cases.holds``) for

- every answer ``POST /v1/refunds/decide`` gave that was review (``held``) or deny
  (``denied``), read from the decision journal (``api_decisions.jsonl``);
- every request-time decision of the runtime (``run/decisions.jsonl``, stage ``request``)
  that was review or deny, for a refund the API was not asked about (the API's answer is
  the one the refund system acted on).

It reads both files as they grow, in slices, in a worker thread, and writes the holds in
one transaction per slice: ``decide`` itself never touches the database (its p99 budget is
20 ms at 1,000/s). Opening is idempotent by refund id, and where it got to in each file is
kept in ``STATE_DIR/holds-feed.json`` after each commit, so a restart goes on from there (a
crash between the two reads a slice again, harmlessly). A hold reads its refund's order,
customer, agent and session from the journal (the recorded event, or with ``record_event:
false`` the request as asked); a runtime-only hold learns them from the runtime's
request-time facts once the runtime has read the refund's ``refund_requested`` event.
Holds join the case whose alerts name their refund, once the case feeder has filed those
alerts.

**The endpoints** call the hold service, which checks the permission matrix (``holds:read``,
``holds:write``, ``holds:release_denied``), refuses the agent who issued a refund
(``own_refund``, 403), refuses a second resolution (``hold_resolved``, 409) and audits; a
release or block sends its label (``investigation_outcome``) to the runtime's input after
commit. Plain ``def`` handlers: FastAPI runs them in its thread pool, so a database round
trip never holds the event loop that serves decisions.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from sqlalchemy.orm import Session

from vigil.api.auth import needs
from vigil.api.errors import UnavailableError
from vigil.api.schemas import (
    MAX_DB_ID,
    HoldEventOut,
    HoldOut,
    HoldPageOut,
    ResolveHoldRequest,
    error_responses,
)
from vigil.api.state import ApiState, TailedFile, get_state
from vigil.cases import holds as service
from vigil.cases.holds import HoldDetails, HoldFilter, HoldStatus, HoldView, NewHold
from vigil.decisions.book import decision_decoder
from vigil.detectors.base import refunds_of
from vigil.security.permissions import Principal

__all__ = ["HoldFeeder", "router"]

router = APIRouter(prefix="/v1/holds", tags=["holds"])
RefundId = Annotated[str, PathParam(min_length=1, max_length=128)]
Reader = Annotated[Principal, Depends(needs("holds:read"))]
Writer = Annotated[Principal, Depends(needs("holds:write"))]
_Id = Annotated[str | None, Query(min_length=1, max_length=128)]


# --- endpoints ---------------------------------------------------------------------------


@contextmanager
def _transaction(st: ApiState) -> Iterator[Session]:
    if st.db is None:
        raise UnavailableError("no case database configured: start vigil serve --database-url")
    with st.db.transaction() as session:
        yield session


def hold_out(hold: HoldView) -> HoldOut:
    return HoldOut(
        id=hold.id,
        refund_id=hold.refund_id,
        status=hold.status,
        decision=hold.decision,  # type: ignore[arg-type]
        score=hold.score,
        reasons=list(hold.reasons),
        explanation=hold.explanation,
        source=hold.source,  # type: ignore[arg-type]
        order_id=hold.order_id,
        customer_id=hold.customer_id,
        agent_id=hold.agent_id,
        session_id=hold.session_id,
        amount_cents=hold.amount_cents,
        requested_at_ms=hold.requested_at_ms,
        created_at=hold.created_at,
        resolved_by=hold.resolved_by,
        resolved_at=hold.resolved_at,
        resolution_reason=hold.resolution_reason,
        case_id=hold.case_id,
        history=[
            HoldEventOut(at=e.at, actor=e.actor, action=e.action, before=e.before, after=e.after)
            for e in hold.history
        ],
    )


@router.get(
    "",
    summary="Held refunds, newest first",
    response_model=HoldPageOut,
    responses=error_responses(401, 403, 503),
)
def list_holds(
    request: Request,
    principal: Reader,
    status: Annotated[list[HoldStatus] | None, Query()] = None,
    agent_id: _Id = None,
    customer_id: _Id = None,
    case_id: Annotated[int | None, Query(ge=1, le=MAX_DB_ID)] = None,
    cursor: Annotated[
        int | None, Query(ge=1, le=2**63 - 1, description="``next_cursor`` of the previous page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=service.MAX_PAGE)] = 50,
) -> HoldPageOut:
    """Refunds held for review (``held``) or denied (``denied``), and those a person released
    or blocked, filtered by status (repeatable), issuing agent, customer or case. Paging is by
    hold id, so a page never repeats or skips a hold while new ones are opened."""
    flt = HoldFilter(
        statuses=tuple(status) if status else None,
        agent_id=agent_id,
        customer_id=customer_id,
        case_id=case_id,
    )
    with _transaction(get_state(request)) as session:
        page = service.list_holds(session, principal, flt, cursor=cursor, limit=limit)
    return HoldPageOut(items=[hold_out(h) for h in page.items], next_cursor=page.next_cursor)


@router.get(
    "/{refund_id}",
    summary="One held refund with its history",
    response_model=HoldOut,
    responses=error_responses(401, 403, 404, 503),
)
def get_hold(request: Request, refund_id: RefundId, principal: Reader) -> HoldOut:
    with _transaction(get_state(request)) as session:
        return hold_out(service.get_hold(session, principal, refund_id))


def _resolve(
    request: Request, refund_id: str, to: service.Resolution, reason: str, principal: Principal
) -> HoldOut:
    st = get_state(request)
    try:
        with _transaction(st) as session:
            hold = service.resolve(
                session, principal, refund_id, to, reason, event_time_ms=st.clock.now_ms()
            )
    except service.AUDITED_REFUSALS as exc:
        with _transaction(st) as session:
            service.record_refusal(session, principal, refund_id, to, exc)
        raise
    st.deliver_label_events()  # the label goes to the runtime: later decisions learn it
    return hold_out(hold)


_RESOLVE_ERRORS = error_responses(400, 401, 403, 404, 409, 503)


@router.post(
    "/{refund_id}/release",
    summary="Release a held refund: the payout may go",
    response_model=HoldOut,
    responses=_RESOLVE_ERRORS,
)
def release(
    request: Request, refund_id: RefundId, body: ResolveHoldRequest, principal: Writer
) -> HoldOut:
    """The refund is legitimate: its label ``investigation_outcome`` (legitimate) goes to the
    runtime. A denied refund needs a lead or admin; nobody releases a refund issued under
    their own agent id (403 ``own_refund``); a resolved hold stays resolved (409)."""
    return _resolve(request, refund_id, "released", body.reason, principal)


@router.post(
    "/{refund_id}/block",
    summary="Block a held refund: the payout may not go",
    response_model=HoldOut,
    responses=_RESOLVE_ERRORS,
)
def block(
    request: Request, refund_id: RefundId, body: ResolveHoldRequest, principal: Writer
) -> HoldOut:
    """The refund is fraud: its label ``investigation_outcome`` (fraud) goes to the runtime.
    Nobody blocks a refund issued under their own agent id (403 ``own_refund``); a resolved
    hold stays resolved (409)."""
    return _resolve(request, refund_id, "blocked", body.reason, principal)


# --- the feeder --------------------------------------------------------------------------

#: bytes of each file read per slice (about 600 journal lines)
SLICE_BYTES = 1 << 20
FEED_INTERVAL_S = 1.0
POSITION_FILE = "holds-feed.json"
#: passes a hold waits for the runtime's facts about its refund before it stops asking
FACTS_PATIENCE = 600
#: holds without details looked up again at start-up, at most
AWAITING_AT_START = 10_000


class _Answer(msgspec.Struct):
    decision: str
    score: float
    reasons: list[str]
    explanation: str


class _Request(msgspec.Struct):
    order_id: str
    customer_id: str
    amount_cents: int
    event_time_ms: int
    agent_id: str | None = None
    session_id: str | None = None


_NONE = msgspec.Raw(b"null")  # msgspec decodes no ``Raw | None``: ``null`` stands for none
_DETAILS = ("order_id", "customer_id", "agent_id", "session_id", "amount_cents", "requested_at_ms")


class _JournalLine(msgspec.Struct):
    refund_id: str
    response: msgspec.Raw
    event: msgspec.Raw = _NONE
    #: the request as asked, when decide recorded no event (``record_event: false``)
    request: msgspec.Raw = _NONE


_journal_line = msgspec.json.Decoder(_JournalLine)
_answer = msgspec.json.Decoder(_Answer)
_request = msgspec.json.Decoder(_Request)
_APPROVE = b'"decision":"approve"'
_REQUEST_STAGE = b'"stage":"request"'


class _Position(msgspec.Struct):
    db: str = ""
    journal: int = 0
    decisions: int = 0


@dataclass
class _Step:
    """What a pass did: whether there is more to read now, and the holds it opened."""

    more: bool = False
    opened: list[str] = field(default_factory=list)


class HoldFeeder:
    """Opens holds from ``decide``'s journal and the runtime's request-time decisions."""

    def __init__(self, state: ApiState) -> None:
        assert state.db is not None, "holds need the case database"
        self.state = state
        self.db = state.db
        self.actor = Principal.system("holds")
        settings = state.settings
        self._journal = TailedFile(settings.decision_journal)
        self._decisions = TailedFile(settings.out_dir / "decisions.jsonl")
        self._position_path = settings.state_dir / POSITION_FILE
        #: read, not yet committed (a database that was down: tried again next pass)
        self._pending: list[NewHold] = []
        #: refund -> passes left to find the runtime's facts about it
        self._awaiting: dict[str, int] = {}
        #: alerts of the index looked at for case links (never past what the case feeder filed)
        self._linked_alerts = 0
        #: holds opened by the last pass, whose refunds' earlier alerts are to be linked
        self._fresh: list[str] = []
        self._kept: _Position | None = None
        self.opened = 0
        self.errors = 0
        self.last_error: str | None = None

    # --- the task ----------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        started = False
        while not stop.is_set():
            fed = self.state.alerts_fed_to_cases
            links = self._links(fed)
            try:
                if not started:
                    await asyncio.to_thread(self.start)
                    started = True
                step = await asyncio.to_thread(self.step, links)
            except Exception as exc:  # the database is down: try again later, lose nothing
                self.errors += 1
                self.last_error = f"{type(exc).__name__}: {exc}"[:500]
                step = _Step()
            else:
                self._linked_alerts = fed
                self._fresh = step.opened
            if step.more:
                await asyncio.sleep(0)
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=FEED_INTERVAL_S)

    def start(self) -> None:
        """Resume where the last feed of this database got to; find holds still waiting
        for their refund's details."""
        try:
            kept = msgspec.json.decode(self._position_path.read_bytes(), type=_Position)
        except (OSError, msgspec.DecodeError, msgspec.ValidationError):
            kept = _Position()
        if kept.db == self.db.url:  # another database has none of these holds: read all
            for lines, offset in ((self._journal, kept.journal), (self._decisions, kept.decisions)):
                with contextlib.suppress(FileNotFoundError):
                    if offset <= lines.path.stat().st_size:
                        lines.offset = offset
            self._kept = kept
        with self.db.transaction() as session:
            waiting = service.without_details(session, self.actor, limit=AWAITING_AT_START)
        for rid in waiting:
            self._awaiting[rid] = FACTS_PATIENCE

    def step(self, links: dict[str, list[str]]) -> _Step:
        """One pass (in a worker thread): read a slice of each file, open its holds, fill
        details from facts, link cases; one transaction."""
        more = False
        if not self._pending:
            journal, done_j = self._journal.read_lines(SLICE_BYTES)
            decisions, done_d = self._decisions.read_lines(SLICE_BYTES)
            self._pending = [*self._from_journal(journal), *self._from_decisions(decisions)]
            more = not (done_j and done_d)
        pending: list[NewHold] = []
        lacking: set[str] = set()
        for hold in self._pending:
            hold, lacks = self._with_facts(hold)
            pending.append(hold)
            if lacks:
                lacking.add(hold.refund_id)
        found = self._details_found()
        with self.db.transaction() as session:
            result = service.open_holds(session, self.actor, pending) if pending else None
            if found:
                service.fill_details(session, self.actor, found)
            if links:
                service.link_cases(session, self.actor, links)
        self._keep_position()
        self._pending = []
        opened = list(result.opened) if result is not None else []
        self.opened += len(opened)
        for rid in lacking.intersection(opened):
            self._awaiting[rid] = FACTS_PATIENCE
        for d in found:
            self._awaiting.pop(d.refund_id, None)
        return _Step(more=more, opened=opened)

    def gauges(self) -> Iterable[tuple[str, str, float, dict[str, str]]]:
        yield "vigil_holds_opened", "Holds opened by this server since it started", self.opened, {}
        yield (
            "vigil_holds_feed_errors",
            "Passes of the hold feeder that failed (the database was down; retried)",
            self.errors,
            {},
        )
        yield (
            "vigil_holds_awaiting_details",
            "Holds waiting for the runtime's facts about their refund",
            len(self._awaiting),
            {},
        )

    # --- reading -----------------------------------------------------------------------

    def _from_journal(self, lines: list[bytes]) -> Iterator[NewHold]:
        for line in lines:
            if _APPROVE in line or not line.strip():
                continue
            try:
                rec = _journal_line.decode(line)
                answer = _answer.decode(rec.response)
                raw = rec.event if rec.event != _NONE else rec.request
                req = None if raw == _NONE else _request.decode(raw)
            except (msgspec.DecodeError, msgspec.ValidationError):
                continue  # a line a crash cut short: never answered
            if answer.decision not in ("review", "deny"):
                continue
            hold = NewHold(
                refund_id=rec.refund_id,
                decision=answer.decision,  # type: ignore[arg-type]
                score=answer.score,
                reasons=tuple(answer.reasons),
                explanation=answer.explanation,
                source="api",
            )
            if req is not None:  # the request as asked (recorded as an event, or journalled)
                hold = replace(
                    hold,
                    order_id=req.order_id,
                    customer_id=req.customer_id,
                    agent_id=req.agent_id,
                    session_id=req.session_id,
                    amount_cents=req.amount_cents,
                    requested_at_ms=req.event_time_ms,
                )
            yield hold

    def _from_decisions(self, lines: list[bytes]) -> Iterator[NewHold]:
        asked = self.state.journal.entries  # refunds the API answered: their answer counts
        for line in lines:
            if _REQUEST_STAGE not in line or _APPROVE in line:
                continue
            try:
                d = decision_decoder.decode(line)
            except (msgspec.DecodeError, msgspec.ValidationError):
                continue
            if d.stage != "request" or d.decision == "approve" or d.refund_id in asked:
                continue
            yield NewHold(
                refund_id=d.refund_id,
                decision=d.decision,
                score=d.score,
                reasons=d.reasons,
                explanation=d.explanation,
                source="runtime",
                order_id=d.order_id,
                customer_id=d.customer_id,
                agent_id=d.agent_id,
                amount_cents=d.amount_cents,
                requested_at_ms=d.event_time_ms,
            )

    def _facts(self, refund_id: str) -> HoldDetails | None:
        """What the runtime published about the refund's request (``RefundFacts``)."""
        facts: Any = self.state.index.facts.tables["refund"].get(refund_id)
        if facts is None:
            return None
        return HoldDetails(
            refund_id=refund_id,
            order_id=facts.order_id,
            customer_id=facts.customer_id,
            agent_id=facts.agent_id,
            session_id=facts.session_id,
            amount_cents=facts.amount_cents,
            requested_at_ms=facts.requested_ms,
        )

    def _with_facts(self, hold: NewHold) -> tuple[NewHold, bool]:
        """The hold with what the runtime's facts add; and whether it still lacks them."""
        if hold.customer_id is not None and hold.session_id is not None:
            return hold, False
        found = self._facts(hold.refund_id)
        if found is None:
            return hold, True
        filled = {
            name: getattr(found, name)
            for name in _DETAILS
            if getattr(hold, name) is None and getattr(found, name) is not None
        }
        return replace(hold, **filled), False

    def _details_found(self) -> list[HoldDetails]:
        found: list[HoldDetails] = []
        for rid in list(self._awaiting):
            details = self._facts(rid)
            if details is not None:
                found.append(details)
                continue
            self._awaiting[rid] -= 1
            if self._awaiting[rid] <= 0:
                del self._awaiting[rid]  # no request event came: the hold keeps what it knows
        return found

    def _links(self, fed: int) -> dict[str, list[str]]:
        """refund -> ids of alerts about it that the case feeder has filed: those new since the
        last pass, and the earlier ones about the refunds of holds opened by the last pass."""
        index = self.state.index
        alerts = index.alerts
        out: dict[str, list[str]] = {}
        for seq in range(min(self._linked_alerts, fed), min(fed, len(alerts))):
            alert = alerts[seq]
            if alert is None:
                continue
            for rid in refunds_of(alert):
                out.setdefault(rid, []).append(alert.alert_id)
        for rid in self._fresh:
            for seq in index.seqs_about("refund", rid):
                alert = alerts[seq] if seq < fed else None
                if alert is not None:
                    out.setdefault(rid, []).append(alert.alert_id)
        return out

    def _keep_position(self) -> None:
        where = _Position(self.db.url, self._journal.line_offset, self._decisions.line_offset)
        if where == self._kept:
            return
        self._kept = where
        tmp = self._position_path.with_suffix(".tmp")
        tmp.write_bytes(msgspec.json.encode(where))
        os.replace(tmp, self._position_path)

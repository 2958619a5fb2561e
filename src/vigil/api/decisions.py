"""``POST /v1/refunds/decide`` (synchronous, idempotent) and ``GET /v1/decisions/{refund_id}``.

A decision is the request-time decision (``vigil.decisions.request.decide_request``), the
function the runtime applies to every ``refund_requested`` event, over what the index holds
now: the alerts about the refund, its order, agent, session, customer and rings, and the
request-time facts the runtime published. When the index has caught up with the input, the
answer is the one the runtime writes for the same request. The answer is journalled by
refund id: the same request gets the same bytes back (header ``Idempotent-Replay: true``);
a different body for a refund already decided is a 409. Unless ``record_event`` is false,
the request is appended to the stream as a ``refund_requested`` event, so the runtime
decides it too and the detectors see it (a refund is *issued* only when the refund system
pays it out: it posts ``refund_issued`` then).

The body is decoded by msgspec into ``schemas.DecideBody`` (the same rules as the
documented ``DecideRequest``; errors are 422s in FastAPI's validation shape), not by
FastAPI and pydantic: at 1,000 decisions/s their parsing was a measurable share of the
request's CPU (docs/api.md, "Latency").
"""

from __future__ import annotations

import asyncio
import email.message
import os
import re
import time
from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.exceptions import RequestValidationError

from vigil.api.auth import needs
from vigil.api.errors import BadRequestError, ConflictError, NotFoundError
from vigil.api.schemas import (
    DECIDE_PREFIX,
    ID_PATTERN,
    UNPRINTABLE_ID,
    DecideBody,
    DecideRequest,
    DecideResponse,
    DecisionView,
    error_responses,
)
from vigil.api.state import ApiState, get_state, request_fingerprint
from vigil.cases.holds import find_hold
from vigil.decisions.request import decide_request, request_evidence
from vigil.events.codec import encode_one
from vigil.events.schemas import RefundRequested, RequestChannel
from vigil.security.db import Database
from vigil.security.permissions import Principal

router = APIRouter(prefix="/v1", tags=["decisions"])
_encode = msgspec.json.Encoder().encode
_REPLAY_HEADERS = {"Idempotent-Replay": "true"}
_decode_body = msgspec.json.Decoder(DecideBody).decode
_WHOLE_FIELDS = ("amount_cents", "event_time_ms", "wait_ms")
_ID_FIELDS = ("refund_id", "order_id", "customer_id", "agent_id", "session_id", "return_id")
_id_ok = re.compile(ID_PATTERN).fullmatch
#: how far ahead of the stream's time (the wall clock, or the newest event time seen while
#: the stream runs behind it: ``EventClock``) a request's own ``event_time_ms`` may be
MAX_AHEAD_MS = 86_400_000
_OPENAPI_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": DecideRequest.model_json_schema()}},
    }
}
_VALIDATION_ERROR: dict[str, Any] = {
    "description": "Validation Error",
    "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/HTTPValidationError"}}
    },
}


#: msgspec's "Object missing required field `x`" / "Object contains unknown field `x`"
_NAMED_FIELD = re.compile(r"(missing required|contains unknown) field `([^`]+)`")


def _invalid(loc: list[str | int], msg: str, kind: str, value: Any = None) -> Exception:
    return RequestValidationError(
        [{"type": kind, "loc": ["body", *loc], "msg": msg, "input": value}]
    )


def _is_json(content_type: str | None) -> bool:
    """FastAPI's rule: no content type, ``application/json`` or ``application/*+json``."""
    if not content_type or content_type.startswith("application/json"):
        return True
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


def decode_decide_body(raw: bytes, content_type: str | None) -> DecideBody:
    """The request body as ``DecideBody``, or a 422 shaped like FastAPI's."""
    if not _is_json(content_type):
        raise _invalid(
            [],
            "Input should be a valid dictionary or object to extract fields from: send the "
            f"request as a JSON object with Content-Type: application/json (got {content_type!r})",
            "model_attributes_type",
        )
    try:
        raw.decode("utf-8")  # the whole body, so the byte named is the body's (<= 1 MiB)
    except UnicodeDecodeError as exc:  # bytes that are not text: the client's error, not ours
        raise BadRequestError(
            f"the body is not valid UTF-8 (byte {exc.start:,} of the body): send the request "
            "as JSON in UTF-8"
        ) from None
    try:
        body = _decode_body(raw)
    except msgspec.ValidationError as exc:
        msg, _, where = str(exc).partition(" - at `$")
        loc: list[str | int] = []
        for part in where.rstrip("`").replace("[", ".[").split("."):
            if part.startswith("[") and part.endswith("]") and part[1:-1].isdigit():
                loc.append(int(part[1:-1]))
            elif part:
                loc.append(part)
        kind = "value_error"
        named = _NAMED_FIELD.search(msg)  # a missing or unknown field: name it, as pydantic does
        if named is not None:
            loc.append(named.group(2))
            kind = "missing" if named.group(1) == "missing required" else "extra_forbidden"
        raise _invalid(loc, msg, kind) from None
    except msgspec.DecodeError as exc:
        raise _invalid([], f"JSON decode error: {exc}", "json_invalid") from None
    except UnicodeDecodeError as exc:  # bytes that are not text: the client's error, not ours
        raise BadRequestError(
            f"the body is not valid UTF-8 (byte {exc.start:,}): send the request as JSON in UTF-8"
        ) from None
    except RecursionError:
        raise BadRequestError("the body's JSON is nested too deeply to read") from None
    for name in _ID_FIELDS:
        value = getattr(body, name)
        if value is not None and _id_ok(value) is None:
            raise _invalid([name], f"Value error, {UNPRINTABLE_ID}", "value_error", value)
    for i, sku in enumerate(body.skus):
        if _id_ok(sku) is None:
            raise _invalid(["skus", i], f"Value error, {UNPRINTABLE_ID}", "value_error", sku)
    for name in _WHOLE_FIELDS:  # JSON has one number type: 2.0 is the integer 2, 2.5 is not
        value = getattr(body, name)
        if type(value) is float:
            if not value.is_integer():
                raise _invalid([name], "Input should be a valid integer", "int_type", value)
            setattr(body, name, int(value))
    return body


@router.post(
    "/refunds/decide",
    summary="May this refund go through?",
    response_model=DecideResponse,
    responses={
        **error_responses(400, 401, 403, 409, 503),
        422: _VALIDATION_ERROR,
        200: {
            "description": "The decision (a repeat of an earlier request gets the same "
            "bytes, with header Idempotent-Replay: true)"
        },
    },
    openapi_extra=_OPENAPI_BODY,
)
async def decide(
    request: Request,
    principal: Annotated[Principal, Depends(needs("decisions:read"))],
) -> Response:
    """Approve, review or deny, with a score in [0, 1] and the reasons, from every finding
    known now about the refund, its agent, session, order, customer and ring."""
    st = get_state(request)
    body = decode_decide_body(await request.body(), request.headers.get("content-type"))
    fingerprint = request_fingerprint(body)  # as of the pydantic dump: journals stay valid
    rid = body.refund_id
    known = st.journal.entries.get(rid)
    if known is not None:
        if known.request_sha256 != fingerprint:
            raise ConflictError(
                f"refund {rid!r} was already decided for a different request; a decision is "
                "final per refund id: send the same request to read it again, or use a new "
                "refund id"
            )
        await st.journal.log.durable(known.seq)
        st.metrics.decision_replays.inc()
        answer = st.journal.response(known)
        return Response(answer, media_type="application/json", headers=_REPLAY_HEADERS)
    if body.event_time_ms is not None and body.event_time_ms > st.clock.now_ms() + MAX_AHEAD_MS:
        raise _invalid(
            ["event_time_ms"],
            f"event_time_ms {int(body.event_time_ms)} is more than a day ahead of the stream's "
            f"time ({st.clock.now_ms()}): a request from the future would move the runtime's "
            "clock past every real event; leave it out to stamp the request now",
            "less_than_equal",
            body.event_time_ms,
        )
    caught_up = await _caught_up(st, int(body.wait_ms))
    # both are ints here: decode_decide_body turned whole floats into ints
    event_time_ms = int(body.event_time_ms) if body.event_time_ms is not None else st.clock.now_ms()
    req = RefundRequested(
        event_id=DECIDE_PREFIX + rid,
        event_time_ms=event_time_ms,
        refund_id=rid,
        order_id=body.order_id,
        customer_id=body.customer_id,
        return_id=body.return_id,
        amount_cents=int(body.amount_cents),
        currency=body.currency,
        skus=body.skus,
        reason=body.reason,
        channel=body.channel or _channel(body.issued_by, body.policy),
        method=body.method,
        policy=body.policy,
        issued_by=body.issued_by,
        agent_id=body.agent_id,
        session_id=body.session_id,
    )
    index = st.index
    evidence = request_evidence(req, index.facts, index)
    policy = st.settings.decision_policy
    decision = decide_request(
        req,
        index.facts,
        index,
        policy=policy,
        settings=st.settings.detector_settings,
        centres=st.settings.return_centres,
        evidence=evidence,
        profile=st.settings.request_profile,
    )
    now_ms = int(time.time() * 1000)
    event_line: bytes | None = None
    event_end: int | None = None
    event_id: str | None = None
    if body.record_event:
        event_id = req.event_id
        st.clock.observe(event_time_ms)
        event_line = encode_one(req) + b"\n"
        _seq, event_end = st.decision_log.write_end(event_line)  # fsynced with the journal
        st.staleness.appended()
    out: dict[str, Any] = {
        "refund_id": rid,
        "decision": decision.decision,
        "score": decision.score,
        "reasons": decision.reasons,
        "explanation": decision.explanation,
        "contributions": decision.contributions,
        "evidence": {
            "refund": evidence.refund,
            "agent": evidence.agent,
            "session": evidence.session,
            "customer": evidence.customer,
            "ring": evidence.ring,
        },
        "set_aside": decision.set_aside,
        "policy": {
            "review_threshold": policy.review_threshold,
            "deny_threshold": policy.deny_threshold,
        },
        "event_id": event_id,
        "decided_at_ms": now_ms,
        "index_age_s": round(max(st.staleness.pending_s(), st.staleness.tail_age_s()), 3),
        "caught_up": caught_up,
    }
    response = _encode(out)
    # the journal line carries the event: one fsync makes both durable (DecisionJournal)
    entry = st.journal.record(
        rid,
        fingerprint,
        response,
        event_line,
        event_end,
        request=None if event_line is not None else encode_one(req),
    )
    await st.journal.log.durable(entry.seq)
    st.metrics.decisions.labels(decision.decision).inc()
    if decision.set_aside:
        st.metrics.decisions_set_aside.inc()
    return Response(response, media_type="application/json")


@router.get(
    "/decisions/{refund_id}",
    summary="A refund's current decision",
    response_model=DecisionView,
    responses=error_responses(401, 403, 404),
)
async def get_decision(
    request: Request,
    refund_id: Annotated[str, Path(min_length=1, max_length=128)],
    principal: Annotated[Principal, Depends(needs("decisions:read"))],
) -> Response:
    """The stream's decision about the refund (revised as evidence arrives), the
    synchronous answer given at refund time, if any, and its hold: a refund answered review
    or deny waits for a person to release or block it (poll ``hold.status`` before paying)."""
    st = get_state(request)
    stream = st.index.decisions.get(refund_id)
    journal = st.journal.entries.get(refund_id)
    if stream is None and journal is None:
        raise NotFoundError(
            f"no decision about refund {refund_id!r}: it was never decided here and no "
            "detector has spoken about it (a refund nobody flags is approved)"
        )
    answer = None if journal is None else st.journal.response(journal)
    requested = None if answer is None else msgspec.Raw(answer)
    if stream is not None:
        current = stream.decision
    else:
        assert answer is not None
        current = msgspec.json.decode(answer)["decision"]
    hold = None if st.db is None else await asyncio.to_thread(_hold_state, st.db, refund_id)
    return Response(
        _encode(
            {
                "refund_id": refund_id,
                "current": current,
                "stream": stream,
                "requested": requested,
                "hold": hold,
            }
        ),
        media_type="application/json",
    )


def _hold_state(db: Database, refund_id: str) -> dict[str, Any] | None:
    """The hold's status, reason, who and when (the caller may read the decision)."""
    with db.transaction() as session:
        hold = find_hold(session, refund_id)
    if hold is None:
        return None
    return {
        "status": hold.status,
        "reason": hold.resolution_reason,
        "by": hold.resolved_by,
        "at": hold.resolved_at,
    }


async def _caught_up(st: ApiState, wait_ms: int) -> bool:
    """Whether the index reflects every event appended to the input log before now; with
    ``wait_ms``, wait up to that long for it (the runtime reads, publishes, the index reads)."""
    try:
        appended = os.stat(st.settings.input_log).st_size
    except FileNotFoundError:
        return True
    if st.tailer.reflected_offset >= appended:
        return True
    runtime_up = st.runtime.alive() if st.runtime is not None else st.tailer.runtime_publishing()
    if wait_ms <= 0 or not runtime_up:
        return False  # no runtime to wait for: waiting would only add latency
    return await st.tailer.wait_reflected(appended, wait_ms / 1000)


def _channel(issued_by: str, policy: str) -> RequestChannel:
    """How a request came, when the body does not say: an agent's, a policy trigger's
    (refund on first scan or on receipt), or the customer's own."""
    if issued_by == "agent":
        return "agent"
    if policy in ("on_first_scan", "on_receipt"):
        return "automatic"
    return "self_service"

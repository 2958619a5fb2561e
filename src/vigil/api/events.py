"""``POST /v1/events``: a batch of events (JSON array or JSON Lines) into the runtime's input.

Each record is validated by Vigil's own codec (``vigil.events.codec.decode_one``), so the
errors are the same as ``vigil run``'s dead letters: line (position), event id, field and
reason. Valid records are appended to the runtime's input log, rejected ones to the API's
dead-letter file with their reason; both are fsynced before the answer, so a record the
client was told about is never lost. Duplicates (same ``event_id``) are accepted here and
dropped by the runtime, which owns idempotence on event id.

Event times are placed (``vigil.ingest.event_time``) and the sender is told, per record:
``too_early`` for one more than a day ahead of the wall clock, ``too_late`` for one more than
the allowed lateness behind the stream; the runtime keeps either as a dead letter instead of
processing it. Both are appended like the accepted ones, so those dead letters keep them for
replay.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Depends, Request, Response

from vigil.api.auth import needs
from vigil.api.errors import (
    BadRequestError,
    PayloadTooLargeError,
    UnavailableError,
    UnsupportedMediaTypeError,
)
from vigil.api.schemas import IngestResponse, error_responses
from vigil.api.state import EventClock, get_state
from vigil.events.codec import DecodeFailure, decode_one
from vigil.events.schemas import type_name
from vigil.ingest import event_time
from vigil.ingest.dead_letter import DeadLetter
from vigil.security.permissions import Principal

router = APIRouter(prefix="/v1", tags=["events"])

_JSON_TYPES = ("application/json",)
_LINES_TYPES = (
    "application/x-ndjson",
    "application/jsonl",
    "application/json-lines",
    "application/x-jsonlines",
    "text/plain",
)
_encode = msgspec.json.Encoder().encode
_raw_list = msgspec.json.Decoder(list[msgspec.Raw])

#: any JSON value is accepted as a record and judged on its own: a record that is not a
#: valid event is rejected in the answer (with field and reason), not the whole batch
_RECORD_SCHEMA: dict[str, Any] = {
    "description": "One event of docs/events.md: an object with a ``type`` tag, "
    "``event_id``, ``event_time_ms`` and the fields of that type. Each record is validated "
    "on its own; an invalid one is rejected in the answer with its field and reason.",
    "examples": [
        {
            "type": "customer_login",
            "event_id": "e1",
            "event_time_ms": 1767600000000,
            "customer_id": "c1",
            "device_id": "d1",
            "ip": "10.0.0.1",
            "country": "US",
            "success": True,
        }
    ],
}
_OPENAPI_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "A JSON array of events (or one event object), or JSON Lines: one "
        "event per line.",
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        {"type": "array", "items": _RECORD_SCHEMA},
                        {**_RECORD_SCHEMA, "type": "object"},
                    ]
                }
            },
            "application/x-ndjson": {"schema": {"type": "string"}},
        },
    }
}


@router.post(
    "/events",
    summary="Ingest a batch of events",
    response_model=IngestResponse,
    responses=error_responses(400, 401, 403, 413, 415, 503),
    openapi_extra=_OPENAPI_BODY,
)
async def post_events(
    request: Request,
    principal: Annotated[Principal, Depends(needs("events:write"))],
) -> Response:
    """Validate each record; append the valid ones to the runtime's input (fsynced) and keep
    the rejected ones as dead letters (fsynced), all of a request or none of it. One result per
    record: ``accepted``; ``too_early`` (more than a day ahead of the wall clock) or
    ``too_late`` (behind the stream by more than the allowed lateness), appended but kept by
    the runtime as dead letters, not processed; or ``rejected`` with the field and reason."""
    st = get_state(request)
    body = await request.body()  # within max_body_bytes: BoundedBodies received it
    records = _split(body, request.headers.get("content-type", ""))
    if len(records) > st.settings.max_records_per_request:
        raise PayloadTooLargeError(
            f"{len(records):,} records in one request; send at most "
            f"{st.settings.max_records_per_request:,} per request"
        )
    st.batches += 1
    source = f"api:{principal.actor}:batch-{int(time.time() * 1000)}-{st.batches}"
    accepted = bytearray()
    rejected = bytearray()
    results: list[dict[str, Any]] = []
    n_bad = 0
    counts = {"accepted": 0, "too_early": 0, "too_late": 0}
    for index, (line_no, raw) in enumerate(records):
        decoded = decode_one(raw, line_no)
        if isinstance(decoded, DecodeFailure):
            n_bad += 1
            rejected += _encode(
                DeadLetter.of(
                    raw,
                    source=source,
                    line_no=line_no,
                    event_id=decoded.event_id,
                    field=decoded.field,
                    reason_code="malformed",
                    reason=decoded.describe(),
                )
            )
            rejected += b"\n"
            results.append(
                {
                    "index": index,
                    "line_no": line_no,
                    "status": "rejected",
                    "event_id": decoded.event_id,
                    "type": None,
                    "field": decoded.field,
                    "reason": decoded.describe(),
                }
            )
            continue
        status, reason = _placed(st.clock, decoded.event_time_ms)
        counts[status] += 1
        accepted += _one_line(raw)
        accepted += b"\n"
        results.append(
            {
                "index": index,
                "line_no": line_no,
                "status": status,
                "event_id": decoded.event_id,
                "type": type_name(type(decoded)),
                "field": "event_time_ms" if reason else None,
                "reason": reason,
            }
        )
    waits = []
    # all of the request or none of it (a full disk): the sender sends it again. The dead
    # letters go first, as only they can be taken back: the runtime may already have read
    # what was appended to the input log
    if rejected:
        seq, end = st.dead_letters.write_end(bytes(rejected))
        waits.append((st.dead_letters, seq))
    if accepted:
        try:
            waits.append((st.input_log, st.input_log.write(bytes(accepted))))
        except UnavailableError:
            if rejected:
                st.dead_letters.cut(end - len(rejected))
            raise
        st.staleness.appended()
    for log, seq in waits:
        await log.durable(seq)
    for status, n in counts.items():
        st.metrics.events.labels(status).inc(n)
    st.metrics.events.labels("rejected").inc(n_bad)
    return Response(
        _encode(
            {
                "accepted": counts["accepted"],
                "too_early": counts["too_early"],
                "too_late": counts["too_late"],
                "rejected": n_bad,
                "results": results,
            }
        ),
        media_type="application/json",
    )


def _placed(clock: EventClock, time_ms: int) -> tuple[str, str | None]:
    """The record's status against the clocks, and what to tell the sender."""
    newest, wall = clock.newest_ms, clock.wall_ms()
    placed = event_time.place(time_ms, newest, wall)
    if placed == "too_early":
        return "too_early", (
            f"event time {time_ms} is more than {event_time.MAX_FUTURE_MS:,} ms ahead of the "
            f"wall clock ({wall}): it cannot have happened yet; the runtime keeps it as a "
            "too_early dead letter, not processed"
        )
    if placed == "too_late":
        return "too_late", (
            f"event time {time_ms} is more than the allowed lateness behind the stream "
            f"(latest event {newest}): the runtime keeps it as a too_late dead letter, "
            "not processed"
        )
    clock.observe(time_ms)
    return "accepted", None


def _split(body: bytes, content_type: str) -> list[tuple[int, bytes]]:
    """(line number, raw record) of each record in the body."""
    media = content_type.split(";", 1)[0].strip().lower()
    head = body.lstrip()[:1]
    if not head:
        raise BadRequestError("empty body: send a JSON array of events or JSON Lines")
    if media in _JSON_TYPES and head == b"{" and b"\n" not in body.strip():
        return [(1, body.strip())]
    if media in _JSON_TYPES or (not media and head == b"["):
        if head != b"[":
            if head == b"{":  # several objects on several lines: JSON Lines sent as JSON
                return _lines(body)
            raise BadRequestError(
                "a JSON body must be an array of events or one event object; for one event "
                "per line use Content-Type application/x-ndjson"
            )
        try:
            items = _raw_list.decode(body)
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
            # RecursionError: arrays nested ~1,000 deep, which no event is
            raise BadRequestError(
                f"the body is not a JSON array ({exc}); nothing was stored. Send valid JSON, "
                "or JSON Lines (application/x-ndjson) to have each line judged on its own"
            ) from exc
        return [(n, bytes(raw)) for n, raw in enumerate(items, 1)]
    if media and media not in _LINES_TYPES:
        raise UnsupportedMediaTypeError(
            f"content type {media!r}: send application/json (an array of events) or "
            "application/x-ndjson (one event per line)"
        )
    return _lines(body)


def _lines(body: bytes) -> list[tuple[int, bytes]]:
    out: list[tuple[int, bytes]] = []
    for n, line in enumerate(body.split(b"\n"), 1):
        line = line.rstrip(b"\r")
        if line.strip():
            out.append((n, line))
    return out


def _one_line(raw: bytes) -> bytes:
    """The record on one line, byte for byte unless it spanned lines (pretty-printed JSON)."""
    if b"\n" in raw or b"\r" in raw:
        return msgspec.json.format(raw, indent=0)
    return raw

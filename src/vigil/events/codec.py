"""JSON Lines codec: bytes in, typed events out, with errors that name line, id and field."""

from __future__ import annotations

import re
from collections.abc import Iterable

import msgspec

from vigil.events.schemas import Event, EventBase

_decoder = msgspec.json.Decoder(Event)

#: decode one line, raising on bad input: the hot path's decoder (one C call per line);
#: when it raises, ``decode_one`` says why, naming line, event id and field
decode_strict = _decoder.decode
_encoder = msgspec.json.Encoder()
_PATH = re.compile(r" - at `\$\.?([^`]*)`$")


class _IdProbe(msgspec.Struct):
    event_id: object = None


_probe = msgspec.json.Decoder(_IdProbe)


class DecodeFailure(msgspec.Struct, frozen=True, kw_only=True):
    """Why one record could not be decoded: which line, which event id, which field."""

    line_no: int
    event_id: str | None
    field: str | None
    reason: str

    def describe(self) -> str:
        where = f"line {self.line_no}"
        if self.event_id is not None:
            where += f", event {self.event_id!r}"
        if self.field:
            where += f", field {self.field!r}"
        return f"{where}: {self.reason}"


def decode_one(raw: bytes, line_no: int) -> Event | DecodeFailure:
    """Decode one JSON line; never raises for bad input."""
    try:
        event: Event = _decoder.decode(raw)
        return event
    except msgspec.ValidationError as exc:
        return _failure(raw, line_no, str(exc))
    except msgspec.DecodeError as exc:
        return DecodeFailure(
            line_no=line_no, event_id=None, field=None, reason=f"invalid JSON: {exc}"
        )
    except UnicodeDecodeError as exc:
        return _failure(raw, line_no, f"invalid UTF-8 in a string at byte {exc.start}")
    except RecursionError:
        return DecodeFailure(
            line_no=line_no, event_id=None, field=None, reason="JSON nested too deeply to read"
        )
    except Exception as exc:  # never let one bad line stop a stream
        return DecodeFailure(
            line_no=line_no, event_id=None, field=None, reason=f"unreadable: {exc!r}"
        )


def _failure(raw: bytes, line_no: int, message: str) -> DecodeFailure:
    field: str | None = None
    match = _PATH.search(message)
    if match:
        field = match.group(1) or None
        message = message[: match.start()]
    if message.startswith("Object missing required field") and "`" in message:
        missing = message.split("`")[1]
        field = f"{field}.{missing}" if field else missing
    event_id: str | None = None
    try:
        probe = _probe.decode(raw)
        if isinstance(probe.event_id, str):
            event_id = probe.event_id
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        pass
    if field is None and "`type`" in message:
        field = "type"
    return DecodeFailure(line_no=line_no, event_id=event_id, field=field, reason=message)


def encode_one(event: EventBase) -> bytes:
    """One event as compact JSON (no newline)."""
    return _encoder.encode(event)


def encode_many(events: Iterable[EventBase]) -> bytes:
    """Events as JSON Lines."""
    buf = bytearray()
    for ev in events:
        _encoder.encode_into(ev, buf, len(buf))
        buf.extend(b"\n")
    return bytes(buf)

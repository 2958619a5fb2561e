"""JSON Lines codec: bytes in, typed events out, with errors that name line, id and field."""

from __future__ import annotations

import re
from collections.abc import Iterable

import msgspec

from vigil.events.schemas import Event, EventBase

_decoder = msgspec.json.Decoder(Event)

#: the longest record (one JSON line) accepted; a longer one is a dead letter that says its
#: size, without being read (no event of docs/events.md comes near it)
MAX_RECORD_BYTES = 1 << 20
#: a value longer than this is not repeated in a reason (its length is)
_ECHO_MAX = 64
_QUOTED = re.compile("'([^']{" + str(_ECHO_MAX + 1) + ",})'")
_TOO_LONG = re.compile(r"^Expected `(str|array)` of length <= (\d+)")

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
    if len(raw) > MAX_RECORD_BYTES:
        return too_large(raw, line_no)
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
    if event_id is not None and len(event_id) > 128:
        event_id = None  # not an id: the line number names the record
    too_long = _TOO_LONG.match(message)
    if too_long and field:
        size = _size_of(raw, field)
        if size is not None:
            unit = "characters" if too_long.group(1) == "str" else "items"
            message = f"{size:,} {unit}; at most {int(too_long.group(2)):,} allowed"
    # a reason names a value, not a copy of a huge one
    message = _QUOTED.sub(lambda m: f"<{len(m.group(1)):,} characters>", message)
    return DecodeFailure(line_no=line_no, event_id=event_id, field=field, reason=message)


def too_large(raw: bytes, line_no: int) -> DecodeFailure:
    """The failure of a record over ``MAX_RECORD_BYTES`` (not decoded)."""
    return DecodeFailure(
        line_no=line_no,
        event_id=None,
        field=None,
        reason=f"record of {len(raw):,} bytes; at most {MAX_RECORD_BYTES:,} are read",
    )


def _size_of(raw: bytes, path: str) -> int | None:
    """The length of the value at ``path`` (``a.b[0].c``) of a record, if it can be read."""
    try:
        value: object = msgspec.json.decode(raw)
    except Exception:
        return None
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        if part.startswith("["):
            index = int(part[1:-1])
            value = value[index] if isinstance(value, list) and index < len(value) else None
        else:
            value = value.get(part) if isinstance(value, dict) else None
    return len(value) if isinstance(value, str | list) else None


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

"""Malformed input, fuzzed: the runtime never crashes, every bad line is dead-lettered with
its line number, event id (when readable), field and reason, and good lines are unaffected."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import msgspec.inspect as mi
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vigil.events.codec import encode_one
from vigil.events.schemas import EVENT_TYPES, EventBase, type_name
from vigil.ingest.dead_letter import dead_letter_decoder
from vigil.ingest.sources import FileSource
from vigil.runtime.embedded import EmbeddedRuntime, RuntimeSettings

from ._detectors import NoReturnDetector, RefundWindowsDetector
from ._streams import make_event, order_placed, refund, run_to_dir

ANY = object()  # "not checked": the event id or field of a line no parser could read


class Under(str):
    """An expected field that may be named more precisely (``items`` -> ``items[0].sku``)."""

    def matches(self, field: str | None) -> bool:
        return field is not None and (field == self or field.startswith((f"{self}[", f"{self}.")))


TAGS = {type_name(cls) for cls in EVENT_TYPES}


@dataclass(frozen=True)
class Bad:
    raw: bytes
    event_id: object  # str | None | ANY
    field: object  # str | None | ANY


def _doc(event: EventBase) -> dict[str, Any]:
    doc = msgspec.to_builtins(event)
    assert isinstance(doc, dict)
    return doc


def _fields(event: EventBase) -> list[mi.Field]:
    info = mi.type_info(type(event))
    assert isinstance(info, mi.StructType)
    return list(info.fields)


def _id_unless(field: str, event: EventBase) -> str | None:
    return None if field == "event_id" else event.event_id


_bases = st.builds(
    make_event,
    st.integers(10_000, 10_100),
    st.sampled_from(["refund", "receipt", "login", "order"]),
    st.integers(0, 10**6),
    st.integers(0, 4),
    st.integers(0, 10**5),
)


@st.composite
def random_bytes(draw: st.DrawFn) -> Bad:
    raw = draw(
        st.binary(min_size=1, max_size=60).filter(
            lambda b: (
                b"\n" not in b
                and not b.endswith(b"\r")
                and bool(b.strip())
                and not b.lstrip().startswith(b"{")
            )  # a valid event must be a JSON object
        )
    )
    return Bad(raw, None, None)


@st.composite
def truncated(draw: st.DrawFn) -> Bad:
    raw = encode_one(draw(_bases))
    return Bad(raw[: draw(st.integers(1, len(raw) - 1))], ANY, None)


_WRONG = st.sampled_from([1.5, [[None]], {"junk": [1, {"deeper": []}]}, -2.5])


@st.composite
def wrong_type(draw: st.DrawFn) -> Bad:
    event = draw(_bases)
    doc = _doc(event)
    name = draw(st.sampled_from(sorted(set(doc) - {"type"})))
    doc[name] = draw(_WRONG)
    return Bad(msgspec.json.encode(doc), _id_unless(name, event), Under(name))


@st.composite
def wrong_nested_type(draw: st.DrawFn) -> Bad:
    event = draw(
        st.builds(
            order_placed,
            st.just(10_000),
            st.integers(0, 10**6),
            st.just("o1"),
            st.just("c1"),
            st.integers(0, 10**5),
        )
    )
    doc = _doc(event)
    i = draw(st.integers(0, len(doc["items"]) - 1))
    name = draw(st.sampled_from(["sku", "price_cents", "quantity", "weight_g", "category"]))
    doc["items"][i][name] = draw(_WRONG)
    return Bad(msgspec.json.encode(doc), event.event_id, f"items[{i}].{name}")


@st.composite
def missing_field(draw: st.DrawFn) -> Bad:
    event = draw(_bases)
    doc = _doc(event)
    name = draw(st.sampled_from([f.name for f in _fields(event) if f.required]))
    del doc[name]
    return Bad(msgspec.json.encode(doc), _id_unless(name, event), name)


@st.composite
def unknown_type(draw: st.DrawFn) -> Bad:
    event = draw(_bases)
    doc = _doc(event)
    doc["type"] = draw(st.one_of(st.text(max_size=20).filter(lambda t: t not in TAGS), _WRONG))
    if draw(st.booleans()):
        del doc["type"]
    return Bad(msgspec.json.encode(doc), event.event_id, "type")


@st.composite
def non_utf8(draw: st.DrawFn) -> Bad:
    """Bytes that are not UTF-8, around the JSON or inside one of its strings."""
    event = draw(_bases)
    raw = encode_one(event)
    # 0xff never occurs in UTF-8; the rest are high bytes (no quote, no newline)
    junk = b"\xff" + draw(st.binary(max_size=3).map(lambda b: bytes(x | 0x80 for x in b)))
    where = draw(st.sampled_from(["before", "after", "in_string"]))
    if where == "before":
        return Bad(junk + raw, None, None)
    if where == "after":
        return Bad(raw + junk, None, None)
    doc = _doc(event)
    strings = [k for k, v in doc.items() if isinstance(v, str) and k not in ("type", "event_id")]
    name = draw(st.sampled_from(strings))
    doc[name] = "__JUNK__"
    return Bad(msgspec.json.encode(doc).replace(b"__JUNK__", junk), ANY, ANY)


@st.composite
def huge_number(draw: st.DrawFn) -> Bad:
    """Numbers out of range for their (non-negative int64) field."""
    event = draw(_bases)
    doc = _doc(event)
    ints = [f.name for f in _fields(event) if isinstance(f.type, mi.IntType) and f.type.ge == 0]
    name = draw(st.sampled_from(ints))
    doc[name] = "__HUGE__"
    number = draw(
        st.sampled_from([b"1e400", b"-1e400", b"-" + b"9" * 40, b"1" + b"0" * 30 + b".5"])
    )
    raw = msgspec.json.encode(doc).replace(b'"__HUGE__"', number)
    return Bad(raw, _id_unless(name, event), name)


@st.composite
def nested_junk(draw: st.DrawFn) -> Bad:
    """A value nested up to 3,000 deep (msgspec's recursion limit is about 1,000)."""
    depth = draw(st.one_of(st.integers(1, 200), st.integers(900, 3_000)))
    as_dict = draw(st.booleans())
    leaf = draw(st.sampled_from([b"null", b"1", b'"x"', b"[]"]))
    opening, closing = (b'{"n":', b"}") if as_dict else (b"[", b"]")
    junk = opening * depth + leaf + closing * depth
    too_deep = depth >= 900  # too deep to read: the failure cannot say where
    if draw(st.booleans()):  # the whole line; an object without a ``type`` names that field
        return Bad(junk, None, ANY if too_deep else "type" if as_dict else None)
    event = draw(_bases)
    doc = _doc(event)
    name = draw(st.sampled_from(sorted(set(doc) - {"type"})))
    doc[name] = "__JUNK__"
    raw = msgspec.json.encode(doc).replace(b'"__JUNK__"', junk)
    if too_deep:
        return Bad(raw, ANY, ANY)
    return Bad(raw, _id_unless(name, event), Under(name))


BAD_LINES = st.one_of(
    random_bytes(),
    truncated(),
    wrong_type(),
    wrong_nested_type(),
    missing_field(),
    unknown_type(),
    non_utf8(),
    huge_number(),
    nested_junk(),
)


@st.composite
def streams(draw: st.DrawFn) -> tuple[list[bytes], list[EventBase], dict[int, Bad]]:
    specs = draw(
        st.lists(
            st.tuples(
                st.sampled_from(["refund", "receipt", "login"]),
                st.integers(0, 400),
                st.integers(0, 4),
                st.integers(0, 10**5),
            ),
            max_size=15,
        )
    )
    good = sorted(
        (make_event(n, *spec) for n, spec in enumerate(specs)), key=lambda e: e.event_time_ms
    )
    lines: list[bytes] = [encode_one(e) for e in good]
    bad_lines = draw(st.lists(BAD_LINES, min_size=1, max_size=8))
    for bad in bad_lines:
        lines.insert(draw(st.integers(0, len(lines))), bad.raw)
    # line numbers of the bad lines (a bad line's bytes are never a good line's)
    bad_at = {}
    remaining = list(bad_lines)
    for n, line in enumerate(lines, start=1):
        match = next((b for b in remaining if b.raw == line), None)
        if match is not None:
            remaining.remove(match)
            bad_at[n] = match
    return lines, good, bad_at


def _settings(analytics: bool = False, **more: Any) -> RuntimeSettings:
    return RuntimeSettings(
        max_out_of_orderness_ms=20, allowed_lateness_ms=1_000, analytics=analytics, **more
    )


def _detectors() -> list[Any]:
    return [NoReturnDetector(50), RefundWindowsDetector(40, 80, 20)]


@settings(max_examples=200)
@given(streams())
def test_malformed_lines_are_dead_lettered_and_good_lines_processed(
    stream: tuple[list[bytes], list[EventBase], dict[int, Bad]],
) -> None:
    lines, good, bad_at = stream
    result = run_to_dir(_detectors(), lines, _settings())
    stats = result.stats
    assert (stats.malformed, stats.processed, stats.too_late) == (len(bad_at), len(good), 0)
    assert stats.reconciles()

    assert [d.line_no for d in result.dead_letters] == sorted(bad_at)
    for letter in result.dead_letters:
        bad = bad_at[letter.line_no]
        assert letter.reason_code == "malformed"
        assert letter.raw == bad.raw.decode("utf-8", "replace")
        exact = base64.b64decode(letter.raw_base64) if letter.raw_base64 else letter.raw.encode()
        assert exact == bad.raw, "the exact bytes can be replayed"
        assert letter.reason.startswith(f"line {letter.line_no}")
        assert letter.source.endswith("events.jsonl")
        if bad.event_id is not ANY:
            assert letter.event_id == bad.event_id
        if isinstance(bad.field, Under):
            assert bad.field.matches(letter.field), letter.reason
        elif bad.field is not ANY:
            assert letter.field == bad.field, letter.reason

    # the bad lines change nothing else
    clean = run_to_dir(_detectors(), [encode_one(e) for e in good], _settings())
    assert result.alerts_bytes == clean.alerts_bytes


@settings(max_examples=10)
@given(streams())
def test_malformed_lines_with_analytics_on(
    stream: tuple[list[bytes], list[EventBase], dict[int, Bad]],
) -> None:
    lines, good, bad_at = stream
    result = run_to_dir(_detectors(), lines, _settings(analytics=True))
    assert (result.stats.malformed, result.stats.processed) == (len(bad_at), len(good))


def _run_one_bad_line(tmp_path: Path, bad: bytes, analytics: bool) -> Any:
    lines = [encode_one(refund(1, 0, "o1", "c1", 5)), bad, encode_one(refund(2, 10, "o2", "c1", 7))]
    inp = tmp_path / "events.jsonl"
    inp.write_bytes(b"\n".join(lines) + b"\n")
    out = tmp_path / "out"
    stats = EmbeddedRuntime(_detectors(), out, _settings(analytics)).run(FileSource(inp))
    assert (stats.processed, stats.malformed) == (2, 1)
    letter = dead_letter_decoder.decode((out / "dead_letter.jsonl").read_bytes())
    assert (letter.line_no, letter.reason_code) == (2, "malformed")
    return letter


@pytest.mark.parametrize("analytics", [False, True], ids=["analytics_off", "analytics_on"])
def test_non_utf8_inside_a_string_is_dead_lettered(tmp_path: Path, analytics: bool) -> None:
    letter = _run_one_bad_line(
        tmp_path, b'{"type": "refund_issued", "event_id": "e\xff9"}', analytics
    )
    assert letter.raw == '{"type": "refund_issued", "event_id": "e\ufffd9"}'


@pytest.mark.parametrize("analytics", [False, True], ids=["analytics_off", "analytics_on"])
def test_deeply_nested_junk_is_dead_lettered(tmp_path: Path, analytics: bool) -> None:
    deep = b"[" * 2_000 + b"]" * 2_000
    bad = b'{"type": "refund_issued", "event_id": "e9", "x": ' + deep + b"}"
    _run_one_bad_line(tmp_path, bad, analytics)


@pytest.mark.parametrize("analytics", [False, True], ids=["analytics_off", "analytics_on"])
@pytest.mark.parametrize("name", ["amount_cents", "event_time_ms"])
def test_integers_beyond_int64_are_dead_lettered(
    tmp_path: Path, analytics: bool, name: str
) -> None:
    doc = _doc(refund(9, 5, "o9", "c1", 5))
    doc[name] = 2**64
    letter = _run_one_bad_line(tmp_path, msgspec.json.encode(doc), analytics)
    assert (letter.event_id, letter.field) == ("e9", name)


def test_a_far_future_event_time_does_not_crash_nor_move_the_watermark(tmp_path: Path) -> None:
    """An in-range but absurd event time is kept as ``too_early``; with no wall-clock bound it
    is processed (it moves the watermark far ahead) without crashing."""
    doc = _doc(refund(9, 5, "o9", "c1", 5))
    doc["event_time_ms"] = 2**62
    lines = [encode_one(refund(1, 0, "o1", "c1", 5)), msgspec.json.encode(doc)]
    result = run_to_dir(_detectors(), lines, _settings(analytics=False))
    assert (result.stats.processed, result.stats.too_early) == (1, 1)
    assert result.stats.watermark_ms is not None and result.stats.watermark_ms < 1_000
    unbounded = run_to_dir(_detectors(), lines, _settings(analytics=False, max_future_ms=None))
    assert unbounded.stats.processed == 2

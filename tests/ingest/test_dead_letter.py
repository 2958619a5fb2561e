"""Dead letters: one JSON line each, the exact raw bytes recoverable, a closed set of reasons."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vigil.errors import InputError
from vigil.ingest.dead_letter import DeadLetter, dead_letter_decoder, dead_letter_encoder
from vigil.ingest.replay import extract_dead_letters


def _letter(raw: bytes, reason_code: str = "malformed", line_no: int = 12) -> DeadLetter:
    return DeadLetter.of(
        raw,
        source="events.jsonl",
        line_no=line_no,
        event_id="evt-1",
        field="items[0].price_cents",
        reason_code=reason_code,  # type: ignore[arg-type]
        reason=f"line {line_no}, event 'evt-1', field 'items[0].price_cents': Expected `int`",
    )


def test_a_utf8_record_is_kept_as_text() -> None:
    letter = _letter('{"note": "é ✓", "x": 1}'.encode())
    assert letter.raw == '{"note": "é ✓", "x": 1}'
    assert letter.raw_base64 is None
    encoded = dead_letter_encoder.encode(letter)
    assert b"raw_base64" not in encoded  # omitted when not needed
    assert dead_letter_decoder.decode(encoded) == letter


def test_a_non_utf8_record_keeps_its_exact_bytes() -> None:
    letter = _letter(b'{"id": "e\xff1"}')
    assert letter.raw == '{"id": "e\ufffd1"}'
    assert letter.raw_base64 is not None
    assert dead_letter_decoder.decode(dead_letter_encoder.encode(letter)) == letter


def test_reason_code_is_a_closed_set() -> None:
    doc = msgspec.to_builtins(_letter(b"x"))
    doc["reason_code"] = "bored"
    with pytest.raises(msgspec.ValidationError, match="reason_code"):
        dead_letter_decoder.decode(msgspec.json.encode(doc))


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    records=st.lists(
        st.tuples(st.binary(max_size=40).filter(lambda b: b"\n" not in b), st.booleans()),
        max_size=10,
    )
)
def test_extracted_records_are_the_exact_raw_bytes(
    tmp_path: Path, records: list[tuple[bytes, bool]]
) -> None:
    dead = tmp_path / "dead_letter.jsonl"
    letters = [_letter(raw, "too_late" if late else "malformed") for raw, late in records]
    dead.write_bytes(b"".join(dead_letter_encoder.encode(x) + b"\n" for x in letters))
    out = tmp_path / "replay.jsonl"

    summary = extract_dead_letters(dead, out, None)
    assert out.read_bytes() == b"".join(raw + b"\n" for raw, _ in records)
    assert summary[0].startswith(f"{len(records):,} dead letters")

    extract_dead_letters(dead, out, frozenset({"too_late"}))
    assert out.read_bytes() == b"".join(raw + b"\n" for raw, late in records if late)


def test_extracting_from_a_file_that_is_not_dead_letters_is_an_input_error(
    tmp_path: Path,
) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(b'{"type": "refund_issued"}\n')
    with pytest.raises(InputError, match="line 1 is not a dead-letter record"):
        extract_dead_letters(path, None, None)

"""Oversized records and values: each becomes one dead letter whose reason names the field and
its size (not its value), and no sink, DuckDB's included, is handed one (simulated stream)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vigil.detectors.registry import default_detectors
from vigil.events.codec import MAX_RECORD_BYTES
from vigil.events.schemas import MAX_TEXT
from vigil.ingest.dead_letter import dead_letter_decoder
from vigil.ingest.sources import FileSource
from vigil.runtime.embedded import EmbeddedRuntime, RuntimeSettings
from vigil.sim import SimConfig, simulate


@pytest.fixture(scope="module")
def lines(tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    root = tmp_path_factory.mktemp("bounded")
    simulate(SimConfig(seed=4, events=20_000), root / "sim")
    return (root / "sim" / "events.jsonl").read_bytes().splitlines()


def _first(lines: list[bytes], kind: str) -> dict[str, object]:
    for line in lines:
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if isinstance(doc, dict) and doc.get("type") == kind and "event_time_ms" in doc:
            return doc  # type: ignore[no-any-return]
    raise AssertionError(kind)


def _is_login(line: bytes) -> bool:
    try:
        doc = json.loads(line)
    except ValueError:
        return False
    return (
        isinstance(doc, dict)
        and doc.get("type") == "customer_login"
        and isinstance(doc.get("event_id"), str)
        and isinstance(doc.get("event_time_ms"), int)
        and isinstance(doc.get("device_id"), str)
    )


def _run(lines: list[bytes], tmp: Path, name: str) -> tuple[Path, object]:
    inp = tmp / f"{name}.jsonl"
    inp.write_bytes(b"".join(line + b"\n" for line in lines))
    out = tmp / name
    stats = EmbeddedRuntime(default_detectors(), out, RuntimeSettings()).run(FileSource(inp))
    return out, stats


def test_huge_values_and_records_are_kept_with_their_size_and_change_nothing(
    lines: list[bytes], tmp_path: Path
) -> None:
    login, order = _first(lines, "customer_login"), _first(lines, "order_placed")
    huge_device = {**login, "event_id": "huge-device", "device_id": "d" * 500_000}
    many_items = {**order, "event_id": "many-items",
                  "items": order["items"] * (2 * MAX_RECORD_BYTES // 100)}  # type: ignore[operator]  # fmt: skip
    long_type = {**login, "event_id": "long-type", "type": "customer_login" * 50}
    giant = {**login, "event_id": "giant", "device_id": "d" * 50_000_000}
    docs = (huge_device, many_items, long_type, giant)
    hostile = [json.dumps(d).encode() for d in docs]
    at = len(lines) // 2
    base, base_stats = _run(lines, tmp_path, "base")
    got, stats = _run([*lines[:at], *hostile, *lines[at:]], tmp_path, "hostile")

    assert (got / "alerts.jsonl").read_bytes() == (base / "alerts.jsonl").read_bytes()
    assert (got / "decisions.jsonl").read_bytes() == (base / "decisions.jsonl").read_bytes()
    assert stats.malformed == base_stats.malformed + 4  # type: ignore[attr-defined]
    assert stats.reconciles()  # type: ignore[attr-defined]
    dead = [
        dead_letter_decoder.decode(x) for x in (got / "dead_letter.jsonl").read_bytes().splitlines()
    ]
    by_line = {d.line_no: d for d in dead if at < d.line_no <= at + len(docs)}
    device, items, kind, whole = (by_line[at + i] for i in range(1, len(docs) + 1))
    assert device.field == "device_id" and device.event_id == "huge-device"
    assert device.reason.endswith(f"500,000 characters; at most {MAX_TEXT:,} allowed")
    assert items.field is None and "bytes; at most" in items.reason
    assert kind.field == "type" and "characters>" in kind.reason
    assert whole.reason.endswith(f"bytes; at most {MAX_RECORD_BYTES:,} are read")
    assert whole.raw is not None and len(whole.raw) > 50_000_000  # kept, for replay
    for d in (device, items, kind, whole):
        assert len(d.reason) < 200  # the size, never the value
    # the analytics store was written (DuckDB was never handed the oversized records)
    assert (got / "analytics.duckdb").exists()


def test_an_id_sent_again_with_another_body_is_kept_apart_from_duplicates(
    lines: list[bytes], tmp_path: Path
) -> None:
    # five real logins, each sent again byte for byte, then again with another device
    originals = [x for x in lines if _is_login(x)][:5]
    logins = [json.loads(x) for x in originals]
    exact = list(originals)
    changed = [json.dumps({**d, "device_id": "d-0ther"}).encode() for d in logins]
    base, base_stats = _run(lines, tmp_path, "base")
    at = lines.index(originals[-1]) + 100  # soon after: within the allowed lateness
    got, stats = _run([*lines[:at], *exact, *changed, *lines[at:]], tmp_path, "again")
    assert (got / "alerts.jsonl").read_bytes() == (base / "alerts.jsonl").read_bytes()
    assert stats.duplicates == base_stats.duplicates + len(exact)  # type: ignore[attr-defined]
    assert stats.conflicting_duplicates == len(changed) == 5  # type: ignore[attr-defined]
    assert stats.reconciles()  # type: ignore[attr-defined]
    dead = [
        dead_letter_decoder.decode(x) for x in (got / "dead_letter.jsonl").read_bytes().splitlines()
    ]
    conflicting = [d for d in dead if d.reason_code == "conflicting_duplicate"]
    assert [d.event_id for d in conflicting] == [d["event_id"] for d in logins]
    assert all(d.field == "event_id" and "another body" in d.reason for d in conflicting)

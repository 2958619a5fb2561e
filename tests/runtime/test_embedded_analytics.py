"""The runtime's DuckDB output: one row per processed event, every alert, entity features."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import duckdb

from vigil.detectors.base import alert_decoder
from vigil.events.codec import encode_one
from vigil.events.schemas import EventBase, OrderPlaced, RefundIssued
from vigil.ingest.sources import FileSource
from vigil.runtime.embedded import EmbeddedRuntime, RuntimeSettings

from ._detectors import make_detectors
from ._streams import login, order_placed, receipt, refund

SETTINGS = RuntimeSettings(max_out_of_orderness_ms=0, allowed_lateness_ms=50, analytics=True)


def _run(tmp_path: Path, lines: list[bytes]) -> tuple[Path, Any]:
    inp = tmp_path / "events.jsonl"
    inp.write_bytes(b"".join(line + b"\n" for line in lines))
    out = tmp_path / "out"
    stats = EmbeddedRuntime(make_detectors(), out, SETTINGS).run(FileSource(inp))
    return out, stats


def _rows(out: Path, sql: str) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(out / "analytics.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _stream() -> list[EventBase]:
    hour = 3_600_000
    return [
        order_placed(1, 0, "o1", "c1", 9_000),
        order_placed(2, 10, "o2", "c2", 4_000),
        refund(3, hour, "o1", "c1", 9_000),
        receipt(4, hour + 5, "o1"),
        refund(5, hour + 7, "o2", "c2", 4_000),
        login(6, 3 * hour, "c1"),
        refund(7, 3 * hour + 1, "o2", "c2", 10),  # a second refund on the same order
        login(8, 9 * hour, "c2"),
    ]


def test_analytics_holds_processed_events_alerts_and_features(tmp_path: Path) -> None:
    events = _stream()
    lines = [encode_one(e) for e in events]
    lines.insert(3, lines[2])  # a duplicate: stored once
    lines.insert(5, b"{not json")  # malformed: not stored
    lines.append(encode_one(login(99, 0, "c1")))  # too late: not stored
    out, stats = _run(tmp_path, lines)
    assert (stats.processed, stats.duplicates, stats.malformed, stats.too_late) == (8, 1, 1, 1)

    stored = _rows(out, "SELECT event_id, type, event_time_ms FROM events ORDER BY event_time_ms")
    assert stored == [(e.event_id, type(e).__struct_config__.tag, e.event_time_ms) for e in events]

    alerts = [alert_decoder.decode(x) for x in (out / "alerts.jsonl").read_bytes().splitlines()]
    assert alerts, "the stream raises alerts"
    rows = _rows(out, "SELECT alert_id, detector, subject_id, score, explanation FROM alerts")
    assert sorted(rows) == sorted(
        (a.alert_id, a.detector, a.subject_id, a.score, a.explanation) for a in alerts
    )

    expected: dict[tuple[str, str, str], float] = defaultdict(float)
    for e in events:
        if isinstance(e, OrderPlaced):
            expected["customer", e.customer_id, "orders"] += 1
            expected["customer", e.customer_id, "order_cents"] += e.total_cents
            expected["device", e.device_id, "orders"] += 1
        elif isinstance(e, RefundIssued):
            expected["customer", e.customer_id, "refunds"] += 1
            expected["customer", e.customer_id, "refund_cents"] += e.amount_cents
    features = {(t, i, f): v for t, i, f, v in _rows(out, "SELECT * FROM features")}
    assert {k: v for k, v in features.items() if k in expected} == dict(expected)
    assert all(v == 0 for k, v in features.items() if k not in expected)


# --- regressions: the store loads what was validated, not the raw line --------------------


def test_an_unknown_extra_field_does_not_break_analytics(tmp_path: Path) -> None:
    """Unknown fields are ignored by the schema (docs/events.md) - also by the analytics load."""
    raw = encode_one(login(1, 5, "c1"))[:-1] + b', "amount_cents": "not a number"}'
    out, stats = _run(tmp_path, [raw])
    assert stats.processed == 1
    assert _rows(out, "SELECT event_id, amount_cents FROM events") == [("e1", None)]


def test_a_duplicate_key_is_stored_as_the_runtime_read_it(tmp_path: Path) -> None:
    raw = encode_one(refund(1, 5, "o1", "c1", 5))[:-1] + b', "amount_cents": 9}'
    out, stats = _run(tmp_path, [raw])
    assert stats.processed == 1  # the decoder keeps the last value, 9
    assert _rows(out, "SELECT amount_cents FROM events") == [(9,)]

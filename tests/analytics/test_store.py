"""AnalyticsStore: events, alerts and features land in DuckDB; resume drops rows past a line."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pytest

from vigil.analytics.store import AnalyticsStore
from vigil.detectors.base import Alert
from vigil.events.codec import encode_one
from vigil.events.schemas import (
    AgentSessionStarted,
    CustomerLogin,
    OrderPlaced,
    RefundIssued,
    type_name,
)

if TYPE_CHECKING:
    from conftest import EventFactory


def _alert(n: int, **overrides: Any) -> Alert:
    fields: dict[str, Any] = {
        "alert_id": f"det:refund:rf{n}",
        "detector": "det",
        "version": 2,
        "subject_type": "refund",
        "subject_id": f"rf{n}",
        "score": 0.75,
        "reasons": ("no_return", "agent_override"),
        "explanation": "refund without a return",
        "event_time_ms": 1_000 * n,
        "refund_ids": (f"rf{n}",),
        "amount_cents": 4_200,
        "customer_id": "c1",
        "agent_id": "a1",
    }
    fields.update(overrides)
    return Alert(**fields)


def _rows(path: Path, sql: str) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "out" / "analytics.duckdb"


def test_events_alerts_and_features_are_written(db: Path, event_factory: EventFactory) -> None:
    store = AnalyticsStore(db, resume_after_flush=None)
    order = event_factory.make(OrderPlaced, order_id="o9", customer_id="c9", total_cents=5_000)
    refund = event_factory.make(
        RefundIssued, refund_id="rf9", order_id="o9", customer_id="c9", amount_cents=1_234,
        agent_id="a3", session_id="s3",
    )  # fmt: skip
    session = event_factory.make(AgentSessionStarted, agent_id="a3", session_id="s3")
    for event in (order, refund, session):
        store.add_event(encode_one(event))
    store.add_alert(3, _alert(1))
    store.flush(1, wait=True)
    store.write_features([("customer", "c9", "refunds", 1.0), ("agent", "a3", "sessions", 1.0)])
    store.close()

    cols = "event_id, type, customer_id, order_id, agent_id, refund_id, session_id, amount_cents"
    assert {r[0]: r[1:] for r in _rows(db, f"SELECT {cols} FROM events")} == {
        order.event_id: ("order_placed", "c9", "o9", None, None, None, 5000),
        refund.event_id: ("refund_issued", "c9", "o9", "a3", "rf9", "s3", 1234),
        session.event_id: ("agent_session_started", None, None, "a3", None, "s3", None),
    }
    assert sorted(_rows(db, "SELECT flush_seq, event_time_ms FROM events")) == [
        (1, e.event_time_ms) for e in (order, refund, session)
    ]
    assert _rows(db, "SELECT * FROM alerts") == [
        (1, 3, "det:refund:rf1", "det", 2, "refund", "rf1", 0.75, ["no_return", "agent_override"],
         "refund without a return", 1000, 4200, ["rf1"], "c1", "a1", None, None),
    ]  # fmt: skip
    assert sorted(_rows(db, "SELECT * FROM features")) == [
        ("agent", "a3", "sessions", 1.0),
        ("customer", "c9", "refunds", 1.0),
    ]


def test_every_event_type_can_be_stored(db: Path, event_factory: EventFactory) -> None:
    store = AnalyticsStore(db, resume_after_flush=None)
    events = event_factory.all_types()
    for event in events:
        store.add_event(encode_one(event))
    store.flush(1, wait=True)
    store.close()
    rows = _rows(db, "SELECT event_id, type FROM events")
    assert sorted(rows) == sorted((e.event_id, type_name(type(e))) for e in events)


def test_zero_amounts_are_stored_as_zero(db: Path, event_factory: EventFactory) -> None:
    store = AnalyticsStore(db, resume_after_flush=None)
    store.add_event(encode_one(event_factory.make(RefundIssued, amount_cents=0)))
    store.add_event(encode_one(event_factory.make(OrderPlaced, total_cents=0)))
    store.flush(1, wait=True)
    store.close()
    assert _rows(db, "SELECT amount_cents FROM events") == [(0,), (0,)]


def test_unicode_and_crlf_lines_are_stored(db: Path, event_factory: EventFactory) -> None:
    store = AnalyticsStore(db, resume_after_flush=None)
    event = event_factory.make(CustomerLogin, event_id="é-✓-😀", customer_id="c\u00e9")
    store.add_event(b"  " + encode_one(event) + b"\r")
    store.flush(1, wait=True)
    store.close()
    assert _rows(db, "SELECT event_id, customer_id FROM events") == [("é-✓-😀", "cé")]


def test_flushes_append_and_an_empty_flush_is_a_no_op(
    db: Path, event_factory: EventFactory
) -> None:
    store = AnalyticsStore(db, resume_after_flush=None)
    store.flush(1, wait=True)
    for seq in (2, 3, 4):
        for _ in range(100):
            store.add_event(encode_one(event_factory.make(CustomerLogin)))
        store.flush(seq, wait=False)
    store.flush(5, wait=True)
    store.close()
    assert _rows(db, "SELECT flush_seq, count(*) FROM events GROUP BY 1 ORDER BY 1") == [
        (2, 100),
        (3, 100),
        (4, 100),
    ]


def _filled(db: Path, event_factory: EventFactory, flushes: int) -> None:
    store = AnalyticsStore(db, resume_after_flush=None)
    for seq in range(1, flushes + 1):
        store.add_event(encode_one(event_factory.make(CustomerLogin)))
        store.add_alert(10 * seq, _alert(seq))
        store.flush(seq, wait=True)
    store.write_features([("customer", "c1", "orders", 3.0)])
    store.close()


def test_resume_deletes_rows_after_the_checkpointed_flush(
    db: Path, event_factory: EventFactory
) -> None:
    _filled(db, event_factory, flushes=5)
    store = AnalyticsStore(db, resume_after_flush=3)
    store.add_event(encode_one(event_factory.make(CustomerLogin, event_id="replayed")))
    store.flush(4, wait=True)
    store.close()
    assert _rows(db, "SELECT flush_seq, count(*) FROM events GROUP BY 1 ORDER BY 1") == [
        (1, 1),
        (2, 1),
        (3, 1),
        (4, 1),
    ]
    assert _rows(db, "SELECT event_id FROM events WHERE flush_seq = 4") == [("replayed",)]
    assert _rows(db, "SELECT line_no FROM alerts ORDER BY line_no") == [(10,), (20,), (30,)]
    # features are a whole-run snapshot, rewritten at the end of the run
    assert _rows(db, "SELECT count(*) FROM features") == [(0,)]


def test_resume_after_flush_zero_keeps_nothing(db: Path, event_factory: EventFactory) -> None:
    _filled(db, event_factory, flushes=2)
    AnalyticsStore(db, resume_after_flush=0).close()
    assert _rows(db, "SELECT count(*) FROM events") == [(0,)]
    assert _rows(db, "SELECT count(*) FROM alerts") == [(0,)]


def test_a_fresh_run_starts_from_an_empty_database(db: Path, event_factory: EventFactory) -> None:
    _filled(db, event_factory, flushes=2)
    AnalyticsStore(db, resume_after_flush=None).close()
    assert _rows(db, "SELECT count(*) FROM events") == [(0,)]
    assert not list(db.parent.glob(".*.load-*"))  # no scratch files left behind


def test_write_features_replaces_the_previous_snapshot(db: Path) -> None:
    store = AnalyticsStore(db, resume_after_flush=None)
    store.write_features([("customer", "c1", "orders", 1.0)])
    store.write_features([("customer", "c1", "orders", 2.0), ("device", "d1", "orders", 2.0)])
    store.write_features([])
    store.write_features([("agent", "a1", "refunds", 5.0)])
    store.close()
    assert _rows(db, "SELECT * FROM features") == [("agent", "a1", "refunds", 5.0)]

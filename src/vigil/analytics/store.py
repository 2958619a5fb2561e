"""Embedded DuckDB store of every processed event (key columns), features and alerts.

Rows are buffered and appended in one Arrow batch per flush (row-by-row inserts are two
orders of magnitude slower). Every row carries the input ``line_no`` that produced it, so
after a crash the runtime deletes rows past its last checkpoint and replays: exactly once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from vigil.detectors.base import Alert
from vigil.events.schemas import EventBase

_EVENT_COLUMNS = ("customer_id", "order_id", "agent_id", "refund_id", "session_id")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    line_no BIGINT, event_id VARCHAR, type VARCHAR, event_time_ms BIGINT,
    customer_id VARCHAR, order_id VARCHAR, agent_id VARCHAR, refund_id VARCHAR,
    session_id VARCHAR, amount_cents BIGINT);
CREATE TABLE IF NOT EXISTS alerts (
    line_no BIGINT, alert_id VARCHAR, detector VARCHAR, version INTEGER,
    subject_type VARCHAR, subject_id VARCHAR, score DOUBLE, reasons VARCHAR[],
    explanation VARCHAR, event_time_ms BIGINT, amount_cents BIGINT, refund_ids VARCHAR[],
    customer_id VARCHAR, agent_id VARCHAR, order_id VARCHAR, session_id VARCHAR);
CREATE TABLE IF NOT EXISTS features (
    entity_type VARCHAR, entity_id VARCHAR, feature VARCHAR, value DOUBLE);
"""


class AnalyticsStore:
    def __init__(self, path: Path, resume_after_line: int | None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        if resume_after_line is None and path.exists():
            path.unlink()
        self.path = path
        self._con = duckdb.connect(str(path))
        self._con.execute(_SCHEMA)
        if resume_after_line is not None:
            for table in ("events", "alerts"):
                self._con.execute(f"DELETE FROM {table} WHERE line_no > ?", [resume_after_line])
            self._con.execute("DELETE FROM features")
        self._events: list[tuple[int, EventBase]] = []
        self._alerts: list[tuple[int, Alert]] = []

    def add_event(self, line_no: int, event: EventBase) -> None:
        self._events.append((line_no, event))

    def add_alert(self, line_no: int, alert: Alert) -> None:
        self._alerts.append((line_no, alert))

    def flush(self) -> None:
        if self._events:
            self._append("events", self._event_table())
            self._events.clear()
        if self._alerts:
            self._append("alerts", self._alert_table())
            self._alerts.clear()

    def write_features(self, rows: list[tuple[str, str, str, float]]) -> None:
        self._con.execute("DELETE FROM features")
        if rows:
            cols = list(zip(*rows, strict=True))
            table = pa.table(
                {"entity_type": cols[0], "entity_id": cols[1], "feature": cols[2], "value": cols[3]}
            )
            self._append("features", table)

    def close(self) -> None:
        self.flush()
        self._con.close()

    def _append(self, name: str, table: pa.Table) -> None:
        self._con.register("_batch", table)
        self._con.execute(f"INSERT INTO {name} BY NAME SELECT * FROM _batch")
        self._con.unregister("_batch")

    def _event_table(self) -> pa.Table:
        rows = self._events
        cols: dict[str, list[Any]] = {
            "line_no": [n for n, _ in rows],
            "event_id": [e.event_id for _, e in rows],
            "type": [e.__struct_config__.tag for _, e in rows],
            "event_time_ms": [e.event_time_ms for _, e in rows],
        }
        for name in _EVENT_COLUMNS:
            cols[name] = [getattr(e, name, None) for _, e in rows]
        cols["amount_cents"] = [
            getattr(e, "amount_cents", None) or getattr(e, "total_cents", None) for _, e in rows
        ]
        return pa.table(cols)

    def _alert_table(self) -> pa.Table:
        rows = self._alerts
        fields = (
            "alert_id", "detector", "version", "subject_type", "subject_id", "score",
            "explanation", "event_time_ms", "amount_cents", "customer_id", "agent_id",
            "order_id", "session_id",
        )  # fmt: skip
        cols: dict[str, list[Any]] = {"line_no": [n for n, _ in rows]}
        for name in fields:
            cols[name] = [getattr(a, name) for _, a in rows]
        cols["reasons"] = [list(a.reasons) for _, a in rows]
        cols["refund_ids"] = [list(a.refund_ids) for _, a in rows]
        return pa.table(cols)

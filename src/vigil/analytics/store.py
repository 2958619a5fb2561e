"""Embedded DuckDB store of every processed event (key columns), features and alerts.

The hot path only keeps each processed event's raw JSON line. At a flush the lines are
written to a scratch file and DuckDB's own JSON reader loads them into ``events`` on a
background thread: DuckDB releases the GIL, so the load runs on another core while Python
carries on with the next events (building Arrow columns in Python cost ~4 µs per event,
as much as the whole rest of the pipeline). Every row carries the flush sequence number
of the checkpoint it belongs to, so after a crash the runtime deletes rows newer than its
last checkpoint and replays: exactly once.
"""

from __future__ import annotations

import os
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from vigil.detectors.base import Alert
from vigil.errors import CheckpointError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    flush_seq BIGINT, event_id VARCHAR, type VARCHAR, event_time_ms BIGINT,
    customer_id VARCHAR, order_id VARCHAR, agent_id VARCHAR, refund_id VARCHAR,
    session_id VARCHAR, amount_cents BIGINT);
CREATE TABLE IF NOT EXISTS alerts (
    flush_seq BIGINT, line_no BIGINT, alert_id VARCHAR, detector VARCHAR, version INTEGER,
    subject_type VARCHAR, subject_id VARCHAR, score DOUBLE, reasons VARCHAR[],
    explanation VARCHAR, event_time_ms BIGINT, amount_cents BIGINT, refund_ids VARCHAR[],
    customer_id VARCHAR, agent_id VARCHAR, order_id VARCHAR, session_id VARCHAR);
CREATE TABLE IF NOT EXISTS features (
    entity_type VARCHAR, entity_id VARCHAR, feature VARCHAR, value DOUBLE);
"""

_JSON_COLUMNS = (
    "{event_id: 'VARCHAR', type: 'VARCHAR', event_time_ms: 'BIGINT', customer_id: 'VARCHAR', "
    "order_id: 'VARCHAR', agent_id: 'VARCHAR', refund_id: 'VARCHAR', session_id: 'VARCHAR', "
    "amount_cents: 'BIGINT', total_cents: 'BIGINT'}"
)
_LOAD_EVENTS = f"""
INSERT INTO events
SELECT ?, event_id, type, event_time_ms, customer_id, order_id, agent_id, refund_id,
       session_id, coalesce(amount_cents, total_cents)
FROM read_json(?, format = 'newline_delimited', columns = {_JSON_COLUMNS},
               maximum_object_size = 16777216)
"""

#: flush event lines to DuckDB every this many events even between checkpoints
FLUSH_EVERY_EVENTS = 100_000


class AnalyticsStore:
    def __init__(self, path: Path, resume_after_flush: int | None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        if resume_after_flush is None:
            for stale in (path, path.with_name(path.name + ".wal")):
                if stale.exists():
                    stale.unlink()
        elif not path.exists():
            raise CheckpointError(
                f"analytics store {str(path)!r} is missing but the checkpoint expects it: "
                "restore it, or remove the checkpoint directory to start over"
            )
        self.path = path
        self._con = duckdb.connect(str(path), config={"threads": 1})
        self._con.execute("SET enable_progress_bar = false")
        self._con.execute(_SCHEMA)
        if resume_after_flush is not None:
            for table in ("events", "alerts"):
                self._con.execute(f"DELETE FROM {table} WHERE flush_seq > ?", [resume_after_flush])
            self._con.execute("DELETE FROM features")
        self._lines: list[bytes] = []
        self._alerts: list[tuple[int, Alert]] = []
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vigil-analytics")
        self._pending: list[Future[None]] = []
        self._scratch_no = 0
        self._seq = resume_after_flush or 0

    def add_event(self, raw: bytes) -> None:
        """Keep one processed event's JSON line (already validated)."""
        lines = self._lines
        lines.append(raw)
        if len(lines) >= FLUSH_EVERY_EVENTS:
            self._ship_events(self._seq + 1)

    def add_alert(self, line_no: int, alert: Alert) -> None:
        self._alerts.append((line_no, alert))

    def flush(self, seq: int, wait: bool) -> None:
        """Load everything kept so far as part of checkpoint ``seq``."""
        self._seq = seq
        self._ship_events(seq)
        if self._alerts:
            table = self._alert_table(seq)
            self._alerts.clear()
            self._pending.append(self._worker.submit(self._append, "alerts", table))
        if wait:
            self.wait()

    def wait(self) -> None:
        pending, self._pending = self._pending, []
        for fut in pending:
            fut.result()

    def write_features(self, rows: list[tuple[str, str, str, float]]) -> None:
        self.wait()
        self._con.execute("DELETE FROM features")
        if rows:
            cols = list(zip(*rows, strict=True))
            table = pa.table(
                {"entity_type": cols[0], "entity_id": cols[1], "feature": cols[2], "value": cols[3]}
            )
            self._append("features", table)

    def close(self) -> None:
        try:
            self.wait()
        finally:
            self._worker.shutdown(wait=True)
            self._con.close()

    # --- on the worker thread -----------------------------------------------------------

    def _ship_events(self, seq: int) -> None:
        if not self._lines:
            return
        data = b"\n".join(self._lines)
        self._lines = []
        self._scratch_no += 1
        scratch = self.path.with_name(f".{self.path.name}.load-{self._scratch_no % 4}.jsonl")
        # at most one load runs at a time, so reusing 4 names never clobbers a live file
        self._pending.append(self._worker.submit(self._load_events, scratch, data, seq))

    def _load_events(self, scratch: Path, data: bytes, seq: int) -> None:
        scratch.write_bytes(data)
        try:
            self._con.cursor().execute(_LOAD_EVENTS, [seq, str(scratch)])
        finally:
            os.unlink(scratch)

    def _append(self, name: str, table: pa.Table) -> None:
        cur = self._con.cursor()
        cur.register("_batch", table)
        cur.execute(f"INSERT INTO {name} BY NAME SELECT * FROM _batch")
        cur.unregister("_batch")

    def _alert_table(self, seq: int) -> pa.Table:
        rows = self._alerts
        fields = (
            "alert_id", "detector", "version", "subject_type", "subject_id", "score",
            "explanation", "event_time_ms", "amount_cents", "customer_id", "agent_id",
            "order_id", "session_id",
        )  # fmt: skip
        cols: dict[str, list[Any]] = {
            "flush_seq": [seq] * len(rows),
            "line_no": [n for n, _ in rows],
        }
        for name in fields:
            cols[name] = [getattr(a, name) for _, a in rows]
        cols["reasons"] = [list(a.reasons) for _, a in rows]
        cols["refund_ids"] = [list(a.refund_ids) for _, a in rows]
        return pa.table(cols)

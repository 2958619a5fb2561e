"""The analytics loader process: owns the DuckDB file and loads scratch files into it.

Commands arrive on a pipe as ``(kind, scratch_path, flush_seq)``; each is answered with
``"ok"`` or an error message once committed, and its scratch file is removed. Only this
process opens the database, so the stream loop never waits on DuckDB's GIL.
"""

from __future__ import annotations

import os
import signal
import time
from multiprocessing.connection import Connection

import duckdb

SCHEMA = """
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

_EVENT_COLUMNS = (
    "{event_id: 'VARCHAR', type: 'VARCHAR', event_time_ms: 'BIGINT', customer_id: 'VARCHAR', "
    "order_id: 'VARCHAR', agent_id: 'VARCHAR', refund_id: 'VARCHAR', session_id: 'VARCHAR', "
    "amount_cents: 'BIGINT', total_cents: 'BIGINT'}"
)
_ALERT_COLUMNS = (
    "{line_no: 'BIGINT', alert_id: 'VARCHAR', detector: 'VARCHAR', version: 'INTEGER', "
    "subject_type: 'VARCHAR', subject_id: 'VARCHAR', score: 'DOUBLE', reasons: 'VARCHAR[]', "
    "explanation: 'VARCHAR', event_time_ms: 'BIGINT', amount_cents: 'BIGINT', "
    "refund_ids: 'VARCHAR[]', customer_id: 'VARCHAR', agent_id: 'VARCHAR', "
    "order_id: 'VARCHAR', session_id: 'VARCHAR'}"
)
_READ = "read_json(?, format = 'newline_delimited', maximum_object_size = 16777216, columns = "

LOADS = {
    "events": f"""INSERT INTO events
        SELECT ?, event_id, type, event_time_ms, customer_id, order_id, agent_id, refund_id,
               session_id, coalesce(amount_cents, total_cents)
        FROM {_READ}{_EVENT_COLUMNS})""",
    "alerts": f"""INSERT INTO alerts
        SELECT ?, line_no, alert_id, detector, version, subject_type, subject_id, score,
               reasons, explanation, event_time_ms, amount_cents, refund_ids, customer_id,
               agent_id, order_id, session_id
        FROM {_READ}{_ALERT_COLUMNS})""",
}


def serve(path: str, resume_after_flush: int | None, conn: Connection) -> None:
    """Run until told to close (or the parent goes away)."""
    # Ctrl-C reaches the whole process group; the parent checkpoints and then closes us,
    # so an interrupt here would only lose the load in flight.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    con = _connect(path)
    con.execute("SET enable_progress_bar = false")
    con.execute(SCHEMA)
    if resume_after_flush is not None:
        for table in ("events", "alerts"):
            con.execute(f"DELETE FROM {table} WHERE flush_seq > ?", [resume_after_flush])
        con.execute("DELETE FROM features")
    try:
        while True:
            try:
                kind, scratch, seq = conn.recv()
            except EOFError:
                return
            if kind == "close":
                return
            try:
                load(con, kind, scratch, seq)
                reply = "ok"
            except Exception as exc:  # reported to the parent, which raises it
                reply = f"{kind} from {scratch}: {exc}"
            try:
                conn.send(reply)
            except OSError:  # the parent was killed: stop quietly, it will replay
                return
    finally:
        con.close()


def _connect(path: str, wait_s: float = 60.0) -> duckdb.DuckDBPyConnection:
    """Open the database, waiting while a loader orphaned by a killed run still holds it."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return duckdb.connect(path, config={"threads": 1})
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def load(con: duckdb.DuckDBPyConnection, kind: str, scratch: str, seq: int) -> None:
    try:
        if os.path.getsize(scratch) == 0:
            if kind == "features":
                con.execute("DELETE FROM features")
            return
        if kind == "features":
            con.execute("BEGIN")
            con.execute("DELETE FROM features")
            con.execute(
                "INSERT INTO features SELECT * FROM read_json(?, format = 'newline_delimited', "
                "columns = {entity_type: 'VARCHAR', entity_id: 'VARCHAR', "
                "feature: 'VARCHAR', value: 'DOUBLE'})",
                [scratch],
            )
            con.execute("COMMIT")
        else:
            con.execute(LOADS[kind], [seq, scratch])
    finally:
        os.unlink(scratch)

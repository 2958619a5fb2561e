"""Deliver label events from the outbox table to the JSONL file the models read.

``service.label`` writes its ``AnalystDecision`` events to the ``label_outbox`` table in the
same transaction as the label (a transactional outbox: a label is never recorded without
its events, nor events sent for a label that rolled back). ``flush_outbox`` appends the
pending ones to a JSON Lines file (``vigil.events.codec`` format), fsyncs it, then marks
them delivered. A crash between the two delivers them again on the next flush: delivery is
at least once, and consumers drop repeats by ``event_id`` as the runtime does.
"""

from __future__ import annotations

import os
from pathlib import Path

import sqlalchemy as sa

from vigil.cases.models import OutboxRow
from vigil.security.db import Database, utcnow

__all__ = ["flush_outbox", "pending_count"]


def flush_outbox(db: Database, path: Path, *, batch: int = 1000) -> int:
    """Append every pending label event to ``path``; returns how many were written."""
    written = 0
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        with db.transaction() as session:
            rows = list(
                session.scalars(
                    sa.select(OutboxRow)
                    .where(OutboxRow.delivered_at.is_(None))
                    .order_by(OutboxRow.id)
                    .limit(batch)
                    .with_for_update(skip_locked=True)
                )
            )
            if not rows:
                return written
            data = "".join(row.event_json + "\n" for row in rows).encode()
            with path.open("ab") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            now = utcnow()
            for row in rows:
                row.delivered_at = now
            written += len(rows)


def pending_count(db: Database) -> int:
    with db.transaction() as session:
        query = sa.select(sa.func.count()).where(OutboxRow.delivered_at.is_(None))
        return session.scalar(query) or 0

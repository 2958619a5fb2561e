"""The append-only audit log: who did what, when, with the record before and after.

``record`` adds a row to the caller's session, so it commits or rolls back with the action
it describes. The table refuses UPDATE and DELETE (and TRUNCATE) on every backend: triggers
made by the migration, plus ``REVOKE`` on PostgreSQL. Reading it needs ``audit:read``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from vigil.security.db import JsonValue, utcnow
from vigil.security.models import AuditEntry
from vigil.security.permissions import Principal, require

__all__ = ["AuditView", "list_entries", "record"]


@dataclass(frozen=True, slots=True)
class AuditView:
    id: int
    at: datetime
    actor: str
    action: str
    target_type: str
    target_id: str
    before: Any
    after: Any


def record(
    session: Session,
    actor: Principal,
    action: str,
    target_type: str,
    target_id: str | int,
    before: JsonValue = None,
    after: JsonValue = None,
    *,
    now: datetime | None = None,
) -> None:
    """Append one audit row in the caller's transaction (flushed, so it fails early)."""
    session.add(
        AuditEntry(
            at=now or utcnow(),
            actor=actor.actor,
            action=action,
            target_type=target_type,
            target_id=str(target_id),
            before=before,
            after=after,
        )
    )
    session.flush()


def list_entries(
    session: Session,
    actor: Principal,
    *,
    target_type: str | None = None,
    target_id: str | int | None = None,
    who: str | None = None,
    limit: int = 100,
    before_id: int | None = None,
) -> list[AuditView]:
    """Newest first; page with ``before_id`` (the smallest id of the previous page)."""
    require(actor, "audit:read")
    return entries_for(session, target_type, target_id, who, limit, before_id)


def entries_for(
    session: Session,
    target_type: str | None,
    target_id: str | int | None,
    who: str | None = None,
    limit: int = 100,
    before_id: int | None = None,
) -> list[AuditView]:
    """The same read without a permission check (the case page shows a case's history)."""
    query = sa.select(AuditEntry).order_by(AuditEntry.id.desc()).limit(max(1, min(limit, 1000)))
    if target_type is not None:
        query = query.where(AuditEntry.target_type == target_type)
    if target_id is not None:
        query = query.where(AuditEntry.target_id == str(target_id))
    if who is not None:
        query = query.where(AuditEntry.actor == who)
    if before_id is not None:
        query = query.where(AuditEntry.id < before_id)
    return [
        AuditView(e.id, e.at, e.actor, e.action, e.target_type, e.target_id, e.before, e.after)
        for e in session.scalars(query)
    ]

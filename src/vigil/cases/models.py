"""ORM classes of the case tables (the schema itself is made by the migrations)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from vigil.security.db import Base

__all__ = [
    "Case",
    "CaseAlert",
    "CaseIdentifier",
    "CaseLabel",
    "CaseMember",
    "CaseNote",
    "OutboxRow",
    "RefundHold",
]


class Case(Base):
    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: ring, agent, customer (or session/refund/... when an alert names nothing better)
    group_type: Mapped[str] = mapped_column(sa.String(16))
    group_key: Mapped[str] = mapped_column(sa.String(256))
    status: Mapped[str] = mapped_column(sa.String(24))
    title: Mapped[str] = mapped_column(sa.String(256))
    assignee_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    score_max: Mapped[float]
    amount_cents: Mapped[int] = mapped_column(sa.BigInteger())
    alert_count: Mapped[int]
    label: Mapped[str | None] = mapped_column(sa.String(16))
    opened_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]


class CaseAlert(Base):
    __tablename__ = "case_alerts"

    alert_id: Mapped[str] = mapped_column(sa.String(256), primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id", ondelete="CASCADE"))
    detector: Mapped[str] = mapped_column(sa.String(64))
    subject_type: Mapped[str] = mapped_column(sa.String(16))
    subject_id: Mapped[str] = mapped_column(sa.String(256))
    score: Mapped[float]
    amount_cents: Mapped[int] = mapped_column(sa.BigInteger())
    event_time_ms: Mapped[int] = mapped_column(sa.BigInteger())
    #: the whole alert as ``alerts.jsonl`` has it (reasons, explanation, evidence, ...)
    payload: Mapped[dict[str, Any]] = mapped_column(sa.JSON())
    added_at: Mapped[datetime]


class CaseMember(Base):
    """An entity a case is about (``account:c1``, ``agent:a7``, ``device:d3``): for grouping."""

    __tablename__ = "case_members"

    case_id: Mapped[int] = mapped_column(
        sa.ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True
    )
    entity: Mapped[str] = mapped_column(sa.String(256), primary_key=True)


class CaseNote(Base):
    __tablename__ = "case_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id", ondelete="CASCADE"))
    author: Mapped[str] = mapped_column(sa.String(160))
    body: Mapped[str] = mapped_column(sa.Text())
    created_at: Mapped[datetime]


class CaseLabel(Base):
    __tablename__ = "case_labels"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id", ondelete="CASCADE"))
    outcome: Mapped[str] = mapped_column(sa.String(16))
    author: Mapped[str] = mapped_column(sa.String(160))
    created_at: Mapped[datetime]


class CaseIdentifier(Base):
    """Personal data linked to a case, as a salted hash only (``vigil.security.pii``)."""

    __tablename__ = "case_identifiers"

    case_id: Mapped[int] = mapped_column(
        sa.ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    value_hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    added_by: Mapped[str] = mapped_column(sa.String(160))
    added_at: Mapped[datetime]


class OutboxRow(Base):
    """A label event written with its label, delivered to the JSONL outbox after commit."""

    __tablename__ = "label_outbox"

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True
    )
    event_id: Mapped[str] = mapped_column(sa.String(128), unique=True)
    event_json: Mapped[str] = mapped_column(sa.Text())
    created_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]


class RefundHold(Base):
    """A refund whose request-time answer was review (``held``) or deny (``denied``): the
    payout waits for a person to release or block it (``vigil.cases.holds``)."""

    __tablename__ = "refund_holds"

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True
    )
    refund_id: Mapped[str] = mapped_column(sa.String(128), unique=True)
    #: the refund's order, customer, issuing agent and session (null until known: an answer
    #: given without its ``refund_requested`` event waits for the runtime's facts)
    order_id: Mapped[str | None] = mapped_column(sa.String(128))
    customer_id: Mapped[str | None] = mapped_column(sa.String(128))
    agent_id: Mapped[str | None] = mapped_column(sa.String(128))
    session_id: Mapped[str | None] = mapped_column(sa.String(128))
    amount_cents: Mapped[int | None] = mapped_column(sa.BigInteger())
    #: the request-time answer the hold stands on: review or deny, its score and reasons
    decision: Mapped[str] = mapped_column(sa.String(8))
    score: Mapped[float]
    reasons: Mapped[list[str]] = mapped_column(sa.JSON())
    explanation: Mapped[str] = mapped_column(sa.Text())
    #: ``api``: the answer ``POST /v1/refunds/decide`` gave; ``runtime``: the runtime's
    #: request-time decision for a refund nobody asked the API about
    source: Mapped[str] = mapped_column(sa.String(8))
    #: event time of the refund request (epoch ms)
    requested_at_ms: Mapped[int | None] = mapped_column(sa.BigInteger())
    created_at: Mapped[datetime]
    #: held, denied, released, blocked (``holds.TRANSITIONS``)
    status: Mapped[str] = mapped_column(sa.String(16))
    resolved_by: Mapped[str | None] = mapped_column(sa.String(160))
    resolved_at: Mapped[datetime | None]
    resolution_reason: Mapped[str | None] = mapped_column(sa.Text())
    #: the case whose alerts name the refund, once one does
    case_id: Mapped[int | None] = mapped_column(sa.ForeignKey("cases.id", ondelete="SET NULL"))

"""ORM classes of the security tables (the schema itself is made by the migrations)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from vigil.security.db import Base

__all__ = ["ApiKey", "ApprovedSetting", "AuditEntry", "ChangeRequest", "ConsoleSession", "User"]


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(64), unique=True)
    role: Mapped[str] = mapped_column(sa.String(16))
    #: argon2id, with its parameters and salt (``$argon2id$v=19$m=...``)
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]
    #: the retailer's support-agent id this person works as, if any (``ag-20``): they may
    #: never release or block a refund issued under it (migration 0003)
    agent_id: Mapped[str | None] = mapped_column(sa.String(128))
    #: the advertiser a person of role ``advertiser`` works for (migration 0005)
    advertiser_id: Mapped[str | None] = mapped_column(sa.String(128))


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: the public part of the key (``vgk_<key_id>_<secret>``), used to find the row
    key_id: Mapped[str] = mapped_column(sa.String(32), unique=True)
    name: Mapped[str] = mapped_column(sa.String(64))
    #: SHA-256 of the secret part: 256 random bits need no slow hash, and a check costs ~1 us
    secret_hash: Mapped[str] = mapped_column(sa.String(64))
    scopes: Mapped[list[str]] = mapped_column(sa.JSON())
    created_by: Mapped[str] = mapped_column(sa.String(160))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    #: the support-agent id the key's tool acts as, if any (migration 0003)
    agent_id: Mapped[str | None] = mapped_column(sa.String(128))
    #: the advertiser whose campaign figures the key reads, and nothing else (migration 0004)
    advertiser_id: Mapped[str | None] = mapped_column(sa.String(128))


class ConsoleSession(Base):
    """A console login; the browser holds the token, the database only its SHA-256."""

    __tablename__ = "console_sessions"

    token_hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    #: sent back by every form and htmx request that changes something
    csrf_token: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class AuditEntry(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True
    )
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(sa.String(160))
    action: Mapped[str] = mapped_column(sa.String(64))
    target_type: Mapped[str] = mapped_column(sa.String(32))
    target_id: Mapped[str] = mapped_column(sa.String(128))
    before: Mapped[Any] = mapped_column(sa.JSON(none_as_null=True), nullable=True)
    after: Mapped[Any] = mapped_column(sa.JSON(none_as_null=True), nullable=True)


class ChangeRequest(Base):
    __tablename__ = "change_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    target: Mapped[str] = mapped_column(sa.String(128))
    value: Mapped[Any] = mapped_column(sa.JSON(none_as_null=True), nullable=True)
    #: the version of the setting the change was written against (0: none yet)
    base_version: Mapped[int]
    reason: Mapped[str] = mapped_column(sa.Text())
    status: Mapped[str] = mapped_column(sa.String(16))
    requested_by: Mapped[str] = mapped_column(sa.String(160))
    requested_at: Mapped[datetime]
    decided_by: Mapped[str | None] = mapped_column(sa.String(160))
    decided_at: Mapped[datetime | None]
    decision_reason: Mapped[str | None] = mapped_column(sa.Text())


class ApprovedSetting(Base):
    """The value of a rule or threshold in force: written only by an approved change."""

    __tablename__ = "approved_settings"

    kind: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    target: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    value: Mapped[Any] = mapped_column(sa.JSON(none_as_null=True), nullable=True)
    version: Mapped[int]
    change_id: Mapped[int] = mapped_column(sa.ForeignKey("change_requests.id"))
    updated_at: Mapped[datetime]

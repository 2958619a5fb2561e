"""API keys for machines: scoped, stored hashed, shown once.

A key reads ``vgk_<key_id>_<secret>``: ``key_id`` (12 hex characters, public, in logs and the
audit trail) finds the row, and the 256-bit ``secret`` is checked against its SHA-256 in
constant time. A fast hash is right here (unlike passwords): a random 256-bit secret cannot
be guessed from its hash, and the decision API checks a key on every request (p99 budget
20 ms; argon2 would spend ~50 ms). The raw key is returned by ``create_api_key`` once and
never stored or logged.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from vigil.errors import ConflictError, NotFoundError, RequestError, UnauthorizedError
from vigil.security import audit
from vigil.security.db import utcnow
from vigil.security.models import ApiKey
from vigil.security.permissions import SCOPES, Principal, Scope, require
from vigil.security.users import check_agent_id

__all__ = [
    "PREFIX",
    "CreatedKey",
    "KeyView",
    "authenticate_api_key",
    "create_api_key",
    "list_api_keys",
    "revoke_api_key",
]

PREFIX = "vgk_"
_RAW = re.compile(r"^vgk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
_ADVERTISER = re.compile(r"^[^\s]{1,128}$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._ -]{0,63}$")


@dataclass(frozen=True, slots=True)
class KeyView:
    id: int
    key_id: str
    name: str
    scopes: tuple[Scope, ...]
    created_by: str
    created_at: datetime
    revoked_at: datetime | None
    #: the support-agent id the key's tool acts as, if any
    agent_id: str | None = None
    #: the advertiser whose figures the key reads (and nothing else), if any
    advertiser_id: str | None = None


@dataclass(frozen=True, slots=True)
class CreatedKey:
    """``raw_key`` is shown to its creator once; Vigil keeps only its hash."""

    raw_key: str
    key: KeyView


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _scopes(values: list[str] | tuple[str, ...]) -> tuple[Scope, ...]:
    unknown = [s for s in values if s not in SCOPES]
    if unknown or not values:
        raise RequestError(
            f"unknown scope(s) {', '.join(map(repr, unknown)) or '(none given)'}; "
            f"use one or more of {', '.join(SCOPES)}"
        )
    return tuple(s for s in SCOPES if s in values)


def _view(key: ApiKey) -> KeyView:
    return KeyView(
        key.id,
        key.key_id,
        key.name,
        _scopes(key.scopes),
        key.created_by,
        key.created_at,
        key.revoked_at,
        key.agent_id,
        key.advertiser_id,
    )


def create_api_key(
    session: Session,
    actor: Principal,
    name: str,
    scopes: list[str] | tuple[str, ...],
    *,
    agent_id: str | None = None,
    advertiser_id: str | None = None,
    now: datetime | None = None,
) -> CreatedKey:
    """A new key with ``scopes`` (acting as a support agent, if ``agent_id``: a tool an agent
    works in; or held by an advertiser, if ``advertiser_id``: it reads that advertiser's
    campaign figures and nothing else); needs ``keys:manage``; the raw key is in the result
    only."""
    require(actor, "keys:manage")
    checked = _scopes(scopes)
    checked_agent = check_agent_id(agent_id)
    checked_advertiser = check_advertiser_key(advertiser_id, checked, checked_agent)
    if not _NAME.match(name):
        raise RequestError(f"key name {name!r}: use 1-64 letters, digits, '.', '_', '-' or spaces")
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    key = ApiKey(
        key_id=key_id,
        name=name,
        secret_hash=_digest(secret),
        scopes=list(checked),
        created_by=actor.actor,
        created_at=now or utcnow(),
        revoked_at=None,
        agent_id=checked_agent,
        advertiser_id=checked_advertiser,
    )
    session.add(key)
    session.flush()
    after = {
        "key_id": key_id,
        "name": name,
        "scopes": list(checked),
        "agent_id": checked_agent,
        "advertiser_id": checked_advertiser,
    }
    audit.record(session, actor, "key.create", "api_key", key_id, None, after, now=now)
    return CreatedKey(raw_key=f"{PREFIX}{key_id}_{secret}", key=_view(key))


def check_advertiser_key(
    advertiser_id: str | None, scopes: tuple[Scope, ...], agent_id: str | None
) -> str | None:
    """An advertiser's key reads figures and nothing else: ``ads:read`` alone, no agent."""
    if advertiser_id is None:
        return None
    if not _ADVERTISER.match(advertiser_id):
        raise RequestError(
            f"advertiser id {advertiser_id!r}: use the id the ad events carry "
            "(1-128 characters, no spaces), e.g. adv-4"
        )
    if scopes != ("ads:read",) or agent_id is not None:
        raise RequestError(
            f"a key of advertiser {advertiser_id!r} holds the scope ads:read only and acts as "
            "no agent: an advertiser reads its own campaigns' figures and nothing else"
        )
    return advertiser_id


def authenticate_api_key(session: Session, raw_key: str) -> Principal:
    """The key's principal if it is known and not revoked; else ``UnauthorizedError`` (401)."""
    match = _RAW.match(raw_key.strip())
    refused = UnauthorizedError("unknown, malformed or revoked API key")
    if match is None:
        raise refused
    key_id, secret = match.groups()
    key = session.scalar(sa.select(ApiKey).where(ApiKey.key_id == key_id))
    if key is None or not hmac.compare_digest(key.secret_hash, _digest(secret)):
        raise refused
    if key.revoked_at is not None:
        raise refused
    return Principal(
        kind="key",
        id=key.id,
        name=key.key_id,
        scopes=frozenset(_scopes(key.scopes)),
        agent_id=key.agent_id,
        advertiser_id=key.advertiser_id,
    )


def revoke_api_key(
    session: Session, actor: Principal, key_id: str, *, now: datetime | None = None
) -> KeyView:
    require(actor, "keys:manage")
    key = session.scalar(sa.select(ApiKey).where(ApiKey.key_id == key_id))
    if key is None:
        raise NotFoundError(f"API key {key_id!r} does not exist")
    if key.revoked_at is not None:
        raise ConflictError(f"API key {key_id!r} was already revoked at {key.revoked_at}")
    key.revoked_at = now or utcnow()
    session.flush()
    after = {"revoked_at": key.revoked_at.isoformat()}
    audit.record(session, actor, "key.revoke", "api_key", key_id, {"revoked_at": None}, after)
    return _view(key)


def list_api_keys(session: Session, actor: Principal) -> list[KeyView]:
    require(actor, "keys:manage")
    return [_view(k) for k in session.scalars(sa.select(ApiKey).order_by(ApiKey.id))]

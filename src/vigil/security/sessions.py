"""Console sessions: log in with a password, get a random token, log out or time out.

The browser keeps 256 random bits in an HttpOnly cookie; the database keeps only their
SHA-256 (a stolen database backup opens no session), the user, a CSRF token for the forms
of that session, and the times that end it: ``idle`` after the last request, ``absolute``
after the login. Logging out, deactivating the user or revoking every session of a user
(``revoke_all``) ends them at once, which a signed cookie alone could not do. Logins, failed
logins and logouts go to the audit log like every other action.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from vigil.errors import UnauthorizedError
from vigil.security import audit
from vigil.security.db import utcnow
from vigil.security.models import ConsoleSession, User
from vigil.security.permissions import Principal
from vigil.security.throttle import DEFAULT_POLICY as DEFAULT_THROTTLE
from vigil.security.throttle import ThrottlePolicy, record_failure
from vigil.security.throttle import check as check_throttle
from vigil.security.users import authenticate_password, principal_for_user

__all__ = [
    "LiveSession",
    "SessionPolicy",
    "login",
    "logout",
    "record_failed_login",
    "resolve",
    "revoke_all",
]

#: a session's last-seen time is written at most this often (not on every page load)
TOUCH_EVERY = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    idle: timedelta = timedelta(hours=1)
    absolute: timedelta = timedelta(hours=12)


@dataclass(frozen=True, slots=True)
class LiveSession:
    """What a request learns from its cookie: who, and the token its forms must carry."""

    principal: Principal
    csrf_token: str
    expires_at: datetime


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def login(
    session: Session,
    username: str,
    password: str,
    policy: SessionPolicy = SessionPolicy(),
    *,
    now: datetime | None = None,
    address: str | None = None,
    throttle: ThrottlePolicy | None = DEFAULT_THROTTLE,
) -> tuple[str, LiveSession]:
    """Check the password and open a session: (cookie token, the session).

    A wrong password raises ``UnauthorizedError``; the caller audits it with
    ``record_failed_login`` in a transaction of its own. After too many failures for the
    user or the ``address``, ``ThrottledError`` (an ``UnauthorizedError``) before the password
    is checked; the caller audits it with ``throttle.record_throttled`` (``throttle``).
    """
    now = now or utcnow()
    if throttle is not None:
        check_throttle(session, username, address, now, throttle)
    principal = authenticate_password(session, username, password)
    token = secrets.token_urlsafe(32)
    row = ConsoleSession(
        token_hash=_hash(token),
        user_id=principal.id,
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        last_seen_at=now,
        expires_at=now + policy.absolute,
        revoked_at=None,
    )
    session.add(row)
    audit.record(session, principal, "session.login", "user", principal.id, now=now)
    return token, LiveSession(principal, row.csrf_token, row.expires_at)


def record_failed_login(
    session: Session, username: str, *, now: datetime | None = None, address: str | None = None
) -> None:
    """Audit a refused login, in its own transaction (the refused one is rolled back); it
    counts toward the throttle of the user and the address."""
    record_failure(session, username, address, now or utcnow())


def resolve(
    session: Session,
    token: str,
    policy: SessionPolicy = SessionPolicy(),
    *,
    now: datetime | None = None,
) -> LiveSession:
    """The session behind a cookie, or ``UnauthorizedError`` saying why it is not valid."""
    now = now or utcnow()
    row = session.get(ConsoleSession, _hash(token)) if token else None
    if row is None or row.revoked_at is not None:
        raise UnauthorizedError("not logged in (or logged out): log in again")
    if now >= row.expires_at:
        raise UnauthorizedError("session expired: log in again")
    if now - row.last_seen_at >= policy.idle:
        raise UnauthorizedError("session timed out after inactivity: log in again")
    principal = principal_for_user(session, row.user_id)
    if now - row.last_seen_at >= TOUCH_EVERY:
        row.last_seen_at = now
    return LiveSession(principal, row.csrf_token, row.expires_at)


def logout(session: Session, token: str, *, now: datetime | None = None) -> None:
    """End the session behind ``token`` (no error if it already ended)."""
    now = now or utcnow()
    row = session.get(ConsoleSession, _hash(token)) if token else None
    if row is None or row.revoked_at is not None:
        return
    row.revoked_at = now
    user = session.get(User, row.user_id)
    actor = Principal(kind="user", id=row.user_id, name=user.username if user else "?")
    audit.record(session, actor, "session.logout", "user", row.user_id, now=now)


def revoke_all(
    session: Session, actor: Principal, user_id: int, *, now: datetime | None = None
) -> int:
    """End every open session of a user (e.g. after a role change); returns how many."""
    now = now or utcnow()
    result = session.execute(
        sa.update(ConsoleSession)
        .where(ConsoleSession.user_id == user_id, ConsoleSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    count = int(getattr(result, "rowcount", 0) or 0)
    audit.record(
        session, actor, "session.revoke_all", "user", user_id, after={"sessions": count}, now=now
    )
    return count

"""People: usernames, roles and argon2id password hashes.

Passwords are hashed with argon2id (``argon2-cffi``'s defaults: RFC 9106 low-memory
profile) and re-hashed on login when those parameters change. A wrong password and an
unknown user take the same time and give the same ``UnauthorizedError``, so the login
form does not reveal who has an account.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from datetime import datetime
from functools import cache

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy.orm import Session

from vigil.errors import ConflictError, NotFoundError, RequestError, UnauthorizedError
from vigil.security import audit
from vigil.security.db import utcnow
from vigil.security.models import User
from vigil.security.permissions import ROLES, Principal, Role, require

__all__ = [
    "MIN_PASSWORD_LENGTH",
    "UserView",
    "authenticate_password",
    "check_agent_id",
    "create_user",
    "get_user",
    "list_users",
    "principal_for_user",
    "set_active",
    "set_agent_id",
    "set_role",
]

MIN_PASSWORD_LENGTH = 12
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
#: a support-agent id as the retailer's events carry it (``ag-20``): no spaces, 1-128 chars
_AGENT_ID = re.compile(r"^\S{1,128}$")

_ADVERTISER = re.compile(r"^[^\s]{1,128}$")


@dataclass(frozen=True, slots=True)
class UserView:
    id: int
    username: str
    role: Role
    active: bool
    created_at: datetime
    #: the support-agent id this person works as, if any (``ag-20``)
    agent_id: str | None = None
    #: the advertiser a person of role ``advertiser`` works for
    advertiser_id: str | None = None


@cache
def _hasher() -> PasswordHasher:
    return PasswordHasher()


@cache
def _dummy_hash() -> str:
    return _hasher().hash("not a password anyone has")


def _view(user: User) -> UserView:
    return UserView(
        user.id,
        user.username,
        _role(user.role),
        user.active,
        user.created_at,
        user.agent_id,
        user.advertiser_id,
    )


def _role(value: str) -> Role:
    if value not in ROLES:
        raise RequestError(f"unknown role {value!r}; use one of {', '.join(ROLES)}")
    return value


def _principal(user: User) -> Principal:
    return Principal(
        kind="user",
        id=user.id,
        name=user.username,
        role=_role(user.role),
        agent_id=user.agent_id,
        advertiser_id=user.advertiser_id if user.role == "advertiser" else None,
    )


def check_agent_id(agent_id: str | None) -> str | None:
    """A support-agent id as given (``ag-20``), or None; ``RequestError`` if it cannot be one."""
    if agent_id is None:
        return None
    if not _AGENT_ID.match(agent_id):
        raise RequestError(
            f"agent id {agent_id!r}: use the retailer's agent id as its events carry it "
            "(1-128 characters, no spaces), e.g. ag-20"
        )
    return agent_id


def create_user(
    session: Session,
    actor: Principal,
    username: str,
    password: str,
    role: str,
    *,
    agent_id: str | None = None,
    advertiser_id: str | None = None,
    now: datetime | None = None,
) -> UserView:
    """A new person with a role (and the support-agent id they work as, if any; or, for the
    role ``advertiser``, the advertiser they work for); needs ``users:manage``; audited
    without the password."""
    require(actor, "users:manage")
    checked_role = _role(role)
    checked_agent = check_agent_id(agent_id)
    if (checked_role == "advertiser") != (advertiser_id is not None) or (
        checked_role == "advertiser" and checked_agent is not None
    ):
        raise RequestError(
            f"user {username!r}: the role advertiser goes with --advertiser-id (the advertiser "
            "they work for) and no agent id, and only that role takes an advertiser id"
        )
    if advertiser_id is not None and not _ADVERTISER.match(advertiser_id):
        raise RequestError(
            f"advertiser id {advertiser_id!r}: use the id the ad events carry (no spaces)"
        )
    if not _USERNAME.match(username):
        raise RequestError(
            f"username {username!r}: use 2-64 lowercase letters, digits, '.', '_' or '-'"
        )
    if len(password) < MIN_PASSWORD_LENGTH:
        raise RequestError(
            f"password for {username!r} has {len(password)} characters; "
            f"use at least {MIN_PASSWORD_LENGTH}"
        )
    if session.scalar(sa.select(User.id).where(User.username == username)) is not None:
        raise ConflictError(f"user {username!r} already exists")
    user = User(
        username=username,
        role=checked_role,
        password_hash=_hasher().hash(password),
        active=True,
        created_at=now or utcnow(),
        agent_id=checked_agent,
        advertiser_id=advertiser_id,
    )
    session.add(user)
    session.flush()
    after = {
        "username": username,
        "role": checked_role,
        "active": True,
        "agent_id": checked_agent,
        "advertiser_id": advertiser_id,
    }
    audit.record(session, actor, "user.create", "user", user.id, None, after, now=now)
    return _view(user)


def authenticate_password(session: Session, username: str, password: str) -> Principal:
    """The user's principal if the password is right; else ``UnauthorizedError`` (401)."""
    user = session.scalar(sa.select(User).where(User.username == username))
    refused = UnauthorizedError("wrong username or password")
    if user is None or not user.active:
        with contextlib.suppress(VerificationError):  # spend the time a real check takes
            _hasher().verify(_dummy_hash(), password)
        raise refused
    try:
        _hasher().verify(user.password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        raise refused from None
    if _hasher().check_needs_rehash(user.password_hash):
        user.password_hash = _hasher().hash(password)
        session.flush()
    return _principal(user)


def principal_for_user(session: Session, user_id: int) -> Principal:
    """The principal of an active user (for a console session that stores the user id)."""
    user = session.get(User, user_id)
    if user is None or not user.active:
        raise UnauthorizedError("session user no longer exists or is deactivated; log in again")
    return _principal(user)


def get_user(session: Session, user_id: int) -> UserView:
    user = session.get(User, user_id)
    if user is None:
        raise NotFoundError(f"user {user_id} does not exist")
    return _view(user)


def list_users(session: Session, actor: Principal) -> list[UserView]:
    require(actor, "users:manage")
    return [_view(u) for u in session.scalars(sa.select(User).order_by(User.id))]


def set_role(
    session: Session, actor: Principal, user_id: int, role: str, *, now: datetime | None = None
) -> UserView:
    require(actor, "users:manage")
    new_role = _role(role)
    user = session.get(User, user_id)
    if user is None:
        raise NotFoundError(f"user {user_id} does not exist")
    if actor.kind == "user" and actor.id == user_id:
        raise ConflictError("nobody changes their own role; ask another admin")
    if "advertiser" in (user.role, new_role) and user.role != new_role:
        raise ConflictError(
            f"user {user.username!r}: an advertiser's account does not become staff's, nor the "
            "other way round; create a new user"
        )
    before = {"role": user.role}
    user.role = new_role
    session.flush()
    audit.record(
        session, actor, "user.set_role", "user", user_id, before, {"role": new_role}, now=now
    )
    return _view(user)


def set_active(
    session: Session, actor: Principal, user_id: int, active: bool, *, now: datetime | None = None
) -> UserView:
    require(actor, "users:manage")
    user = session.get(User, user_id)
    if user is None:
        raise NotFoundError(f"user {user_id} does not exist")
    before = {"active": user.active}
    user.active = active
    session.flush()
    audit.record(
        session, actor, "user.set_active", "user", user_id, before, {"active": active}, now=now
    )
    return _view(user)


def set_agent_id(
    session: Session,
    actor: Principal,
    user_id: int,
    agent_id: str | None,
    *,
    now: datetime | None = None,
) -> UserView:
    """Record the support-agent id a person works as (None: none); needs ``users:manage``.
    Nobody sets their own: it is what keeps them from reviewing their own refunds."""
    require(actor, "users:manage")
    checked = check_agent_id(agent_id)
    user = session.get(User, user_id)
    if user is None:
        raise NotFoundError(f"user {user_id} does not exist")
    if actor.kind == "user" and actor.id == user_id:
        raise ConflictError("nobody changes their own agent id; ask another admin")
    before = {"agent_id": user.agent_id}
    user.agent_id = checked
    session.flush()
    audit.record(
        session, actor, "user.set_agent_id", "user", user_id, before, {"agent_id": checked}, now=now
    )
    return _view(user)

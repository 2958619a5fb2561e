"""Login throttling: after a few failed logins, each further attempt waits longer.

Per user name and per client address, counted from the audit log (no table of its own, so
every failure stays visible where the rest of the history is): the failures since the later
of ``window`` ago, the user's last login and the last time an administrator lifted the
throttle (``vigil users unlock``). Past ``free`` failures, an attempt within ``delay`` of the
last failure is refused before the password is even checked (the right password too), with
the wait in the message; the delay doubles with each further failure, up to ``max_delay``.
A refused attempt is audited (``session.login_throttled``) and does not extend the wait.
An address gets more free failures than a user: several people may share one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from vigil.errors import UnauthorizedError
from vigil.security import audit
from vigil.security.models import AuditEntry, User
from vigil.security.permissions import Principal


class ThrottledError(UnauthorizedError):
    """A login refused because it must still wait (the caller audits it: ``record_throttled``,
    in a transaction of its own)."""

    def __init__(self, kind: str, target: str, message: str) -> None:
        super().__init__(message)
        self.kind, self.target = kind, target


FAILED = "session.login_failed"
THROTTLED = "session.login_throttled"
UNLOCKED = "session.login_unlocked"


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    window: timedelta = timedelta(hours=1)
    #: failures allowed before the first wait, per user name and per address
    free: int = 5
    free_per_address: int = 20
    #: the first wait; it doubles with each further failure
    delay: timedelta = timedelta(seconds=2)
    max_delay: timedelta = timedelta(minutes=15)


DEFAULT_POLICY = ThrottlePolicy()


def wait_for(failures: int, free: int, policy: ThrottlePolicy) -> timedelta:
    """How long after the last failure the next attempt must wait."""
    if failures < free:
        return timedelta(0)
    doubled = policy.delay * (1 << min(failures - free, 20))
    return min(doubled, policy.max_delay)


def check(
    session: Session,
    username: str,
    address: str | None,
    now: datetime,
    policy: ThrottlePolicy = DEFAULT_POLICY,
) -> None:
    """Refuse (``UnauthorizedError``, audited) an attempt that must still wait."""
    name = username[:64] or "?"
    for kind, target, free in (
        ("user", name, policy.free),
        ("address", address, policy.free_per_address),
    ):
        if not target:
            continue
        since = _since(session, name, now, policy) if kind == "user" else now - policy.window
        count, last = _failures(session, kind, target, since)
        wait = wait_for(count, free, policy)
        if last is not None and wait and now < last + wait:
            seconds = max(1, int((last + wait - now).total_seconds() + 0.999))
            raise ThrottledError(
                kind,
                target,
                f"too many failed logins for this {'user' if kind == 'user' else 'address'}: "
                f"try again in {seconds} s (an administrator can lift this: vigil users "
                "unlock)",
            )


def record_failure(session: Session, username: str, address: str | None, now: datetime) -> None:
    """Audit a failed login against the user name and the address."""
    name = username[:64] or "?"
    _audit(session, FAILED, "user", name, now, after={"address": address} if address else None)
    if address:
        _audit(session, FAILED, "address", address[:128], now)


def record_throttled(session: Session, error: ThrottledError, now: datetime) -> None:
    _audit(session, THROTTLED, error.kind, error.target, now)


def unlock(session: Session, actor: Principal, username: str, now: datetime) -> None:
    """Lift the throttle on a user name (failures before now no longer count)."""
    audit.record(session, actor, UNLOCKED, "user", username[:64], now=now)


def _audit(
    session: Session,
    action: str,
    kind: str,
    target: str,
    now: datetime,
    after: dict[str, str] | None = None,
) -> None:
    anonymous = Principal(kind="user", id=0, name=target if kind == "user" else "?")
    audit.record(session, anonymous, action, kind, target[:128], after=after, now=now)


def _since(session: Session, name: str, now: datetime, policy: ThrottlePolicy) -> datetime:
    """Failures count from the latest of: the window's start, an unlock, the user's login."""
    starts = [now - policy.window]
    unlocked = session.scalar(
        sa.select(sa.func.max(AuditEntry.at)).where(
            AuditEntry.action == UNLOCKED,
            AuditEntry.target_type == "user",
            AuditEntry.target_id == name,
        )
    )
    if unlocked is not None:
        starts.append(unlocked)
    user_id = session.scalar(sa.select(User.id).where(User.username == name))
    if user_id is not None:
        logged_in = session.scalar(
            sa.select(sa.func.max(AuditEntry.at)).where(
                AuditEntry.action == "session.login",
                AuditEntry.target_type == "user",
                AuditEntry.target_id == str(user_id),
            )
        )
        if logged_in is not None:
            starts.append(logged_in)
    return max(starts)


def _failures(
    session: Session, kind: str, target: str, since: datetime
) -> tuple[int, datetime | None]:
    row = session.execute(
        sa.select(sa.func.count(), sa.func.max(AuditEntry.at)).where(
            AuditEntry.action == FAILED,
            AuditEntry.target_type == kind,
            AuditEntry.target_id == target[:128],
            AuditEntry.at > since,
        )
    ).one()
    return int(row[0]), row[1]

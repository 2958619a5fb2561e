"""Login throttling (SQLite and PostgreSQL): eight wrong passwords, then the right one, no
longer log in at once; the wait grows, is audited, ends by itself and an admin can lift it."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from vigil.errors import UnauthorizedError
from vigil.security import Database, sessions, throttle
from vigil.security.models import AuditEntry
from vigil.security.permissions import Principal

from .dbfixtures import PASSWORD, T0, People


def _attempt(db: Database, password: str, at: object, address: str = "10.1.2.3") -> str:
    """One login attempt as the console makes it: 'ok', 'wrong' or 'throttled'."""
    try:
        with db.transaction() as s:
            sessions.login(s, "ann", password, now=at, address=address)  # type: ignore[arg-type]
        return "ok"
    except throttle.ThrottledError as exc:
        with db.transaction() as s:
            throttle.record_throttled(s, exc, at)  # type: ignore[arg-type]
        return "throttled"
    except UnauthorizedError:
        with db.transaction() as s:
            sessions.record_failed_login(s, "ann", now=at, address=address)  # type: ignore[arg-type]
        return "wrong"


def test_failed_logins_make_the_next_attempt_wait_longer(db: Database, people: People) -> None:
    t = T0
    results = []
    for _ in range(8):
        results.append(_attempt(db, "guess", t))
        t += timedelta(milliseconds=100)
    # five free failures, then each attempt inside the wait is refused unchecked
    assert results[:5] == ["wrong"] * 5
    assert "throttled" in results[5:]
    assert _attempt(db, PASSWORD, t) == "throttled"  # the right password too, for now
    with pytest.raises(UnauthorizedError, match=r"try again in \d+ s"), db.transaction() as s:
        sessions.login(s, "ann", PASSWORD, now=t, address="10.1.2.3")
    # once the wait is over, the right password works (and resets the count)
    later = t + throttle.DEFAULT_POLICY.max_delay
    assert _attempt(db, PASSWORD, later) == "ok"
    assert _attempt(db, "guess", later + timedelta(seconds=1)) == "wrong"
    with db.transaction() as s:
        actions = [a for (a,) in s.execute(sa.select(AuditEntry.action))]
    assert actions.count(throttle.FAILED) >= 5 and throttle.THROTTLED in actions


def test_the_wait_doubles_with_each_failure_up_to_a_ceiling() -> None:
    policy = throttle.ThrottlePolicy()
    waits = [throttle.wait_for(n, policy.free, policy) for n in range(4, 30)]
    assert waits[0] == timedelta(0)
    assert waits[1:4] == [timedelta(seconds=2), timedelta(seconds=4), timedelta(seconds=8)]
    assert max(waits) == policy.max_delay == waits[-1]


def test_an_admin_lifts_the_throttle(db: Database, people: People) -> None:
    t = T0
    for _ in range(9):
        _attempt(db, "guess", t)
        t += timedelta(seconds=1)
    assert _attempt(db, PASSWORD, t) == "throttled"
    with db.transaction() as s:
        throttle.unlock(s, Principal.system("test"), "ann", t)
    assert _attempt(db, PASSWORD, t + timedelta(milliseconds=1)) == "ok"


def test_one_address_guessing_many_users_is_throttled_too(db: Database, people: People) -> None:
    t = T0
    for n in range(throttle.DEFAULT_POLICY.free_per_address + 2):
        with db.transaction() as s:
            sessions.record_failed_login(s, f"user{n}", now=t, address="203.0.113.9")
        t += timedelta(milliseconds=10)
    with pytest.raises(throttle.ThrottledError, match="this address"), db.transaction() as s:
        sessions.login(s, "ann", PASSWORD, now=t, address="203.0.113.9")
    with db.transaction() as s:  # another address is not held back
        sessions.login(s, "ann", PASSWORD, now=t, address="198.51.100.7")


def test_vigil_users_unlock(tmp_path: object) -> None:
    from click.testing import CliRunner

    from vigil.cli.main import cli

    url = f"sqlite:///{tmp_path}/vigil.db"
    run = CliRunner().invoke
    assert run(cli, ["db", "upgrade", "--url", url]).exit_code == 0
    add = ["users", "add", "ann", "--role", "analyst", "--password-stdin", "--url", url]
    assert run(cli, add, input=f"{PASSWORD}\n").exit_code == 0
    db = Database.open(url)
    now = sessions.utcnow()
    for n in range(8):
        _attempt(db, "guess", now + timedelta(milliseconds=n))
    assert _attempt(db, PASSWORD, now + timedelta(milliseconds=9)) == "throttled"
    done = run(cli, ["users", "unlock", "ann", "--url", url])
    assert done.exit_code == 0, done.output
    assert _attempt(db, PASSWORD, sessions.utcnow()) == "ok"
    with db.transaction() as s:
        unlocked = s.scalars(
            sa.select(AuditEntry.actor).where(AuditEntry.action == throttle.UNLOCKED)
        ).all()
    assert len(unlocked) == 1 and unlocked[0].startswith("system:cli:")
    db.dispose()

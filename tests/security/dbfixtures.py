"""Databases for the case and security tests: every test runs on SQLite and PostgreSQL.

``backend_url`` is parametrised over ``sqlite`` (a fresh file per test) and ``postgresql``
(a fresh schema per test in the database named by ``VIGIL_TEST_PG_URL``, which
``make postgres`` / ``scripts/ensure-postgres.sh`` provides). Without that variable the
PostgreSQL variants fail (not skip): a suite that silently stops testing the production
backend is worse than a red one. Nothing here connects at import time.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher

from vigil.security import Database, Principal, make_engine
from vigil.security.migrate import upgrade
from vigil.security.models import User

BACKENDS = ("sqlite", "postgresql")
PG_ENV = "VIGIL_TEST_PG_URL"
PASSWORD = "correct horse battery staple"
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Backend:
    name: str
    url: str
    #: engine keyword arguments that put the test in its own schema (PostgreSQL)
    engine_kwargs: dict[str, object]
    path: Path | None = None

    def engine(self) -> sa.Engine:
        return make_engine(self.url, **self.engine_kwargs)


def pg_base_url() -> str:
    url = os.environ.get(PG_ENV)
    if not url:
        pytest.fail(
            f"{PG_ENV} is not set: run `make postgres` and export the URL it prints "
            '(`eval "$(make -s postgres)"`), or run `make test`, which sets it; the case and '
            "security tests run against PostgreSQL as well as SQLite",
            pytrace=False,
        )
    return url


def backend(name: str, tmp_path: Path) -> Iterator[Backend]:
    if name == "sqlite":
        path = tmp_path / "vigil.db"
        yield Backend("sqlite", f"sqlite:///{path}", {}, path)
        return
    url = pg_base_url()
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = make_engine(url, poolclass=sa.NullPool)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield Backend("postgresql", url, {"connect_args": {"options": f"-csearch_path={schema}"}})
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def migrated(b: Backend) -> Database:
    engine = b.engine()
    upgrade(engine)
    return Database(engine)


@cache
def password_hash() -> str:
    """One argon2 hash for every fixture user (hashing costs ~50 ms; tests make hundreds)."""
    return PasswordHasher().hash(PASSWORD)


@dataclass(frozen=True)
class People:
    analyst: Principal
    analyst2: Principal
    lead: Principal
    lead2: Principal
    admin: Principal
    system: Principal


def add_people(db: Database) -> People:
    made: dict[str, Principal] = {}
    with db.transaction() as session:
        for username, role in (
            ("ann", "analyst"),
            ("arno", "analyst"),
            ("lee", "lead"),
            ("lena", "lead"),
            ("ada", "admin"),
        ):
            user = User(
                username=username,
                role=role,
                password_hash=password_hash(),
                active=True,
                created_at=T0,
            )
            session.add(user)
            session.flush()
            made[username] = Principal(kind="user", id=user.id, name=username, role=role)  # type: ignore[arg-type]
    return People(
        analyst=made["ann"],
        analyst2=made["arno"],
        lead=made["lee"],
        lead2=made["lena"],
        admin=made["ada"],
        system=Principal.system("test"),
    )


# --- fixtures (re-exported by tests/security/conftest.py and tests/cases/conftest.py) -----


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    yield from backend(request.param, tmp_path)


@pytest.fixture
def db(store: Backend) -> Iterator[Database]:
    database = migrated(store)
    yield database
    database.dispose()


@pytest.fixture
def people(db: Database) -> People:
    return add_people(db)

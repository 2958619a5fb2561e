"""The operational database: cases, users, API keys, audit log, change requests.

One SQLAlchemy metadata (``Base``) and one Alembic migration history for all of them, kept
here, below both ``vigil.security`` and ``vigil.cases`` (cases import security, never the
reverse). SQLite by default (``sqlite:///vigil.db``), PostgreSQL when configured
(``postgresql+psycopg://user@host:port/db``). The schema is created only by the migrations
in ``migrations/`` (never ``create_all``), so both backends get the same tables and the
same append-only triggers on the audit log.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from vigil.errors import ConfigError

__all__ = ["DEFAULT_URL", "Base", "Clock", "Database", "JsonValue", "UtcDateTime", "utcnow"]

DEFAULT_URL = "sqlite:///vigil.db"
MIGRATIONS = Path(__file__).with_name("migrations")

#: a JSON document as the audit log and change requests store it
JsonValue = dict[str, Any] | list[Any] | str | int | float | bool | None
Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """The wall clock, timezone-aware UTC (services take ``now=`` to override it)."""
    return datetime.now(UTC)


class UtcDateTime(sa.types.TypeDecorator[datetime]):
    """Timezone-aware UTC in, timezone-aware UTC out, on SQLite as on PostgreSQL."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: pass a timezone-aware UTC time")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Every table of the operational database."""

    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UtcDateTime(),
        dict[str, Any]: sa.JSON(),
    }


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite starts transactions late (at the first write) and lets RELEASE of an outermost
    # SAVEPOINT commit: take transaction control from it, and BEGIN in ``_sqlite_begin``
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def _sqlite_begin(connection: sa.Connection) -> None:
    # IMMEDIATE: take the write lock up front, waiting up to busy_timeout, instead of
    # failing with "database is locked" when a read-then-write transaction meets another
    # writer (SQLite runs one writer at a time; PostgreSQL is the choice for many)
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url`` with the settings Vigil needs on each backend."""
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise ConfigError(
            f"database URL {url!r} is not a URL; use sqlite:///vigil.db or "
            "postgresql+psycopg://user@host:port/dbname"
        ) from exc
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise ConfigError(f"database URL {url!r}: only sqlite and postgresql are supported")
    if backend == "postgresql" and parsed.drivername != "postgresql+psycopg":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if backend == "sqlite" and parsed.database not in (None, "", ":memory:"):
        _private_file(Path(parsed.database))
    engine = sa.create_engine(parsed, **kwargs)
    if backend == "sqlite":
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
    return engine


def _private_file(path: Path) -> None:
    """Create a new SQLite file readable by its owner only: it holds password hashes, session
    CSRF tokens and the audit log (SQLite gives its -wal and -shm files the same mode)."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


class Database:
    """An engine and a session factory for one database URL; migrations on demand."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sessions = sessionmaker(engine, expire_on_commit=False)

    @property
    def url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    @classmethod
    def open(cls, url: str = DEFAULT_URL, **engine_kwargs: Any) -> Database:
        """Open ``url``; migrate a fresh SQLite file, require anything else to be at head."""
        from vigil.security.migrate import current_revision, head_revision, upgrade

        db = cls(make_engine(url, **engine_kwargs))
        current = current_revision(db.engine)
        if current == head_revision():
            return db
        if current is None and db.engine.dialect.name == "sqlite" and _is_empty(db.engine):
            upgrade(db.engine)
            return db
        db.engine.dispose()
        raise ConfigError(
            f"database {db.url} is at migration {current or 'none'}, not "
            f"{head_revision()}: run `vigil db upgrade --url {db.url}`"
        )

    def session(self) -> Session:
        return self.sessions()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: the action and its audit row commit together or not at all."""
        with self.sessions() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()


def _is_empty(engine: Engine) -> bool:
    return not sa.inspect(engine).get_table_names()

"""The migrations build the whole schema from empty, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

import vigil.cases.models  # noqa: F401  (registers the case tables on Base)
from vigil.errors import ConfigError
from vigil.security import Database
from vigil.security.db import Base
from vigil.security.migrate import current_revision, downgrade, head_revision, upgrade

from .dbfixtures import Backend

TABLES = {
    "alembic_version",
    "users",
    "api_keys",
    "audit_log",
    "change_requests",
    "approved_settings",
    "cases",
    "case_alerts",
    "case_members",
    "case_notes",
    "case_labels",
    "case_identifiers",
    "label_outbox",
    "console_sessions",
    "refund_holds",
}


def test_up_from_empty_down_and_up_again(store: Backend) -> None:
    engine = store.engine()
    try:
        assert current_revision(engine) is None
        assert upgrade(engine) == head_revision()
        assert set(sa.inspect(engine).get_table_names()) == TABLES
        assert upgrade(engine) == head_revision()  # idempotent
        assert downgrade(engine, "base") is None
        assert set(sa.inspect(engine).get_table_names()) == {"alembic_version"}
        assert upgrade(engine) == head_revision()
    finally:
        engine.dispose()


def test_the_orm_models_match_the_migrations(store: Backend) -> None:
    engine = store.engine()
    try:
        upgrade(engine)
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        # indexes and constraints are the migration's business; columns and tables must agree
        columns = [d for d in diff if d[0] in ("add_table", "remove_table", "add_column")]
        columns += [d for d in diff if d[0] == "remove_column"]
        assert [d for d in columns if getattr(d[1], "name", "") != "alembic_version"] == []
    finally:
        engine.dispose()


def test_open_migrates_a_fresh_sqlite_file_only(store: Backend) -> None:
    if store.name == "sqlite":
        db = Database.open(store.url)
        assert current_revision(db.engine) == head_revision()
        db.dispose()
        Database.open(store.url).dispose()  # already at head: opens as is
        return
    try:  # PostgreSQL is never migrated behind the operator's back
        Database.open(store.url, **store.engine_kwargs)  # type: ignore[arg-type]
    except ConfigError as exc:
        assert "vigil db upgrade --url" in str(exc)
    else:
        raise AssertionError("an un-migrated PostgreSQL database was opened")
    engine = store.engine()
    upgrade(engine)
    engine.dispose()
    Database.open(store.url, **store.engine_kwargs).dispose()  # type: ignore[arg-type]


def test_open_refuses_a_sqlite_file_that_is_not_vigils(store: Backend) -> None:
    if store.name != "sqlite":
        return
    engine = store.engine()
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE something_else (x INTEGER)"))
    engine.dispose()
    try:
        Database.open(store.url)
    except ConfigError as exc:
        assert "migration none" in str(exc)
    else:
        raise AssertionError("opened a foreign SQLite file")


def test_bad_urls_are_config_errors() -> None:
    for url in ("not a url", "mysql://x@y/z"):
        try:
            Database.open(url)
        except ConfigError as exc:
            assert "sqlite" in str(exc)
        else:
            raise AssertionError(url)


def test_a_new_sqlite_database_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    db = Database.open(f"sqlite:///{tmp_path / 'new' / 'vigil.db'}")
    try:
        mode = stat.S_IMODE((tmp_path / "new" / "vigil.db").stat().st_mode)
        assert mode == 0o600  # password hashes, session tokens and the audit log
    finally:
        db.dispose()


def test_0003_adds_holds_and_agent_ids_to_a_database_in_use(store: Backend) -> None:
    """A database at 0002 with people in it upgrades to 0003 (they work as no agent yet) and
    back; the hold table refuses a status outside the table and a half-resolved hold."""
    engine = store.engine()
    try:
        assert upgrade(engine, "0002") == "0002"
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO users (username, role, password_hash, active, created_at) "
                    "VALUES ('ann', 'analyst', 'x', true, CURRENT_TIMESTAMP)"
                )
            )
        assert upgrade(engine) == head_revision()
        with engine.begin() as conn:
            assert conn.execute(sa.text("SELECT username, agent_id FROM users")).all() == [
                ("ann", None)
            ]
        insert = (
            "INSERT INTO refund_holds (refund_id, decision, score, reasons, explanation, "
            "source, created_at, status, resolved_by) VALUES ('rf-5b2e9c1d0a7f43', 'review', "
            "0.7, '[]', 'x', 'api', CURRENT_TIMESTAMP, :status, :by)"
        )
        for status, by in (("paid", None), ("held", "user:ann"), ("released", None)):
            with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
                conn.execute(sa.text(insert), {"status": status, "by": by})
        with engine.begin() as conn:
            conn.execute(sa.text(insert), {"status": "held", "by": None})
        assert downgrade(engine, "0002") == "0002"
        assert "refund_holds" not in sa.inspect(engine).get_table_names()
        assert "agent_id" not in {c["name"] for c in sa.inspect(engine).get_columns("users")}
    finally:
        engine.dispose()

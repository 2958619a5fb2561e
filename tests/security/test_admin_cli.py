"""``vigil db upgrade``, ``vigil users add``, ``vigil keys create|list|revoke`` end to end."""

from __future__ import annotations

import sqlalchemy as sa
from click.testing import CliRunner

from vigil.cli.main import cli
from vigil.security import Database, authenticate_api_key, authenticate_password
from vigil.security.migrate import head_revision
from vigil.security.models import AuditEntry

from .dbfixtures import Backend


def test_operator_commands(store: Backend) -> None:
    if store.name == "postgresql":
        url = store.url
        env = {"PGOPTIONS": store.engine_kwargs["connect_args"]["options"]}  # type: ignore[index]
    else:
        url, env = store.url, {}
    run = CliRunner().invoke
    up = run(cli, ["db", "upgrade", "--url", url], env=env)
    assert up.exit_code == 0, up.output
    assert f"migrated empty -> {head_revision()}" in up.output
    again = run(cli, ["db", "upgrade", "--url", url], env=env)
    assert f"already at migration {head_revision()}" in again.output
    added = run(
        cli,
        ["users", "add", "alice", "--role", "lead", "--password-stdin", "--url", url],
        input="a long passphrase\n",
        env=env,
    )
    assert added.exit_code == 0, added.output
    made = run(
        cli,
        ["keys", "create", "--name", "ingest", "--scope", "events:write", "--url", url],
        env=env,
    )
    assert made.exit_code == 0, made.output
    raw_key = made.stdout.strip().splitlines()[0]
    listed = run(cli, ["keys", "list", "--url", url], env=env)
    assert "ingest\tevents:write\tactive" in listed.stdout and raw_key not in listed.stdout
    kwargs = {"connect_args": {"options": env["PGOPTIONS"]}} if env else {}
    db = Database.open(url, **kwargs)
    with db.transaction() as s:
        assert authenticate_password(s, "alice", "a long passphrase").role == "lead"
        key = authenticate_api_key(s, raw_key)
        actors = set(s.scalars(sa.select(AuditEntry.actor)))
    assert len(actors) == 1 and actors.pop().startswith("system:cli:")
    revoked = run(cli, ["keys", "revoke", key.name, "--url", url], env=env)
    assert revoked.exit_code == 0, revoked.output
    assert "revoked" in run(cli, ["keys", "list", "--url", url], env=env).stdout
    db.dispose()


def test_an_operator_locks_a_person_out_and_lets_them_back(tmp_path: object) -> None:
    import pytest

    from vigil.errors import UnauthorizedError
    from vigil.security import sessions
    from vigil.security.sessions import SessionPolicy

    url = f"sqlite:///{tmp_path}/vigil.db"
    run = CliRunner().invoke
    assert run(cli, ["db", "upgrade", "--url", url]).exit_code == 0
    add = ["users", "add", "bob", "--role", "analyst", "--password-stdin", "--url", url]
    assert run(cli, add, input="a long passphrase\n").exit_code == 0
    db = Database.open(url)
    with db.transaction() as s:
        token, _ = sessions.login(s, "bob", "a long passphrase", SessionPolicy())
    off = run(cli, ["users", "deactivate", "bob", "--url", url])
    assert off.exit_code == 0, off.output
    assert "1 open session(s) ended" in off.output
    assert "bob\tanalyst\tdeactivated" in run(cli, ["users", "list", "--url", url]).stdout
    with db.transaction() as s, pytest.raises(UnauthorizedError):
        authenticate_password(s, "bob", "a long passphrase")
    with db.transaction() as s, pytest.raises(UnauthorizedError):
        sessions.resolve(s, token, SessionPolicy())
    assert run(cli, ["users", "activate", "bob", "--url", url]).exit_code == 0
    with db.transaction() as s:
        assert authenticate_password(s, "bob", "a long passphrase").role == "analyst"
    unknown = run(cli, ["users", "deactivate", "nobody", "--url", url])
    assert unknown.exit_code != 0 and "no user named 'nobody'" in unknown.output
    db.dispose()


def test_people_and_keys_act_as_a_support_agent(tmp_path: object) -> None:
    """``--agent-id``: the agent a person or key works as, shown by the lists, carried by
    the principal (the hold service refuses them their own refunds)."""
    url = f"sqlite:///{tmp_path}/vigil.db"
    run = CliRunner().invoke
    assert run(cli, ["db", "upgrade", "--url", url]).exit_code == 0
    add = ["users", "add", "agnes", "--role", "analyst", "--agent-id", "ag-20"]
    added = run(cli, [*add, "--password-stdin", "--url", url], input="a long passphrase\n")
    assert added.exit_code == 0 and "agent ag-20" in added.output, added.output
    plain = ["users", "add", "bo", "--role", "lead", "--password-stdin", "--url", url]
    assert run(cli, plain, input="a long passphrase\n").exit_code == 0
    listed = run(cli, ["users", "list", "--url", url]).stdout
    assert "agnes\tanalyst\tactive\tag-20" in listed and "bo\tlead\tactive\t-" in listed
    made = run(
        cli,
        ["keys", "create", "--name", "desk-tool", "--scope", "holds:write", "--agent-id",
         "ag-31", "--url", url],
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    raw_key = made.stdout.strip().splitlines()[0]
    assert (
        "desk-tool\tholds:write\tactive\tag-31" in run(cli, ["keys", "list", "--url", url]).stdout
    )
    moved = run(cli, ["users", "set-agent", "bo", "ag-44", "--url", url])
    assert moved.exit_code == 0, moved.output
    cleared = run(cli, ["users", "set-agent", "agnes", "--url", url])
    assert cleared.exit_code == 0, cleared.output
    bad = run(cli, ["users", "set-agent", "bo", "ag 44", "--url", url])
    assert bad.exit_code != 0 and "no spaces" in str(bad.exception or bad.output)
    db = Database.open(url)
    with db.transaction() as s:
        assert authenticate_password(s, "bo", "a long passphrase").agent_id == "ag-44"
        assert authenticate_password(s, "agnes", "a long passphrase").agent_id is None
        assert authenticate_api_key(s, raw_key).agent_id == "ag-31"
        changes = [
            e.after for e in s.scalars(sa.select(AuditEntry)) if e.action == "user.set_agent_id"
        ]
    assert changes == [{"agent_id": "ag-44"}, {"agent_id": None}]
    db.dispose()


def test_the_key_scopes_offered_are_the_matrixs() -> None:
    from vigil.cli.admin import KEY_SCOPES
    from vigil.security import SCOPES

    assert KEY_SCOPES == SCOPES

"""``vigil db``, ``vigil users`` and ``vigil keys``: the operator's side of security.

Whoever runs these commands has the database URL, so they act as the operator
(``system:cli:<login>`` in the audit log) and the permission matrix does not apply; every
action is audited all the same. Four-eyes approvals are deliberately not here: a change
needs two people, which the console provides (docs/security.md).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from vigil.cli.progress import stderr
from vigil.cli.rules import default_author

if TYPE_CHECKING:
    from vigil.security import Principal

__all__ = ["admin_commands", "db", "keys", "users"]

URL_OPTION = click.option(
    "--url",
    envvar="VIGIL_DATABASE_URL",
    default="sqlite:///vigil.db",
    show_default=True,
    help="Database URL (sqlite:///FILE or postgresql+psycopg://user@host:port/db); "
    "env VIGIL_DATABASE_URL.",
)


#: ``vigil.security.permissions.SCOPES``, written out so that ``vigil --help`` does not import
#: the security package (argon2, SQLAlchemy); a test checks the two agree
KEY_SCOPES = (
    "events:write",
    "decisions:read",
    "alerts:read",
    "cases:read",
    "cases:write",
    "rules:read",
    "rules:write",
    "holds:read",
    "holds:write",
    "ads:read",
)
AGENT_OPTION = click.option(
    "--agent-id",
    default=None,
    metavar="AGENT_ID",
    help="The retailer's support-agent id this person or key acts as (e.g. ag-20): they can "
    "never release or block a refund issued under it.",
)


def _operator() -> Principal:
    from vigil.security import Principal

    return Principal.system(f"cli:{default_author()}")


@click.group()
def db() -> None:
    """Create or upgrade the cases and security database."""


@db.command("upgrade")
@URL_OPTION
@click.option("--revision", default="head", show_default=True, help="Migrate to this revision.")
def db_upgrade(url: str, revision: str) -> None:
    """Apply the migrations (creates every table on an empty database)."""
    from vigil.security.db import make_engine
    from vigil.security.migrate import current_revision, upgrade

    engine = make_engine(url)
    try:
        before = current_revision(engine)
        after = upgrade(engine, revision)
    finally:
        engine.dispose()
    shown = engine.url.render_as_string(hide_password=True)
    if before == after:
        stderr.print(f"{shown}: already at migration {after}", markup=False)
    else:
        stderr.print(f"{shown}: migrated {before or 'empty'} -> {after}", markup=False)


@db.command("current")
@URL_OPTION
def db_current(url: str) -> None:
    """Print the database's migration and the newest one this Vigil has."""
    from vigil.security.db import make_engine
    from vigil.security.migrate import current_revision, head_revision

    engine = make_engine(url)
    try:
        click.echo(f"current: {current_revision(engine) or 'none'}  head: {head_revision()}")
    finally:
        engine.dispose()


@click.group()
def users() -> None:
    """People who use the console: analysts, leads and admins."""


@users.command("add")
@click.argument("username")
@click.option(
    "--role",
    type=click.Choice(["analyst", "lead", "admin", "advertiser"]),
    required=True,
    help="Their role (advertiser: a person at an advertiser, with --advertiser-id: their "
    "campaigns in the console and nothing else).",
)
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of standard input (for scripts).",
)
@AGENT_OPTION
@click.option(
    "--advertiser-id",
    default=None,
    metavar="ADVERTISER_ID",
    help="With --role advertiser: the advertiser they work for, as the ad events name it.",
)
@URL_OPTION
def users_add(
    username: str,
    role: str,
    password_stdin: bool,
    agent_id: str | None,
    advertiser_id: str | None,
    url: str,
) -> None:
    """Add a person with a role; the password is asked for (or read from stdin)."""
    from vigil.security import Database, create_user

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt(
            f"password for {username}", hide_input=True, confirmation_prompt=True
        )
    database = Database.open(url)
    try:
        with database.transaction() as session:
            actor = _operator()
            user = create_user(
                session,
                actor,
                username,
                password,
                role,
                agent_id=agent_id,
                advertiser_id=advertiser_id,
            )
    finally:
        database.dispose()
    works_as = f", agent {user.agent_id}" if user.agent_id else ""
    if user.advertiser_id:
        works_as = f", advertiser {user.advertiser_id}: its campaigns only"
    stderr.print(
        f"added user {user.username} (id {user.id}, role {user.role}{works_as})", markup=False
    )


@users.command("list")
@URL_OPTION
def users_list(url: str) -> None:
    """List users: id, name, role, state, the agent id they work as (- for none)."""
    from vigil.security import Database
    from vigil.security.users import list_users

    database = Database.open(url)
    try:
        with database.transaction() as session:
            actor = _operator()
            for user in list_users(session, actor):
                state = "active" if user.active else "deactivated"
                agent = user.agent_id or "-"
                click.echo(f"{user.id}\t{user.username}\t{user.role}\t{state}\t{agent}")
    finally:
        database.dispose()


@users.command("deactivate")
@click.argument("username")
@URL_OPTION
def users_deactivate(username: str, url: str) -> None:
    """Lock a person out: no more logins, and their console sessions end now."""
    _set_active(username, False, url)


@users.command("activate")
@click.argument("username")
@URL_OPTION
def users_activate(username: str, url: str) -> None:
    """Let a deactivated person log in again."""
    _set_active(username, True, url)


@users.command("unlock")
@click.argument("username")
@URL_OPTION
def users_unlock(username: str, url: str) -> None:
    """Lift the login throttle on a person after failed logins (audited)."""
    from vigil.security import Database
    from vigil.security.db import utcnow
    from vigil.security.throttle import unlock

    database = Database.open(url)
    try:
        with database.transaction() as session:
            unlock(session, _operator(), username, utcnow())
    finally:
        database.dispose()
    stderr.print(f"{username}: may log in again at once", markup=False)


@users.command("set-agent")
@click.argument("username")
@click.argument("agent_id", required=False)
@URL_OPTION
def users_set_agent(username: str, agent_id: str | None, url: str) -> None:
    """Record the support-agent id a person works as (none given: they work as no agent).
    They can then never release or block a refund issued under it."""
    from vigil.security import Database
    from vigil.security.users import list_users, set_agent_id

    database = Database.open(url)
    try:
        with database.transaction() as session:
            actor = _operator()
            found = [u for u in list_users(session, actor) if u.username == username]
            if not found:
                raise click.BadParameter(f"no user named {username!r}", param_hint="USERNAME")
            set_agent_id(session, actor, found[0].id, agent_id)
    finally:
        database.dispose()
    stderr.print(f"{username}: works as agent {agent_id or '(none)'}", markup=False)


def _set_active(username: str, active: bool, url: str) -> None:
    from vigil.security import Database
    from vigil.security.sessions import revoke_all
    from vigil.security.users import list_users, set_active

    database = Database.open(url)
    try:
        with database.transaction() as session:
            actor = _operator()
            found = [u for u in list_users(session, actor) if u.username == username]
            if not found:
                raise click.BadParameter(f"no user named {username!r}", param_hint="USERNAME")
            set_active(session, actor, found[0].id, active)
            ended = 0 if active else revoke_all(session, actor, found[0].id)
    finally:
        database.dispose()
    what = "activated" if active else f"deactivated ({ended} open session(s) ended)"
    stderr.print(f"{username}: {what}", markup=False)


@click.group()
def keys() -> None:
    """API keys for machines (refund systems, event producers, CI)."""


@keys.command("create")
@click.option("--name", required=True, help="What the key is for, e.g. 'refund-service'.")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    required=True,
    type=click.Choice(KEY_SCOPES),
    help="A permission of the key (repeatable).",
)
@AGENT_OPTION
@click.option(
    "--advertiser-id",
    default=None,
    metavar="ADVERTISER_ID",
    help="A key for this advertiser (as the ad events name it, e.g. adv-4): with --scope "
    "ads:read only, it reads that advertiser's campaign figures and nothing else.",
)
@URL_OPTION
def keys_create(
    name: str, scopes: tuple[str, ...], agent_id: str | None, advertiser_id: str | None, url: str
) -> None:
    """Create a key and print it once (only its hash is kept: store it now)."""
    from vigil.security import Database, create_api_key

    database = Database.open(url)
    try:
        with database.transaction() as session:
            actor = _operator()
            created = create_api_key(
                session, actor, name, list(scopes), agent_id=agent_id, advertiser_id=advertiser_id
            )
    finally:
        database.dispose()
    click.echo(created.raw_key)
    works_as = f"; agent {created.key.agent_id}" if created.key.agent_id else ""
    if created.key.advertiser_id:
        works_as = f"; advertiser {created.key.advertiser_id}, its figures only"
    stderr.print(
        f"created key {created.key.key_id} ({name}; {' '.join(created.key.scopes)}{works_as}). "
        "It is shown this once: Vigil keeps only its hash.",
        markup=False,
    )


@keys.command("list")
@URL_OPTION
def keys_list(url: str) -> None:
    """List keys: id, name, scopes, state, agent id, advertiser id (- for none); never the
    keys themselves."""
    from vigil.security import Database
    from vigil.security.keys import list_api_keys

    database = Database.open(url)
    try:
        with database.transaction() as session:
            actor = _operator()
            for key in list_api_keys(session, actor):
                state = "active" if key.revoked_at is None else f"revoked {key.revoked_at}"
                agent, advertiser = key.agent_id or "-", key.advertiser_id or "-"
                scopes = " ".join(key.scopes)
                click.echo(f"{key.key_id}\t{key.name}\t{scopes}\t{state}\t{agent}\t{advertiser}")
    finally:
        database.dispose()


@keys.command("revoke")
@click.argument("key_id")
@URL_OPTION
def keys_revoke(key_id: str, url: str) -> None:
    """Revoke a key by its id (the 12 characters after ``vgk_``)."""
    from vigil.security import Database, revoke_api_key

    database = Database.open(url)
    try:
        with database.transaction() as session:
            actor = _operator()
            revoke_api_key(session, actor, key_id)
    finally:
        database.dispose()
    stderr.print(f"revoked key {key_id}", markup=False)


#: registered by ``vigil.cli.main``
admin_commands = (db, users, keys)

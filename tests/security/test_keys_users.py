"""API keys (scoped, hashed, shown once) and users (roles, argon2 passwords)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from vigil.errors import ConflictError, RequestError, UnauthorizedError
from vigil.security import (
    Database,
    authenticate_api_key,
    authenticate_password,
    create_api_key,
    create_user,
    principal_for_user,
    revoke_api_key,
)
from vigil.security.models import ApiKey, User
from vigil.security.users import set_active

from .dbfixtures import PASSWORD, People


def test_a_key_is_shown_once_and_stored_hashed(db: Database, people: People) -> None:
    with db.transaction() as s:
        created = create_api_key(s, people.admin, "refunds", ["decisions:read", "events:write"])
    raw = created.raw_key
    assert raw.startswith(f"vgk_{created.key.key_id}_")
    assert created.key.scopes == ("events:write", "decisions:read")
    with db.engine.connect() as conn:
        stored = repr(conn.execute(sa.select(ApiKey.__table__)).all())
    assert raw.split("_", 2)[2] not in stored
    with db.transaction() as s:
        principal = authenticate_api_key(s, raw)
        assert principal.kind == "key" and principal.actor == f"key:{created.key.key_id}"
        assert principal.scopes == {"decisions:read", "events:write"}


@pytest.mark.parametrize(
    "mangle",
    [
        lambda raw: raw[:-1] + ("A" if raw[-1] != "A" else "B"),  # wrong secret
        lambda raw: "vgk_000000000000_" + raw.split("_", 2)[2],  # unknown key id
        lambda raw: "Bearer " + raw,  # not a key
        lambda raw: "",
    ],
)
def test_wrong_keys_are_unauthorized(db: Database, people: People, mangle) -> None:  # type: ignore[no-untyped-def]
    with db.transaction() as s:
        raw = create_api_key(s, people.admin, "k", ["cases:read"]).raw_key
    with db.transaction() as s, pytest.raises(UnauthorizedError) as info:
        authenticate_api_key(s, mangle(raw))
    assert info.value.http_status == 401


def test_a_revoked_key_stops_working(db: Database, people: People) -> None:
    with db.transaction() as s:
        created = create_api_key(s, people.admin, "k", ["cases:read"])
        revoke_api_key(s, people.admin, created.key.key_id)
        with pytest.raises(UnauthorizedError):
            authenticate_api_key(s, created.raw_key)
        with pytest.raises(ConflictError, match="already revoked"):
            revoke_api_key(s, people.admin, created.key.key_id)


def test_bad_scopes_are_refused(db: Database, people: People) -> None:
    with db.transaction() as s, pytest.raises(RequestError, match="'cases:delete'"):
        create_api_key(s, people.admin, "k", ["cases:delete"])


def test_users_log_in_with_argon2_hashed_passwords(db: Database, people: People) -> None:
    with db.transaction() as s:
        made = create_user(s, people.admin, "carol", "a long passphrase", "lead")
        stored = s.scalar(sa.select(User.password_hash).where(User.id == made.id))
        assert stored is not None and stored.startswith("$argon2id$")
        assert "a long passphrase" not in stored
        principal = authenticate_password(s, "carol", "a long passphrase")
        assert (principal.kind, principal.role, principal.actor) == ("user", "lead", "user:carol")
        for username, password in [("carol", "wrong password!"), ("nobody", PASSWORD)]:
            with pytest.raises(UnauthorizedError, match="wrong username or password"):
                authenticate_password(s, username, password)
        assert authenticate_password(s, "ann", PASSWORD).role == "analyst"


def test_deactivated_users_are_locked_out(db: Database, people: People) -> None:
    with db.transaction() as s:
        set_active(s, people.admin, people.analyst.id, False)
        with pytest.raises(UnauthorizedError):
            authenticate_password(s, "ann", PASSWORD)
        with pytest.raises(UnauthorizedError):
            principal_for_user(s, people.analyst.id)
        assert principal_for_user(s, people.lead.id).role == "lead"


@pytest.mark.parametrize(
    ("username", "password", "role", "error"),
    [
        ("dave", "short", "analyst", RequestError),
        ("Dave Smith", "long enough password", "analyst", RequestError),
        ("dave", "long enough password", "root", RequestError),
        ("ann", "long enough password", "analyst", ConflictError),
    ],
)
def test_bad_users_are_refused(
    db: Database, people: People, username: str, password: str, role: str, error: type
) -> None:
    with db.transaction() as s, pytest.raises(error):
        create_user(s, people.admin, username, password, role)

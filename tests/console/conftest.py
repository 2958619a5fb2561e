"""Fixtures for the console tests: an app with a SQLite database, users of each role, and
a logged-in TestClient (session cookie kept by the client, CSRF token read from the page)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tests.api.conftest import static_keys

from vigil.api import ApiSettings, create_app
from vigil.security.db import Database
from vigil.security.permissions import Principal
from vigil.security.users import create_user

PASSWORD = "a long enough password 1"
USERS = {"ana": "analyst", "lee": "lead", "lou": "lead", "adm": "admin"}
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def console_db(tmp_path: Path) -> Iterator[Database]:
    db = Database.open(f"sqlite:///{tmp_path / 'console.db'}")
    with db.transaction() as s:
        for name, role in USERS.items():
            create_user(s, Principal.system("test"), name, PASSWORD, role)
    yield db
    db.dispose()


@pytest.fixture
def console_client(tmp_path: Path, console_db: Database) -> Iterator[TestClient]:
    settings = ApiSettings(state_dir=tmp_path / "state", fsync_events=False, fsync_decisions=False)
    app = create_app(settings, static_keys(), db=console_db)
    with TestClient(app, base_url="http://testserver") as client:
        yield client


def csrf_of(html: str) -> str:
    found = CSRF_FIELD.search(html)
    assert found, "no csrf_token field on the page"
    return found.group(1)


def log_in(client: TestClient, username: str, password: str = PASSWORD) -> str:
    """Log in through the form; returns the session's CSRF token (from the next page)."""
    client.cookies.clear()
    form = client.get("/console/login")
    r = client.post(
        "/console/login",
        data={"username": username, "password": password, "csrf_token": csrf_of(form.text)},
        follow_redirects=False,
    )
    assert r.status_code == 303 and "error=" not in r.headers["location"], r.headers
    return csrf_of(client.get("/console/cases").text)


LogIn = Callable[[TestClient, str], str]

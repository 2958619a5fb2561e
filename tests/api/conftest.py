"""Fixtures for the API tests: an app on a temporary state directory, keys per scope, and
helpers that play the runtime's part (writing ``alerts.jsonl`` / ``decisions.jsonl``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from vigil.api import ApiSettings, StaticKeys, create_app
from vigil.api.auth import AnyOf, DatabaseKeys
from vigil.api.state import ApiState
from vigil.decisions.book import DecisionBook
from vigil.detectors.base import Alert
from vigil.security.db import Database
from vigil.security.permissions import SCOPES

ALL_KEY = "test-key-all-scopes-000"
KEYS = {
    "all": ALL_KEY,
    "ingest": "test-key-events-write-0",
    "reader": "test-key-alerts-read-00",
}


def static_keys() -> StaticKeys:
    keys = StaticKeys()
    keys.add("all", KEYS["all"], SCOPES)
    keys.add("ingest", KEYS["ingest"], ["events:write"])
    keys.add("reader", KEYS["reader"], ["alerts:read"])
    return keys


def headers(name: str = "all") -> dict[str, str]:
    return {"X-API-Key": KEYS[name]}


def make_alert(**kw: Any) -> Alert:
    """An alert shaped as the detectors write them: subject ids in each detector's own format
    (``ag-20@2026-01-05T00:00Z`` for an agent's week, ``ss-…#2`` for a session's second
    refund, ``c-…#1`` for an account finding) and the plain entity ids in their fields."""
    base: dict[str, Any] = {
        "detector": "agent_refunds",
        "version": 1,
        "subject_type": "agent",
        "subject_id": "ag-20@2026-01-05T00:00Z",
        "score": 0.6,
        "reasons": ["unreturned_manual_refunds_above_team_peers"],
        "explanation": "agent ag-20 refunds far above the team",
        "event_time_ms": 1_767_600_000_000,
    }
    base.update(kw)
    plain = str(base["subject_id"]).split("@", 1)[0].split("#", 1)[0]
    field = {"agent": "agent_id", "session": "session_id", "account": "customer_id"}.get(
        base["subject_type"]
    )
    if field is not None:
        base.setdefault(field, plain)
    base.setdefault("alert_id", f"{base['detector']}:{base['subject_type']}:{base['subject_id']}")
    return msgspec.convert(base, Alert)


class Runtime:
    """Plays the runtime: appends alerts (and the decisions they cause) to its outputs."""

    def __init__(self, state: ApiState) -> None:
        self.state = state
        self.book = DecisionBook(state.settings.decision_policy)
        state.settings.out_dir.mkdir(parents=True, exist_ok=True)

    def emit(self, *alerts: Alert) -> None:
        out = self.state.settings.out_dir
        with (out / "alerts.jsonl").open("ab") as fa, (out / "decisions.jsonl").open("ab") as fd:
            for alert in alerts:
                fa.write(msgspec.json.encode(alert) + b"\n")
                for decision in self.book.update(alert):
                    fd.write(msgspec.json.encode(decision) + b"\n")
        self.state.tailer.catch_up()


@pytest.fixture
def app_factory(tmp_path: Path) -> Callable[..., FastAPI]:
    def build(db: Database | None = None, **settings: Any) -> FastAPI:
        settings.setdefault("fsync_events", False)
        settings.setdefault("fsync_decisions", False)
        keys = static_keys()
        auth = keys if db is None else AnyOf(keys, DatabaseKeys(db))
        return create_app(ApiSettings(state_dir=tmp_path / "state", **settings), auth, db=db)

    return build


@pytest.fixture
def client(app_factory: Callable[..., FastAPI]) -> Iterator[TestClient]:
    with TestClient(app_factory()) as c:
        yield c


def state_of(client: TestClient) -> ApiState:
    app: Any = client.app
    st: ApiState = app.state.vigil
    return st


@pytest.fixture
def runtime(client: TestClient) -> Runtime:
    return Runtime(state_of(client))

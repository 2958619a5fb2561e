from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import msgspec
from fastapi import FastAPI
from fastapi.testclient import TestClient
from tests.api.conftest import headers, make_alert, state_of

from vigil.cases.service import ingest_alerts
from vigil.security.db import Database
from vigil.security.keys import create_api_key
from vigil.security.permissions import Principal
from vigil.security.users import create_user


def test_case_workflow(app_factory: Callable[..., FastAPI], tmp_path: Path) -> None:
    db = Database.open(f"sqlite:///{tmp_path / 'cases.db'}")
    admin = Principal.system("test")
    with db.transaction() as s:
        ingest_alerts(s, admin, [make_alert(subject_id="agent-1", score=0.8)])
        user = create_user(s, admin, "alice", "a long enough password 1", "lead")
        created = create_api_key(s, admin, "console", ["cases:read", "cases:write"])
    key = {"X-API-Key": created.raw_key}
    with TestClient(app_factory(db=db)) as c:
        page = c.get("/v1/cases", headers=key)
        assert page.status_code == 200, page.text
        assert page.json()["total"] == 1
        case_id = page.json()["items"][0]["id"]
        detail = c.get(f"/v1/cases/{case_id}", headers=key).json()
        assert detail["alerts"][0]["alert_id"] == "agent_refunds:agent:agent-1"
        r = c.post(f"/v1/cases/{case_id}/transition", json={"status": "triage"}, headers=key)
        assert r.status_code == 200 and r.json()["status"] == "triage"
        bad = c.post(f"/v1/cases/{case_id}/transition", json={"status": "new"}, headers=key)
        assert bad.status_code == 409 and bad.json()["error"] == "illegal_transition"
        # an API key is not a person: assigning someone needs cases:assign_any (people only)
        r = c.post(f"/v1/cases/{case_id}/assign", json={"assignee_id": user.id}, headers=key)
        assert r.status_code == 403
        r = c.post(f"/v1/cases/{case_id}/notes", json={"text": "looks organised"}, headers=key)
        assert r.status_code == 200 and r.json()["body"] == "looks organised"
        r = c.post(f"/v1/cases/{case_id}/label", json={"label": "fraud"}, headers=key)
        assert r.status_code == 200 and r.json()["status"] == "resolved_fraud"
        assert c.get("/v1/cases/999", headers=key).status_code == 404
        assert (
            c.get("/v1/cases", params={"status": "resolved_fraud"}, headers=key).json()["total"]
            == 1
        )
        # the label went back into the stream as an analyst_decision event
        lines = state_of(c).settings.input_log.read_bytes().splitlines()
        labels = [msgspec.json.decode(x) for x in lines]
        assert [(e["type"], e["outcome"]) for e in labels] == [("analyst_decision", "fraud")]
        # the static test keys work too, the database key only for its scopes
        assert c.get("/v1/alerts", headers=key).status_code == 403
        assert c.get("/v1/cases", headers=headers()).status_code == 200
    db.dispose()


def test_new_alerts_are_fed_into_cases(app_factory: Callable[..., FastAPI], tmp_path: Path) -> None:
    import time

    from tests.api.conftest import Runtime

    db = Database.open(f"sqlite:///{tmp_path / 'cases.db'}")
    with TestClient(app_factory(db=db)) as c:
        Runtime(state_of(c)).emit(make_alert(subject_id="agent-9"))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if c.get("/v1/cases", headers=headers()).json()["total"] == 1:
                break
            time.sleep(0.05)
        assert c.get("/v1/cases", headers=headers()).json()["items"][0]["group_key"] == "agent-9"
    db.dispose()


def test_without_a_database_cases_are_503(client: TestClient) -> None:
    r = client.get("/v1/cases", headers=headers())
    assert r.status_code == 503 and "database" in r.json()["detail"]

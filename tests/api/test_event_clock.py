"""Events the API stamps itself follow the stream's clock during a replay, the wall clock live."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import msgspec
from fastapi import FastAPI
from fastapi.testclient import TestClient
from tests.api.conftest import headers, make_alert, state_of

from vigil.api.state import EventClock, _newest_event_ms
from vigil.cases.service import ingest_alerts
from vigil.security.db import Database
from vigil.security.keys import create_api_key
from vigil.security.permissions import Principal

DAY = 86_400_000
WALL = 1_795_600_000_000  # late November 2026
JANUARY = 1_767_700_000_000  # the demo's simulated January 2026


def _login(t: int, n: int) -> bytes:
    event = {"type": "customer_login", "event_id": f"l{n}", "event_time_ms": t,
             "customer_id": "c-1", "device_id": "d", "ip": "1.1.1.1", "country": "US",
             "success": True}  # fmt: skip
    return msgspec.json.encode(event)


def test_the_clock_is_the_wall_clock_live_and_the_streams_during_a_replay(tmp_path: Path) -> None:
    log = tmp_path / "input.jsonl"
    assert EventClock(log, lambda: WALL).now_ms() == WALL  # nothing seen yet
    live = EventClock(log, lambda: WALL)
    live.observe(WALL - 3_600_000)  # a quiet hour on a live stream
    assert live.now_ms() == WALL
    replay = EventClock(log, lambda: WALL)
    replay.observe(JANUARY)
    replay.observe(JANUARY - DAY)  # an older event does not move it back
    assert replay.now_ms() == JANUARY
    # a restart picks the newest time up from the input log's tail
    log.write_bytes(b"\n".join(_login(JANUARY + i, i) for i in range(3)) + b"\n{broken\n")
    assert EventClock(log, lambda: WALL).now_ms() == JANUARY + 2
    # a log exactly as long as the tail read keeps its first line
    log.write_bytes(_login(JANUARY + 9, 9) + b"\n")
    assert _newest_event_ms(log, tail_bytes=log.stat().st_size) == JANUARY + 9
    assert _newest_event_ms(log, tail_bytes=log.stat().st_size - 5) is None  # only a part


def test_decide_and_labels_during_a_replay_keep_to_the_streams_time(
    app_factory: Callable[..., FastAPI], tmp_path: Path
) -> None:
    db = Database.open(f"sqlite:///{tmp_path / 'cases.db'}")
    system = Principal.system("test")
    with db.transaction() as s:
        ingest_alerts(s, system, [make_alert(subject_id="agent-1", event_time_ms=JANUARY)])
        key = {"X-API-Key": create_api_key(s, system, "t", ["cases:read", "cases:write"]).raw_key}
    with TestClient(app_factory(db=db)) as c:
        posted = c.post(
            "/v1/events",
            content=_login(JANUARY, 1) + b"\n",
            headers={**headers(), "Content-Type": "application/x-ndjson"},
        )
        assert posted.status_code == 200 and posted.json()["accepted"] == 1
        body = {"refund_id": "rf-1", "order_id": "o-1", "customer_id": "c-1",
                "amount_cents": 25_000, "policy": "manual_override"}  # fmt: skip
        assert c.post("/v1/refunds/decide", json=body, headers=headers()).status_code == 200
        case_id = c.get("/v1/cases", headers=key).json()["items"][0]["id"]
        c.post(f"/v1/cases/{case_id}/transition", json={"status": "triage"}, headers=key)
        r = c.post(f"/v1/cases/{case_id}/label", json={"label": "fraud"}, headers=key)
        assert r.status_code == 200
        log = state_of(c).settings.input_log
        events = [msgspec.json.decode(x) for x in log.read_bytes().splitlines()]
    db.dispose()
    assert [e["type"] for e in events] == ["customer_login", "refund_requested", "analyst_decision"]
    # the wall clock is months ahead: the API's own events keep to the stream's time
    assert {e["event_time_ms"] for e in events} == {JANUARY}

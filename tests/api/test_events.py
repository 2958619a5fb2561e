from __future__ import annotations

import json
from collections.abc import Callable

import msgspec
from fastapi import FastAPI
from fastapi.testclient import TestClient
from tests.api.conftest import headers, state_of

from vigil.events.codec import decode_one

GOOD = {
    "type": "customer_login",
    "event_id": "e1",
    "event_time_ms": 1_767_600_000_000,
    "customer_id": "c1",
    "device_id": "d1",
    "ip": "10.0.0.1",
    "country": "US",
    "success": True,
}


def _line(**changes: object) -> bytes:
    rec = {**GOOD, **changes}
    return json.dumps({k: v for k, v in rec.items() if v is not None}).encode()


def test_jsonl_batch_answers_per_record_and_keeps_every_record(client: TestClient) -> None:
    body = b"\n".join(
        [
            _line(event_id="e1"),
            _line(event_id="e2", country=None),  # missing field
            b"{not json",
            b"",
            _line(event_id="e3", success="yes"),  # wrong type
            _line(event_id="e4"),
        ]
    )
    r = client.post(
        "/v1/events", content=body, headers={**headers(), "Content-Type": "application/x-ndjson"}
    )
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["accepted"], out["rejected"]) == (2, 3)
    by_line = {x["line_no"]: x for x in out["results"]}
    assert sorted(by_line) == [1, 2, 3, 5, 6]
    assert by_line[1]["status"] == "accepted" and by_line[1]["type"] == "customer_login"
    missing = by_line[2]
    assert missing["status"] == "rejected"
    assert missing["event_id"] == "e2" and missing["field"] == "country"
    assert "line 2" in missing["reason"] and "'e2'" in missing["reason"]
    assert by_line[3]["reason"].startswith("line 3: invalid JSON")
    assert by_line[5]["field"] == "success"
    st = state_of(client)
    logged = st.settings.input_log.read_bytes().splitlines()
    assert [json.loads(x)["event_id"] for x in logged] == ["e1", "e4"]
    dead = [json.loads(x) for x in st.settings.dead_letter_path.read_bytes().splitlines()]
    assert [(d["line_no"], d["field"], d["reason_code"]) for d in dead] == [
        (2, "country", "malformed"),
        (3, None, "malformed"),
        (5, "success", "malformed"),
    ]
    assert dead[1]["raw"] == "{not json"  # the exact record, to fix and replay
    assert dead[0]["source"].startswith("api:key:all:")


def test_json_array_pretty_printed_records_become_one_line_each(client: TestClient) -> None:
    body = json.dumps([{**GOOD, "event_id": "a1"}, {**GOOD, "event_id": "a2"}, 5], indent=2)
    r = client.post(
        "/v1/events", content=body, headers={**headers(), "Content-Type": "application/json"}
    )
    assert r.status_code == 200
    assert [x["status"] for x in r.json()["results"]] == ["accepted", "accepted", "rejected"]
    lines = state_of(client).settings.input_log.read_bytes().splitlines()
    assert len(lines) == 2
    for n, line in enumerate(lines, 1):
        event = decode_one(line, n)
        assert getattr(event, "event_id", None) == f"a{n}"


def test_single_object_is_one_record(client: TestClient) -> None:
    r = client.post("/v1/events", json=GOOD, headers=headers())
    assert r.status_code == 200 and r.json()["accepted"] == 1


def test_unreadable_bodies_are_refused_whole(client: TestClient) -> None:
    h = headers()
    r = client.post("/v1/events", content=b"", headers=h)
    assert r.status_code == 400 and r.json()["error"] == "bad_request"
    r = client.post("/v1/events", content=b"[{]", headers={**h, "Content-Type": "application/json"})
    assert r.status_code == 400 and "not a JSON array" in r.json()["detail"]
    r = client.post("/v1/events", content=b"x", headers={**h, "Content-Type": "image/png"})
    assert r.status_code == 415
    deep = b"[" * 2_000 + b"]" * 2_000  # deeper than any decoder's recursion limit
    r = client.post("/v1/events", content=deep, headers={**h, "Content-Type": "application/json"})
    assert r.status_code == 400 and "not a JSON array" in r.json()["detail"]
    assert not state_of(client).settings.input_log.read_bytes()


def test_limits(app_factory: Callable[..., FastAPI]) -> None:
    with TestClient(app_factory(max_body_bytes=100, max_records_per_request=2)) as c:
        h = {**headers(), "Content-Type": "application/x-ndjson"}
        r = c.post("/v1/events", content=b"\n".join([_line()] * 3), headers=h)
        assert r.status_code == 413
        r = c.post("/v1/events", content=b"{}\n{}\n{}\n", headers=h)
        assert r.status_code == 413 and "at most 2" in r.json()["detail"]


def test_events_are_fsynced_when_asked(app_factory: Callable[..., FastAPI]) -> None:
    with TestClient(app_factory(fsync_events=True)) as c:
        r = c.post("/v1/events", content=_line() + b"\n" + b"bad", headers=headers())
        assert r.status_code == 200
        st = state_of(c)
        assert st.input_log.rounds >= 1 and st.dead_letters.rounds >= 1
        metrics = c.get("/metrics", headers=headers()).text
        assert 'vigil_api_events_total{result="accepted"} 1.0' in metrics
        assert 'vigil_api_events_total{result="rejected"} 1.0' in metrics


def test_decoded_back_by_the_runtime_codec(client: TestClient) -> None:
    client.post("/v1/events", content=_line(event_id="z9"), headers=headers())
    raw = state_of(client).settings.input_log.read_bytes().strip()
    assert msgspec.json.decode(raw)["event_id"] == "z9"

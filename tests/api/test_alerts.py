from __future__ import annotations

from urllib.parse import quote

from fastapi.testclient import TestClient
from tests.api.conftest import Runtime, headers, make_alert


def _seed(runtime: Runtime) -> None:
    alerts = [make_alert(subject_id=f"ag-{i}@2026-01-05T00:00Z", score=i / 10) for i in range(1, 8)]
    alerts.append(
        make_alert(
            detector="fraud_ring",
            subject_type="ring",
            subject_id="ring-c-0cd0b6c0e9f2aa41#1",
            score=0.9,
            members=("account:c-9e1f0b7a3c5d2e48", "device:d-4f1a2b3c4d5e"),
            refund_ids=("rf-5a8e1c0d9b7f21",),
        )
    )
    runtime.emit(*alerts)


def test_paging_newest_first_never_repeats(client: TestClient, runtime: Runtime) -> None:
    _seed(runtime)
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, object] = {"limit": 3}
        if cursor is not None:
            params["cursor"] = cursor
        page = client.get("/v1/alerts", params=params, headers=headers("reader")).json()
        seen += [a["alert_id"] for a in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
        # arrivals do not disturb
        runtime.emit(make_alert(subject_id=f"ag-{len(seen)}@2026-01-12T00:00Z"))
    assert seen[0] == "fraud_ring:ring:ring-c-0cd0b6c0e9f2aa41#1"
    assert len(seen) == len(set(seen)) == 8
    oldest = client.get("/v1/alerts", params={"order": "oldest", "limit": 1}, headers=headers())
    assert oldest.json()["items"][0]["subject_id"] == "ag-1@2026-01-05T00:00Z"
    assert oldest.json()["items"][0]["seq"] == 0


def test_filters(client: TestClient, runtime: Runtime) -> None:
    _seed(runtime)
    h = headers()

    def ids(**params: object) -> list[str]:
        r = client.get("/v1/alerts", params=params, headers=h)
        assert r.status_code == 200, r.text
        return [a["subject_id"] for a in r.json()["items"]]

    ring = "ring-c-0cd0b6c0e9f2aa41#1"
    assert ids(detector="fraud_ring") == [ring]
    assert ids(customer_id="c-9e1f0b7a3c5d2e48") == [ring]
    assert ids(refund_id="rf-5a8e1c0d9b7f21") == [ring]
    assert ids(min_score=0.65, subject_type="agent") == ["ag-7@2026-01-05T00:00Z"]
    week = "ag-3@2026-01-05T00:00Z"
    assert ids(subject_type="agent", subject_id=week) == [week]
    # by the plain agent id, whatever the subject id's format
    assert ids(agent_id="ag-2") == ["ag-2@2026-01-05T00:00Z"]
    assert ids(since_ms=1_767_600_000_001) == []
    assert client.get("/v1/alerts", params={"limit": 0}, headers=h).status_code == 422
    one = client.get(f"/v1/alerts/{quote(f'fraud_ring:ring:{ring}')}", headers=h)
    assert one.status_code == 200
    assert one.json()["members"] == ["account:c-9e1f0b7a3c5d2e48", "device:d-4f1a2b3c4d5e"]
    assert client.get("/v1/alerts/nope", headers=h).status_code == 404


def test_a_resumed_runtime_rewriting_its_tail_does_not_duplicate(
    client: TestClient, runtime: Runtime
) -> None:
    _seed(runtime)
    path = runtime.state.settings.out_dir / "alerts.jsonl"
    data = path.read_bytes()
    cut = data.rfind(b"\n", 0, len(data) - 1) + 1
    path.write_bytes(data[:cut])  # the checkpoint's length
    runtime.state.tailer.catch_up()
    with path.open("ab") as fh:
        fh.write(data[cut:])  # the same line, written again
    runtime.state.tailer.catch_up()
    assert len(runtime.state.index.alerts) == 8


def test_an_unknown_query_parameter_is_refused_by_name(
    client: TestClient, runtime: Runtime
) -> None:
    _seed(runtime)
    # a typo of agent_id would otherwise answer every alert, as if filtered
    r = client.get("/v1/alerts", params={"agnet_id": "ag-2"}, headers=headers())
    assert r.status_code == 422
    (item,) = r.json()["detail"]
    assert item["loc"] == ["query", "agnet_id"]
    assert "unknown query parameter 'agnet_id'" in item["msg"] and "agent_id" in item["msg"]
    ok = client.get("/v1/alerts", params={"agent_id": "ag-2"}, headers=headers())
    assert [a["subject_id"] for a in ok.json()["items"]] == ["ag-2@2026-01-05T00:00Z"]

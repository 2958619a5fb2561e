from __future__ import annotations

from fastapi.testclient import TestClient
from tests.api.conftest import Runtime, headers, make_alert


def _seed(runtime: Runtime) -> None:
    alerts = [make_alert(subject_id=f"agent-{i}", score=i / 10) for i in range(1, 8)]
    alerts.append(
        make_alert(
            detector="fraud_ring",
            subject_type="ring",
            subject_id="ring-1",
            score=0.9,
            members=("account:c-9",),
            refund_ids=("rf-5",),
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
        runtime.emit(make_alert(subject_id=f"late-{len(seen)}"))  # arrivals do not disturb
    assert seen[0] == "fraud_ring:ring:ring-1"
    assert len(seen) == len(set(seen)) == 8
    oldest = client.get("/v1/alerts", params={"order": "oldest", "limit": 1}, headers=headers())
    assert oldest.json()["items"][0]["subject_id"] == "agent-1"
    assert oldest.json()["items"][0]["seq"] == 0


def test_filters(client: TestClient, runtime: Runtime) -> None:
    _seed(runtime)
    h = headers()

    def ids(**params: object) -> list[str]:
        r = client.get("/v1/alerts", params=params, headers=h)
        assert r.status_code == 200, r.text
        return [a["subject_id"] for a in r.json()["items"]]

    assert ids(detector="fraud_ring") == ["ring-1"]
    assert ids(customer_id="c-9") == ["ring-1"]
    assert ids(refund_id="rf-5") == ["ring-1"]
    assert ids(min_score=0.65, subject_type="agent") == ["agent-7"]
    assert ids(subject_type="agent", subject_id="agent-3") == ["agent-3"]
    assert ids(agent_id="agent-2") == ["agent-2"]
    assert ids(since_ms=1_767_600_000_001) == []
    assert client.get("/v1/alerts", params={"limit": 0}, headers=h).status_code == 422
    one = client.get("/v1/alerts/fraud_ring:ring:ring-1", headers=h)
    assert one.status_code == 200 and one.json()["members"] == ["account:c-9"]
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

"""``POST /v1/events`` tells the sender, per record, where its event time stands against the
stream: held far ahead of it, too late behind it, or accepted (simulated events)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tests.api.conftest import headers, state_of

from vigil.ingest import event_time
from vigil.sim import SimConfig, simulate

YEAR_3000_MS = 32_503_680_000_000
NDJSON = {"Content-Type": "application/x-ndjson"}


@pytest.fixture(scope="module")
def sim_events(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, object]]:
    root = tmp_path_factory.mktemp("sim")
    simulate(SimConfig(seed=3, events=5_000), root)
    out = []
    for line in (root / "events.jsonl").read_bytes().splitlines():
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if isinstance(doc, dict) and isinstance(doc.get("event_time_ms"), int):
            out.append(doc)
    return out


def _post(client: TestClient, docs: list[dict[str, object]]) -> dict[str, object]:
    body = b"\n".join(json.dumps(d).encode() for d in docs)
    r = client.post("/v1/events", content=body, headers={**headers(), **NDJSON})
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def test_a_future_dated_record_and_a_stale_one_are_named_per_record(
    client: TestClient, sim_events: list[dict[str, object]]
) -> None:
    first = _post(client, sim_events[:200])
    assert first["accepted"] == 200 and first["too_early"] == 0
    clock = max(int(d["event_time_ms"]) for d in sim_events[:200])  # type: ignore[call-overload]
    future = {**sim_events[200], "event_id": "future-1", "event_time_ms": YEAR_3000_MS}
    stale = {**sim_events[201], "event_id": "stale-1",
             "event_time_ms": clock - event_time.ALLOWED_LATENESS_MS - 86_400_000}  # fmt: skip
    out = _post(client, [future, stale, *sim_events[202:210]])
    by_id = {r["event_id"]: r for r in out["results"]}  # type: ignore[attr-defined]
    assert by_id["future-1"]["status"] == "too_early"
    assert by_id["future-1"]["field"] == "event_time_ms"
    assert "wall clock" in by_id["future-1"]["reason"]
    assert by_id["stale-1"]["status"] == "too_late"
    assert (out["accepted"], out["too_early"], out["too_late"]) == (8, 1, 1)
    # the future record did not move the API's clock: the next real events are on time
    assert state_of(client).clock.newest_ms == max(
        int(d["event_time_ms"])
        for d in sim_events[:210]  # type: ignore[call-overload]
    )
    # every record is in the runtime's input (the runtime keeps the early and late ones)
    log: Path = state_of(client).settings.input_log
    ids = {json.loads(x)["event_id"] for x in log.read_bytes().splitlines()}
    assert {"future-1", "stale-1"} <= ids

"""``vigil serve`` as a real process with its runtime child: post a simulated stream over
HTTP and see alerts and decisions come back."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from tests.serve_process import served

from vigil.sim import SimConfig, simulate

KEY = "e2e-key-with-every-scope"


@pytest.mark.slow
def test_serve_runs_the_stream_and_answers(tmp_path: Path) -> None:
    sim = simulate(SimConfig(seed=1, events=20_000), tmp_path / "sim")
    lines = sim.events_path.read_bytes().splitlines()
    state = tmp_path / "state"
    with served(state, KEY, "--no-cases") as (_url, c):
        health = c.get("/healthz")
        assert health.json()["runtime"]["managed"] is True
        accepted = rejected = 0
        for start in range(0, len(lines), 2_000):
            body = b"\n".join(lines[start : start + 2_000]) + b"\n"
            r = c.post("/v1/events", content=body, headers={"Content-Type": "application/x-ndjson"})
            assert r.status_code == 200, r.text
            out = r.json()
            # too_late: appended too, for the runtime to keep (the simulator sends some events
            # days late on purpose)
            accepted += out["accepted"] + out["too_early"] + out["too_late"]
            rejected += out["rejected"]
        assert accepted + rejected == len(lines)
        assert rejected == sim.malformed  # the simulator's malformed lines, and only those
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            alerts = c.get("/v1/alerts", params={"limit": 500}).json()["items"]
            if len(alerts) >= 10:
                break
            time.sleep(0.25)
        assert len(alerts) >= 10, alerts
        refund_alert = next(a for a in alerts if a["subject_type"] == "refund")
        rid = refund_alert["subject_id"]
        view = c.get(f"/v1/decisions/{rid}")
        assert view.status_code == 200
        assert view.json()["stream"]["score"] >= refund_alert["score"]
        decide = c.post(
            "/v1/refunds/decide",
            json={
                "refund_id": rid,
                "order_id": refund_alert["order_id"] or "o",
                "customer_id": refund_alert["customer_id"] or "c",
                "amount_cents": refund_alert["amount_cents"],
                "policy": "returnless",
                "record_event": False,
            },
        ).json()
        assert decide["evidence"]["refund"] is True
        assert decide["score"] >= refund_alert["score"]
        health = c.get("/healthz").json()
        assert health["runtime"]["alive"] is True
        metrics = c.get("/metrics").text
        assert "vigil_index_staleness_seconds_count" in metrics
    # the runtime child stopped with the server and checkpointed
    assert (state / "checkpoint" / "checkpoint.pkl").exists()

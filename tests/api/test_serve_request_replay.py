"""A simulated stream replayed through a real ``vigil serve`` (API process + runtime child):
events posted in order, ``decide`` called for each refund request as a refund system would
(the request enters the stream through ``decide``). The API's answers equal the runtime's
request-time decisions on the same history, and requests in a flagged session are held."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from tests.browser import free_port

from vigil.decisions.book import RefundDecision, decision_decoder
from vigil.sim import SimConfig, simulate

KEY = "replay-key-with-every-scope"
STREAM = SimConfig(
    seed=3,
    events=12_000,
    takeover_sessions_per_million=400.0,
    insider_refunds_per_million=400.0,
    empty_box_per_million=300.0,
)
_REQUEST_FIELDS = (
    "refund_id", "order_id", "customer_id", "return_id", "amount_cents", "currency", "skus",
    "reason", "channel", "method", "policy", "issued_by", "agent_id", "session_id",
    "event_time_ms",
)  # fmt: skip


def _start(state: Path, port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "vigil.cli.main", "serve", "--port", str(port),
         "--state-dir", str(state), "--api-key", f"replay:{KEY}:*", "--no-cases", "--no-fsync"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip


def _wait_up(c: httpx.Client) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            c.get("/healthz")
            return
        except httpx.TransportError:
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.1)


@pytest.mark.slow
def test_decide_answers_what_the_runtime_decides_on_the_same_history(tmp_path: Path) -> None:
    sim = simulate(STREAM, tmp_path / "sim")
    lines = sim.events_path.read_bytes().splitlines()
    port = free_port()
    state = tmp_path / "state"
    proc = _start(state, port)
    answers: dict[str, dict[str, Any]] = {}
    sessions: dict[str, str | None] = {}
    try:
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}", headers={"X-API-Key": KEY}, timeout=30
        ) as c:
            _wait_up(c)
            pending: list[bytes] = []

            def post_pending() -> None:
                if pending:
                    body = b"\n".join(pending) + b"\n"
                    r = c.post(
                        "/v1/events",
                        content=body,
                        headers={"Content-Type": "application/x-ndjson"},
                    )
                    assert r.status_code == 200, r.text
                    pending.clear()

            for raw in lines:
                try:
                    rec: dict[str, Any] = msgspec.json.decode(raw)
                except msgspec.DecodeError:
                    rec = {}
                if rec.get("type") != "refund_requested":
                    pending.append(raw)
                    continue
                post_pending()
                body = {k: rec[k] for k in _REQUEST_FIELDS if rec.get(k) is not None}
                if rec["refund_id"] in answers:
                    continue  # the producer's duplicate of a request already asked
                r = c.post("/v1/refunds/decide", json={**body, "wait_ms": 5_000})
                assert r.status_code == 200, r.text
                answers[rec["refund_id"]] = r.json()
                sessions[rec["refund_id"]] = rec.get("session_id")
            post_pending()
            # the runtime reads the last requests too
            deadline = time.monotonic() + 60
            decisions = state / "run" / "decisions.jsonl"
            runtime: dict[str, RefundDecision] = {}
            while time.monotonic() < deadline:
                if decisions.exists():
                    runtime = {
                        d.refund_id: d
                        for d in map(decision_decoder.decode, decisions.read_bytes().splitlines())
                        if d.stage == "request"
                    }
                if set(answers) <= set(runtime):
                    break
                time.sleep(0.25)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    assert len(answers) > 80
    assert set(answers) <= set(runtime)
    caught_up = [rid for rid, a in answers.items() if a["caught_up"]]
    assert len(caught_up) >= 0.95 * len(answers), [
        (a["caught_up"], a["index_age_s"]) for a in list(answers.values())[:10]
    ]
    for rid in caught_up:
        a, mine = answers[rid], runtime[rid]
        assert (a["decision"], a["score"], a["reasons"]) == (
            mine.decision,
            mine.score,
            list(mine.reasons),
        ), rid
    held = [rid for rid, a in answers.items() if a["decision"] != "approve"]
    assert len(held) >= 10
    # once a request of a session is held for the session, the session's later ones are too
    flagged: set[str] = set()
    checked = 0
    for rid, a in answers.items():  # in stream order
        sid = sessions[rid]
        if sid is None:
            continue
        if sid in flagged:
            assert a["decision"] != "approve", rid
            checked += 1
        if any(c["detector"] == "session_risk" and c["score"] >= 0.5 for c in a["contributions"]):
            flagged.add(sid)
    assert checked >= 5

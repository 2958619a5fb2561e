"""A simulated stream replayed through a real ``vigil serve`` (API process + runtime child):
events posted in order, ``decide`` called for each refund request as a refund system would
(the request enters the stream through ``decide``). The API's answers equal the runtime's
request-time decisions on the same history, and requests in a flagged session are held."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import msgspec
import pytest
from tests.serve_process import post_stream, served

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


@pytest.mark.slow
def test_decide_answers_what_the_runtime_decides_on_the_same_history(tmp_path: Path) -> None:
    sim = simulate(STREAM, tmp_path / "sim")
    lines = sim.events_path.read_bytes().splitlines()
    state = tmp_path / "state"
    with served(state, KEY, "--no-cases", "--no-fsync") as (_url, c):
        answers = post_stream(c, lines, wait_ms=5_000)
        # the runtime reads the last requests too
        decisions = state / "run" / "decisions.jsonl"
        runtime: dict[str, RefundDecision] = {}
        deadline = time.monotonic() + 60
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
    sessions: dict[str, str | None] = {}
    for raw in lines:
        if b'"refund_requested"' in raw:
            try:
                rec: dict[str, Any] = msgspec.json.decode(raw)
            except msgspec.DecodeError:
                continue
            sessions.setdefault(rec["refund_id"], rec.get("session_id"))

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

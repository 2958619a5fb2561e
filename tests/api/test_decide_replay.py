"""``decide`` answers as the runtime does: a simulated stream replayed through a real runtime
publishing to the API, ``decide`` asked about every refund request just before the runtime
reads it. Same history, same answer; and the evidence a real stream has (subject ids in each
detector's own format) is found by the plain ids of the request."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest
from fastapi.testclient import TestClient
from tests.api._replay import decide_body, refund_truth, request_decisions
from tests.api._replay import replay as replay_stream
from tests.api.conftest import headers, state_of

from vigil.decisions.book import RefundDecision
from vigil.decisions.evidence import AlertIndex
from vigil.detectors.base import Alert, alert_decoder
from vigil.events.schemas import RefundRequested
from vigil.sim import SimConfig, simulate

#: a small stream dense in fraud: takeovers, insiders, empty boxes, rings, and the traps
STREAM = SimConfig(
    seed=3,
    events=40_000,
    takeover_sessions_per_million=150.0,
    insider_refunds_per_million=300.0,
    empty_box_per_million=200.0,
    rings_per_million=40.0,
)


@pytest.fixture(scope="module")
def replay(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run the stream through the runtime with the API deciding each request first."""
    from tests.api.conftest import static_keys

    from vigil.api import ApiSettings, create_app

    root = tmp_path_factory.mktemp("replay")
    sim = simulate(STREAM, root / "sim")
    settings = ApiSettings(state_dir=root / "state", fsync_events=False, fsync_decisions=False)
    answers: dict[str, dict[str, Any]] = {}
    requests: dict[str, RefundRequested] = {}
    alerts_before: dict[str, list[Alert]] = {}
    with TestClient(create_app(settings, static_keys())) as client:
        state = state_of(client)

        def ask(req: RefundRequested) -> None:
            state.tailer.catch_up()
            alerts_before[req.refund_id] = list(state.index.live_alerts())
            requests[req.refund_id] = req
            r = client.post("/v1/refunds/decide", json=decide_body(req), headers=headers())
            assert r.status_code == 200, r.text
            answers[req.refund_id] = r.json()

        replay_stream(sim, settings, ask)
    return {
        "answers": answers,
        "runtime": request_decisions(settings.out_dir),
        "alerts_before": alerts_before,
        "requests": requests,
        "truth": refund_truth(sim),
        "too_late": _too_late_refunds(settings.out_dir / "dead_letter.jsonl"),
        "all_alerts": [
            alert_decoder.decode(x)
            for x in (settings.out_dir / "alerts.jsonl").read_bytes().splitlines()
        ],
    }


def _too_late_refunds(dead_letters: Path) -> set[str]:
    out = set()
    for line in dead_letters.read_text().splitlines():
        rec = json.loads(line)
        if rec["reason_code"] == "too_late":
            out.add(json.loads(rec["raw"]).get("refund_id"))
    return out


def test_every_request_gets_the_runtimes_answer(replay: dict[str, Any]) -> None:
    answers: dict[str, dict[str, Any]] = replay["answers"]
    runtime: dict[str, RefundDecision] = replay["runtime"]
    assert len(answers) > 300
    # a request the runtime dead-lettered (a producer's line too late to process) has no
    # request-time decision of the runtime's: only those may be missing
    missing = set(answers) - set(runtime)
    assert missing <= replay["too_late"]
    assert set(runtime) <= set(answers)
    held = 0
    for rid, answer in answers.items():
        if rid in missing:
            continue
        mine = runtime[rid]
        assert answer["decision"] == mine.decision, rid
        assert answer["score"] == mine.score, rid
        assert answer["reasons"] == list(mine.reasons), rid
        assert answer["explanation"] == mine.explanation, rid
        assert answer["contributions"] == msgspec.json.decode(
            msgspec.json.encode(mine.contributions)
        ), rid
        held += mine.decision != "approve"
    assert held >= 10  # the stream's fraud is found at request time, not only approved


def test_the_alerts_found_are_those_in_real_subject_id_formats(replay: dict[str, Any]) -> None:
    """Agent findings carry subject ids like ``ag-7@2026-01-29T00:00Z``: a later request by
    that agent finds them by the plain agent id. And every alert the stream raised (session
    ``ss-…#3``, account ``c-…#1``, ring ``ring-…#2`` formats included) is found by the plain
    ids it concerns."""
    answers: dict[str, dict[str, Any]] = replay["answers"]
    before: dict[str, list[Alert]] = replay["alerts_before"]
    requests: dict[str, RefundRequested] = replay["requests"]
    found_agent = 0
    for rid, req in requests.items():
        for alert in before[rid]:
            if alert.subject_type == "agent" and alert.agent_id == req.agent_id:
                assert "@" in alert.subject_id
                assert answers[rid]["evidence"]["agent"] is True
                found_agent += 1
    assert found_agent
    alerts: list[Alert] = replay["all_alerts"]
    index = AlertIndex()
    for alert in alerts:
        index.add_alert(alert)
    kinds = set()
    for alert in alerts:
        kinds.add(alert.subject_type)
        members = [m.split(":", 1)[1] for m in alert.members if m.startswith("account:")]
        evidence = index.evidence(
            "rf-none",
            agent_id=alert.agent_id,
            session_id=alert.session_id,
            customer_id=alert.customer_id or (members[0] if members else None),
            order_id=alert.order_id,
        )
        assert alert in evidence.alerts, alert.alert_id
    assert {"agent", "session", "account", "ring", "refund"} <= kinds


def test_requests_in_a_flagged_session_are_held(replay: dict[str, Any]) -> None:
    """Once a session is flagged (a session finding at or above the review threshold: an
    alert of the stream, or the request-time finding on an earlier request of the session),
    every later refund it asks for is held: review or deny."""
    runtime: dict[str, RefundDecision] = replay["runtime"]
    before: dict[str, list[Alert]] = replay["alerts_before"]
    requests: dict[str, RefundRequested] = replay["requests"]
    flagged: set[str] = set()
    checked = 0
    for rid, req in requests.items():  # in stream order
        flagged |= {
            str(a.session_id) for a in before[rid] if a.subject_type == "session" and a.score >= 0.5
        }
        if req.session_id is None:
            continue
        if req.session_id in flagged:
            assert runtime[rid].decision != "approve", rid
            checked += 1
        if any(c.detector == "session_risk" and c.score >= 0.5 for c in runtime[rid].contributions):
            flagged.add(req.session_id)
    assert checked >= 10


def test_takeover_requests_are_held_before_the_money_leaves(replay: dict[str, Any]) -> None:
    runtime: dict[str, RefundDecision] = replay["runtime"]
    truth: dict[str, dict[str, Any]] = replay["truth"]
    takeover = [rid for rid, rec in truth.items() if rec.get("scenario") == "agent_takeover"]
    assert len(takeover) >= 10
    held = [rid for rid in takeover if rid in runtime and runtime[rid].decision != "approve"]
    assert len(held) >= 0.9 * len(takeover)

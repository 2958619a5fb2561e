"""Taken-over agents on simulator data: the takeover's refunds make the agent look like an
insider against the team (``agent_refunds``), but at request time that flag is set aside for
the agent's own requests from their own sessions, while the taken-over sessions stay held."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vigil.decisions.book import decision_decoder
from vigil.detectors.base import alert_decoder
from vigil.detectors.registry import default_detectors
from vigil.evaluation.truth_index import load_truth
from vigil.events.codec import DecodeFailure, decode_one
from vigil.events.schemas import RefundRequested
from vigil.ingest.sources import FileSource
from vigil.runtime.embedded import EmbeddedRuntime, RuntimeSettings
from vigil.sim import SimConfig, simulate

FLAGGED = "request_risk:agent_flagged_against_peers"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """300k lines with fifteen times the agent takeovers."""
    root = tmp_path_factory.mktemp("sim-takeovers")
    sim = simulate(
        SimConfig(seed=62, events=300_000, takeover_sessions_per_million=60.0), root / "sim"
    )
    EmbeddedRuntime(default_detectors(), root / "run", RuntimeSettings(analytics=False)).run(
        FileSource(sim.events_path)
    )
    return root / "sim", root / "run"


@pytest.mark.slow
def test_a_takeover_does_not_make_the_agents_own_requests_suspect(run: tuple[Path, Path]) -> None:
    sim, out = run
    truth = load_truth(sim / "truth.jsonl")
    taken = {r.id for r in truth.others if r.kind == "session" and r.scenario == "agent_takeover"}
    session_of_request = {
        ev.refund_id: ev.session_id
        for n, raw in enumerate((sim / "events.jsonl").read_bytes().splitlines(), 1)
        if not isinstance(ev := decode_one(raw, n), DecodeFailure)
        and isinstance(ev, RefundRequested)
    }
    alerts = [alert_decoder.decode(x) for x in (out / "alerts.jsonl").read_bytes().splitlines()]
    session_of = {
        rid: a.session_id for a in alerts if a.detector == "session_risk" for rid in a.refund_ids
    }
    # the situation exists: an agent flagged against peers for refunds of a taken-over session
    explained = {
        a.agent_id
        for a in alerts
        if a.detector == "agent_refunds"
        and a.refund_ids
        and all(session_of.get(rid) in taken for rid in a.refund_ids)
    }
    assert explained, "the world must have a taken-over agent flagged by its takeover"
    requests = [
        d
        for x in (out / "decisions.jsonl").read_bytes().splitlines()
        if (d := decision_decoder.decode(x)).stage == "request"
    ]
    own = [
        d
        for d in requests
        if d.agent_id in explained and session_of_request.get(d.refund_id) not in taken
    ]
    assert own, "the flagged agents must ask for refunds of their own afterwards"
    set_aside = [d for d in own if d.set_aside]
    assert set_aside, "no request of a taken-over agent had the flag set aside"
    flagged = {a.alert_id for a in alerts if a.detector == "agent_refunds"}
    for d in set_aside:
        assert FLAGGED not in d.reasons, d.refund_id
        assert set(d.set_aside) <= flagged, d.set_aside
        assert all(alert_id in d.explanation for alert_id in d.set_aside), d.explanation
    stats = json.loads((out / "stats.json").read_bytes())
    assert stats["requests_with_agent_alerts_set_aside"] == sum(1 for d in requests if d.set_aside)
    # every refund the takeovers asked for is still held
    in_takeover = [d for d in requests if session_of_request.get(d.refund_id) in taken]
    assert in_takeover
    held = [d for d in in_takeover if d.decision != "approve"]
    assert len(held) == len(in_takeover), [d.refund_id for d in in_takeover if d not in held]

"""Honest agents on a new laptop, on simulator data: an escalations agent's ordinary overrides
from a new laptop are not a burst for them (``session_scoring.burst_floor_cents``), so the
session is not held at request time nor alerted later, while every takeover still is.

The same world is run twice: with the default settings, and with the flat burst rule of
before (every refund of $100 or more counts, whoever the agent).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from vigil.decisions.book import decision_decoder
from vigil.detectors.base import Alert, alert_decoder
from vigil.detectors.registry import default_detectors
from vigil.detectors.settings import DetectorSettings, SessionRiskSettings
from vigil.evaluation.truth_index import load_truth
from vigil.events.codec import DecodeFailure, decode_one
from vigil.events.schemas import RefundRequested
from vigil.ingest.sources import FileSource
from vigil.runtime.embedded import EmbeddedRuntime, RuntimeSettings
from vigil.sim import SimConfig, simulate

FLAT = DetectorSettings(session_risk=replace(SessionRiskSettings(), burst_agent_min_refunds=10**9))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """300k lines with fifty times the new laptops, ten times the takeovers, five times the
    escalations agents, and more returns, more of them through agents (so that an
    escalations agent's session on a new laptop has several dear overrides, as on busy
    days of the default world)."""
    root = tmp_path_factory.mktemp("sim-new-laptops")
    simulate(
        SimConfig(
            seed=65,
            events=300_000,
            agent_new_laptop_per_million=300.0,
            takeover_sessions_per_million=40.0,
            escalation_agent_share=0.3,
            return_rate=0.4,
            agent_return_share=0.5,
        ),
        root / "sim",
    )
    return root / "sim"


def _run(sim: Path, out: Path, settings: DetectorSettings) -> tuple[list[Alert], dict[str, str]]:
    EmbeddedRuntime(
        default_detectors(settings),
        out,
        RuntimeSettings(analytics=False),
        detector_settings=settings,
    ).run(FileSource(sim / "events.jsonl"))
    alerts = [alert_decoder.decode(x) for x in (out / "alerts.jsonl").read_bytes().splitlines()]
    held = {
        d.refund_id: d.decision
        for x in (out / "decisions.jsonl").read_bytes().splitlines()
        if (d := decision_decoder.decode(x)).stage == "request"
        and d.decision != "approve"
        and any(r.startswith("session_risk:") for r in d.reasons)
    }
    return alerts, held


@pytest.mark.slow
def test_an_escalations_agents_new_laptop_is_not_a_takeover(world: Path, tmp_path: Path) -> None:
    truth = load_truth(world / "truth.jsonl")
    sessions = {r.id: r.scenario for r in truth.others if r.kind == "session"}
    session_of = {
        ev.refund_id: ev.session_id
        for n, raw in enumerate((world / "events.jsonl").read_bytes().splitlines(), 1)
        if not isinstance(ev := decode_one(raw, n), DecodeFailure)
        and isinstance(ev, RefundRequested)
    }
    laptops = {sid for sid, scenario in sessions.items() if scenario == "trap_new_device_agent"}
    taken = {sid for sid, scenario in sessions.items() if scenario == "agent_takeover"}
    assert laptops and taken

    flat_alerts, flat_held = _run(world, tmp_path / "flat", FLAT)
    alerts, held = _run(world, tmp_path / "default", DetectorSettings())

    def held_in(found: dict[str, str], group: set[str]) -> set[str]:
        return {rid for rid in found if session_of.get(rid) in group}

    def alerted_sessions(found: list[Alert], group: set[str]) -> set[str]:
        return {
            a.session_id
            for a in found
            if a.detector == "session_risk" and a.score >= 0.5 and a.session_id in group
        }

    # the situation exists: under the flat rule, new laptops' ordinary refunds made bursts
    assert held_in(flat_held, laptops), "the world must have a new laptop held as a takeover"
    assert alerted_sessions(flat_alerts, laptops)
    # what is dear for the agent: fewer new laptops held, none gained
    assert held_in(held, laptops) < held_in(flat_held, laptops)
    assert alerted_sessions(alerts, laptops) < alerted_sessions(flat_alerts, laptops)
    # and every takeover request held before is held still, every takeover alerted still
    assert held_in(flat_held, taken) <= held_in(held, taken)
    assert alerted_sessions(alerts, taken) == alerted_sessions(flat_alerts, taken)

"""``request_risk`` on simulator data with many honest look-alikes: porch-theft claims (a dear
"not received" on a delivered parcel, refunded by an ordinary agent's override) are what an
insider's refund looks like at request time. Discounting an agent's first risky refund in a
month holds fewer of them, and keeps the insiders who refund their clients again and again."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from vigil.detectors.request.profile import REASON_AGENT_RISKY_AGAIN, profile_finding
from vigil.detectors.settings import RequestRiskSettings
from vigil.evaluation.truth_index import load_truth
from vigil.events.codec import DecodeFailure, decode_one
from vigil.events.schemas import RefundRequested
from vigil.features.facts import RequestFacts
from vigil.sim import SimConfig, simulate

THRESHOLD = 0.5


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """150k lines with forty times the porch-theft claims and ten times the insiders."""
    out = tmp_path_factory.mktemp("sim-look-alikes")
    simulate(
        SimConfig(
            seed=9,
            events=150_000,
            porch_theft_per_million=800.0,
            insider_refunds_per_million=120.0,
        ),
        out,
    )
    return out


def _scores(world: Path, settings: RequestRiskSettings) -> dict[str, tuple[float, tuple[str, ...]]]:
    """Each request's profile score and reasons, from what arrived before it (file order;
    the simulator's malformed lines are skipped, as the runtime dead-letters them)."""
    facts = RequestFacts()
    out: dict[str, tuple[float, tuple[str, ...]]] = {}
    for n, line in enumerate((world / "events.jsonl").read_bytes().splitlines(), 1):
        ev = decode_one(line, n)
        if isinstance(ev, DecodeFailure):
            continue
        if isinstance(ev, RefundRequested) and ev.refund_id not in out:
            found = profile_finding(ev, facts, settings)
            out[ev.refund_id] = (0.0, ()) if found is None else (found.score, found.reasons)
        facts.update_one(ev)
    return out


@pytest.mark.slow
def test_first_risky_refunds_are_discounted_and_repeats_are_not(world: Path) -> None:
    truth = load_truth(world / "truth.jsonl").refunds
    default = RequestRiskSettings()
    plain = dataclasses.replace(default, agent_first_risky_weight=0.0)
    now, before = _scores(world, default), _scores(world, plain)

    def held(scores: dict[str, tuple[float, tuple[str, ...]]], scenario: str) -> list[str]:
        return [r for r, t in truth.items() if t.scenario == scenario and scores[r][0] >= THRESHOLD]

    porch_now, porch_before = held(now, "trap_porch_theft"), held(before, "trap_porch_theft")
    assert len(porch_before) >= 4, "the world must hold porch-theft claims without the discount"
    assert len(porch_now) <= len(porch_before) // 2, (len(porch_now), len(porch_before))
    # an insider's refund that repeats the agent's pattern keeps its score
    repeats = [
        r for r, t in truth.items()
        if t.scenario == "insider_refund" and REASON_AGENT_RISKY_AGAIN in now[r][1]
    ]  # fmt: skip
    assert repeats, "the world must have insiders refunding again"
    for r in repeats:
        assert now[r][0] == before[r][0], r
    insider_now, insider_before = held(now, "insider_refund"), held(before, "insider_refund")
    assert len(insider_now) >= 0.7 * len(insider_before), (len(insider_now), len(insider_before))

"""Insider refunds on simulator data: an alert that covers more refunds than its own
(``refund_without_return`` on a repeat, ``agent_refunds`` on a flagged agent) covers only
the same agent's refunds that the truth file calls insider fraud, never a trap; and a dense
world of insiders on long-standing accounts is caught in full."""

from __future__ import annotations

from pathlib import Path

import pytest

from vigil.detectors.registry import default_detectors
from vigil.evaluation.truth_index import load_truth
from vigil.events.truth import TruthRecord
from vigil.runtime.harness import run_lines
from vigil.sim import SimConfig, simulate

THRESHOLD = 0.5


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """200k lines with twenty times the insider refunds, most to long-standing accounts,
    and four times the porch-theft claims (the honest look-alike)."""
    out = tmp_path_factory.mktemp("sim-insiders")
    simulate(
        SimConfig(
            seed=8,
            events=200_000,
            insider_refunds_per_million=240.0,
            insider_aged_account_share=0.7,
            porch_theft_per_million=80.0,
        ),
        out,
    )
    return out


def _truth(sim: Path) -> dict[str, TruthRecord]:
    return load_truth(sim / "truth.jsonl").refunds


@pytest.mark.slow
def test_alerts_that_cover_other_refunds_cover_only_the_pattern(world: Path) -> None:
    truth = _truth(world)
    alerts, stats = run_lines(
        default_detectors(), (world / "events.jsonl").read_bytes().splitlines()
    )
    assert stats.reconciles()
    repeats = [
        a for a in alerts
        if a.detector == "refund_without_return" and len(a.refund_ids) > 1
    ]  # fmt: skip
    assert repeats, "the dense insider world must have repeat refunds to one client"
    for a in repeats:
        assert a.refund_ids[0] == a.subject_id
        for rid in a.refund_ids[1:]:
            earlier = truth[rid]
            assert (earlier.agent_id, earlier.customer_id) == (a.agent_id, a.customer_id)
            assert earlier.scenario == "insider_refund", (a.alert_id, rid, earlier.scenario)
        assert a.amount_cents == truth[a.subject_id].amount_cents
    listed = {r for a in alerts if a.score >= THRESHOLD for r in a.refund_ids}
    traps = sorted(r for r in listed if r in truth and (truth[r].scenario or "").startswith("trap"))
    assert traps == [], traps
    insider = [r for r in truth.values() if r.scenario == "insider_refund"]
    money = sum(r.amount_cents for r in insider)
    caught = sum(r.amount_cents for r in insider if r.id in listed)
    assert caught >= 0.95 * money, f"{caught / money:.1%} of insider money caught"

"""The data behind the report's plots, built by evaluate(): consistent with the tables."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest

from vigil.evaluation import EvaluationReport, evaluate
from vigil.evaluation.curves import money_at
from vigil.evaluation.report_data import TOP_AGENTS

from ._factories import SMALL_RUN_PR_POINTS, alert, legit, refund, small_run, write


def test_pr_curve_meets_the_tables_when_there_is_no_cap(tmp_path: Path) -> None:
    r = evaluate(*small_run(tmp_path), budget=1.0, threshold=0.5)
    d = r.plot_data
    assert d.positives == r.headline_refunds == 15
    assert len(d.pr_curve) == SMALL_RUN_PR_POINTS
    assert [p.threshold for p in d.pr_curve] == [
        0.995,
        0.99,
        0.98,
        0.97,
        0.95,
        0.85,
        0.7,
        0.6,
        0.4,
        0.3,
        0.2,
    ]
    at = min((p for p in d.pr_curve if p.threshold >= 0.5), key=lambda p: p.threshold)
    assert at.precision == pytest.approx(r.combined.headline_precision)
    assert at.recall == pytest.approx(r.combined.headline_recall)
    assert (at.alerted, at.true_positives) == (14, 12)


def test_money_curve_at_the_budget_is_the_money_caught(tmp_path: Path) -> None:
    r = evaluate(*small_run(tmp_path), budget=0.05)
    d = r.plot_data
    assert r.budget_cap == 10
    caught = money_at(d.money_curve_at_threshold, r.budget_cap)
    assert caught == r.combined.headline_money_caught_cents == 465_000
    assert d.money_curve_max_share == 0.05
    assert d.money_curve[-1].alerted == d.money_curve_at_threshold[-1].alerted == 10
    # with no threshold, more refunds compete for the same 10 places, never more money at 0
    assert money_at(d.money_curve, 0) == 0
    r2 = evaluate(*small_run(tmp_path), budget=0.2)
    assert r2.plot_data.money_curve_max_share == 0.2
    assert r2.plot_data.money_curve[-1].alerted == 40


def test_contributions_count_refunds_only_one_detector_covers(tmp_path: Path) -> None:
    r = evaluate(*small_run(tmp_path), budget=0.05)
    only = {c.detector: (c.only_refunds, c.only_money_cents) for c in r.plot_data.contributions}
    assert only == {
        "agent_refunds": (2, 80_000),  # ins2, ins3 (ins0, ins1 also by refund_without_return)
        "empty_box": (2, 60_000),
        "refund_without_return": (0, 0),
        "ring_links": (1, 5_000),
        "session_risk": (2, 160_000),  # ato1, ato2 (ato0 also by the victim's agent alert)
    }


def test_top_agents_are_ranked_and_labelled_from_truth(tmp_path: Path) -> None:
    d = evaluate(*small_run(tmp_path), budget=0.05).plot_data
    rows = [(a.agent_id, a.truth, a.refunds, a.money_cents, a.max_score) for a in d.top_agents]
    assert rows == [
        ("bad", "corrupt", 4, 160_000, 0.95),
        ("victim", "taken_over", 1, 80_000, 0.8),
        ("esc", "trap", 1, 20_000, 0.6),
    ]
    assert d.top_agents[2].trap == "trap_escalation_agent" and d.agents_alerted == 3


def test_top_agents_are_capped_and_ties_broken_by_money(tmp_path: Path) -> None:
    truth = legit(30)
    alerts = [
        alert("ag", f"a{i:02d}@w", 0.7, (f"ok{i}",), subject_type="agent", agent_id=f"a{i:02d}")
        for i in range(20)
    ]
    alerts.append(alert("ag", "zz@w", 0.7, subject_type="agent", amount_cents=99_999))
    r = evaluate(write(tmp_path / "a.jsonl", alerts), write(tmp_path / "t.jsonl", truth))
    d = r.plot_data
    assert d.agents_alerted == 21 and len(d.top_agents) == TOP_AGENTS
    assert d.top_agents[0].agent_id == "zz"  # no refund ids: the alert's own amount counts
    assert [a.agent_id for a in d.top_agents[1:4]] == ["a00", "a01", "a02"]
    assert {a.truth for a in d.top_agents} == {"innocent"}


def test_ring_sizes_histogram(tmp_path: Path) -> None:
    d = evaluate(*small_run(tmp_path)).plot_data
    assert d.ring_alerts == 3
    assert [(s.members, s.rings) for s in d.ring_sizes] == [(3, 2), (5, 1)]


def test_no_alerts_gives_empty_plot_data(tmp_path: Path) -> None:
    truth = write(tmp_path / "t.jsonl", [*legit(50), refund("f0", 500, "ring")])
    d = evaluate(tmp_path / "missing.jsonl", truth).plot_data
    assert d.pr_curve == () and d.contributions == () and d.top_agents == ()
    assert d.ring_sizes == () and d.positives == 1
    assert [(p.alerted, p.money_caught_cents) for p in d.money_curve] == [(0, 0), (2, 0)]


def test_json_keeps_its_keys_and_older_json_still_reads(tmp_path: Path) -> None:
    r = evaluate(*small_run(tmp_path), budget=0.05)
    data = json.loads(r.to_json())
    for key in (
        "alerts_path", "truth_path", "budget", "threshold", "refunds", "refund_money_cents",
        "fraud_refunds", "headline_refunds", "headline_money_cents", "budget_cap", "combined",
        "per_detector", "malformed_alert_lines", "unknown_refund_ids",
        "alerts_with_unknown_refunds", "warnings",
    ):  # fmt: skip
        assert key in data
    assert data["plot_data"]["pr_curve"][0] == {
        "threshold": 0.995, "alerted": 1, "true_positives": 1, "precision": 1.0,
        "recall": pytest.approx(1 / 15),
    }  # fmt: skip
    assert msgspec.json.decode(r.to_json(), type=EvaluationReport) == r
    del data["plot_data"]  # a report written before the plots existed
    old = msgspec.json.decode(json.dumps(data), type=EvaluationReport)
    assert old.combined == r.combined and old.plot_data.pr_curve == ()

"""The decision view: configured bands, the budget threshold and the money threshold."""

from __future__ import annotations

from pathlib import Path

import msgspec

from vigil.decisions import DecisionPolicy
from vigil.detectors.base import Alert
from vigil.evaluation.decision_view import DecisionView, decision_view
from vigil.evaluation.truth_index import load_truth

from .test_evaluate import alert, legit, refund, write


def _view(tmp_path: Path, review_cost_cents: int = 2_500, budget: float = 0.02) -> DecisionView:
    truth = [
        refund("f1", 300_000, "insider_refund"),
        refund("f2", 50_000, "ring"),
        refund("f3", 2_000, "empty_box"),  # cheap fraud: not worth a $25 review at 0.3
        refund("s1", 9_000, "serial_returner"),  # fraud, but not headline
        *legit(196),
    ]
    alerts = [
        alert("refund_without_return", "f1", 0.9),
        alert("agent_refunds", "ag@0", 0.8, ("f1", "f2"), subject_type="agent"),
        alert("refund_without_return", "ok1", 0.6),
        alert("empty_box", "f3", 0.3),
        alert("refund_without_return", "s1", 0.2),
    ]
    decoded = [msgspec.convert(a, Alert) for a in alerts]
    return decision_view(
        decoded,
        load_truth(write(tmp_path / "truth.jsonl", truth)),
        budget,
        review_cost_cents,
        DecisionPolicy(review_threshold=0.5, deny_threshold=0.95),
    )


def test_bands_follow_the_combined_score(tmp_path: Path) -> None:
    view = _view(tmp_path)
    bands = {b.level: b for b in view.bands}
    # f1: 1 - 0.1 * 0.2 = 0.98 -> deny; f2: 0.8 and ok1: 0.6 -> review; f3, s1 -> approve
    assert (bands["deny"].refunds, bands["deny"].headline_fraud) == (1, 1)
    assert (bands["review"].refunds, bands["review"].headline_fraud) == (2, 1)
    assert (bands["approve"].refunds, bands["approve"].headline_money_cents) == (2, 2_000)


def test_budget_threshold_fits_the_cap(tmp_path: Path) -> None:
    view = _view(tmp_path, budget=0.01)  # 200 refunds -> at most 2
    assert view.budget_choice.cap == 2
    assert view.at_budget.threshold == 0.8
    assert (view.at_budget.raised, view.at_budget.headline_fraud_raised) == (2, 2)
    assert view.at_budget.precision == 1.0


def test_money_threshold_skips_reviews_that_cost_more_than_they_save(tmp_path: Path) -> None:
    cheap = _view(tmp_path, review_cost_cents=100)
    assert cheap.at_money.threshold == 0.3  # at $1 a review, even the $20 fraud is worth it
    dear = _view(tmp_path, review_cost_cents=2_500)
    assert dear.at_money.threshold == 0.8  # at $25, ok1 (0.6) and f3 ($20) are not
    assert dear.money_choice.fraud_money_missed_cents == 2_000
    assert dear.money_choice.cost_cents == 2 * 2_500 + 2_000
    assert any("threshold for money" in line for line in dear.text_lines())


def test_evaluate_reports_the_decision_view_in_text_json_and_html(tmp_path: Path) -> None:
    from vigil.evaluation import evaluate
    from vigil.evaluation.html import render_html

    from ._factories import small_run

    report = evaluate(*small_run(tmp_path), budget=0.05, review_cost_cents=1_000)
    assert report.decisions is not None
    assert report.decisions.money_choice.review_cost_cents == 1_000
    assert "threshold for money (review $10.00" in report.to_text()
    assert report.to_dict()["decisions"]["budget_choice"]["cap"] == 10
    page = render_html(report)
    assert 'id="decision-bands"' in page and 'id="decision-thresholds"' in page

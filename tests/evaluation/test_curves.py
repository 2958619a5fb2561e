"""The curve maths on small cases worked out by hand."""

from __future__ import annotations

import pytest

from vigil.evaluation.curves import MoneyPoint, PRPoint, money_at, money_curve, pr_curve, thin


def test_pr_curve_has_one_point_per_distinct_score_with_ties_taken_together() -> None:
    # scores best first: 0.9 T | 0.8 F, 0.8 T | 0.5 F; 3 positives, one never scored
    scored = [(0.5, False), (0.8, True), (0.9, True), (0.8, False)]
    assert pr_curve(scored, positives=3) == [
        PRPoint(threshold=0.9, alerted=1, true_positives=1, precision=1.0, recall=1 / 3),
        PRPoint(threshold=0.8, alerted=3, true_positives=2, precision=2 / 3, recall=2 / 3),
        PRPoint(threshold=0.5, alerted=4, true_positives=2, precision=0.5, recall=2 / 3),
    ]


def test_pr_curve_does_not_depend_on_input_order() -> None:
    scored = [(0.3, True), (0.7, False), (0.7, True), (0.1, False), (0.3, True)]
    assert pr_curve(scored, 4) == pr_curve(list(reversed(scored)), 4)
    assert [p.alerted for p in pr_curve(scored, 4)] == [2, 4, 5]


def test_pr_curve_is_empty_without_scores_or_positives() -> None:
    assert pr_curve([], positives=3) == []
    assert pr_curve([(0.9, False)], positives=0) == []


def test_pr_curve_all_negative_scored_has_zero_precision_and_recall() -> None:
    (point,) = pr_curve([(0.4, False), (0.4, False)], positives=2)
    assert (point.alerted, point.precision, point.recall) == (2, 0.0, 0.0)


def test_money_curve_keeps_the_corners_of_the_staircase() -> None:
    # 10 refunds; ranked money: fraud 300, legit, fraud 100; total fraud money 500
    points = money_curve([300, 0, 100], refunds=10, total_money_cents=500, k_max=5)
    assert points == [
        MoneyPoint(alerted=0, alerted_share=0.0, money_caught_cents=0, money_share=0.0),
        MoneyPoint(alerted=1, alerted_share=0.1, money_caught_cents=300, money_share=0.6),
        MoneyPoint(alerted=3, alerted_share=0.3, money_caught_cents=400, money_share=0.8),
        MoneyPoint(alerted=5, alerted_share=0.5, money_caught_cents=400, money_share=0.8),
    ]
    assert [money_at(points, k) for k in range(6)] == [0, 300, 300, 400, 400, 400]


def test_money_curve_stops_at_k_max() -> None:
    points = money_curve([100, 100, 100], refunds=100, total_money_cents=400, k_max=2)
    assert [(p.alerted, p.money_caught_cents) for p in points] == [(0, 0), (1, 100), (2, 200)]
    assert points[-1].alerted_share == pytest.approx(0.02)
    assert points[-1].money_share == pytest.approx(0.5)


def test_money_curve_edge_cases() -> None:
    assert money_curve([100], refunds=0, total_money_cents=100, k_max=1) == []
    flat = money_curve([], refunds=4, total_money_cents=0, k_max=2)
    assert [(p.alerted, p.money_share) for p in flat] == [(0, 0.0), (2, 0.0)]
    assert money_curve([5], refunds=4, total_money_cents=5, k_max=0) == [
        MoneyPoint(alerted=0, alerted_share=0.0, money_caught_cents=0, money_share=0.0)
    ]


def test_thin_keeps_both_ends_and_at_most_n_points() -> None:
    assert thin([1, 2, 3], 5) == [1, 2, 3]
    assert thin(list(range(11)), 3) == [0, 5, 10]
    thinned = thin(list(range(1000)), 7)
    assert len(thinned) == 7 and thinned[0] == 0 and thinned[-1] == 999
    assert thinned == sorted(thinned)
    with pytest.raises(ValueError, match="n >= 2"):
        thin([1, 2, 3], 1)

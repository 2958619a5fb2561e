"""Thresholds chosen by an alert budget or by money, against brute force."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from vigil.decisions import ScoredRefund, choose_for_budget, choose_for_money

_scores = st.lists(st.sampled_from([0.0, 0.1, 0.3, 0.5, 0.5, 0.7, 0.9, 0.99]), max_size=40)


@given(_scores, st.integers(1, 500), st.floats(0.001, 0.2))
def test_budget_threshold_never_raises_more_than_the_cap_and_is_the_lowest_that_fits(
    scores: list[float], n_refunds: int, budget: float
) -> None:
    n_refunds = max(n_refunds, len(scores))
    choice = choose_for_budget(scores, n_refunds, budget)
    cap = math.floor(budget * n_refunds + 1e-9)
    raised = sum(1 for s in scores if s > 0 and s >= choice.threshold)
    assert choice.cap == cap
    assert raised == choice.raised <= cap
    # no lower threshold among the scores would still fit under the cap
    lower = [s for s in set(scores) if 0 < s < choice.threshold]
    for t in lower:
        assert sum(1 for s in scores if s >= t) > cap


def test_budget_example() -> None:
    choice = choose_for_budget([0.9, 0.8, 0.8, 0.2, 0.0], n_refunds=200, budget=0.01)
    assert (choice.cap, choice.threshold, choice.raised) == (2, 0.9, 1)  # the tie cannot split


_refunds = st.lists(
    st.builds(
        ScoredRefund,
        refund_id=st.just("r"),
        score=st.sampled_from([0.1, 0.2, 0.5, 0.6, 0.9]),
        fraud=st.booleans(),
        amount_cents=st.integers(100, 500_000),
    ),
    max_size=30,
)


@given(_refunds, st.integers(0, 200_000), st.integers(0, 20_000))
def test_money_threshold_has_the_least_cost_of_any_threshold(
    refunds: list[ScoredRefund], unseen_fraud: int, review_cost: int
) -> None:
    total_fraud = sum(r.amount_cents for r in refunds if r.fraud) + unseen_fraud
    choice = choose_for_money(refunds, total_fraud, review_cost)

    def cost(t: float) -> int:
        raised = [r for r in refunds if r.score >= t]
        caught = sum(r.amount_cents for r in raised if r.fraud)
        return len(raised) * review_cost + total_fraud - caught

    brute = min([total_fraud] + [cost(r.score) for r in refunds])
    assert choice.cost_cents == brute
    assert choice.cost_cents == cost(choice.threshold) or choice.raised == 0
    assert choice.cost_cents <= choice.cost_without_review_cents


def test_money_example_reviews_dear_fraud_but_not_cheap_noise() -> None:
    refunds = [
        ScoredRefund("a", 0.9, True, 200_000),
        ScoredRefund("b", 0.4, False, 5_000),
        ScoredRefund("c", 0.3, True, 1_000),
    ]
    choice = choose_for_money(refunds, 201_000, review_cost_cents=2_500)
    assert (choice.threshold, choice.raised, choice.fraud_money_missed_cents) == (0.9, 1, 1_000)
    assert choice.cost_cents == 2_500 + 1_000

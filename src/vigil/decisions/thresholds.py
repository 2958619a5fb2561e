"""Choosing the review threshold: by an alert budget, or by money.

Both work on a history that has been scored (a backtest or yesterday's stream):

- **Budget**: analysts can review a fixed share of refunds (say 1%). The threshold is the
  score of the last refund that still fits: at most ``floor(budget x refunds)`` refunds score
  at or above it. No labels are needed.
- **Money**: every review costs ``review_cost_cents`` (an analyst's time), every missed fraud
  costs its refund amount. The threshold minimises review cost + missed fraud money on
  labelled history; so a $2,000 laptop is worth a review at a much lower score than a $20
  T-shirt would be if costs were per refund. Chosen on the data it is reported on, the money
  threshold is optimistic for that data: choose it on one period and check it on the next.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class BudgetChoice:
    budget: float
    #: the most refunds the budget allows
    cap: int
    #: lowest score still raised within the budget (1.0 when nothing scores above 0)
    threshold: float
    raised: int


@dataclass(frozen=True)
class MoneyChoice:
    review_cost_cents: int
    threshold: float
    raised: int
    fraud_raised: int
    fraud_money_caught_cents: int
    fraud_money_missed_cents: int
    #: review cost of every raised refund + missed fraud money, at ``threshold``
    cost_cents: int
    #: cost with no review at all (every fraud missed), for comparison
    cost_without_review_cents: int


@dataclass(frozen=True)
class ScoredRefund:
    """One refund of a scored history: its combined score, label and money."""

    refund_id: str
    score: float
    fraud: bool
    amount_cents: int


def choose_for_budget(scores: Sequence[float], n_refunds: int, budget: float) -> BudgetChoice:
    """The threshold that raises at most ``budget`` of ``n_refunds`` (scores of 0 never raise)."""
    cap = math.floor(budget * n_refunds + 1e-9)
    ranked = sorted((s for s in scores if s > 0.0), reverse=True)
    if cap <= 0 or not ranked:
        return BudgetChoice(budget, cap, 1.0, 0)
    if len(ranked) <= cap:
        return BudgetChoice(budget, cap, ranked[-1], len(ranked))
    # ties at the cut would push past the cap: move the threshold above them
    cut = ranked[cap - 1]
    if ranked[cap] == cut:
        above = [s for s in ranked if s > cut]
        if not above:
            return BudgetChoice(budget, cap, math.nextafter(cut, 2.0), 0)
        return BudgetChoice(budget, cap, above[-1], len(above))
    return BudgetChoice(budget, cap, cut, cap)


def choose_for_money(
    refunds: Sequence[ScoredRefund], all_fraud_money_cents: int, review_cost_cents: int
) -> MoneyChoice:
    """The threshold with the least review cost + missed fraud money on labelled history.

    ``refunds`` are the scored ones (score > 0); ``all_fraud_money_cents`` is the fraud money
    of every refund, scored or not (fraud no detector saw is missed at any threshold).
    """
    if review_cost_cents < 0:
        raise ValueError("review cost must be >= 0")
    ranked = sorted((r for r in refunds if r.score > 0.0), key=lambda r: -r.score)
    best = (all_fraud_money_cents, 1.0, 0, 0, 0)  # cost, threshold, raised, fraud, caught
    raised = fraud = caught = 0
    for i, r in enumerate(ranked):
        raised += 1
        if r.fraud:
            fraud += 1
            caught += r.amount_cents
        if i + 1 < len(ranked) and ranked[i + 1].score == r.score:
            continue  # a threshold cannot split equal scores
        cost = raised * review_cost_cents + (all_fraud_money_cents - caught)
        if cost < best[0]:
            best = (cost, r.score, raised, fraud, caught)
    cost, threshold, n, f, c = best
    return MoneyChoice(
        review_cost_cents=review_cost_cents,
        threshold=threshold,
        raised=n,
        fraud_raised=f,
        fraud_money_caught_cents=c,
        fraud_money_missed_cents=all_fraud_money_cents - c,
        cost_cents=cost,
        cost_without_review_cents=all_fraud_money_cents,
    )

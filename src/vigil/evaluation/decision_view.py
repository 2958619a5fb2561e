"""The decision view of an evaluation: thresholds chosen by alert budget and by money.

Alerts are replayed through the same ``DecisionBook`` the runtime uses, so every refund gets
the combined score the runtime gave it. Then two ways to pick the review threshold are shown
side by side (``vigil.decisions.thresholds``): the lowest score that fits the alert budget,
and the score that minimises review cost + missed headline fraud money. The money view is
chosen on the data it is reported on, so it is the best that threshold could have done here;
the budget view needs no labels at all. The configured policy (review / deny thresholds) is
reported as it stands, with what fell in each band.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from vigil.decisions import (
    BudgetChoice,
    DecisionBook,
    DecisionPolicy,
    MoneyChoice,
    ScoredRefund,
    choose_for_budget,
    choose_for_money,
)
from vigil.detectors.base import Alert
from vigil.evaluation.truth_index import TruthIndex
from vigil.events.truth import HEADLINE_SCENARIOS

#: what one analyst review costs by default (about 15 minutes of a loaded analyst hour)
DEFAULT_REVIEW_COST_CENTS = 2_500


@dataclass(frozen=True)
class Band:
    """Refunds whose final decision is one level, and how many of them are fraud."""

    level: str
    refunds: int
    headline_fraud: int
    headline_money_cents: int


@dataclass(frozen=True)
class ThresholdFigures:
    threshold: float
    raised: int
    headline_fraud_raised: int
    precision: float | None
    headline_money_caught_cents: int
    headline_money_recall: float | None


@dataclass(frozen=True)
class DecisionView:
    policy_review_threshold: float
    policy_deny_threshold: float
    bands: tuple[Band, ...]
    budget_choice: BudgetChoice
    at_budget: ThresholdFigures
    money_choice: MoneyChoice
    at_money: ThresholdFigures

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def text_lines(self) -> list[str]:
        b, m = self.at_budget, self.at_money
        lines = [
            "decisions (each detector's best finding per refund, combined by noisy-OR):",
            f"  configured policy: review at >= {self.policy_review_threshold:g}, "
            f"deny at >= {self.policy_deny_threshold:g}",
        ]
        for band in self.bands:
            lines.append(
                f"    {band.level:<7} {band.refunds:>6,} refunds, {band.headline_fraud:,} headline "
                f"fraud (${band.headline_money_cents / 100:,.0f})"
            )
        lines += [
            f"  threshold for the alert budget ({self.budget_choice.budget:.2%} of refunds, "
            f"at most {self.budget_choice.cap:,}): {b.threshold:.3f} -> {_fig(b)}",
            f"  threshold for money (review ${self.money_choice.review_cost_cents / 100:,.2f} "
            f"vs a missed fraud's amount): {m.threshold:.3f} -> {_fig(m)}; cost "
            f"${self.money_choice.cost_cents / 100:,.0f} vs "
            f"${self.money_choice.cost_without_review_cents / 100:,.0f} with no review "
            "(chosen on this data: optimistic)",
        ]
        return lines


def _fig(f: ThresholdFigures) -> str:
    precision = "n/a" if f.precision is None else f"{f.precision:.1%}"
    recall = "n/a" if f.headline_money_recall is None else f"{f.headline_money_recall:.1%}"
    return f"{f.raised:,} raised, precision {precision}, headline money caught {recall}"


def decision_view(
    alerts: Sequence[Alert],
    truth: TruthIndex,
    budget: float,
    review_cost_cents: int = DEFAULT_REVIEW_COST_CENTS,
    policy: DecisionPolicy | None = None,
) -> DecisionView:
    """Replay alerts into decisions; choose thresholds by budget and by money."""
    book = DecisionBook(policy)
    for alert in alerts:
        book.update(alert)
    refunds = truth.refunds

    def headline(rid: str) -> bool:
        rec = refunds[rid]
        return rec.fraud and rec.scenario in HEADLINE_SCENARIOS

    scored: list[ScoredRefund] = []
    levels: dict[str, list[str]] = {"deny": [], "review": [], "approve": []}
    for rid in sorted(book.entries):
        if rid not in refunds:
            continue  # evaluate() already warns about refunds the truth does not know
        decision = book.current(rid)
        assert decision is not None
        levels[decision.decision].append(rid)
        scored.append(ScoredRefund(rid, decision.score, headline(rid), refunds[rid].amount_cents))
    headline_money = sum(r.amount_cents for rid, r in refunds.items() if headline(rid))

    def at(threshold: float) -> ThresholdFigures:
        raised = [r for r in scored if r.score > 0.0 and r.score >= threshold]
        fraud = [r for r in raised if r.fraud]
        caught = sum(r.amount_cents for r in fraud)
        return ThresholdFigures(
            threshold=threshold,
            raised=len(raised),
            headline_fraud_raised=len(fraud),
            precision=len(fraud) / len(raised) if raised else None,
            headline_money_caught_cents=caught,
            headline_money_recall=caught / headline_money if headline_money else None,
        )

    bands = tuple(
        Band(
            level=level,
            refunds=len(ids),
            headline_fraud=sum(1 for rid in ids if headline(rid)),
            headline_money_cents=sum(refunds[rid].amount_cents for rid in ids if headline(rid)),
        )
        for level, ids in levels.items()
    )
    budget_choice = choose_for_budget([r.score for r in scored], len(refunds), budget)
    money_choice = choose_for_money(scored, headline_money, review_cost_cents)
    return DecisionView(
        policy_review_threshold=book.policy.review_threshold,
        policy_deny_threshold=book.policy.deny_threshold,
        bands=bands,
        budget_choice=budget_choice,
        at_budget=at(budget_choice.threshold),
        money_choice=money_choice,
        at_money=at(money_choice.threshold),
    )

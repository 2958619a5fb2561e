"""One decision per refund: every detector's findings combined into approve, review or deny."""

from vigil.decisions.book import DecisionBook, RefundDecision
from vigil.decisions.combine import combine_scores
from vigil.decisions.policy import DecisionLevel, DecisionPolicy
from vigil.decisions.thresholds import (
    BudgetChoice,
    MoneyChoice,
    ScoredRefund,
    choose_for_budget,
    choose_for_money,
)

__all__ = [
    "BudgetChoice",
    "DecisionBook",
    "DecisionLevel",
    "DecisionPolicy",
    "MoneyChoice",
    "RefundDecision",
    "ScoredRefund",
    "choose_for_budget",
    "choose_for_money",
    "combine_scores",
]

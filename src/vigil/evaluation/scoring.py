"""Refund-level scoring of alerts against ground truth, under an alert budget.

The unit of evaluation is the *refund*: a refund's score is its decision score, each
detector's highest score among the alerts that cover it (list it in ``refund_ids``, or have it
as their subject) combined by noisy-OR, as the runtime's ``DecisionBook`` does. Refunds scoring at
least the decision threshold are candidates; the budget is a ceiling, not a quota: at most
``floor(budget x refunds in truth)`` candidates are raised, the highest-scored first (ties
broken by the earliest alert time, then the refund id, so the cut is deterministic). The
rest are *capped out*. Precision is measured on the refunds actually raised.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from vigil.decisions.combine import combine_scores
from vigil.detectors.base import Alert, refunds_of
from vigil.evaluation.report import (
    DetectorFigures,
    EntityFigures,
    ScenarioFigures,
    TrapFigures,
)
from vigil.evaluation.truth_index import TruthIndex
from vigil.events.truth import HEADLINE_SCENARIOS, SCENARIOS, TRAPS


@dataclass(frozen=True)
class RefundScore:
    refund_id: str
    score: float
    first_alert_ms: int


def budget_cap(budget: float, n_refunds: int) -> int:
    """How many refunds may be alerted at most."""
    return math.floor(budget * n_refunds + 1e-9)


#: the refunds an alert covers (its ``refund_ids``, plus its subject if that is a refund)
covered_refunds = refunds_of


def refund_scores(
    alerts: Iterable[Alert], truth: TruthIndex
) -> tuple[dict[str, RefundScore], set[str]]:
    """Combined score per known refund, and the refund ids alerts named that truth does not know.

    A refund's score is the one the runtime's decision gives it: each detector's best score
    on the refund, joined by ``vigil.decisions.combine_scores`` (for one detector alone, its
    best score).
    """
    best: dict[str, dict[str, float]] = {}
    first: dict[str, int] = {}
    unknown: set[str] = set()
    for alert in alerts:
        for rid in covered_refunds(alert):
            if rid not in truth.refunds:
                unknown.add(rid)
                continue
            per_detector = best.setdefault(rid, {})
            if alert.score > per_detector.get(alert.detector, -1.0):
                per_detector[alert.detector] = alert.score
            old = first.get(rid)
            if old is None or alert.event_time_ms < old:
                first[rid] = alert.event_time_ms
    scores = {
        rid: RefundScore(rid, combine_scores(per_detector.values()), first[rid])
        for rid, per_detector in best.items()
    }
    return scores, unknown


def raise_under_budget(
    scores: dict[str, RefundScore], threshold: float, cap: int
) -> tuple[list[RefundScore], int]:
    """The refunds raised (best first) and how many candidates the cap left out."""
    candidates = rank([s for s in scores.values() if s.score >= threshold])
    return candidates[:cap], max(0, len(candidates) - cap)


def rank(scores: Iterable[RefundScore]) -> list[RefundScore]:
    """Best first: highest score, then the earliest alert, then the refund id."""
    return sorted(scores, key=lambda s: (-s.score, s.first_alert_ms, s.refund_id))


def _ratio(num: float, den: float) -> float | None:
    return num / den if den else None


def figures_for(
    name: str,
    alerts: Sequence[Alert],
    truth: TruthIndex,
    threshold: float,
    cap: int,
) -> DetectorFigures:
    """Every figure of one group of alerts (one detector, or all combined)."""
    scores, unknown = refund_scores(alerts, truth)
    raised, capped = raise_under_budget(scores, threshold, cap)
    raised_ids = {s.refund_id for s in raised}
    refunds = truth.refunds
    n_raised = len(raised)
    fraud_raised = [rid for rid in raised_ids if refunds[rid].fraud]
    headline_raised = [rid for rid in raised_ids if refunds[rid].scenario in HEADLINE_SCENARIOS]
    trap_raised = [rid for rid in raised_ids if refunds[rid].scenario in TRAPS]

    scenarios: list[ScenarioFigures] = []
    for scenario in SCENARIOS:
        ids = truth.by_scenario.get(scenario, ())
        fraud_ids = [rid for rid in ids if refunds[rid].fraud]
        caught = [rid for rid in fraud_ids if rid in raised_ids]
        money = sum(refunds[rid].amount_cents for rid in fraud_ids)
        money_caught = sum(refunds[rid].amount_cents for rid in caught)
        scenarios.append(
            ScenarioFigures(
                scenario=scenario,
                refunds=len(fraud_ids),
                money_cents=money,
                caught=len(caught),
                money_caught_cents=money_caught,
                recall=_ratio(len(caught), len(fraud_ids)),
                money_recall=_ratio(money_caught, money),
            )
        )
    headline = [f for f in scenarios if f.scenario in HEADLINE_SCENARIOS]
    h_refunds = sum(f.refunds for f in headline)
    h_caught = sum(f.caught for f in headline)
    h_money = sum(f.money_cents for f in headline)
    h_money_caught = sum(f.money_caught_cents for f in headline)

    traps = [
        TrapFigures(
            trap=trap,
            refunds=len(truth.by_scenario.get(trap, ())),
            alerted=sum(1 for rid in truth.by_scenario.get(trap, ()) if rid in raised_ids),
        )
        for trap in TRAPS
    ]

    entities = _entities(alerts, truth, threshold, raised_ids)
    at_threshold = with_fraud = only_traps = 0
    for alert in alerts:
        if alert.score < threshold:
            continue
        recs = [refunds[rid] for rid in covered_refunds(alert) if rid in refunds]
        if not recs:
            continue
        at_threshold += 1
        if any(r.fraud for r in recs):
            with_fraud += 1
        elif all(r.scenario in TRAPS for r in recs):
            only_traps += 1
    return DetectorFigures(
        detector=name,
        alert_records=len(alerts),
        refunds_alerted=len(scores),
        candidates=n_raised + capped,
        raised=n_raised,
        capped_out=capped,
        fraud_raised=len(fraud_raised),
        headline_raised=len(headline_raised),
        precision=_ratio(len(fraud_raised), n_raised),
        headline_precision=_ratio(len(headline_raised), n_raised),
        headline_recall=_ratio(h_caught, h_refunds),
        headline_money_recall=_ratio(h_money_caught, h_money),
        headline_money_caught_cents=h_money_caught,
        headline_money_cents=h_money,
        trap_alerts=len(trap_raised),
        trap_share=_ratio(len(trap_raised), n_raised),
        legit_raised=sum(
            1 for rid in raised_ids if not refunds[rid].fraud and refunds[rid].scenario is None
        ),
        unknown_refund_ids=len(unknown),
        scenarios=tuple(scenarios),
        traps=tuple(traps),
        entities=entities,
        alerts_at_threshold=at_threshold,
        alerts_with_fraud=with_fraud,
        alerts_only_on_traps=only_traps,
    )


def _entities(
    alerts: Sequence[Alert], truth: TruthIndex, threshold: float, raised_ids: set[str]
) -> EntityFigures:
    flagged_agents: set[str] = set()
    flagged_sessions: set[str] = set()
    for alert in alerts:
        if alert.score < threshold:
            continue
        if alert.subject_type == "agent":
            agent = alert.agent_id or alert.subject_id.partition("@")[0]
            flagged_agents.add(agent)
        elif alert.subject_type == "session":
            flagged_sessions.add(alert.session_id or alert.subject_id.partition("#")[0])
    fraud_agents = truth.fraud_ids("agent")
    fraud_sessions = truth.fraud_ids("session")
    fraud_accounts = truth.fraud_ids("account")
    accounts_hit = {
        truth.refunds[rid].customer_id
        for rid in raised_ids
        if truth.refunds[rid].customer_id is not None
    }
    escalation_agents = {
        r.id for r in truth.others if r.kind == "agent" and r.scenario == "trap_escalation_agent"
    }
    return EntityFigures(
        corrupt_agents=len(fraud_agents),
        corrupt_agents_flagged=len(fraud_agents & flagged_agents),
        agents_flagged=len(flagged_agents),
        innocent_agents_flagged=len(flagged_agents - fraud_agents),
        escalation_agents_flagged=len(flagged_agents & escalation_agents),
        taken_over_sessions=len(fraud_sessions),
        taken_over_sessions_flagged=len(fraud_sessions & flagged_sessions),
        sessions_flagged=len(flagged_sessions),
        innocent_sessions_flagged=len(flagged_sessions - fraud_sessions),
        fraud_accounts=len(fraud_accounts),
        fraud_accounts_with_raised_refund=len(fraud_accounts & accounts_hit),
    )

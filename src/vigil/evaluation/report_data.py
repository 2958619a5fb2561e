"""The data behind the report's plots, from the alerts and the truth ``evaluate`` already read.

Everything here is refund-level in the same way as ``scoring``: a refund's score is the best
score of any alert covering it, and the ranking is ``scoring.rank``. The positives of the
curves are the fraudulent refunds of the headline scenarios 1-4 (so the curves meet the
"headline precision", "headline recall" and "money recall" columns of the tables).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from vigil.detectors.base import Alert
from vigil.evaluation.curves import money_curve, pr_curve, thin
from vigil.evaluation.report import (
    AgentFigures,
    AgentTruth,
    DetectorContribution,
    ReportData,
    RingSizeCount,
)
from vigil.evaluation.scoring import (
    budget_cap,
    covered_refunds,
    raise_under_budget,
    rank,
    refund_scores,
)
from vigil.evaluation.truth_index import TruthIndex
from vigil.events.truth import HEADLINE_SCENARIOS

#: the money curves run to at least this share of refunds alerted (further if the budget is)
MONEY_CURVE_MIN_SHARE = 0.05
#: the stored curves keep at most this many points (a plot cannot show more)
MAX_CURVE_POINTS = 400
TOP_AGENTS = 15


def build_report_data(
    alerts: Sequence[Alert], truth: TruthIndex, threshold: float, budget: float
) -> ReportData:
    refunds = truth.refunds
    headline = {rid for rid, r in refunds.items() if r.fraud and r.scenario in HEADLINE_SCENARIOS}
    headline_money = sum(refunds[rid].amount_cents for rid in headline)
    scores, _ = refund_scores(alerts, truth)

    pr = pr_curve([(s.score, rid in headline) for rid, s in scores.items()], len(headline))

    ranked = rank(scores.values())
    money = [refunds[s.refund_id].amount_cents if s.refund_id in headline else 0 for s in ranked]
    at_threshold = [m for m, s in zip(money, ranked, strict=True) if s.score >= threshold]
    max_share = max(MONEY_CURVE_MIN_SHARE, budget)
    k_max = budget_cap(max_share, len(refunds))

    cap = budget_cap(budget, len(refunds))
    raised, _ = raise_under_budget(scores, threshold, cap)
    agents_alerted, top_agents = agents(alerts, truth)
    ring_alerts, ring_sizes = rings(alerts)
    return ReportData(
        positives=len(headline),
        pr_curve=tuple(thin(pr, MAX_CURVE_POINTS)),
        money_curve_max_share=max_share,
        money_curve=tuple(
            thin(money_curve(money, len(refunds), headline_money, k_max), MAX_CURVE_POINTS)
        ),
        money_curve_at_threshold=tuple(
            thin(money_curve(at_threshold, len(refunds), headline_money, k_max), MAX_CURVE_POINTS)
        ),
        contributions=contributions(
            alerts, truth, threshold, [s.refund_id for s in raised if s.refund_id in headline]
        ),
        agents_alerted=agents_alerted,
        top_agents=top_agents,
        ring_alerts=ring_alerts,
        ring_sizes=ring_sizes,
    )


def contributions(
    alerts: Sequence[Alert], truth: TruthIndex, threshold: float, caught: Sequence[str]
) -> tuple[DetectorContribution, ...]:
    """Per detector: the caught refunds that only its alerts (at or above the threshold) cover."""
    by_refund: dict[str, set[str]] = {}
    for alert in alerts:
        if alert.score >= threshold:
            for rid in covered_refunds(alert):
                by_refund.setdefault(rid, set()).add(alert.detector)
    only_refunds: Counter[str] = Counter()
    only_money: Counter[str] = Counter()
    for rid in caught:
        detectors = by_refund.get(rid, set())
        if len(detectors) == 1:
            (name,) = detectors
            only_refunds[name] += 1
            only_money[name] += truth.refunds[rid].amount_cents
    return tuple(
        DetectorContribution(
            detector=name, only_refunds=only_refunds[name], only_money_cents=only_money[name]
        )
        for name in sorted({a.detector for a in alerts})
    )


def agent_of(alert: Alert) -> str:
    """The agent an agent-subject alert is about (subject ids may carry ``@window``)."""
    return alert.agent_id or alert.subject_id.partition("@")[0]


def agents(alerts: Sequence[Alert], truth: TruthIndex) -> tuple[int, tuple[AgentFigures, ...]]:
    """How many agents agent-subject alerts name, and the top ones by score, then money."""
    count: Counter[str] = Counter()
    best: dict[str, float] = {}
    covered: dict[str, set[str]] = {}
    loose_money: Counter[str] = Counter()
    for alert in alerts:
        if alert.subject_type != "agent":
            continue
        agent = agent_of(alert)
        count[agent] += 1
        best[agent] = max(best.get(agent, 0.0), alert.score)
        ids = [rid for rid in alert.refund_ids if rid in truth.refunds]
        covered.setdefault(agent, set()).update(ids)
        if not alert.refund_ids:
            loose_money[agent] += alert.amount_cents
    labels = {r.id: r for r in truth.others if r.kind == "agent"}
    rows: list[AgentFigures] = []
    for agent, n in count.items():
        rec = labels.get(agent)
        label: AgentTruth = "innocent"
        if rec is not None and rec.fraud:
            label = "corrupt"
        elif any(
            truth.refunds[rid].scenario == "agent_takeover" and truth.refunds[rid].agent_id == agent
            for rid in covered[agent]
        ):
            label = "taken_over"
        elif rec is not None and rec.scenario is not None:
            label = "trap"
        rows.append(
            AgentFigures(
                agent_id=agent,
                alerts=n,
                max_score=best[agent],
                refunds=len(covered[agent]),
                money_cents=loose_money[agent]
                + sum(truth.refunds[rid].amount_cents for rid in covered[agent]),
                truth=label,
                trap=rec.scenario if label == "trap" and rec is not None else None,
            )
        )
    rows.sort(key=lambda a: (-a.max_score, -a.money_cents, a.agent_id))
    return len(rows), tuple(rows[:TOP_AGENTS])


def rings(alerts: Sequence[Alert]) -> tuple[int, tuple[RingSizeCount, ...]]:
    """How many ring alerts there are, and how many have each number of ``members``."""
    sizes = Counter(len(a.members) for a in alerts if a.subject_type == "ring")
    counts = tuple(RingSizeCount(members=m, rings=n) for m, n in sorted(sizes.items()))
    return sum(sizes.values()), counts

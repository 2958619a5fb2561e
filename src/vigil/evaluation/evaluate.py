"""``evaluate``: alerts plus ground truth in, an ``EvaluationReport`` out.

Figures are computed for all detectors combined and for each detector alone, each under
the same budget rule (see ``vigil.evaluation.scoring``). Headline figures cover scenarios
1-4 (``HEADLINE_SCENARIOS``); serial returners are reported separately; a raised refund
that belongs to a trap counts as an alert on a trap. The report also carries the data behind
the HTML page's plots (``ReportData``: curves, detector contributions, agents, ring sizes).
"""

from __future__ import annotations

import math
from pathlib import Path

from vigil.decisions.backing import backed_alerts
from vigil.decisions.policy import SCORE_ONLY_DETECTORS, DecisionPolicy
from vigil.errors import ConfigError
from vigil.evaluation.decision_view import DEFAULT_REVIEW_COST_CENTS, decision_view
from vigil.evaluation.report import COMBINED, EvaluationReport
from vigil.evaluation.report_data import build_report_data
from vigil.evaluation.request_view import request_view
from vigil.evaluation.scoring import budget_cap, covered_refunds, figures_for
from vigil.evaluation.truth_index import load_alerts, load_truth
from vigil.events.truth import HEADLINE_SCENARIOS


def evaluate(
    alerts_path: Path | str,
    truth_path: Path | str,
    budget: float = 0.01,
    threshold: float = 0.5,
    review_cost_cents: int = DEFAULT_REVIEW_COST_CENTS,
    decisions_path: Path | str | None = None,
) -> EvaluationReport:
    """Evaluate an alerts file against a truth file at an alert budget and a threshold.

    ``decisions_path``: the run's ``decisions.jsonl``, whose request-time decisions make the
    "stopped at request time" view (default: the one beside the alerts file, if any)."""
    if not 0.0 <= budget <= 1.0:
        raise ConfigError(f"budget {budget!r} must be a share of refunds in [0, 1], e.g. 0.01")
    if review_cost_cents < 0:
        raise ConfigError(f"review cost {review_cost_cents!r} cents must be >= 0")
    if not 0.0 <= threshold <= 1.0:
        raise ConfigError(f"threshold {threshold!r} must be a score in [0, 1], e.g. 0.5")
    alerts_path, truth_path = Path(alerts_path), Path(truth_path)
    truth = load_truth(truth_path)
    read = load_alerts(alerts_path)
    warnings: list[str] = []
    if read.missing:
        warnings.append(f"alerts file {str(alerts_path)!r} not found: evaluated as no alerts")
    elif not read.alerts and not read.malformed_lines:
        warnings.append(f"alerts file {str(alerts_path)!r} is empty")
    if read.malformed_lines:
        shown = ", ".join(str(n) for n in read.malformed_lines[:10])
        warnings.append(
            f"{len(read.malformed_lines)} malformed alert lines skipped (lines {shown})"
        )
    if not truth.refunds:
        warnings.append("the truth file has no refunds: every rate is undefined")

    unknown_ids: set[str] = set()
    alerts_with_unknown = 0
    for alert in read.alerts:
        missing = [rid for rid in covered_refunds(alert) if rid not in truth.refunds]
        if missing:
            alerts_with_unknown += 1
            unknown_ids.update(missing)
    if unknown_ids:
        warnings.append(
            f"{len(unknown_ids)} refund ids in {alerts_with_unknown} alerts are not in the truth "
            "file (alerts and truth from different runs?); they are left out"
        )

    cap = budget_cap(budget, len(truth.refunds))
    # the combined figures are the decision's: score-only detectors (serial returners) are
    # reported alone, never mixed into the headline; backed-only findings (the refund
    # model) count where the decision counts them (vigil.decisions.backing)
    acting = backed_alerts([a for a in read.alerts if a.detector not in SCORE_ONLY_DETECTORS])
    combined = figures_for(COMBINED, acting, truth, threshold, cap)
    per_detector = tuple(
        figures_for(name, [a for a in read.alerts if a.detector == name], truth, threshold, cap)
        for name in sorted({a.detector for a in read.alerts})
    )
    headline = [r for r in truth.refunds.values() if r.fraud and r.scenario in HEADLINE_SCENARIOS]
    request_time = None
    decisions_file = (
        Path(decisions_path)
        if decisions_path is not None
        else alerts_path.with_name("decisions.jsonl")
    )
    if decisions_path is not None or decisions_file.is_file():
        request_time = request_view(decisions_file, truth, budget, threshold)
        if not request_time.requests:
            warnings.append(
                f"{str(decisions_file)!r} holds no request-time decisions for these refunds (a "
                "run from before refund requests, or of another stream): no request-time view"
            )
            request_time = None
        elif request_time.capped:
            configured = request_time.held_as_configured
            warnings.append(
                f"the runtime held {configured:,} requests "
                f"({configured / request_time.requests:.1%}), more than the review budget of "
                f"{budget:.1%}: the request-time figures count the {request_time.budget_cap:,} "
                f"highest-scored as held and the other {request_time.capped:,} as approved "
                f"(they were held; --budget {_budget_for(configured, request_time.requests)} "
                "counts them all)"
            )
    return EvaluationReport(
        alerts_path=str(alerts_path),
        truth_path=str(truth_path),
        budget=budget,
        threshold=threshold,
        refunds=len(truth.refunds),
        refund_money_cents=sum(r.amount_cents for r in truth.refunds.values()),
        fraud_refunds=truth.fraud_refunds,
        headline_refunds=len(headline),
        headline_money_cents=sum(r.amount_cents for r in headline),
        budget_cap=cap,
        combined=combined,
        per_detector=per_detector,
        malformed_alert_lines=len(read.malformed_lines),
        unknown_refund_ids=len(unknown_ids),
        alerts_with_unknown_refunds=alerts_with_unknown,
        warnings=tuple(warnings),
        plot_data=build_report_data(acting, truth, threshold, budget),
        decisions=decision_view(
            read.alerts,
            truth,
            budget,
            review_cost_cents,
            DecisionPolicy(review_threshold=threshold, deny_threshold=max(threshold, 0.95)),
        ),
        request_time=request_time,
    )


def _budget_for(held: int, requests: int) -> str:
    """The smallest budget, rounded up to a tenth of a percent, that holds ``held``."""
    return f"{math.ceil(1000 * held / requests) / 1000:g}"

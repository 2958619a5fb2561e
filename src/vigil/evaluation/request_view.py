"""The request-time view of an evaluation: how much fraud money was stopped before it left.

The runtime writes, for every ``refund_requested``, the decision given at that moment
(``decisions.jsonl``, stage ``request``). A request answered *review* or *deny* is held: its
money does not leave unless a person releases it. This view measures, against the truth:

- **held share**: held requests over all requests. The review budget caps it: when more
  than ``budget`` of the requests would be held, only the highest-scored ones within the
  cap count as held (the rest are counted as approved, and ``capped`` says how many);
- **money stopped**: headline fraud money (scenarios 1-4) whose request was held, over all
  headline fraud money; per scenario, serial returners and traps apart;
- **precision**: headline fraud requests among the held ones;
- **per detector**: the requests each detector's request-time finding alone would hold.

A request the truth does not know, or a truth refund with no request-time decision (a
stream from before requests existed), is counted and reported, never guessed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec

from vigil.decisions.book import RefundDecision, decision_decoder
from vigil.decisions.policy import SCORE_ONLY_DETECTORS
from vigil.decisions.thresholds import choose_for_budget
from vigil.errors import InputError
from vigil.evaluation.truth_index import TruthIndex
from vigil.events.truth import HEADLINE_SCENARIOS, TRAPS

__all__ = ["RequestView", "load_request_decisions", "request_view"]


class ScenarioHeld(msgspec.Struct, frozen=True, kw_only=True):
    scenario: str
    requests: int
    held: int
    money_cents: int
    money_held_cents: int
    #: money held / money (None without money)
    money_share: float | None


class DetectorHeld(msgspec.Struct, frozen=True, kw_only=True):
    """What one detector's request-time finding alone would hold (score >= review)."""

    detector: str
    held: int
    headline_held: int
    headline_money_held_cents: int
    trap_held: int


class RequestView(msgspec.Struct, frozen=True, kw_only=True):
    decisions_path: str
    requests: int
    unknown_requests: int
    refunds_without_request: int
    review_threshold: float
    budget: float
    budget_cap: int
    #: held as configured (review or deny), before the budget
    held_as_configured: int
    #: held within the budget (the highest scores first)
    held: int
    capped: int
    threshold_used: float
    by_level: dict[str, int]
    headline_requests: int
    headline_money_cents: int
    headline_held: int
    money_stopped_cents: int
    trap_held: int
    #: held / requests; headline fraud among the held; headline money held / all of it
    held_share: float | None
    precision: float | None
    money_stopped: float | None
    by_scenario: tuple[ScenarioHeld, ...]
    by_detector: tuple[DetectorHeld, ...]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = msgspec.to_builtins(self)
        return out

    def text_lines(self) -> list[str]:
        pct = _pct
        capped = (
            f" (the {self.capped:,} lowest-scored held requests counted as approved)"
            if self.capped
            else ""
        )
        lines = [
            "stopped at request time (the decision given when each refund was asked for):",
            f"  {self.requests:,} requests; held (review or deny) as configured: "
            f"{self.held_as_configured:,}; review budget {self.budget:.2%} = at most "
            f"{self.budget_cap:,}{capped}",
            f"  held {self.held:,} ({pct(self.held_share)} of requests), precision "
            f"{pct(self.precision)}, headline fraud money stopped "
            f"${self.money_stopped_cents / 100:,.0f} of ${self.headline_money_cents / 100:,.0f} "
            f"({pct(self.money_stopped)}); traps among the held: {self.trap_held:,}",
        ]
        if self.unknown_requests or self.refunds_without_request:
            lines.append(
                f"  {self.unknown_requests:,} request decisions for refunds the truth does not "
                f"know; {self.refunds_without_request:,} truth refunds had no request decision"
            )
        lines.append(
            f"  {'scenario':<28} {'requests':>8} {'held':>6} {'money':>12} {'stopped':>12} "
            f"{'share':>7}"
        )
        for sc in self.by_scenario:
            lines.append(
                f"  {sc.scenario:<28} {sc.requests:>8,} {sc.held:>6,} "
                f"${sc.money_cents / 100:>11,.0f} ${sc.money_held_cents / 100:>11,.0f} "
                f"{pct(sc.money_share):>7}"
            )
        lines.append(
            f"  {'each request-time detector alone':<34} {'held':>6} {'headline':>9} "
            f"{'money':>12} {'traps':>6}"
        )
        for d in self.by_detector:
            lines.append(
                f"  {d.detector:<34} {d.held:>6,} {d.headline_held:>9,} "
                f"${d.headline_money_held_cents / 100:>11,.0f} {d.trap_held:>6,}"
            )
        return lines


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.1%}"


def load_request_decisions(path: Path) -> dict[str, RefundDecision]:
    """The request-time decisions of a ``decisions.jsonl`` (the first per refund)."""
    if not path.is_file():
        raise InputError(f"decisions file {str(path)!r} does not exist or is not a file")
    out: dict[str, RefundDecision] = {}
    with path.open("rb") as fh:
        for line_no, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                decision = decision_decoder.decode(raw)
            except (msgspec.ValidationError, msgspec.DecodeError) as exc:
                raise InputError(
                    f"decisions file {str(path)!r}, line {line_no}: not a decision ({exc})"
                ) from exc
            if decision.stage == "request" and decision.refund_id not in out:
                out[decision.refund_id] = decision
    return out


def request_view(
    decisions_path: Path,
    truth: TruthIndex,
    budget: float,
    review_threshold: float = 0.5,
) -> RequestView:
    decisions = load_request_decisions(decisions_path)
    refunds = truth.refunds
    known = {rid: d for rid, d in decisions.items() if rid in refunds}
    configured = [
        d for d in known.values() if d.decision != "approve" and d.score >= review_threshold
    ]
    n = len(known)
    choice = choose_for_budget([d.score for d in configured], n, budget)
    # the budget moves the threshold only when more would be held than it allows
    threshold = (
        max(review_threshold, choice.threshold)
        if len(configured) > choice.cap
        else review_threshold
    )
    held_ids = {d.refund_id for d in configured if d.score >= threshold}
    if len(held_ids) > choice.cap:  # no score gap at the cap: nothing can be held
        held_ids = set()
    by_level: dict[str, int] = {}
    for d in known.values():
        by_level[d.decision] = by_level.get(d.decision, 0) + 1

    def headline(rid: str) -> bool:
        rec = refunds[rid]
        return rec.fraud and rec.scenario in HEADLINE_SCENARIOS

    def trap(rid: str) -> bool:
        return refunds[rid].scenario in TRAPS

    scenarios: dict[str, list[str]] = {}
    for rid in known:
        scenario = refunds[rid].scenario
        if scenario is not None and (refunds[rid].fraud or scenario in TRAPS):
            scenarios.setdefault(scenario, []).append(rid)
    order = [s for s in (*sorted(HEADLINE_SCENARIOS), "serial_returner") if s in scenarios]
    order += sorted(s for s in scenarios if s not in order)
    by_scenario = tuple(_scenario_held(s, scenarios[s], held_ids, truth) for s in order)
    # score-only detectors (serial returners) are reasons, never holds: not listed as holding
    detectors = sorted(
        {c.detector for d in known.values() for c in d.contributions} - SCORE_ONLY_DETECTORS
    )
    by_detector = []
    for name in detectors:
        alone = [
            rid
            for rid, d in known.items()
            if any(c.detector == name and c.score >= review_threshold for c in d.contributions)
        ]
        by_detector.append(
            DetectorHeld(
                detector=name,
                held=len(alone),
                headline_held=sum(1 for rid in alone if headline(rid)),
                headline_money_held_cents=sum(
                    refunds[rid].amount_cents for rid in alone if headline(rid)
                ),
                trap_held=sum(1 for rid in alone if trap(rid)),
            )
        )
    headline_ids = [rid for rid in refunds if headline(rid)]
    headline_money = sum(refunds[rid].amount_cents for rid in headline_ids)
    headline_held = sum(1 for rid in held_ids if headline(rid))
    stopped = sum(refunds[rid].amount_cents for rid in held_ids if headline(rid))
    return RequestView(
        decisions_path=str(decisions_path),
        requests=n,
        unknown_requests=len(decisions) - n,
        refunds_without_request=sum(1 for rid in refunds if rid not in decisions),
        review_threshold=review_threshold,
        budget=budget,
        budget_cap=choice.cap,
        held_as_configured=len(configured),
        held=len(held_ids),
        capped=len(configured) - len(held_ids),
        threshold_used=threshold,
        by_level=dict(sorted(by_level.items())),
        headline_requests=len(headline_ids),
        headline_money_cents=headline_money,
        headline_held=headline_held,
        money_stopped_cents=stopped,
        trap_held=sum(1 for rid in held_ids if trap(rid)),
        held_share=len(held_ids) / n if n else None,
        precision=headline_held / len(held_ids) if held_ids else None,
        money_stopped=stopped / headline_money if headline_money else None,
        by_scenario=by_scenario,
        by_detector=tuple(by_detector),
    )


def _scenario_held(
    scenario: str, ids: list[str], held_ids: set[str], truth: TruthIndex
) -> ScenarioHeld:
    money = sum(truth.refunds[rid].amount_cents for rid in ids)
    held = sum(truth.refunds[rid].amount_cents for rid in ids if rid in held_ids)
    return ScenarioHeld(
        scenario=scenario,
        requests=len(ids),
        held=sum(1 for rid in ids if rid in held_ids),
        money_cents=money,
        money_held_cents=held,
        money_share=held / money if money else None,
    )

"""Backtesting rules: replay history through the same runtime, score each rule and version.

The events go through ``EmbeddedRuntime`` with a ``RulesDetector`` (exactly what
``vigil run --rules`` does, analytics off); the alerts of each rule (active ones from
``alerts.jsonl``, shadow ones from ``shadow_alerts.jsonl``) are then scored against ground
truth by ``vigil.evaluation.scoring.figures_for``, twice: with every alert raised (the
rule's own precision and recall) and under the alert budget (highest scores first, as
``vigil evaluate`` does).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import msgspec

from vigil.detectors.base import Alert
from vigil.detectors.rules.detector import RulesDetector, RulesSettings
from vigil.detectors.rules.ruleset import RuleSet
from vigil.evaluation.report import DetectorFigures
from vigil.evaluation.scoring import budget_cap, figures_for
from vigil.evaluation.truth_index import load_alerts, load_truth
from vigil.ingest.sources import FileSource
from vigil.runtime.embedded import EmbeddedRuntime, RuntimeSettings
from vigil.runtime.stats import RunStats

__all__ = ["BacktestReport", "RuleFigures", "backtest"]


class RuleFigures(msgspec.Struct, frozen=True, kw_only=True):
    rule: str
    version: int
    mode: str
    detector: str
    #: every alert raised (the rule's own precision, recall and money caught)
    all_alerts: DetectorFigures
    #: at most ``budget`` x refunds raised, highest scores first
    at_budget: DetectorFigures


class BacktestReport(msgspec.Struct, frozen=True, kw_only=True):
    input: str
    truth: str
    budget: float
    threshold: float
    refunds: int
    budget_cap: int
    events_read: int
    wall_seconds: float
    rules: tuple[RuleFigures, ...]
    #: every active rule together (what would have acted): all alerts, and at the budget
    combined_all_alerts: DetectorFigures
    combined_at_budget: DetectorFigures

    def to_json(self) -> str:
        return msgspec.json.format(msgspec.json.encode(self), indent=2).decode()

    def to_text(self) -> str:
        lines = [
            f"backtest of {len(self.rules)} rule versions on {self.input} "
            f"({self.events_read:,} events, {self.wall_seconds:.1f}s) against {self.truth}",
            f"{self.refunds:,} refunds; budget {self.budget:.2%} = at most "
            f"{self.budget_cap:,} refunds raised; threshold {self.threshold:g}",
            "",
            f"{'rule':<34} {'ver':>3} {'mode':<6} {'alerts':>7} {'refunds':>7} "
            f"{'prec':>6} {'recall':>6} {'money caught':>14} | {'raised':>6} {'prec':>6} "
            f"{'recall':>6} {'money':>6}",
        ]
        rows = [(r.rule, str(r.version), r.mode, r.all_alerts, r.at_budget) for r in self.rules]
        rows.append(("all active rules", "", "", self.combined_all_alerts, self.combined_at_budget))
        for name, ver, mode, a, b in rows:
            lines.append(
                f"{name[:34]:<34} {ver:>3} {mode:<6} {a.alert_records:>7,} "
                f"{a.refunds_alerted:>7,} {_pct(a.precision):>6} {_pct(a.headline_recall):>6} "
                f"{_money(a.headline_money_caught_cents):>14} | {b.raised:>6,} "
                f"{_pct(b.precision):>6} {_pct(b.headline_recall):>6} "
                f"{_pct(b.headline_money_recall):>6}"
            )
        lines += [
            "",
            "alerts: alert records; refunds: refunds they cover; prec: share of those refunds "
            "that are fraud; recall / money: share of headline fraud (scenarios 1-4) refunds / "
            "money caught. Right of |: the same under the budget.",
        ]
        return "\n".join(lines)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.1%}"


def _money(cents: int) -> str:
    return f"${cents / 100:,.0f}"


def backtest(
    ruleset: RuleSet,
    input_path: Path,
    truth_path: Path,
    *,
    budget: float = 0.01,
    threshold: float = 0.0,
    runtime_settings: RuntimeSettings | None = None,
    out_dir: Path | None = None,
    progress: Callable[[RunStats, int], None] | None = None,
) -> BacktestReport:
    """Replay ``input_path`` through the runtime with ``ruleset``; score every rule."""
    settings = runtime_settings or RuntimeSettings(analytics=False)
    truth = load_truth(truth_path)
    with tempfile.TemporaryDirectory(prefix="vigil-backtest-") as tmp:
        out = out_dir or Path(tmp)
        detector = RulesDetector(ruleset, RulesSettings(lateness_ms=settings.allowed_lateness_ms))
        runtime = EmbeddedRuntime([detector], out, settings, progress=progress)
        stats = runtime.run(FileSource(input_path))
        alerts: list[Alert] = []
        for name in ("alerts.jsonl", "shadow_alerts.jsonl"):
            alerts.extend(load_alerts(out / name).alerts)
    cap = budget_cap(budget, len(truth.refunds))
    everything = len(truth.refunds)
    by_detector: dict[str, list[Alert]] = {}
    for a in alerts:
        by_detector.setdefault(a.detector, []).append(a)
    rows = []
    for rule in ruleset:
        mine = by_detector.get(rule.detector_name, [])
        rows.append(
            RuleFigures(
                rule=rule.name,
                version=rule.version,
                mode=rule.definition.mode,
                detector=rule.detector_name,
                all_alerts=figures_for(rule.detector_name, mine, truth, threshold, everything),
                at_budget=figures_for(rule.detector_name, mine, truth, threshold, cap),
            )
        )
    active = [a for r in ruleset if not r.shadow for a in by_detector.get(r.detector_name, [])]
    return BacktestReport(
        input=str(input_path),
        truth=str(truth_path),
        budget=budget,
        threshold=threshold,
        refunds=len(truth.refunds),
        budget_cap=cap,
        events_read=stats.events_read,
        wall_seconds=round(stats.wall_s, 3),
        rules=tuple(rows),
        combined_all_alerts=figures_for("all active rules", active, truth, threshold, everything),
        combined_at_budget=figures_for("all active rules", active, truth, threshold, cap),
    )

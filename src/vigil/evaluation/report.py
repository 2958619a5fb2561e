"""The evaluation report: figures as frozen values, rendered as aligned text or JSON.

The HTML page (tables and plots) is rendered by ``vigil.evaluation.html`` from the same
values; it is kept apart so that text and JSON never import matplotlib.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import msgspec

from vigil.evaluation.curves import MoneyPoint, PRPoint
from vigil.evaluation.decision_view import DecisionView
from vigil.evaluation.request_view import RequestView
from vigil.events.truth import HEADLINE_SCENARIOS, SCENARIOS, TRAPS

COMBINED = "all detectors"


class ScenarioFigures(msgspec.Struct, frozen=True, kw_only=True):
    scenario: str
    #: fraudulent refunds of the scenario in truth, and their money
    refunds: int
    money_cents: int
    caught: int
    money_caught_cents: int
    recall: float | None
    money_recall: float | None


class TrapFigures(msgspec.Struct, frozen=True, kw_only=True):
    trap: str
    refunds: int
    #: refunds of the trap that were raised (false alerts on legitimate look-alikes)
    alerted: int


class EntityFigures(msgspec.Struct, frozen=True, kw_only=True):
    corrupt_agents: int
    corrupt_agents_flagged: int
    agents_flagged: int
    innocent_agents_flagged: int
    escalation_agents_flagged: int
    taken_over_sessions: int
    taken_over_sessions_flagged: int
    sessions_flagged: int
    innocent_sessions_flagged: int
    fraud_accounts: int
    fraud_accounts_with_raised_refund: int


class DetectorFigures(msgspec.Struct, frozen=True, kw_only=True):
    """Figures of one detector alone, or of all detectors combined, under the same budget."""

    detector: str
    #: alert records of this group in the alerts file
    alert_records: int
    #: distinct known refunds covered by at least one alert (any score)
    refunds_alerted: int
    #: refunds scoring at least the threshold
    candidates: int
    #: refunds raised: the best candidates, at most the budget cap
    raised: int
    #: candidates left out by the cap
    capped_out: int
    fraud_raised: int
    headline_raised: int
    #: share of raised refunds that are fraud (any scenario, serial returners included)
    precision: float | None
    #: share of raised refunds from headline scenarios 1-4
    headline_precision: float | None
    headline_recall: float | None
    headline_money_recall: float | None
    headline_money_caught_cents: int
    headline_money_cents: int
    trap_alerts: int
    trap_share: float | None
    #: raised refunds that are plain legitimate activity (no scenario, no trap)
    legit_raised: int
    unknown_refund_ids: int
    scenarios: tuple[ScenarioFigures, ...]
    traps: tuple[TrapFigures, ...]
    entities: EntityFigures
    #: alert level (no budget): alerts at or above the threshold that name known refunds,
    #: those covering at least one fraudulent refund, and those covering only trap refunds
    alerts_at_threshold: int = 0
    alerts_with_fraud: int = 0
    alerts_only_on_traps: int = 0


class DetectorContribution(msgspec.Struct, frozen=True, kw_only=True):
    """What one detector adds to the combined run (its figures alone are in ``per_detector``)."""

    detector: str
    #: headline fraud refunds raised in the combined run that no other detector's alert (at or
    #: above the threshold) covers, and their money
    only_refunds: int
    only_money_cents: int


AgentTruth = Literal["corrupt", "taken_over", "trap", "innocent"]


class AgentFigures(msgspec.Struct, frozen=True, kw_only=True):
    """One agent named by agent-subject alerts (all detectors, any score)."""

    agent_id: str
    alerts: int
    max_score: float
    #: distinct refunds the agent's alerts cover, and their money (from truth; from the
    #: alerts' ``amount_cents`` when an alert names no refund)
    refunds: int
    money_cents: int
    #: ground truth: a corrupt agent; an innocent one whose covered refunds include account
    #: takeover fraud done under their name; an innocent look-alike (a trap); another innocent
    truth: AgentTruth
    trap: str | None = None


class RingSizeCount(msgspec.Struct, frozen=True, kw_only=True):
    #: ring alerts with this many ``members``
    members: int
    rings: int


class ReportData(msgspec.Struct, frozen=True, kw_only=True):
    """The data behind the report's plots, computed by ``evaluate`` (curves are thinned)."""

    #: refunds whose fraud counts for the curves: headline scenarios 1-4
    positives: int = 0
    #: precision-recall of the combined refund score, one point per distinct score, no budget
    pr_curve: tuple[PRPoint, ...] = ()
    #: the money curves run from 0 to this share of refunds alerted
    money_curve_max_share: float = 0.05
    #: headline money caught alerting the best-ranked refunds, any score (no threshold)
    money_curve: tuple[MoneyPoint, ...] = ()
    #: the same, but only refunds scoring at least the threshold can be alerted
    money_curve_at_threshold: tuple[MoneyPoint, ...] = ()
    contributions: tuple[DetectorContribution, ...] = ()
    #: agents named by agent-subject alerts, and the top ones by score, then money
    agents_alerted: int = 0
    top_agents: tuple[AgentFigures, ...] = ()
    ring_alerts: int = 0
    ring_sizes: tuple[RingSizeCount, ...] = ()


class EvaluationReport(msgspec.Struct, frozen=True, kw_only=True):
    alerts_path: str
    truth_path: str
    budget: float
    threshold: float
    refunds: int
    refund_money_cents: int
    fraud_refunds: int
    headline_refunds: int
    headline_money_cents: int
    budget_cap: int
    combined: DetectorFigures
    per_detector: tuple[DetectorFigures, ...]
    malformed_alert_lines: int
    #: refund ids named by alerts that the truth does not know (and alerts naming them)
    unknown_refund_ids: int
    alerts_with_unknown_refunds: int
    warnings: tuple[str, ...] = ()
    #: the data behind the HTML report's plots (added later; empty when read from older JSON)
    plot_data: ReportData = msgspec.field(default_factory=ReportData)
    #: decision bands and thresholds chosen by budget and by money (None in older JSON)
    decisions: DecisionView | None = None
    #: what the request-time decisions stopped before payout (None: the run wrote none)
    request_time: RequestView | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = msgspec.to_builtins(self)
        return out

    def to_json(self) -> str:
        return msgspec.json.format(msgspec.json.encode(self), indent=2).decode()

    def to_text(self) -> str:
        """Aligned plain-text tables (no trailing newline)."""
        return render_text(self)


# --- text rendering -------------------------------------------------------------------------


def pct(x: float | None) -> str:
    return "-" if x is None else f"{100.0 * x:.1f}%"


def usd(cents: int) -> str:
    return f"${cents / 100:,.0f}"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], left: int = 1) -> list[str]:
    """Aligned columns: the first ``left`` columns left-aligned, the rest right-aligned."""
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))

    def line(cells: Sequence[str]) -> str:
        parts = [
            c.ljust(widths[i]) if i < left else c.rjust(widths[i]) for i, c in enumerate(cells)
        ]
        return "  ".join(parts).rstrip()

    out = [line(headers), "  ".join("-" * w for w in widths)]
    out.extend(line(r) for r in rows)
    return out


class Section(msgspec.Struct, frozen=True):
    """One titled table of the report (shared by the text and HTML renderings)."""

    title: str
    headers: tuple[str, ...]
    rows: list[tuple[str, ...]]
    notes: tuple[str, ...] = ()


def header_lines(r: EvaluationReport) -> list[str]:
    lines = [
        f"alerts: {r.alerts_path}",
        f"truth:  {r.truth_path}",
        f"{r.refunds:,} refunds ({usd(r.refund_money_cents)}); {r.fraud_refunds:,} fraudulent, "
        f"{r.headline_refunds:,} in headline scenarios 1-4 ({usd(r.headline_money_cents)})",
        f"budget {100 * r.budget:g}% of refunds = at most {r.budget_cap:,} refunds alerted "
        f"(a ceiling, not a quota); decision threshold {r.threshold:g}",
    ]
    lines.extend(f"WARNING: {w}" for w in r.warnings)
    return lines


def request_sections(r: EvaluationReport) -> list[Section]:
    """The two views side by side, then the request-time view by scenario and detector."""
    v, c = r.request_time, r.combined
    if v is None:
        return []
    later_share = c.raised / r.refunds if r.refunds else None
    return [
        Section(
            "Two views: stopped at request time (before payout) and caught later (any time)",
            ("view", "held or raised", "share", "precision", "headline money", "money share"),
            [
                (
                    "stopped at request time",
                    f"{v.held:,} of {v.requests:,} requests",
                    pct(v.held_share),
                    pct(v.precision),
                    usd(v.money_stopped_cents),
                    pct(v.money_stopped),
                ),
                (
                    "caught later (stream)",
                    f"{c.raised:,} of {r.refunds:,} refunds",
                    pct(later_share),
                    pct(c.headline_precision),
                    usd(c.headline_money_caught_cents),
                    pct(c.headline_money_recall),
                ),
            ],
            (
                f"request time: the decision given when each refund was asked for "
                f"({v.decisions_path}); held = review or deny, at most {v.budget_cap:,} "
                f"({100 * v.budget:g}% of requests, highest scores first"
                + (
                    f"; {v.capped:,} more held as configured were counted as approved"
                    if v.capped
                    else ""
                )
                + f"); traps among the held: {v.trap_held:,}",
                "caught later: alerts at any time (for recovery and cases), as in the tables below",
            ),
        ),
        Section(
            "Stopped at request time, by scenario",
            ("scenario", "requests", "held", "money", "money stopped", "money share"),
            [
                (
                    sc.scenario,
                    f"{sc.requests:,}",
                    f"{sc.held:,}",
                    usd(sc.money_cents),
                    usd(sc.money_held_cents),
                    pct(sc.money_share),
                )
                for sc in v.by_scenario
            ],
        ),
        Section(
            "Request time, each detector's finding alone (score at or above the threshold; "
            "score-only detectors such as serial_returner never hold)",
            ("detector", "held", "headline", "headline money", "traps"),
            [
                (
                    d.detector,
                    f"{d.held:,}",
                    f"{d.headline_held:,}",
                    usd(d.headline_money_held_cents),
                    f"{d.trap_held:,}",
                )
                for d in v.by_detector
            ],
        ),
    ]


def sections(r: EvaluationReport) -> list[Section]:
    groups = (r.combined, *r.per_detector)
    c = r.combined
    out = [
        *request_sections(r),
        Section(
            "Detectors (each alone under the same budget; first row all combined)",
            (
                "detector",
                "alerts",
                "refunds>=thr",
                "raised",
                "capped",
                "precision",
                "headline prec",
                "headline recall",
                "money recall",
                "money caught",
                "trap alerts",
            ),
            [
                (
                    g.detector,
                    f"{g.alert_records:,}",
                    f"{g.candidates:,}",
                    f"{g.raised:,}",
                    f"{g.capped_out:,}",
                    pct(g.precision),
                    pct(g.headline_precision),
                    pct(g.headline_recall),
                    pct(g.headline_money_recall),
                    usd(g.headline_money_caught_cents),
                    f"{g.trap_alerts} ({pct(g.trap_share)})",
                )
                for g in groups
            ],
        ),
        Section(
            "Scenarios, all detectors combined (fraudulent refunds)",
            ("scenario", "refunds", "caught", "recall", "money", "money caught", "money recall"),
            [
                (
                    s.scenario + ("" if s.scenario in HEADLINE_SCENARIOS else " (separate)"),
                    f"{s.refunds:,}",
                    f"{s.caught:,}",
                    pct(s.recall),
                    usd(s.money_cents),
                    usd(s.money_caught_cents),
                    pct(s.money_recall),
                )
                for s in c.scenarios
            ],
            _separate_notes(r),
        ),
        Section(
            "Money recall by scenario and detector (each alone)",
            ("scenario", *(g.detector for g in groups)),
            [
                (
                    scenario,
                    *(
                        pct(next(s for s in g.scenarios if s.scenario == scenario).money_recall)
                        for g in groups
                    ),
                )
                for scenario in SCENARIOS
            ],
        ),
        Section(
            "Traps (legitimate look-alikes): refunds raised",
            ("trap", "refunds", *(g.detector for g in groups)),
            [
                (
                    trap,
                    f"{next(t for t in c.traps if t.trap == trap).refunds:,}",
                    *(f"{next(t for t in g.traps if t.trap == trap).alerted:,}" for g in groups),
                )
                for trap in TRAPS
            ],
            (
                f"alerts on traps (all combined): {c.trap_alerts} = {pct(c.trap_share)} of "
                f"raised; plain legitimate refunds raised: {c.legit_raised}",
                f"by alert instead of by refund (no budget): {c.alerts_at_threshold:,} alerts at "
                f"or above the threshold, {c.alerts_with_fraud:,} cover a fraudulent refund, "
                f"{c.alerts_only_on_traps:,} = {pct(_share(c.alerts_only_on_traps, c))}"
                " cover only trap refunds (an agent or ring alert that is right about its subject "
                "counts once here, while each honest refund it lists counts above)",
            ),
        ),
        Section(
            "Entities (alerts at or above the threshold)",
            (
                "detector",
                "corrupt agents",
                "innocent agents",
                "escalation agents",
                "taken-over sessions",
                "innocent sessions",
                "fraud accounts w/ raised refund",
            ),
            [
                (
                    g.detector,
                    f"{g.entities.corrupt_agents_flagged}/{g.entities.corrupt_agents}",
                    f"{g.entities.innocent_agents_flagged}",
                    f"{g.entities.escalation_agents_flagged}",
                    f"{g.entities.taken_over_sessions_flagged}/{g.entities.taken_over_sessions}",
                    f"{g.entities.innocent_sessions_flagged}",
                    f"{g.entities.fraud_accounts_with_raised_refund}/{g.entities.fraud_accounts}",
                )
                for g in groups
            ],
        ),
    ]
    return out


def _separate_notes(r: EvaluationReport) -> tuple[str, ...]:
    """Scenarios scored, not blocked, are caught by their own detector, outside the decision."""
    notes = []
    for g in r.per_detector:
        for sf in g.scenarios:
            if sf.scenario == g.detector and sf.scenario not in HEADLINE_SCENARIOS:
                notes.append(
                    f"{sf.scenario} is scored, not blocked: its detector alone raises "
                    f"{sf.caught:,} of {sf.refunds:,} under the same budget "
                    f"({pct(sf.money_recall)} of their money, precision {pct(g.precision)})"
                )
    return tuple(notes)


def _share(n: int, g: DetectorFigures) -> float | None:
    return n / g.alerts_at_threshold if g.alerts_at_threshold else None


def footer(r: EvaluationReport) -> str:
    return (
        f"Input checks: {r.malformed_alert_lines} malformed alert lines skipped; "
        f"{r.unknown_refund_ids} unknown refund ids in {r.alerts_with_unknown_refunds} alerts"
    )


def render_text(r: EvaluationReport) -> str:
    lines = ["Vigil evaluation", *(f"  {h}" for h in header_lines(r))]
    for sec in sections(r):
        lines.append("")
        lines.append(sec.title)
        lines.extend(table(sec.headers, sec.rows))
        lines.extend(f"  {n}" for n in sec.notes)
    if r.decisions is not None:
        lines.append("")
        lines.extend(r.decisions.text_lines())
    lines.append("")
    lines.append(footer(r))
    return "\n".join(lines)

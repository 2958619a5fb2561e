"""``vigil agents``: support agents ranked by insider risk, with calibrated scores and reasons.

The input goes through the embedded runtime (same decode, dedup, lateness and event-time
timers as ``vigil run``) with two detectors: the profile collector
(:class:`~vigil.detectors.insider.profiles.AgentProfileCollector`, no alerts) and
``session_risk``. At the end, profiles are compared with peers, combined with the session
findings and calibrated (``vigil.detectors.insider.ranking``). With ``--truth`` the
calibration is checked against the simulator's ground truth; ``--fit-calibration`` fits
the two Platt coefficients on this input and reports with them (in-sample: fit on seed 1
only, check on other seeds).
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path
from typing import Any

import click
import msgspec

from vigil.cli.progress import Reporter, stderr
from vigil.detectors.base import Alert, alert_decoder
from vigil.detectors.insider.calibration import (
    POSITIVE_SCENARIOS,
    CalibrationReport,
    agent_labels,
    calibration_report,
    fit_platt,
)
from vigil.detectors.insider.profile_settings import AgentProfileSettings, AgentRankingSettings
from vigil.detectors.insider.profiles import (
    AgentProfile,
    AgentProfileCollector,
    activities_from_state,
    profile_agents,
)
from vigil.detectors.insider.ranking import (
    RankedAgent,
    SessionFinding,
    rank_agents,
    session_findings,
)
from vigil.detectors.insider.session_risk import SessionRiskDetector
from vigil.detectors.settings import DetectorSettings
from vigil.errors import ConfigError
from vigil.events.truth import truth_decoder
from vigil.ingest.sources import FileSource
from vigil.runtime.embedded import EmbeddedRuntime, RuntimeSettings

__all__ = ["agents", "rank_file"]


class AgentsResult(msgspec.Struct, frozen=True, kw_only=True):
    agents: tuple[RankedAgent, ...]
    total_agents: int
    events_processed: int
    platt_slope: float
    platt_intercept: float
    calibration: CalibrationReport | None = None


def collect(
    input_path: Path,
    *,
    profile_settings: AgentProfileSettings | None = None,
    ranking_settings: AgentRankingSettings | None = None,
    detector_settings: DetectorSettings | None = None,
    runtime_settings: RuntimeSettings | None = None,
    progress: bool = True,
) -> tuple[list[AgentProfile], dict[str, SessionFinding], int]:
    """Profiles and session findings of every agent of an event file, and events processed."""
    ps = profile_settings or AgentProfileSettings()
    rs = ranking_settings or AgentRankingSettings()
    ds = detector_settings or DetectorSettings()
    # the collector's ring graph is capped, expired and sized like fraud_ring's
    collector = AgentProfileCollector(ps, ds.fraud_ring)
    session = SessionRiskDetector(ds.session_risk)
    with tempfile.TemporaryDirectory(prefix="vigil-agents-") as tmp:
        out = Path(tmp)
        runtime = EmbeddedRuntime(
            [collector, session], out, runtime_settings or RuntimeSettings(analytics=False)
        )
        total = input_path.stat().st_size
        if progress and total:
            with Reporter("vigil agents", total, "bytes") as rep:
                runtime.progress = lambda _stats, offset: rep.update(offset)
                stats = runtime.run(FileSource(input_path))
        else:
            stats = runtime.run(FileSource(input_path))
        alerts: list[Alert] = [
            alert_decoder.decode(line) for line in (out / "alerts.jsonl").read_bytes().splitlines()
        ]
    prefix = f"{collector.name}@{collector.version}/"

    def state(namespace: str) -> dict[str, Any]:
        return runtime.keyed_state.get(prefix + namespace, {})

    activities = activities_from_state(state, ps)
    return profile_agents(activities, rs), session_findings(alerts), stats.processed


def rank_file(
    input_path: Path,
    *,
    profile_settings: AgentProfileSettings | None = None,
    ranking_settings: AgentRankingSettings | None = None,
    progress: bool = True,
) -> tuple[list[RankedAgent], int]:
    """Rank every agent of an event file; returns (ranked agents, events processed)."""
    ps = profile_settings or AgentProfileSettings()
    rs = ranking_settings or AgentRankingSettings()
    profiles, findings, processed = collect(
        input_path, profile_settings=ps, ranking_settings=rs, progress=progress
    )
    return rank_agents(profiles, findings, rs, high_value_cents=ps.high_value_cents), processed


def _read_labels(truth_path: Path) -> dict[str, str]:
    with truth_path.open("rb") as f:
        return agent_labels(truth_decoder.decode(line) for line in f if line.strip())


def _text(result: AgentsResult, top: int, labels: dict[str, str] | None) -> str:
    lines = [
        f"{result.total_agents} agents from {result.events_processed:,} events; "
        f"top {min(top, result.total_agents)} by calibrated risk "
        f"(Platt slope {result.platt_slope:.4g}, intercept {result.platt_intercept:.4g}):",
        "",
    ]
    for r in result.agents:
        truth = ""
        if labels is not None:
            truth = f"  [truth: {labels.get(r.agent_id, 'legitimate')}]"
        lines.append(
            f"{r.rank:>3}. {r.agent_id:<12} team {r.team:<12} p={r.probability:.3f} "
            f"(raw {r.raw_score:.1f}: profile {r.profile_score:.1f}, sessions "
            f"{r.session_score:.1f}; {r.refunds} refunds){truth}"
        )
        for reason in r.reasons[:4]:
            lines.append(f"       - {reason}")
    cal = result.calibration
    if cal is not None:
        lines += [
            "",
            f"calibration against truth: {cal.positives} positives of {cal.agents} agents "
            f"({cal.corrupt} corrupt, {cal.taken_over} taken over)",
            f"  Brier {cal.brier:.4f} (base rate alone {cal.brier_base_rate:.4f}), "
            f"log loss {cal.log_loss:.4f}",
            f"  top 10: {cal.positives_in_top_10} positives ({cal.corrupt_in_top_10} corrupt, "
            f"{cal.taken_over_in_top_10} taken over); top 20: {cal.positives_in_top_20} "
            f"({cal.corrupt_in_top_20} corrupt, {cal.taken_over_in_top_20} taken over)",
            "  reliability (predicted -> observed):",
        ]
        for b in cal.reliability:
            lines.append(
                f"    [{b.lower:.2f}, {b.upper:.2f}): {b.agents:>3} agents, mean predicted "
                f"{b.mean_predicted:.3f}, observed {b.observed_rate:.3f} ({b.positives})"
            )
        lines.append(
            "  positives ranked: "
            + ", ".join(
                f"{t.agent_id} ({t.scenario}, {t.team}) #{t.rank} p={t.probability:.3f}"
                for t in cal.positive_ranks
            )
        )
        lines.append(
            "  trap agents ranked: "
            + (
                ", ".join(
                    f"{t.agent_id} ({t.team}) #{t.rank} p={t.probability:.3f}"
                    for t in cal.trap_ranks
                )
                or "none"
            )
        )
    return "\n".join(lines)


@click.command("agents")
@click.option(
    "--input",
    "input_path",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    required=True,
    help="JSON Lines event file (as for vigil run).",
)
@click.option(
    "--truth",
    "truth_path",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help="Simulator truth.jsonl: also report calibration (Brier, reliability, top-N).",
)
@click.option(
    "--top", type=click.IntRange(min=1), default=20, show_default=True, help="Agents to list."
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option(
    "--fit-calibration",
    is_flag=True,
    help="Fit the Platt coefficients on this input (needs --truth) and report with them.",
)
def agents(
    input_path: Path, truth_path: Path | None, top: int, as_json: bool, fit_calibration: bool
) -> None:
    """Rank support agents by insider risk: peer deviations and session findings."""
    if fit_calibration and truth_path is None:
        raise ConfigError("--fit-calibration needs --truth (the labels to fit on)")
    settings = AgentRankingSettings()
    ps = AgentProfileSettings()
    profiles, findings, processed = collect(
        input_path, profile_settings=ps, ranking_settings=settings
    )
    ranked = rank_agents(profiles, findings, settings, high_value_cents=ps.high_value_cents)
    labels = _read_labels(truth_path) if truth_path is not None else None
    if fit_calibration and labels is not None:
        slope, intercept = fit_platt(
            [r.raw_score for r in ranked],
            [labels.get(r.agent_id) in POSITIVE_SCENARIOS for r in ranked],
        )
        if slope <= 0:
            raise ConfigError(
                f"the fitted slope {slope:.4g} is not positive: the raw score does not rank "
                "positives above negatives on this input; calibration would invert it"
            )
        stderr.print(f"fitted Platt slope {slope:.6g}, intercept {intercept:.6g} (in-sample)")
        settings = dataclasses.replace(settings, platt_slope=slope, platt_intercept=intercept)
        ranked = rank_agents(profiles, findings, settings, high_value_cents=ps.high_value_cents)
    report = calibration_report(ranked, labels) if labels is not None else None
    result = AgentsResult(
        agents=tuple(ranked[:top]),
        total_agents=len(ranked),
        events_processed=processed,
        platt_slope=settings.platt_slope,
        platt_intercept=settings.platt_intercept,
        calibration=report,
    )
    if as_json:
        click.echo(msgspec.json.format(msgspec.json.encode(result), indent=2).decode())
    else:
        click.echo(_text(result, top, labels))

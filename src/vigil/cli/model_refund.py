"""The simulator refund model's commands, for the ``vigil model`` group to host.

    vigil model retrain  --events FILE [--truth FILE | --alerts FILE] --registry DIR
                         (--events/--truth repeatable: pool several streams)
                         [--cutoff ISO|MS] [--label-delay 14d] [--holdout 0.25]
                         [--budget 0.01] [--no-promote] [--no-refit] [--report-out FILE.json]
    vigil model evaluate --events FILE [--truth FILE | --alerts FILE] --registry DIR
                         [--model refund] [--budget 0.01]
    vigil model alerts   --events FILE --registry DIR --out DIR [--model refund]

``retrain`` trains a challenger on the labelled refunds known by the cut-off, compares it with
the champion on the same later refunds (those newer than the champion's training data) and
promotes it, refitted on all labelled refunds, only if it does better; it reports drift in
words. ``evaluate`` scores a period with a registered model. ``alerts`` runs the
``refund_model`` detector over events and writes its ``alerts.jsonl`` (to combine with a
detector run's alerts in `vigil evaluate`). docs/models.md, section "Refund model".
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import click
import msgspec

from vigil.cli.options import Duration

__all__ = ["alerts", "evaluate", "retrain"]

DEFAULT_REGISTRY = Path("vigil-models")


def _cutoff_ms(text: str | None) -> int | None:
    if text is None:
        return None
    if text.strip().isdigit():
        return int(text)
    try:
        return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError as exc:
        raise click.BadParameter(
            f"{text!r} is neither epoch milliseconds nor an ISO-8601 time "
            "(e.g. 2026-03-01T00:00:00Z)",
            param_hint="--cutoff",
        ) from exc


def _require_labels(known_rows: int, source: str, cutoff: str | None) -> None:
    """Stop before scores and drift computed on no label at all: they would mean nothing."""
    if known_rows:
        return
    by_cutoff = f" known by --cutoff {cutoff}" if cutoff is not None else ""
    raise click.UsageError(
        f"no refund in the period has a label{by_cutoff} (labels looked for in: {source}). "
        "Give labels with --truth FILE (the simulator's truth.jsonl, one per --events), or "
        "with --events holding label events (chargeback, investigation_outcome, and "
        "analyst_decision with --alerts FILE, the alerts.jsonl those decisions are about)"
        + ("; or use a later --cutoff" if cutoff is not None else "")
    )


def _labels_options(fn: Any) -> Any:
    fn = click.option(
        "--events",
        "events_paths",
        type=click.Path(path_type=Path, dir_okay=False, exists=True),
        required=True,
        multiple=True,
        help="Events (JSONL, as `vigil run` reads); repeat to pool several streams "
        "(e.g. simulator seeds) as more labelled history.",
    )(fn)
    fn = click.option(
        "--truth",
        "truth_paths",
        type=click.Path(path_type=Path, dir_okay=False, exists=True),
        multiple=True,
        help="Simulator truth, one per --events in the same order; without it, labels come "
        "from the label events in --events.",
    )(fn)
    fn = click.option(
        "--alerts",
        "alerts_path",
        type=click.Path(path_type=Path, dir_okay=False, exists=True),
        default=None,
        help="alerts.jsonl, to map analyst decisions about alerts to refunds.",
    )(fn)
    fn = click.option(
        "--cutoff",
        default=None,
        help="Only labels known by this time (ISO-8601 or epoch ms); default: all.",
    )(fn)
    fn = click.option(
        "--label-delay",
        "label_delay_ms",
        type=Duration(),
        default="14d",
        show_default=True,
        help="With --truth: how long after a refund its label becomes known.",
    )(fn)
    fn = click.option(
        "--registry",
        "registry_dir",
        type=click.Path(path_type=Path, file_okay=False),
        default=DEFAULT_REGISTRY,
        show_default=True,
        help="Model registry folder.",
    )(fn)
    fn = click.option("--budget", type=click.FloatRange(0.0, 1.0), default=0.01, show_default=True)(
        fn
    )
    return fn


@click.command("retrain")
@_labels_options
@click.option(
    "--holdout",
    type=click.FloatRange(0.05, 0.9),
    default=0.25,
    show_default=True,
    help="Share of the latest labelled refunds both models are compared on.",
)
@click.option("--promote/--no-promote", default=True, show_default=True)
@click.option(
    "--refit/--no-refit",
    default=True,
    show_default=True,
    help="Promote the winning challenger refitted on all labelled refunds, the later ones "
    "included (--no-refit: promote the compared model itself).",
)
@click.option(
    "--report-out",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Write the comparison and drift as JSON.",
)
def retrain(
    events_paths: tuple[Path, ...],
    truth_paths: tuple[Path, ...],
    alerts_path: Path | None,
    cutoff: str | None,
    label_delay_ms: int,
    registry_dir: Path,
    budget: float,
    holdout: float,
    promote: bool,
    refit: bool,
    report_out: Path | None,
) -> None:
    """Train a challenger refund model on newer labels; promote it only if it beats the champion."""
    from vigil.models import registry
    from vigil.models.refund.model import TrainSettings
    from vigil.models.refund.pipeline import labelled_rows_of_streams
    from vigil.models.refund.retrain import RetrainSettings
    from vigil.models.refund.retrain import retrain as run_retrain

    rows, source, cut = labelled_rows_of_streams(
        events_paths,
        truth_paths=truth_paths,
        alerts_path=alerts_path,
        cutoff_ms=_cutoff_ms(cutoff),
        label_delay_ms=label_delay_ms,
    )
    known = rows.filter(rows["label"].is_not_null())
    click.echo(
        f"{len(rows):,} refunds decided by the cut-off, {len(known):,} labelled "
        f"({int(known['label'].sum() or 0)} fraud) from {source}"
    )
    _require_labels(len(known), source, cutoff)
    report = run_retrain(
        rows,
        registry_dir,
        horizon_ms=7 * 86_400_000,
        label_source=source,
        label_cutoff_ms=cut,
        settings=RetrainSettings(
            holdout_share=holdout, refit=refit, train=TrainSettings(budget=budget)
        ),
        promote=promote,
        data_fingerprint=registry.fingerprint_files(list(events_paths)),
    )
    for line in report.text_lines():
        click.echo(line)
    if report_out is not None:
        payload = {
            "verdict": {"promote": report.verdict.promote, "reason": report.verdict.reason},
            "challenger_version": report.challenger_version,
            "champion_version": report.champion_version,
            "promoted_version": report.promoted_version,
            "refit_rows": report.refit_rows,
            "later_rows": report.later_rows,
            "compared_rows": report.compared_rows,
            "champion": report.champion_metrics,
            "challenger": report.challenger_metrics,
            "drift_since_champion": [d.__dict__ for d in report.drift_since_champion],
            "drift_since_challenger": [d.__dict__ for d in report.drift_since_challenger],
        }
        report_out.write_bytes(msgspec.json.format(msgspec.json.encode(payload), indent=2))


@click.command("evaluate")
@_labels_options
@click.option(
    "--model",
    "ref",
    default="refund",
    show_default=True,
    help="Registry version or name (refund = the champion).",
)
def evaluate(
    events_paths: tuple[Path, ...],
    truth_paths: tuple[Path, ...],
    alerts_path: Path | None,
    cutoff: str | None,
    label_delay_ms: int,
    registry_dir: Path,
    budget: float,
    ref: str,
) -> None:
    """Score a labelled period with a registered refund model: ranking, money, drift."""
    from vigil.models.refund.drift import compare, drift_lines
    from vigil.models.refund.model import evaluate_frame, load
    from vigil.models.refund.pipeline import labelled_rows_of_streams

    model = load(registry_dir, ref)
    rows, source, _ = labelled_rows_of_streams(
        events_paths,
        truth_paths=truth_paths,
        alerts_path=alerts_path,
        cutoff_ms=_cutoff_ms(cutoff),
        label_delay_ms=label_delay_ms,
        horizon_ms=model.horizon_ms,
    )
    known = rows.filter(rows["label"].is_not_null())
    _require_labels(len(known), source, cutoff)
    m = evaluate_frame(model, known, budget)
    click.echo(
        f"model {model.version}: {len(known):,} labelled refunds ({m['positives']} fraud) "
        f"from {source}"
    )
    click.echo(
        f"  AUC-ROC {m['auc_roc']:.3f}, average precision {m['auc_pr']:.3f}, Brier {m['brier']:.5f}"
    )
    recall = m["money_recall_at_budget"]
    click.echo(
        f"  at budget {budget:.1%}: {m['raised_at_budget']} raised, "
        f"{m['fraud_raised_at_budget']} fraud, "
        + ("no fraud money" if recall is None else f"{recall:.1%} of fraud money caught")
    )
    click.echo("drift since the model's training data:")
    for line in drift_lines(compare(model.extra["reference"], known, model.proba_frame(known))):
        click.echo("  " + line)


@click.command("alerts")
@click.option(
    "--events",
    "events_path",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
)
@click.option(
    "--registry",
    "registry_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=DEFAULT_REGISTRY,
    show_default=True,
)
@click.option("--model", "ref", default="refund", show_default=True)
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="Folder for alerts.jsonl and the run's other files (created if missing).",
)
@click.option("--min-score", type=click.FloatRange(0.0, 1.0), default=0.05, show_default=True)
def alerts(
    events_path: Path, registry_dir: Path, ref: str, out_dir: Path, min_score: float
) -> None:
    """Run the refund model over events; write its alerts.jsonl into OUT.

    OUT is created if missing. Only alerts.jsonl, decisions.jsonl, dead_letter.jsonl,
    shadow_alerts.jsonl and stats.json in OUT are replaced; other files and folders stay.
    Keep it apart from a `vigil run` output, whose files of the same names it would replace.
    """
    from vigil.models.refund.pipeline import model_alerts

    stats = model_alerts(events_path, registry_dir, out_dir, ref=ref, min_score=min_score)
    click.echo(f"{stats.alerts:,} refund_model alerts in {out_dir / 'alerts.jsonl'}")

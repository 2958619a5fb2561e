"""``vigil model``: train on any labelled table, score a new file, look into the registry.

    vigil model train --data FILE --label COL [--time COL [--time-unit UNIT]]
                      [--entity COL|COL+COL+... ...] [--entity-stats COL ...]
                      [--entity-distinct COL ...]
                      [--metrics-out FILE.json] [--registry DIR] [--costs TP,FP,FN]
                      [--split time|random|both] [--duration-from COL ...]
                      [--ip-ranges FILE --ip-column COL] [--drop COL ...]
                      [--register-all-rows]
    vigil model score --model DIR_OR_ID --data FILE --out FILE
    vigil model registry list | show ID
    vigil model retrain | evaluate | alerts     (the simulator refund model: cli/model_refund.py)
    vigil model train-request                   (the request model: cli/model_request.py)

docs/models.md has the design and measured figures.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import click
import msgspec

from vigil.cli import model_refund, model_request
from vigil.cli.options import parse_duration_ms
from vigil.cli.progress import Reporter, stderr

__all__ = ["model"]

DEFAULT_REGISTRY = Path("vigil-models")


@click.group("model")
def model() -> None:
    """Train a fraud model on your own labelled data, score new files, list the registry."""


def _windows(text: str) -> list[int]:
    try:
        return [parse_duration_ms(part) // 1000 for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--windows") from exc


class _Progress:
    """One Reporter per phase, opened lazily (LightGBM reports each boosting round)."""

    def __init__(self) -> None:
        self._phase = ""
        self._rep: Reporter | None = None

    def __call__(self, phase: str, done: int, total: int) -> None:
        if phase != self._phase:
            self.close()
            self._phase = phase
            self._rep = Reporter(f"vigil model {phase}", total, "rounds (at most)").__enter__()
        assert self._rep is not None
        self._rep.update(done)

    def close(self) -> None:
        if self._rep is not None:
            self._rep.__exit__(None, None, None)
            self._rep = None


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


# the simulator refund model's commands (cli/model_refund.py; docs/models.md "Refund model")
for _command in (model_refund.retrain, model_refund.evaluate, model_refund.alerts):
    model.add_command(_command)
# the request model (cli/model_request.py; docs/models.md "Request model")
model.add_command(model_request.train_request)


@model.command("train")
@click.option(
    "--data",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    required=True,
    help="Labelled table: CSV (any of , | ; tab), Parquet or JSON Lines.",
)
@click.option("--label", required=True, help="Column holding the label (0/1, true/false, ...).")
@click.option(
    "--time",
    "time_col",
    default=None,
    help="Event-time column. Omitted: the file's row order is used as time (said in the output).",
)
@click.option(
    "--time-unit",
    type=click.Choice(["auto", "datetime", "epoch-s", "epoch-ms", "offset-s", "offset-ms"]),
    default="auto",
    show_default=True,
    help="How --time is read: dates (datetime); numbers as seconds or milliseconds since "
    "1970 (epoch-s, epoch-ms); or from an unknown reference (offset-s, offset-ms: e.g. "
    "IEEE-CIS TransactionDT). auto: text dates as dates, numbers between 1990 and 2100 as "
    "epoch seconds or milliseconds, other numbers as offset-s.",
)
@click.option(
    "--entity",
    "entities",
    multiple=True,
    help="Column naming an entity (device, IP, user), or a combination of columns joined by "
    "+ (card1+addr1+P_emaildomain), for point-in-time velocity features (repeatable). A "
    "single column is not itself an input; a combination's columns stay inputs.",
)
@click.option(
    "--entity-stats",
    "entity_stats",
    multiple=True,
    metavar="COL",
    help="Numeric column (an amount): per --entity, its mean and spread over the entity's "
    "earlier rows and this row's value relative to that mean (repeatable).",
)
@click.option(
    "--entity-distinct",
    "entity_distinct",
    multiple=True,
    metavar="COL",
    help="Column: per --entity, how many distinct values of it the entity's earlier rows "
    "had, and whether this row's value is new for the entity (repeatable).",
)
@click.option(
    "--duration-from",
    "duration_from",
    multiple=True,
    help="Datetime column C: add 'seconds from C to the time column' (repeatable; every "
    "other datetime column gets one anyway).",
)
@click.option("--ip-ranges", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("--ip-column", default=None, help="Column of IPv4 integers to map to a country.")
@click.option("--drop", "drop", multiple=True, help="Column never to learn from (repeatable).")
@click.option(
    "--windows",
    default="1h,1d,7d,30d",
    show_default=True,
    help="Velocity windows (durations, comma-separated).",
)
@click.option(
    "--split",
    type=click.Choice(["time", "random", "both"]),
    default="both",
    show_default=True,
    help="Hold-out view(s): time-ordered (earlier 80% -> later 20%), random 80/20, or both.",
)
@click.option(
    "--costs",
    default=None,
    metavar="TP,FP,FN",
    help="Money per caught fraud, false alarm and missed fraud, e.g. 5,-25,-5: reports "
    "the money at the threshold chosen on the validation slice.",
)
@click.option("--metrics-out", type=click.Path(path_type=Path, dir_okay=False), default=None)
@click.option(
    "--registry",
    "registry_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=DEFAULT_REGISTRY,
    show_default=True,
    help="Model registry directory the trained model is saved to.",
)
@click.option("--no-register", is_flag=True, help="Measure only; do not save the model.")
@click.option(
    "--register-all-rows",
    is_flag=True,
    help="Register the same recipe fitted again on every row, the hold-out (the latest "
    "weeks) included, for deployment; the reported figures stay the measured model's.",
)
@click.option("--separator", default=None, help="CSV separator (default: sniffed).")
@click.option("--seed", type=int, default=1, show_default=True)
@click.option(
    "--learning-rate",
    type=click.FloatRange(min=0.0, min_open=True),
    default=None,
    help="Default: 0.05 up to 200k rows, 0.1 above.",
)
@click.option("--threads", type=click.IntRange(min=1), default=2, show_default=True)
@click.option(
    "--refit/--no-refit",
    default=True,
    show_default=True,
    help="After early stopping, refit on the whole training part (latest weeks included). "
    "--no-refit keeps the early-stopped model, the one the money threshold was chosen with.",
)
def train(
    data: Path,
    label: str,
    time_col: str | None,
    time_unit: str,
    entities: tuple[str, ...],
    entity_stats: tuple[str, ...],
    entity_distinct: tuple[str, ...],
    duration_from: tuple[str, ...],
    ip_ranges: Path | None,
    ip_column: str | None,
    drop: tuple[str, ...],
    windows: str,
    split: str,
    costs: str | None,
    metrics_out: Path | None,
    registry_dir: Path,
    no_register: bool,
    register_all_rows: bool,
    separator: str | None,
    seed: int,
    learning_rate: float | None,
    threads: int,
    refit: bool,
) -> None:
    """Train LightGBM on a labelled table; report time-ordered and random hold-outs."""
    from vigil.models.tabular.features import FeatureConfig
    from vigil.models.tabular.metrics import Payoffs
    from vigil.models.tabular.pipeline import load_ip_ranges
    from vigil.models.tabular.train import TrainSettings
    from vigil.models.tabular.trainer import TrainRequest, train_and_report

    if (ip_ranges is None) != (ip_column is None):
        raise click.UsageError("--ip-ranges and --ip-column go together")
    payoffs = None
    if costs is not None:
        try:
            payoffs = Payoffs.parse(costs)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--costs") from exc
    config = FeatureConfig(
        label=label,
        time=time_col,
        time_unit=time_unit,
        entities=list(entities),
        entity_stats=list(entity_stats),
        entity_distinct=list(entity_distinct),
        windows_s=_windows(windows),
        duration_from=list(duration_from),
        ip_column=ip_column,
        drop=list(drop),
    )
    request = TrainRequest(
        data=data,
        config=config,
        split=split,  # type: ignore[arg-type]
        payoffs=payoffs,
        seed=seed,
        separator=separator,
        ip_ranges=load_ip_ranges(ip_ranges) if ip_ranges is not None else None,
        ip_ranges_path=ip_ranges,
        settings=TrainSettings(
            learning_rate=learning_rate, seed=seed, threads=threads, refit=refit
        ),
        registry_dir=None if no_register else registry_dir,
        register_all_rows=register_all_rows,
    )
    stderr.print(f"vigil model train: reading {data}")
    progress = _Progress()
    try:
        outcome = train_and_report(request, progress)
    finally:
        progress.close()
    for note in outcome.notes:
        stderr.print(f"note: {note}")
    for line in outcome.summary:
        click.echo(line)
    if outcome.version is not None:
        fitted = " (fitted again on all rows)" if register_all_rows else ""
        click.echo(f"registered as {outcome.version} in {registry_dir}{fitted}")
    if metrics_out is not None:
        metrics_out.parent.mkdir(parents=True, exist_ok=True)
        metrics_out.write_text(json.dumps(_json_safe(outcome.metrics), indent=2) + "\n")
        stderr.print(f"wrote {metrics_out}")


@model.command("score")
@click.option(
    "--model",
    "model_ref",
    required=True,
    metavar="DIR_OR_ID",
    help="An artifact folder (REGISTRY/v0003), a registry folder (its latest tabular "
    "model) or a version in --registry (v0003, 3, latest).",
)
@click.option("--data", type=click.Path(path_type=Path, dir_okay=False, exists=True), required=True)
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="Scores with reasons: .csv, .jsonl or .parquet.",
)
@click.option(
    "--registry",
    "registry_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=DEFAULT_REGISTRY,
    show_default=True,
)
@click.option("--top", type=click.IntRange(min=1, max=10), default=3, show_default=True)
@click.option(
    "--explain-share",
    type=click.FloatRange(min=0.0, max=1.0),
    default=1.0,
    show_default=True,
    help="Explain only this share of rows, highest scores first (explanations cost about "
    "100x a score; 0.05 explains the top 5%).",
)
@click.option("--separator", default=None)
def score(
    model_ref: str,
    data: Path,
    out: Path,
    registry_dir: Path,
    top: int,
    explain_share: float,
    separator: str | None,
) -> None:
    """Score a new file with a trained model; write scores and top reasons per row."""
    from vigil.models.tabular.scorer import score_file

    # progress counts the rows being explained (TreeSHAP is where the time goes): all of them,
    # or the top --explain-share
    with Reporter("vigil model score: explaining", 1, "rows") as rep:

        def progress(done: int, total: int) -> None:
            rep.total = max(total, 1)
            rep.update(done)

        outcome = score_file(
            model_ref,
            registry_dir,
            data,
            out,
            top=top,
            explain_share=explain_share,
            separator=separator,
            progress=progress,
        )
    for note in outcome.notes:
        stderr.print(f"note: {note}")
    click.echo(f"scored {outcome.rows:,} rows -> {outcome.out}")
    if outcome.metrics is not None:
        m = outcome.metrics
        click.echo(
            f"the file has labels: AUC-ROC {m['auc_roc']:.3f}, AUC-PR {m['auc_pr']:.3f}, "
            f"recall at 1% FPR {m['recall_at_1pct_fpr']:.1%} on {m['rows']:,} rows"
        )


@model.group("registry")
def registry_group() -> None:
    """List and show the versions in a model registry."""


@registry_group.command("list")
@click.option(
    "--registry",
    "registry_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=DEFAULT_REGISTRY,
    show_default=True,
)
def registry_list(registry_dir: Path) -> None:
    """Every version, oldest first: name, created, training rows, headline metrics."""
    from vigil.models import registry

    entries = registry.list_versions(registry_dir)
    if not entries:
        click.echo(f"no models in {registry_dir}")
        return
    for e in entries:
        shown = ", ".join(
            f"{k} {v:.3f}"
            for k, v in e.metrics.items()
            if k in ("auc_roc", "auc_pr", "recall_at_1pct_fpr") and isinstance(v, float)
        )
        click.echo(
            f"{e.version}  {e.name:<10} {e.created_at}  {e.rows:>9,} rows  {shown}"
            f"{_measured_on(e.metrics) if shown else ''}"
        )


def _measured_on(metrics: dict[str, Any]) -> str:
    """Which rows the headline figures come from, so a perfect score on a handful of frauds
    reads as what it is."""
    positives, rows = metrics.get("positives"), metrics.get("rows")
    if isinstance(positives, int) and isinstance(rows, int):  # a refund model
        caution = "; too few frauds to trust" if positives < 10 else ""
        return f"  (on its calibration slice: {rows:,} refunds, {positives} fraud{caution})"
    if isinstance(metrics.get("rows_test"), int):  # `vigil model train`
        return f"  (on a {metrics['rows_test']:,}-row hold-out)"
    return ""


@registry_group.command("show")
@click.argument("ref")
@click.option(
    "--registry",
    "registry_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=DEFAULT_REGISTRY,
    show_default=True,
)
def registry_show(ref: str, registry_dir: Path) -> None:
    """One version's metadata as JSON (features, window, parameters, metrics, fingerprint)."""
    from vigil.models import registry

    meta = registry.read_meta(registry_dir, ref)
    click.echo(msgspec.json.format(msgspec.json.encode(meta), indent=2).decode())

"""``vigil model train-request``: the request model, for the request-time decision.

    vigil model train-request --events FILE [--truth FILE] (repeatable: pool several streams)
                              [--alerts FILE] [--registry DIR] [--no-register]

Each stream is run through the runtime once; every ``refund_requested`` gives one row of
what was known as it was asked (``vigil.models.request``). The model is stored in the
registry under the name ``request``; ``vigil run --request-model DIR`` and ``vigil serve
--request-model DIR`` use the latest one. docs/models.md, section "Request model".
"""

from __future__ import annotations

from pathlib import Path

import click

from vigil.cli.progress import stderr

__all__ = ["train_request"]

DEFAULT_REGISTRY = Path("vigil-models")


@click.command("train-request")
@click.option(
    "--events",
    "events_paths",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    required=True,
    multiple=True,
    help="Events (JSONL, as `vigil run` reads); repeat to pool several streams (e.g. "
    "simulator seeds you will not evaluate on).",
)
@click.option(
    "--truth",
    "truth_paths",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    multiple=True,
    help="Simulator truth, one per --events in the same order; without it, labels come from "
    "the label events in --events (investigation outcomes, chargebacks).",
)
@click.option(
    "--alerts",
    "alerts_path",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help="alerts.jsonl, to map analyst decisions about alerts to refunds (one --events only).",
)
@click.option(
    "--registry",
    "registry_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=DEFAULT_REGISTRY,
    show_default=True,
    help="Model registry folder.",
)
@click.option("--no-register", is_flag=True, help="Measure only; do not save the model.")
@click.option("--seed", type=int, default=1, show_default=True)
def train_request(
    events_paths: tuple[Path, ...],
    truth_paths: tuple[Path, ...],
    alerts_path: Path | None,
    registry_dir: Path,
    no_register: bool,
    seed: int,
) -> None:
    """Train the request model on every refund request as it was asked, and register it."""
    from vigil.models import registry
    from vigil.models.request.dataset import labelled_rows
    from vigil.models.request.model import TrainSettings, save, train

    rows, source = labelled_rows(
        list(events_paths),
        list(truth_paths),
        alerts_path,
        progress=lambda text: stderr.print(f"vigil model train-request: {text}"),
    )
    known = rows.filter(rows["label"].is_not_null())
    positives = int(known["label"].sum() or 0)
    click.echo(
        f"{len(rows):,} refund requests, {len(known):,} labelled ({positives} fraud) from {source}"
    )
    if not positives:
        raise click.UsageError(
            "no labelled fraud among the requests: give --truth FILE (the simulator's "
            "truth.jsonl, one per --events) or a stream with label events"
        )
    settings = TrainSettings(seed=seed)
    model = train(known, settings)
    split = model.extra["split"]
    m = model.extra["metrics"]
    click.echo(
        f"trained {model.extra['rounds']} trees on {split['train_rows'] + split['valid_rows']:,} "
        f"requests; calibrated on the latest {split['calib_rows']:,} "
        f"({split['calib_positives']} fraud)"
    )
    click.echo(
        f"latest slice: AUC-PR {m['auc_pr']:.3f}, AUC-ROC {m['auc_roc']:.3f}, "
        f"{m['above_half']} requests at 0.5 or more "
        f"({m['precision_above_half']:.0%} fraud)"
        if m["above_half"]
        else f"latest slice: AUC-PR {m['auc_pr']:.3f}, AUC-ROC {m['auc_roc']:.3f}, "
        "no request at 0.5 or more"
    )
    op = model.extra["operating_point"]
    click.echo(
        f"speaks from {op['threshold']:.3f} ({op['rule']}; {op['held_out']}: "
        f"{op['held']} of {op['rows']:,} requests held, {op['fraud_held']} fraud, "
        f"{op['lookalikes_held']} look-alikes, {op['money_held_share']:.1%} of fraud money)"
    )
    if no_register:
        return
    version = save(
        model,
        registry_dir,
        label_source=source,
        settings=settings,
        data_fingerprint=registry.fingerprint_files(list(events_paths)),
    )
    click.echo(
        f"registered {version} (request) in {registry_dir}; use it with "
        f"`vigil run --request-model {registry_dir}` or `vigil serve --request-model "
        f"{registry_dir}`"
    )

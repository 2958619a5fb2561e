"""The ``vigil`` command line: simulate, run, evaluate, demo.

Settings are built here, at the entry point, and passed down; nothing below reads
options or environment variables on its own.
"""

from __future__ import annotations

import dataclasses
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import click
import msgspec

from vigil import __version__
from vigil.cli.admin import admin_commands
from vigil.cli.ads import AD_WINDOW_OPTION, DATACENTRE_OPTION, NO_ADS_OPTION
from vigil.cli.ads import ads as ads_command
from vigil.cli.agents import agents as agents_command
from vigil.cli.model import model as model_command
from vigil.cli.options import Duration
from vigil.cli.progress import Reporter, stderr
from vigil.cli.rules import rules as rules_command
from vigil.cli.serve import serve as serve_command
from vigil.cli.simulate import build_sim_config
from vigil.cli.spark import spark as spark_command
from vigil.decisions.policy import DecisionPolicy
from vigil.errors import ConfigError, VigilError
from vigil.runtime.embedded import RuntimeSettings
from vigil.runtime.stats import RunStats

if TYPE_CHECKING:
    from vigil.ads.settings import AdSettings
    from vigil.cli.kafka_run import KafkaRunOptions
    from vigil.detectors.return_centres import ReturnCentres


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="vigil")
def cli() -> None:
    """Vigil watches a retailer's event stream and stops refund fraud as it happens."""


@cli.command()
@click.option(
    "--seed", type=int, default=1, show_default=True, help="Random seed (same seed, same files)."
)
@click.option(
    "--events",
    "n_events",
    type=click.IntRange(min=5_000),
    default=1_000_000,
    show_default=True,
    help="Number of lines to write (about).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Directory for events.jsonl, truth.jsonl and simulation.json (required unless "
    "--list-params).",
)
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="NAME=VALUE",
    help="Override a simulator parameter (repeatable); `vigil simulate --list-params` shows them.",
)
@click.option(
    "--list-params", is_flag=True, help="List the simulator parameters with defaults and exit."
)
def simulate(
    seed: int, n_events: int, out_dir: Path | None, params: tuple[str, ...], list_params: bool
) -> None:
    """Simulate a retailer's event stream with fraud scenarios and ground truth."""
    from vigil.cli.simulate import list_sim_params, run_simulation

    if list_params:
        click.echo(list_sim_params())
        return
    if out_dir is None:
        raise click.UsageError("Missing option '--out' (where to write the simulated stream).")
    config = build_sim_config(seed, n_events, params)
    run_simulation(config, out_dir)


@cli.command()
@click.option(
    "--input",
    "input_path",
    required=True,
    metavar="FILE|URL",
    help="JSON Lines file to read, - for standard input, or Kafka topics as "
    "kafka://HOST:PORT/TOPIC[,TOPIC] (one event per record; docs/kafka.md).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="Directory for alerts.jsonl, decisions.jsonl, dead_letter.jsonl, "
    "shadow_alerts.jsonl (rules in shadow mode), stats.json, analytics.duckdb.",
)
@click.option(
    "--group",
    default="vigil",
    show_default=True,
    help="Kafka input: the consumer group the checkpoint's offsets are committed to.",
)
@click.option(
    "--kafka-start",
    type=click.Choice(["committed", "earliest", "latest"]),
    default="committed",
    show_default=True,
    help="Kafka input with no checkpoint to resume from: start at the group's committed "
    "offsets (the beginning where it has none), the beginning, or the end.",
)
@click.option(
    "--kafka-option",
    "kafka_options",
    multiple=True,
    metavar="KEY=VALUE",
    help="A librdkafka setting for every Kafka client (security.protocol=SSL, ...); repeatable.",
)
@click.option(
    "--alerts-topic",
    default=None,
    metavar="TOPIC|URL",
    help="Also produce alerts.jsonl's records to this topic, exactly once, after each "
    "checkpoint (brokers of a kafka:// --input, or kafka://HOST:PORT/TOPIC).",
)
@click.option(
    "--decisions-topic",
    default=None,
    metavar="TOPIC|URL",
    help="Also produce decisions.jsonl's records to this topic (as --alerts-topic), keyed "
    "by refund id.",
)
@click.option(
    "--checkpoint-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Checkpoint here and resume from here after a crash or a stop.",
)
@click.option(
    "--checkpoint-every",
    type=click.IntRange(min=1),
    default=500_000,
    show_default=True,
    help="Checkpoint every N input lines (and at the end).",
)
@click.option(
    "--checkpoint-interval",
    type=click.FloatRange(min=0.0),
    default=None,
    metavar="SECONDS",
    help="Also checkpoint at the first batch SECONDS after the last checkpoint. With "
    "--follow, outputs are published (written, not fsynced) after every batch either way; "
    "a resume cuts them back to the checkpoint and writes the same lines again.",
)
@click.option(
    "--max-out-of-orderness",
    type=Duration(),
    default="10m",
    show_default=True,
    help="Watermark lag behind the highest event time seen.",
)
@click.option(
    "--allowed-lateness",
    type=Duration(),
    default="2d",
    show_default=True,
    help="Events older than watermark minus this go to the dead letters as too late.",
)
@click.option(
    "--max-future",
    type=Duration(),
    default="1d",
    show_default=True,
    help="Events more than this ahead of the wall clock cannot have happened yet: they go "
    "to the dead letters as too_early and never move the watermark.",
)
@click.option(
    "--max-clock-skew",
    type=Duration(),
    default=None,
    help="Off by default; for replays of history. Events more than this ahead of the latest "
    "event time accepted are held: kept as dead letters (too_early) unless "
    "--clock-jump-events of them in a row show the stream moved on.",
)
@click.option(
    "--clock-jump-events",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="Held events in a row that show the stream really moved ahead (they are then "
    "processed, in order).",
)
@click.option(
    "--follow", is_flag=True, help="Keep tailing the file as it grows (stop with Ctrl-C)."
)
@click.option(
    "--idle-timeout",
    type=float,
    default=None,
    help="With --follow or a Kafka input: stop after S seconds without new records.",
)
@click.option("--no-analytics", is_flag=True, help="Do not write the DuckDB analytics store.")
@NO_ADS_OPTION
@AD_WINDOW_OPTION
@DATACENTRE_OPTION
@click.option(
    "--review-threshold",
    type=click.FloatRange(min=0.0, max=1.0),
    default=0.5,
    show_default=True,
    help="Combined score at which a refund's decision becomes review (docs/decisions.md; "
    "vigil evaluate shows what an alert budget or money would choose).",
)
@click.option(
    "--deny-threshold",
    type=click.FloatRange(min=0.0, max=1.0),
    default=0.95,
    show_default=True,
    help="Combined score at which a refund's decision becomes deny.",
)
@click.option(
    "--rules",
    "rules_path",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help="Also run the rules in this YAML file, reloaded when it changes (docs/rules.md).",
)
@click.option(
    "--model",
    "model_dir",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    default=None,
    help="Add the refund model (champion `refund` of this registry, `vigil model retrain`) "
    "to the decision: it counts where another detector backs it (the refund's agent flagged, "
    "or an agent, session, ring or empty-box finding on the refund); docs/models.md.",
)
@click.option(
    "--state-backend",
    type=click.Choice(["memory", "rocksdb"]),
    default="memory",
    show_default=True,
    help="Where detectors on the keyed-state contract keep their state: in memory, or in "
    "RocksDB on disk (beside the checkpoints) for state larger than memory. Checkpoints are "
    "incremental on both (docs/adr/0004-keyed-state.md).",
)
@click.option(
    "--request-model",
    "request_model_dir",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    default=None,
    help="Judge each refund request's own profile with the request model of this registry "
    "(the latest `request`, `vigil model train-request`) instead of request_risk's hand-set "
    "weights; docs/models.md.",
)
@click.option(
    "--return-centres",
    "return_centres_path",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help="The retailer's return centres, a YAML or JSON list of {centre_id, country, "
    "postal_code} (default: the simulated retailer's four). Labels addressed elsewhere and "
    "parcels delivered away from them are fake-tracking evidence (docs/detectors.md).",
)
def run(
    input_path: str,
    out_dir: Path,
    group: str,
    kafka_start: str,
    kafka_options: tuple[str, ...],
    alerts_topic: str | None,
    decisions_topic: str | None,
    checkpoint_dir: Path | None,
    checkpoint_every: int,
    checkpoint_interval: float | None,
    max_out_of_orderness: int,
    allowed_lateness: int,
    max_future: int,
    max_clock_skew: int | None,
    clock_jump_events: int,
    follow: bool,
    idle_timeout: float | None,
    no_analytics: bool,
    no_ads: bool,
    ad_windows: tuple[str, ...],
    datacentre_ranges: Path | None,
    rules_path: Path | None,
    review_threshold: float,
    deny_threshold: float,
    model_dir: Path | None,
    state_backend: str,
    request_model_dir: Path | None,
    return_centres_path: Path | None,
) -> None:
    """Run the detectors over an event stream and write alerts, dead letters and stats."""
    from vigil.cli.kafka_run import kafka_run_options

    kafka = kafka_run_options(
        input_path, group, kafka_start, kafka_options, alerts_topic, decisions_topic
    )
    if kafka is not None and kafka.source is not None:
        follow = True  # a topic has no end: outputs are published batch by batch
        if checkpoint_interval is None and checkpoint_dir is not None:
            checkpoint_interval = kafka.checkpoint_interval_s
    centres = None
    if return_centres_path is not None:
        from vigil.detectors.return_centres import load_return_centres

        centres = load_return_centres(return_centres_path)
    settings = RuntimeSettings(
        max_out_of_orderness_ms=max_out_of_orderness,
        allowed_lateness_ms=allowed_lateness,
        max_future_ms=max_future,
        max_clock_skew_ms=max_clock_skew,
        clock_jump_events=clock_jump_events,
        checkpoint_every_events=checkpoint_every,
        checkpoint_interval_s=checkpoint_interval,
        publish_every_batch=follow,
        analytics=not no_analytics,
        decision_policy=decision_policy(review_threshold, deny_threshold),
        state_backend=state_backend,
    )
    stats = run_pipeline(
        input_path,
        out_dir,
        settings,
        checkpoint_dir,
        follow,
        idle_timeout,
        rules_path,
        model_dir,
        return_centres=centres,
        request_model_dir=request_model_dir,
        kafka=kafka,
        ads=None if no_ads else ad_settings(ad_windows, settings, datacentre_ranges),
    )
    print_run_summary(stats, out_dir, resumable=checkpoint_dir is not None)


def ad_settings(
    windows: tuple[str, ...], runtime: RuntimeSettings, ranges: Path | None
) -> AdSettings:
    """The ad analytics' settings from the options and the runtime's lateness."""
    from vigil.cli.ads import ad_settings_of

    return ad_settings_of(windows, runtime, ranges)


def decision_policy(review_threshold: float, deny_threshold: float) -> DecisionPolicy:
    try:
        return DecisionPolicy(review_threshold, deny_threshold)
    except ConfigError as exc:
        raise click.BadParameter(str(exc), param_hint="--deny-threshold") from exc


@cli.command()
@click.option(
    "--alerts", "alerts_path", type=click.Path(path_type=Path, dir_okay=False), required=True
)
@click.option(
    "--truth",
    "truth_path",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    required=True,
)
@click.option(
    "--budget",
    type=click.FloatRange(min=0.0, max=1.0, min_open=True),
    default=0.01,
    show_default=True,
    help="Ceiling on the share of refunds that may be alerted (highest scores first).",
)
@click.option(
    "--threshold",
    type=click.FloatRange(min=0.0, max=1.0),
    default=0.5,
    show_default=True,
    help="Decision threshold: only alerts scored at or above it are raised.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--report",
    "report_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Also write the report as a self-contained HTML page (plots and tables; no network "
    "or JavaScript needed).",
)
@click.option(
    "--review-cost",
    type=click.FloatRange(min=0.0),
    default=25.0,
    show_default=True,
    help="What one analyst review costs, in the refunds' currency (for the threshold chosen "
    "by money: review cost against the money a missed fraud loses).",
)
@click.option(
    "--decisions",
    "decisions_path",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help="The run's decisions.jsonl, for the 'stopped at request time' view (default: the "
    "decisions.jsonl beside the alerts file, when there is one).",
)
def evaluate(
    alerts_path: Path,
    truth_path: Path,
    budget: float,
    threshold: float,
    as_json: bool,
    report_path: Path | None,
    review_cost: float,
    decisions_path: Path | None,
) -> None:
    """Measure alerts against ground truth: money stopped at request time, and precision,
    recall and money caught by the stream's alerts."""
    from vigil.evaluation import evaluate as run_evaluation

    report = run_evaluation(
        alerts_path,
        truth_path,
        budget=budget,
        threshold=threshold,
        review_cost_cents=round(review_cost * 100),
        decisions_path=decisions_path,
    )
    click.echo(report.to_json() if as_json else report.to_text())
    if report_path is not None:
        from vigil.evaluation.html import render_html

        report_path.parent.mkdir(parents=True, exist_ok=True)
        report_path.write_text(render_html(report), encoding="utf-8")
        stderr.print(f"wrote {report_path}")


@cli.command()
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("vigil-demo"),
    show_default=True,
    help="Where the demo writes everything.",
)
@click.option(
    "--events", "n_events", type=click.IntRange(min=5_000), default=1_000_000, show_default=True
)
@click.option("--seed", type=int, default=1, show_default=True)
def demo(out_dir: Path, n_events: int, seed: int) -> None:
    """Simulate, run and evaluate with defaults, and say where everything went."""
    from vigil.cli.demo import run_demo

    run_demo(out_dir, n_events, seed)


@cli.command("dead-letters")
@click.option(
    "--input",
    "dead_path",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    required=True,
    help="A dead_letter.jsonl written by vigil run.",
)
@click.option(
    "--out",
    "out_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Write the raw records (exact bytes) here as JSON Lines, ready to fix and replay.",
)
@click.option(
    "--reason",
    "reasons",
    multiple=True,
    type=click.Choice(["malformed", "too_late", "too_early", "conflicting_duplicate"]),
    help="Only records with this reason code (repeatable).",
)
def dead_letters(dead_path: Path, out_path: Path | None, reasons: tuple[str, ...]) -> None:
    """Summarise dead letters by reason and field; extract their raw records for replay."""
    from vigil.ingest.replay import extract_dead_letters

    summary = extract_dead_letters(dead_path, out_path, frozenset(reasons) or None)
    for line in summary:
        click.echo(line)


def run_pipeline(
    input_path: str,
    out_dir: Path,
    settings: RuntimeSettings,
    checkpoint_dir: Path | None,
    follow: bool = False,
    idle_timeout: float | None = None,
    rules_path: Path | None = None,
    model_dir: Path | None = None,
    *,
    return_centres: ReturnCentres | None = None,
    request_model_dir: Path | None = None,
    kafka: KafkaRunOptions | None = None,
    ads: AdSettings | None = None,
) -> RunStats:
    stop = {"flag": False}

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop["flag"] = True
        stderr.print(f"vigil run: got signal {signum}; checkpointing and stopping after this batch")

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        return _run_source(
            input_path,
            out_dir,
            settings,
            checkpoint_dir,
            follow,
            idle_timeout,
            stop,
            rules_path,
            model_dir,
            return_centres,
            request_model_dir,
            kafka,
            ads,
        )
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _run_source(
    input_path: str,
    out_dir: Path,
    settings: RuntimeSettings,
    checkpoint_dir: Path | None,
    follow: bool,
    idle_timeout: float | None,
    stop: dict[str, bool],
    rules_path: Path | None = None,
    model_dir: Path | None = None,
    return_centres: ReturnCentres | None = None,
    request_model_dir: Path | None = None,
    kafka: KafkaRunOptions | None = None,
    ads: AdSettings | None = None,
) -> RunStats:
    from vigil.cli.rules import build_rules_detector
    from vigil.detectors.registry import default_detectors
    from vigil.detectors.settings import DetectorSettings
    from vigil.ingest.sources import FileSource, LineSource, StdinSource
    from vigil.runtime.embedded import EmbeddedRuntime

    source: LineSource
    total = 0
    if kafka is not None and kafka.source is not None:
        source = kafka.open_source(idle_timeout, should_stop=lambda: stop["flag"])
    elif input_path == "-":
        source = StdinSource()
    else:
        path = Path(input_path)
        source = FileSource(
            path,
            follow=follow,
            idle_timeout_s=idle_timeout,
            should_stop=lambda: stop["flag"],
            idle_batches=follow,
        )
        total = path.stat().st_size
    # one settings object for the stream's detectors and the request-time scorers; the return
    # centres reach the detectors that judge where parcels go (empty_box) and the runtime
    detector_settings = DetectorSettings()
    if return_centres is not None:
        detector_settings = dataclasses.replace(
            detector_settings,
            empty_box=dataclasses.replace(
                detector_settings.empty_box, return_centres=return_centres.centres
            ),
        )
    detectors = default_detectors(detector_settings)
    if ads is not None:  # not a detector: the campaigns' figures (ad_figures.jsonl)
        from vigil.ads.pipeline import AdAnalytics

        detectors.append(AdAnalytics(ads))
    if rules_path is not None:  # one more detector: the rule set, hot-reloaded (docs/rules.md)
        detectors.append(build_rules_detector(rules_path, settings.allowed_lateness_ms))
    if model_dir is not None:  # the refund model, counted where backed (decisions/backing.py)
        from vigil.models.refund.detector import decision_refund_model

        detectors.append(decision_refund_model(model_dir))
    request_profile = None
    if request_model_dir is not None:  # the request model judges each request's profile
        from vigil.models.request.model import load as load_request_model

        request_profile = load_request_model(request_model_dir)
    runtime = EmbeddedRuntime(
        detectors,
        out_dir,
        settings,
        checkpoint_dir,
        should_stop=lambda: stop["flag"],
        detector_settings=detector_settings,
        return_centres=return_centres,
        request_profile=request_profile,
        publisher=None if kafka is None else kafka.open_outbox(out_dir),
    )
    if total and not follow:
        with Reporter("vigil run", total, "bytes") as rep:
            runtime.progress = lambda _stats, offset: rep.update(offset)
            return runtime.run(source)
    return runtime.run(source)


def _nonempty(path: Path) -> bool:
    return path.exists() and path.stat().st_size > 0


def print_run_summary(stats: RunStats, out_dir: Path, resumable: bool = True) -> None:
    s = stats.summary()
    if stats.stopped_early:
        stderr.print(
            f"stopped on a signal after line {stats.lines:,}; "
            + (
                "run the same command again to resume from the checkpoint"
                if resumable
                else "without --checkpoint-dir a new run starts from the beginning"
            )
        )
    if stats.resumed_from_line is not None:
        stderr.print(
            f"resumed from the checkpoint at line {stats.resumed_from_line:,} (the counts "
            "below include the lines before it, read by the run that wrote it)"
        )
    stderr.print(
        f"read {s['events_read']:,} events: {s['processed']:,} processed, "
        f"{s['dead_lettered']:,} dead-lettered "
        f"({s['dead_letter_reasons']['malformed']:,} malformed, "
        f"{s['dead_letter_reasons']['too_late']:,} too late, "
        f"{s['dead_letter_reasons']['too_early']:,} too early, "
        f"{s['dead_letter_reasons']['conflicting_duplicate']:,} conflicting duplicates), "
        f"{s['duplicates']:,} duplicates "
        f"-> {'reconciles' if s['reconciles'] else 'DOES NOT RECONCILE'}"
    )
    if s["clock_jumps"]:
        stderr.print(
            f"the stream's clock jumped ahead {s['clock_jumps']:,} time(s) "
            "(events far ahead of it kept coming; see the log)"
        )
    by_det = ", ".join(f"{k} {v:,}" for k, v in s["alerts_by_detector"].items()) or "none"
    rate = f"{s['events_per_second']:,} events/s" if s["events_per_second"] else "n/a"
    stderr.print(f"alerts: {s['alerts']:,} ({by_det}); {stats.wall_s:.1f}s, {rate}")
    asked = s["requests_by_decision"]
    if asked:
        stderr.print(
            f"at request time: {sum(asked.values()):,} refund requests, "
            f"{asked.get('deny', 0):,} denied, {asked.get('review', 0):,} held for review, "
            f"{asked.get('approve', 0):,} approved"
        )
    levels = s["refunds_by_decision"]
    stderr.print(
        f"later, by the stream: {levels.get('deny', 0):,} refunds denied, "
        f"{levels.get('review', 0):,} for review, {levels.get('approve', 0):,} approved with "
        "a low score (every other refund: approved)"
    )
    stderr.print(
        f"outputs in {out_dir}/: alerts.jsonl, decisions.jsonl, dead_letter.jsonl, stats.json"
        + ("" if not (out_dir / "analytics.duckdb").exists() else ", analytics.duckdb")
        + (
            ", ad_figures.jsonl and ad_invalid.jsonl (campaigns: vigil ads report --run DIR)"
            if (out_dir / "ad_figures.jsonl").exists()
            else ""
        )
        + (
            ", shadow_alerts.jsonl (rules in shadow mode)"
            if _nonempty(out_dir / "shadow_alerts.jsonl")
            else ""
        )
    )


cli.add_command(agents_command)  # vigil agents: insider-risk ranking (cli/agents.py)
cli.add_command(rules_command)  # vigil rules: check, commit, history, show, diff, backtest
cli.add_command(model_command)  # vigil model: train, score, registry (cli/model.py)
cli.add_command(serve_command)  # vigil serve: decision API + runtime child (docs/api.md)
cli.add_command(spark_command)  # vigil spark run: the stages on Spark (docs/spark.md)
cli.add_command(ads_command)  # vigil ads report: campaign figures (cli/ads.py, docs/ads.md)
for _command in admin_commands:  # vigil db, users, keys (cli/admin.py, docs/security.md)
    cli.add_command(_command)


def main() -> None:
    try:
        cli(standalone_mode=True)
    except VigilError as exc:
        stderr.print(f"[red]error:[/red] {exc}")
        sys.exit(2)
    except msgspec.ValidationError as exc:  # settings built from user values
        stderr.print(f"[red]error:[/red] {exc}")
        sys.exit(2)


if __name__ == "__main__":
    main()

__all__ = ["cli", "main"]

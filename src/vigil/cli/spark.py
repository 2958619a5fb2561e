"""``vigil spark run``: the keyed stages on Apache Spark Structured Streaming (docs/spark.md)."""

from __future__ import annotations

import shutil
from pathlib import Path

import click

from vigil.cli.progress import stderr
from vigil.spark.support import NOT_YET, ON_SPARK


@click.group()
def spark() -> None:
    """The keyed stages on Apache Spark Structured Streaming (the ``spark`` extra)."""


@spark.command("run")
@click.option(
    "--input",
    "input_path",
    required=True,
    metavar="FILE|URL",
    help="JSON Lines file to read (cut into one file per micro-batch, in order), or Kafka "
    "topics as kafka://HOST:PORT/TOPIC (read through Vigil's Python data source).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="Directory for alerts.jsonl, stats.json and spark.log (Spark's own log).",
)
@click.option(
    "--checkpoint-dir",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="Spark's checkpoint (offsets, RocksDB state); the same command resumes from it.",
)
@click.option(
    "--detector",
    "detectors",
    multiple=True,
    type=click.Choice(sorted((*ON_SPARK, *NOT_YET))),
    help=f"Detectors to run (repeatable; default: those on Spark so far: {', '.join(ON_SPARK)}).",
)
@click.option(
    "--cores",
    type=click.IntRange(1, 256),
    default=2,
    show_default=True,
    help="Spark's local[N]: worker threads on this machine.",
)
@click.option(
    "--max-lines",
    type=click.IntRange(min=1),
    default=200_000,
    show_default=True,
    help="Input lines per micro-batch.",
)
def run(
    input_path: str,
    out_dir: Path,
    checkpoint_dir: Path,
    detectors: tuple[str, ...],
    cores: int,
    max_lines: int,
) -> None:
    """Run detectors' stages on Spark (local mode) and write alerts.jsonl as vigil run does."""
    wanted = detectors or ON_SPARK
    blocked = [f"{name}: {NOT_YET[name]}" for name in wanted if name in NOT_YET]
    if blocked:
        raise click.UsageError("not on Spark yet (docs/spark.md): " + "; ".join(blocked))
    if shutil.which("java") is None:
        raise click.ClickException(
            "Spark needs Java 17: bash scripts/ensure-java.sh installs Debian's OpenJDK"
        )
    try:
        import pyspark  # noqa: F401
    except ImportError as exc:
        raise click.ClickException("vigil spark needs pyspark: pip install 'vigil[spark]'") from exc
    from vigil.kafka.config import is_kafka_url
    from vigil.spark.job import SparkSettings
    from vigil.spark.job import run as run_job
    from vigil.spark.support import pipelines

    source: Path | str = input_path
    if not is_kafka_url(input_path):
        source = Path(input_path)
        if not source.is_file():
            raise click.BadParameter(f"{input_path!r} is not a file", param_hint="--input")
    settings = SparkSettings(cores=cores, max_lines=max_lines)
    stderr.print(f"vigil spark run: local[{cores}], Spark's log in {out_dir / 'spark.log'}")
    total = 0
    for pipeline in pipelines(wanted):
        try:
            stats = run_job(pipeline, source, out_dir, checkpoint_dir / pipeline.name, settings)
        except KeyboardInterrupt:
            stderr.print(
                "vigil spark run: interrupted; run the same command again to resume from the "
                "checkpoint"
            )
            raise SystemExit(130) from None
        total += stats["alerts"]
        stderr.print(
            f"{pipeline.name}: {stats['alerts']} alerts in all; this run read "
            f"{stats['events_read']:,} events in {stats['micro_batches']} micro-batch(es), "
            f"{stats['events_per_second'] or 0:,.0f} events/s with Spark's start"
        )
    stderr.print(f"outputs in {out_dir}/: alerts.jsonl, stats.json")

"""``vigil spark run``: a detector's stages as one Spark Structured Streaming query.

The input file is read as a stream of lines (``trigger(availableNow=True)``: everything
there, in micro-batches of ``--max-lines`` lines, then stop). Each stage is one
``groupBy(key).transformWithState(StageProcessor)`` with event-time timers on the RocksDB
state store, fed with the source events it reads (keyed by the field its key kind names) and
the derived events its upstream stages emitted for it; stages follow one another in one
query, so the stage graph must have no cycle. Findings leave through ``foreachBatch``: each
micro-batch's are written to a file named by its batch id (a replayed batch rewrites the same
file), and ``alerts.jsonl`` is assembled from them at the end with the embedded runtime's
alert ids and its rule that an id is raised once. docs/spark.md.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from vigil.detectors.base import Alert, Signal
from vigil.errors import ConfigError
from vigil.spark.processor import ROW_DDL, StageProcessor
from vigil.state.keyed.pipeline import StagePipeline
from vigil.state.keyed.stage import Stage

#: the source field each key kind is read from
KEY_FIELDS = {
    "order": "order_id",
    "customer": "customer_id",
    "agent": "agent_id",
    "session": "session_id",
    "campaign": "campaign_id",
}
#: in the checkpoint directory: each micro-batch's findings, and what the run was started with
FINDINGS_DIR = "findings"
RUN_FILE = "vigil-run.json"
#: an event further ahead of the wall clock than this never happened yet: skipped, as
#: ``vigil run`` keeps it as a ``too_early`` dead letter (and it would move the watermark)
MAX_FUTURE_MS = 86_400_000


@dataclass(frozen=True)
class SparkSettings:
    cores: int = 2
    #: lines per micro-batch
    max_lines: int = 200_000
    #: the watermark's lag: the embedded runtime's out-of-orderness plus its allowed
    #: lateness, so the same events are too late on both (docs/spark.md)
    watermark_delay_ms: int = 10 * 60_000 + 2 * 86_400_000
    shuffle_partitions: int = 4


def session(settings: SparkSettings, log_path: Path) -> Any:
    """A local Spark session. The JVM (and the Python workers it starts, which print their
    progress) write to ``log_path``, not to this process's terminal: it inherits the file
    descriptors it is started with, so they point at the log while it starts."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    with output_to(log_path):
        spark = _builder(SparkSession, settings).getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


@contextmanager
def output_to(log_path: Path) -> Iterator[None]:
    """This process's standard output and error (file descriptors 1 and 2, so what a child
    started meanwhile inherits too) go to ``log_path`` for the block: Spark's start, and a
    query's run, where an interrupt makes py4j log tracebacks of its own."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    saved = os.dup(1), os.dup(2)
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(log, 1)
    os.dup2(log, 2)
    try:
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, log):
            os.close(fd)


def _builder(session_cls: Any, settings: SparkSettings) -> Any:
    return (
        session_cls.builder.master(f"local[{settings.cores}]")
        .appName("vigil")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", str(settings.shuffle_partitions))
        .config(
            "spark.sql.streaming.stateStore.providerClass",
            "org.apache.spark.sql.execution.streaming.state.RocksDBStateStoreProvider",
        )
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.showConsoleProgress", "false")
        # every micro-batch's progress is kept: stats.json counts the run's input from them
        .config("spark.sql.streaming.numRecentProgressUpdates", "100000")
    )


def build(spark: Any, pipeline: StagePipeline, lines: Any, settings: SparkSettings) -> Any:
    """The query's findings: a streaming DataFrame of ``ROW_DDL`` rows of kind ``signal``."""
    from pyspark.sql import functions as F
    from pyspark.sql.streaming.stateful_processor import StatefulProcessor

    from vigil.events.derived import DERIVED_TYPES

    class Processor(StageProcessor, StatefulProcessor):
        pass

    lines = lines.select(
        "value",
        F.get_json_object("value", "$.type").alias("type"),
        F.get_json_object("value", "$.event_time_ms").try_cast("long").alias("t_ms"),
    ).where(F.col("t_ms").between(0, int(time.time() * 1000) + MAX_FUTURE_MS))
    # ties in event time within a key: source events before what stages derive from them
    lines = lines.withColumn("t", F.timestamp_millis("t_ms")).withColumn("seq", F.lit(0))
    lines = lines.withWatermark("t", f"{settings.watermark_delay_ms} milliseconds")
    # an event id sent again is processed once, as in the embedded runtime (which also keeps
    # a re-send with another body as a dead letter; here one of the two is processed)
    lines = lines.withColumn("event_id", F.get_json_object("value", "$.event_id"))
    lines = lines.dropDuplicatesWithinWatermark(["event_id"])
    stages = list(pipeline.stages)
    outputs: list[Any] = []
    for i, stage in enumerate(stages):
        # a stage's derived events go to the stages after it; one read by a stage before it
        # (a cycle: a question and its answer) stops the query (``StageProcessor``)
        readers: dict[str, list[Stage]] = {}
        for later in stages[i + 1 :]:
            for tag in later.reads & DERIVED_TYPES:
                readers.setdefault(tag, []).append(later)
        upstream = {tag for s in stages[: i + 1] for tag in s.reads & DERIVED_TYPES}
        field = KEY_FIELDS.get(stage.key)
        source_types = sorted(stage.reads - DERIVED_TYPES)
        parts = []
        if source_types:
            if field is None:
                raise ConfigError(f"stage {stage.name}: no source field for key {stage.key!r}")
            parts.append(
                lines.where(F.col("type").isin(source_types)).select(
                    F.lit("event").alias("kind"),
                    F.lit(stage.name).alias("stage"),
                    F.get_json_object("value", f"$.{field}").alias("key"),
                    "t_ms",
                    "t",
                    "seq",
                    F.col("value").cast("binary").alias("body"),
                )
            )
        for out in outputs:
            parts.append(out.where((F.col("kind") == "derived") & (F.col("stage") == stage.name)))
        inp = parts[0]
        for more in parts[1:]:
            inp = inp.unionByName(more)
        inp = inp.where(F.col("key").isNotNull())
        outputs.append(
            inp.groupBy("key").transformWithState(
                Processor(stage, readers, frozenset(upstream)),
                ROW_DDL,
                "Append",
                "EventTime",
                eventTimeColumnName="t",
            )
        )
    found = outputs[0].where(F.col("kind") == "signal")
    for out in outputs[1:]:
        found = found.unionByName(out.where(F.col("kind") == "signal"))
    return found


_signal = msgspec.msgpack.Decoder(Signal)


def stage_input(input_path: Path, work_dir: Path, max_lines: int) -> Path:
    """The input file cut into files of ``max_lines`` lines in ``work_dir`` (a file source
    reads one file per micro-batch; their names keep their order). Kept for a resume: cut
    again only when missing or from another input."""
    marker = work_dir / "source.json"
    stat = input_path.stat()
    source = {"path": str(input_path.resolve()), "size": stat.st_size, "max_lines": max_lines}
    if marker.is_file() and json.loads(marker.read_text()) == source:
        return work_dir
    work_dir.mkdir(parents=True, exist_ok=True)
    for old in work_dir.glob("part-*.jsonl"):
        old.unlink()
    n, part, buf = 0, 0, []
    with input_path.open("rb") as fh:
        for line in fh:
            buf.append(line if line.endswith(b"\n") else line + b"\n")
            n += 1
            if len(buf) >= max_lines:
                (work_dir / f"part-{part:06d}.jsonl").write_bytes(b"".join(buf))
                part, buf = part + 1, []
    if buf:
        (work_dir / f"part-{part:06d}.jsonl").write_bytes(b"".join(buf))
    marker.write_text(json.dumps(source))
    return work_dir


def _source(
    spark: Any, input_path: Path | str, checkpoint_dir: Path, settings: SparkSettings
) -> Any:
    """The input as a stream of ``value`` lines: a file cut into micro-batches, or Kafka
    topics through the Python data source (``kafka_source``)."""
    from vigil.kafka.config import is_kafka_url

    if isinstance(input_path, str) and is_kafka_url(input_path):
        from vigil.spark.kafka_source import VigilKafkaSource

        spark.dataSource.register(VigilKafkaSource)
        return (
            spark.readStream.format("vigil_kafka")
            .option("url", input_path)
            .option("maxRecordsPerBatch", str(settings.max_lines))
            .load()
        )
    path = Path(input_path)
    if not path.is_file():
        raise ConfigError(f"input file {str(path)!r} does not exist or is not a file")
    parts = stage_input(path, checkpoint_dir / "input", settings.max_lines)
    return spark.readStream.option("maxFilesPerTrigger", 1).text(str(parts / "part-*.jsonl"))


def run(
    pipeline: StagePipeline,
    input_path: Path | str,
    out_dir: Path,
    checkpoint_dir: Path,
    settings: SparkSettings | None = None,
    spark: Any = None,
) -> dict[str, Any]:
    """Run to the end of the input; write ``alerts.jsonl`` and ``stats.json``. ``spark``: a
    session to use (and leave running), else one is started and stopped."""
    settings = settings or SparkSettings()
    _same_run(checkpoint_dir, pipeline, input_path, settings)
    out_dir.mkdir(parents=True, exist_ok=True)
    batches = checkpoint_dir / FINDINGS_DIR
    batches.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    own = spark is None
    if own:
        spark = session(settings, out_dir / "spark.log")
    try:
        found = build(
            spark, pipeline, _source(spark, input_path, checkpoint_dir, settings), settings
        )
        # a file: everything there, then stop; Kafka: until everything available is
        # processed (Spark's Python sources have no availableNow), then stop
        bounded = not isinstance(input_path, str)

        def keep(df: Any, batch_id: int) -> None:
            rows = df.select("t_ms", "seq", "body").collect()
            rows.sort(key=lambda r: (r.t_ms, r.seq))
            tmp = batches / f"batch-{batch_id:09d}.tmp"
            tmp.write_bytes(b"".join(len(r.body).to_bytes(4, "big") + bytes(r.body) for r in rows))
            tmp.replace(batches / f"batch-{batch_id:09d}.bin")

        writer = found.writeStream.foreachBatch(keep).option(
            "checkpointLocation", str(checkpoint_dir / "query")
        )
        with output_to(out_dir / "spark.log"):
            if bounded:
                query = writer.trigger(availableNow=True).start()
                query.awaitTermination()
            else:
                query = writer.start()
                query.processAllAvailable()
                query.stop()
        progress = query.recentProgress
        batch_ms = [
            p["durationMs"].get("triggerExecution", 0) for p in progress if p["numInputRows"]
        ]
    finally:
        if own:
            spark.stop()
    alerts = assemble([batches], out_dir / "alerts.jsonl")
    seconds = time.perf_counter() - started
    lines = sum(int(p["numInputRows"]) for p in progress)
    stats = {
        "engine": "spark",
        "events_read": lines,
        "alerts": alerts,
        "micro_batches": len(progress),
        # a finding leaves with its micro-batch: the time one takes is the least time from an
        # event to its alert in micro-batch mode (plus the wait for the next trigger)
        "batch_ms_p50": _pct(batch_ms, 0.50),
        "batch_ms_max": max(batch_ms, default=None),
        "wall_s": round(seconds, 3),
        "events_per_second": round(lines / seconds, 1) if seconds else None,
        "cores": settings.cores,
    }
    (out_dir / "stats.json").write_text(json.dumps(stats, indent=2) + "\n")
    return stats


def _same_run(
    checkpoint_dir: Path, pipeline: StagePipeline, input_path: Path | str, settings: SparkSettings
) -> None:
    """Refuse to resume a checkpoint with another input, detector or cut into micro-batches:
    Spark would take the new input's files or offsets for ones it has seen (docs/spark.md)."""
    from vigil.runtime.checkpoint import input_fingerprint

    if isinstance(input_path, Path):
        source: dict[str, Any] = {
            "input": str(input_path.resolve()),
            "input_bytes": input_path.stat().st_size if input_path.is_file() else None,
            "input_start": input_fingerprint(input_path) if input_path.is_file() else None,
        }
    else:
        from vigil.kafka.config import parse_kafka_url

        source = {"input": "kafka:" + ",".join(sorted(parse_kafka_url(input_path).topics))}
    now = {
        **source,
        "stages": pipeline.stage_versions,
        "settings": repr(getattr(pipeline, "settings", None)),
        "max_lines": settings.max_lines,
        "watermark_delay_ms": settings.watermark_delay_ms,
    }
    path = checkpoint_dir / RUN_FILE
    if path.is_file():
        was = json.loads(path.read_text())
        changed = [k for k in sorted(set(was) | set(now)) if was.get(k) != now.get(k)]
        if changed:
            k = changed[0]
            raise ConfigError(
                f"the checkpoint in {str(checkpoint_dir)!r} was written with {k} "
                f"{was.get(k)!r}, not {now.get(k)!r}: resume with what it was started with, "
                "or give a new --checkpoint-dir (a file that grew is a new input: Spark's file "
                "source does not read a file again)"
            )
        return
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(now, indent=2) + "\n")


def _pct(values: list[int], q: float) -> int | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def assemble(batch_dirs: Sequence[Path], alerts_path: Path) -> int:
    """Every batch's findings (each pipeline's in turn, in batch order) as alerts, an alert
    id raised once, written whole to ``alerts_path``; how many."""
    emitted: set[str] = set()
    n = 0
    tmp = alerts_path.with_suffix(".tmp")
    with tmp.open("wb") as out:
        for path in (p for d in batch_dirs for p in sorted(d.glob("batch-*.bin"))):
            data = path.read_bytes()
            at = 0
            while at < len(data):
                size = int.from_bytes(data[at : at + 4], "big")
                sig = _signal.decode(data[at + 4 : at + 4 + size])
                at += 4 + size
                alert_id = f"{sig.detector}:{sig.subject_type}:{sig.subject_id}"
                if alert_id in emitted:
                    continue
                emitted.add(alert_id)
                out.write(
                    msgspec.json.encode(Alert(alert_id=alert_id, **msgspec.structs.asdict(sig)))
                )
                out.write(b"\n")
                n += 1
    tmp.replace(alerts_path)
    return n

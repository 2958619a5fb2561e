"""The Spark runtime beside the embedded one, on the same input in the same run.

``python bench/spark.py [--events N | --data events.jsonl] [--max-lines N] [--json]``
simulates a stream (or takes one) and runs the detectors on Spark so far
(``serial_returner``): the embedded runtime with only them, then ``vigil spark run``'s job
with Spark in ``local[1]`` and ``local[2]`` (Java 17 must be installed:
``scripts/ensure-java.sh``). It prints events/s for each, the ratio to the embedded runtime,
the JVM start, and the time a micro-batch took (the least time from an event to its alert in
micro-batch mode), and checks the alerts are the same.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--max-lines", type=int, default=50_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from vigil.ingest.sources import FileSource
    from vigil.runtime.embedded import EmbeddedRuntime, RuntimeSettings
    from vigil.spark.job import SparkSettings, run, session
    from vigil.spark.support import pipelines

    on_spark = pipelines()
    from vigil.spark.processor import PROFILE_ENV

    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory(prefix="vigil-bench-spark-") as tmp_name:
        tmp = Path(tmp_name)
        # where the stages' Python workers say where their time went (read after each run)
        profile = tmp / "profile"
        profile.mkdir()
        os.environ[PROFILE_ENV] = str(profile)
        path = args.data
        if path is None:
            from vigil.sim import SimConfig, simulate

            simulate(SimConfig(seed=args.seed, events=args.events), tmp / "sim")
            path = tmp / "sim" / "events.jsonl"
        n = sum(1 for _ in path.open("rb"))
        t0 = time.perf_counter()
        EmbeddedRuntime(on_spark, tmp / "embedded", RuntimeSettings(analytics=False)).run(
            FileSource(path)
        )
        embedded_s = time.perf_counter() - t0
        expected = sorted((tmp / "embedded" / "alerts.jsonl").read_bytes().splitlines())
        rows.append({"engine": "embedded", "cores": 1, "events_per_s": n / embedded_s})
        for cores in (1, 2):
            settings = SparkSettings(cores=cores, max_lines=args.max_lines)
            t0 = time.perf_counter()
            spark = session(settings, tmp / f"spark-{cores}.log")
            start_s = time.perf_counter() - t0
            try:
                out = tmp / f"spark-{cores}"
                t0 = time.perf_counter()
                stats = run(on_spark[0], path, out, tmp / f"ckpt-{cores}", settings, spark=spark)
                run_s = time.perf_counter() - t0
            finally:
                spark.stop()
            got = sorted((out / "alerts.jsonl").read_bytes().splitlines())
            spent = {"handler_s": 0.0, "state_s": 0.0, "keys": 0, "rows": 0}
            for f in profile.glob("*.jsonl"):
                for line in f.read_text().splitlines():
                    for k in spent:
                        spent[k] += json.loads(line)[k]
                f.unlink()
            rows.append(
                {
                    "engine": f"spark local[{cores}]",
                    "cores": cores,
                    "events_per_s": n / run_s,
                    "jvm_start_s": start_s,
                    "micro_batches": stats["micro_batches"],
                    "batch_ms_p50": stats["batch_ms_p50"],
                    "batch_ms_max": stats["batch_ms_max"],
                    "alerts_identical": got == expected,
                    # of the cores' time in the run: the stages' Python handlers (state calls
                    # included), and the state calls alone
                    "python_handlers_share": spent["handler_s"] / (run_s * cores),
                    "state_calls_share": spent["state_s"] / (run_s * cores),
                    "key_groups": spent["keys"],
                    "stage_rows": spent["rows"],
                }
            )
    base = rows[0]["events_per_s"]
    for row in rows:
        row["vs_embedded"] = row["events_per_s"] / base  # type: ignore[operator]
    if args.json:
        for row in rows:
            print(
                json.dumps(
                    {k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()}
                )
            )
        return
    print(f"{n:,} events; detectors on Spark: {', '.join(d.name for d in on_spark)}")
    for row in rows:
        extra = ""
        if "jvm_start_s" in row:
            extra = (
                f"  JVM start {row['jvm_start_s']:.1f} s, {row['micro_batches']} micro-batches, "
                f"batch p50 {row['batch_ms_p50']} ms, max {row['batch_ms_max']} ms, "
                f"alerts identical: {row['alerts_identical']}\n{'':<18}of the cores' time: "
                f"stage handlers {row['python_handlers_share']:.0%} (state calls "
                f"{row['state_calls_share']:.0%}); {row['key_groups']:,} key groups, "
                f"{row['stage_rows']:,} stage rows"
            )
        print(
            f"{row['engine']:<16} {row['events_per_s']:>10,.0f} events/s  "
            f"{row['vs_embedded']:.3f}x embedded{extra}"
        )


if __name__ == "__main__":
    main()

"""The Yahoo Streaming Benchmark: Vigil beside Spark Structured Streaming and Pathway.

``python bench/ysb.py [--events N] [--engines vigil,spark,pathway] [--cores 1] [--json]``
generates YSB's events (100 campaigns x 10 ads, JSON lines in the original's format, seeded)
into a temporary directory, then runs each engine in a child process pinned to ``--cores``
cores (the last ones; the feeder and this process keep the first), one after the other:

* **throughput**: the whole file as fast as the engine goes. events/s per core = events /
  processing time / pinned cores (the JVM's or Pathway's start is not in it, shown apart).
* **paced** (latency): a feeder in this process writes a file of JSON lines every 50 ms into
  a directory the engine watches, ``--paced-rate`` events/s for ``--paced-s`` seconds, each
  event's time being the wall clock it is due at (the original's ``run`` mode) give or take
  its 50 ms skew. A window's latency is the time of its final write (wall clock in the
  engine's sink) minus its end; p99 over the complete windows (start after the feed's start,
  end before its end).

Every engine's final counts per (campaign, window) are compared with a plain-Python count
(``json`` per line) of the same file, in both modes. The baseline beside Vigil's figure is
a bare msgspec decode of the same file (per line, into the same Struct). The peer engines
come from the ``ysb`` extra, installed in ``.venv-ysb`` (docs/ysb.md); Vigil runs on
``.venv``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ENGINES_DIR = ROOT / "bench" / "ysb_engines"
#: the peer engines' interpreters: Flink's pins (pyarrow < 17, numpy < 2.2) conflict with
#: Pathway's, so it has a venv of its own (pyproject.toml's ysb extra for .venv-ysb,
#: bench/ysb_engines/requirements-flink.txt for .venv-flink)
PEER_PYTHON = {
    "spark": ROOT / ".venv-ysb" / "bin" / "python",
    "pathway": ROOT / ".venv-ysb" / "bin" / "python",
    "flink": ROOT / ".venv-flink" / "bin" / "python",
}
ENGINES = ("vigil", "spark", "pathway", "flink")
FEED_EVERY_S = 0.05


def reference_counts(paths: list[Path], campaign_of: dict[str, str]) -> dict[tuple[str, int], int]:
    """The pipeline in plain Python, one ``json.loads`` per line: the counts to match."""
    counts: Counter[tuple[str, int]] = Counter()
    for path in paths:
        with path.open("rb") as f:
            for line in f:
                e = json.loads(line)
                if e["event_type"] == "view" and e["ad_id"] in campaign_of:
                    t = int(e["event_time"])
                    counts[(campaign_of[e["ad_id"]], t - t % 10_000)] += 1
    return dict(counts)


def bare_decode_per_s(path: Path) -> tuple[float, float]:
    """msgspec decoding the file into the operator's Struct and nothing else: one line at a
    time (the plain way), and the pieces Vigil's operator gets, each decoded at once (the
    floor under its pipeline). Events/s on this process's core."""
    import msgspec

    from vigil.ads.ysb import AdEvent, file_chunks

    decoder = msgspec.json.Decoder(AdEvent, strict=False)
    n = 0
    t0 = time.perf_counter()
    with path.open("rb") as f:
        for line in f:
            decoder.decode(line)
            n += 1
    per_line = n / (time.perf_counter() - t0)
    n = 0
    t0 = time.perf_counter()
    with file_chunks(path) as chunks:
        for chunk in chunks:
            n += len(decoder.decode_lines(chunk))
    return per_line, n / (time.perf_counter() - t0)


def _engine_cmd(
    engine: str, mode: str, data: Path, table: Path, out: Path, cores: int
) -> list[str]:
    peer = PEER_PYTHON.get(engine)
    python = str(peer) if peer is not None and peer.exists() else sys.executable
    return [
        python,
        str(ENGINES_DIR / f"run_{engine}.py"),
        f"--mode={mode}",
        f"--input={data}",
        f"--table={table}",
        f"--out={out}",
        f"--ready={out}.ready",
        f"--stop={out}.stop",
        f"--cores={cores}",
    ]


def _start(cmd: list[str], cpus: set[int], log: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), PYTHONUNBUFFERED="1")
    with log.open("ab") as out:
        return subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            preexec_fn=lambda: os.sched_setaffinity(0, cpus),
        )


def _finish(proc: subprocess.Popen[bytes], engine: str, log: Path) -> None:
    """Wait for the runner; its log's tail if it failed."""
    if proc.wait() != 0:
        tail = log.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"{engine} runner failed ({proc.returncode}); {log}:\n{tail}")


def _counts(result: dict[str, Any]) -> dict[tuple[str, int], int]:
    return {(c, w): n for c, w, n, _t in result["windows"]}


def run_throughput(
    engine: str,
    path: Path,
    events: int,
    table: Path,
    tmp: Path,
    cpus: set[int],
    expected: dict[tuple[str, int], int],
) -> dict[str, Any]:
    out = tmp / f"{engine}-throughput.json"
    log = tmp / f"{engine}.log"
    proc = _start(_engine_cmd(engine, "throughput", path, table, out, len(cpus)), cpus, log)
    _finish(proc, engine, log)
    result = json.loads(out.read_text())
    rate = events / result["run_s"]
    return {
        "events": events,
        "events_per_s": rate,
        "events_per_s_per_core": rate / len(cpus),
        "cores": len(cpus),
        "run_s": result["run_s"],
        "startup_s": result["startup_s"],
        "throughput_identical": _counts(result) == expected,
    }


def feed(directory: Path, staging: Path, rate: int, seconds: float, seed: int) -> tuple[int, int]:
    """Events due at ``rate`` per second of wall clock, written as a file every 50 ms;
    returns the feed's first and last event time (ms)."""
    from vigil.ads.ysb import campaign_table, event_lines, wall_clock_ms

    table = campaign_table(seed)
    rng = random.Random(seed)
    start_ms = wall_clock_ms()
    end_ms = start_ms + int(seconds * 1000)
    sent = 0
    part = 0
    while True:
        now = wall_clock_ms()
        due = min(now, end_ms)
        upto = (due - start_ms) * rate // 1000
        if upto > sent:
            times = [start_ms + (i * 1000) // rate for i in range(sent, upto)]
            staged = staging / f"{part:06d}.jsonl"
            staged.write_bytes(event_lines(table, times, rng, jitter_ms=50))
            staged.rename(directory / staged.name)
            sent = upto
            part += 1
        if due >= end_ms:
            return start_ms, end_ms
        time.sleep(max(0.0, FEED_EVERY_S - (wall_clock_ms() - now) / 1000))


def run_paced(
    engine: str, table: Path, tmp: Path, cpus: set[int], args: argparse.Namespace
) -> dict[str, Any]:
    directory = tmp / f"{engine}-paced"
    staging = tmp / f"{engine}-staging"
    directory.mkdir()
    staging.mkdir()
    out = tmp / f"{engine}-paced.json"
    log = tmp / f"{engine}.log"
    proc = _start(_engine_cmd(engine, "paced", directory, table, out, len(cpus)), cpus, log)
    ready = Path(f"{out}.ready")
    while not ready.exists():
        if proc.poll() is not None:
            _finish(proc, engine, log)
        time.sleep(0.05)
    time.sleep(args.warmup_s)
    start_ms, end_ms = feed(directory, staging, args.paced_rate, args.paced_s, args.seed)
    time.sleep(args.grace_s)
    Path(f"{out}.stop").touch()
    _finish(proc, engine, log)
    result = json.loads(out.read_text())
    campaign_of = json.loads(table.read_text())
    expected = reference_counts(sorted(directory.iterdir()), campaign_of)
    latencies = sorted(
        t - (w + 10_000)
        for _c, w, _n, t in result["windows"]
        if w >= start_ms and w + 10_000 <= end_ms
    )
    # how far apart the sink's writes came: an engine that keeps up with its once-a-second
    # writes has gaps of about a second
    writes = result["write_times"]
    gaps = sorted(b - a for a, b in itertools.pairwise(writes))
    return {
        "paced_events_per_s": args.paced_rate,
        "paced_writes": len(writes),
        "paced_write_gap_p50_ms": _quantile(gaps, 0.50),
        "paced_write_gap_max_ms": gaps[-1] if gaps else None,
        "paced_windows": len(latencies),
        "p50_latency_ms": _quantile(latencies, 0.50),
        "p99_latency_ms": _quantile(latencies, 0.99),
        "max_latency_ms": latencies[-1] if latencies else None,
        "paced_identical": _counts(result) == expected,
    }


def _quantile(values: list[int], q: float) -> int | None:
    """The nearest-rank quantile: the smallest value with at least ``q`` of them at or below."""
    if not values:
        return None
    return values[max(0, math.ceil(q * len(values)) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--cores", type=int, default=1, help="cores pinned to each engine")
    parser.add_argument("--paced-rate", type=int, default=10_000, help="events/s, paced run")
    parser.add_argument("--paced-s", type=float, default=40.0, help="seconds fed, paced run")
    parser.add_argument("--warmup-s", type=float, default=3.0)
    parser.add_argument("--grace-s", type=float, default=8.0)
    parser.add_argument("--no-paced", action="store_true", help="throughput only")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    for engine in engines:
        if engine not in ENGINES:
            parser.error(f"unknown engine {engine!r}: one of {', '.join(ENGINES)}")
    ncpu = len(os.sched_getaffinity(0))
    if not 1 <= args.cores <= ncpu:
        parser.error(f"--cores {args.cores}: this machine has {ncpu}")
    cpus = set(sorted(os.sched_getaffinity(0))[-args.cores :])

    from vigil.ads.ysb import campaign_table, write_events

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="vigil-bench-ysb-") as tmp_name:
        tmp = Path(tmp_name)
        ysb = campaign_table(args.seed)
        table = tmp / "campaigns.json"
        table.write_text(json.dumps(dict(ysb.campaign_of)))
        (tmp / "events").mkdir()
        path = tmp / "events" / "events.jsonl"
        t0 = time.perf_counter()
        write_events(path, ysb, args.events, seed=args.seed)
        generate_s = time.perf_counter() - t0
        size_mb = path.stat().st_size / 1e6
        t0 = time.perf_counter()
        expected = reference_counts([path], dict(ysb.campaign_of))
        reference_s = time.perf_counter() - t0
        # the baselines on the engines' core; this process (the feeder) then keeps the others
        others = set(os.sched_getaffinity(0)) - cpus or cpus
        os.sched_setaffinity(0, cpus)
        bare, bare_many = bare_decode_per_s(path)
        os.sched_setaffinity(0, others)
        for engine in engines:
            row: dict[str, Any] = {"engine": engine}
            row.update(run_throughput(engine, path, args.events, table, tmp, cpus, expected))
            if not args.no_paced:
                row.update(run_paced(engine, table, tmp, cpus, args))
            else:
                row["p99_latency_ms"] = None  # not measured: no paced run
            row["outputs_identical"] = row["throughput_identical"] and row.get(
                "paced_identical", True
            )
            if engine == "vigil":
                row["bare_decode_per_line_per_s"] = bare
                row["bare_decode_lines_per_s"] = bare_many
            rows.append(row)
    if args.json:
        for row in rows:
            print(
                json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()})
            )
        return
    print(
        f"{args.events:,} events ({size_mb:,.0f} MB, generated in "
        f"{generate_s:.1f} s; plain-Python reference {reference_s:.1f} s); each engine pinned to "
        f"{len(cpus)} core(s) {sorted(cpus)}; paced: {args.paced_rate:,} events/s for "
        f"{args.paced_s:.0f} s"
    )
    print(
        f"baseline, on this process's core: bare msgspec decode into the Struct, one line at a "
        f"time {bare:,.0f} events/s; Vigil's pieces, each at once (decode_lines) "
        f"{bare_many:,.0f} events/s"
    )
    for row in rows:
        p99 = row["p99_latency_ms"]
        print(
            f"{row['engine']:<8} {row['events_per_s_per_core']:>11,.0f} events/s per core "
            f"({row['events_per_s_per_core'] / bare:.2f}x bare decode; start "
            f"{row['startup_s']:.1f} s, run {row['run_s']:.1f} s)   p99 window latency "
            f"{'-' if p99 is None else f'{p99:,} ms'}"
            + (
                ""
                if args.no_paced
                else f" (p50 {row['p50_latency_ms']} ms, {row['paced_windows']} windows; "
                f"writes {row['paced_write_gap_p50_ms']} ms apart, p50)"
            )
            + f"   outputs identical: {row['outputs_identical']}"
        )


if __name__ == "__main__":
    main()

"""Throughput and memory benchmark of the embedded runtime, against a bare-decode baseline.

One command (``make bench`` or ``python bench/run.py``) simulates a stream (or reuses one
given by ``--data``), then in separate child processes, one core each:

* baseline: read the file and decode every line with msgspec, nothing else;
* end to end: ``vigil run`` semantics (decode, dedup, watermarks, request-time facts and
  decisions, detectors, alerts, dead letters), with and without the DuckDB analytics sink,
  without the request-time facts and decisions (what they cost), and with the ad analytics
  that ``vigil run`` adds by default (``--no-ads`` leaves them out: what they cost);

and prints events/s, peak RSS and the ratio end-to-end / baseline, plus a cProfile of the
end-to-end run (where the time goes). Results are also written to bench/results/.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def child_decode(path: str) -> dict[str, float]:
    from vigil.events.codec import decode_one
    from vigil.ingest.sources import FileSource

    n = 0
    t0 = time.perf_counter()
    for lines, _end in FileSource(Path(path)).batches(0):
        for raw in lines:
            n += 1
            decode_one(raw, n)
    return {"events": n, "seconds": time.perf_counter() - t0}


def child_pipeline(
    path: str,
    analytics: bool,
    profile: bool,
    detectors: bool,
    requests: bool = True,
    ads: bool = False,
) -> dict[str, float]:
    from vigil.detectors.registry import default_detectors
    from vigil.ingest.sources import FileSource
    from vigil.runtime.embedded import EmbeddedRuntime, RuntimeSettings

    dets = default_detectors() if detectors else []
    if ads:  # vigil run's default: the campaigns' figures and invalid-traffic rules
        from vigil.ads.pipeline import AdAnalytics

        dets.append(AdAnalytics())
    with tempfile.TemporaryDirectory(prefix="vigil-bench-") as out:
        rt = EmbeddedRuntime(
            dets, Path(out), RuntimeSettings(analytics=analytics, request_decisions=requests)
        )
        prof = cProfile.Profile() if profile else None
        t0 = time.perf_counter()
        if prof:
            prof.enable()
        stats = rt.run(FileSource(Path(path)))
        if prof:
            prof.disable()
        seconds = time.perf_counter() - t0
        result: dict[str, float] = {
            "events": stats.lines,
            "seconds": seconds,
            "alerts": stats.alerts,
        }
        if prof:
            buf = io.StringIO()
            pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(18)
            (HERE / "results").mkdir(exist_ok=True)
            (HERE / "results" / "profile.txt").write_text(buf.getvalue())
    return result


def in_child(*args: str) -> dict[str, float]:
    """Run one measurement in a fresh process pinned to one core; add its peak RSS."""
    env = dict(os.environ, PYTHONHASHSEED="0")
    cmd = [sys.executable, __file__, "--child", *args]
    if hasattr(os, "sched_setaffinity"):
        cmd = ["taskset", "-c", "0", *cmd] if _has_taskset() else cmd
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode:
        raise SystemExit(f"benchmark child failed: {' '.join(args)}\n{proc.stderr}")
    result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def _has_taskset() -> bool:
    return subprocess.run(["which", "taskset"], capture_output=True).returncode == 0


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--events", type=int, default=1_000_000, help="simulate this many events (default 1M)"
    )
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--data", type=Path, default=None, help="use this events.jsonl instead of simulating"
    )
    ap.add_argument("--no-profile", action="store_true", help="skip the cProfile run")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.child:
        kind, path, *rest = args.child
        if kind == "decode":
            res = child_decode(path)
        else:
            res = child_pipeline(
                path,
                analytics=rest[0] == "1",
                profile=rest[1] == "1",
                detectors=rest[2] == "1",
                requests=rest[3:4] != ["0"],
                ads=rest[4:5] == ["1"],
            )
        own = resource.getrusage(resource.RUSAGE_SELF)
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)  # the analytics loader process
        res["peak_rss_mb"] = own.ru_maxrss / 1024
        res["loader_peak_rss_mb"] = kids.ru_maxrss / 1024
        res["cpu_s"] = own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime
        print(json.dumps(res))
        return

    with tempfile.TemporaryDirectory(prefix="vigil-bench-data-") as tmp:
        path = args.data
        if path is None:
            from vigil.sim import SimConfig, simulate

            print(f"simulating {args.events:,} events (seed {args.seed}) ...", flush=True)
            t0 = time.perf_counter()
            simulate(SimConfig(seed=args.seed, events=args.events), Path(tmp))
            print(f"  done in {time.perf_counter() - t0:.1f}s", flush=True)
            path = Path(tmp) / "events.jsonl"
        size_mb = path.stat().st_size / 1e6
        print(f"input: {path} ({size_mb:,.0f} MB)\n", flush=True)
        rows = [
            ("baseline: read + msgspec decode", in_child("decode", str(path))),
            ("runtime only, no detectors, no sink", in_child("pipeline", str(path), "0", "0", "0")),
            ("end to end, no analytics sink", in_child("pipeline", str(path), "0", "0", "1")),
            ("end to end, with DuckDB analytics", in_child("pipeline", str(path), "1", "0", "1")),
            (
                "end to end, no request-time decisions",
                in_child("pipeline", str(path), "0", "0", "1", "0"),
            ),
            (
                "end to end + ad analytics (vigil run)",
                in_child("pipeline", str(path), "0", "0", "1", "1", "1"),
            ),
        ]
        base_rate = rows[0][1]["events"] / rows[0][1]["seconds"]
        print(
            f"{'measurement (pinned to 1 core)':<38} {'events':>10} {'wall s':>7} {'events/s':>10} "
            f"{'vs base':>8} {'CPU s':>6} {'peak RSS':>9} {'loader RSS':>10}"
        )
        report = []
        for name, r in rows:
            rate = r["events"] / r["seconds"]
            loader = r.get("loader_peak_rss_mb", 0.0)
            print(
                f"{name:<38} {int(r['events']):>10,} {r['seconds']:>7.2f} {rate:>10,.0f} "
                f"{rate / base_rate:>7.2f}x {r.get('cpu_s', 0.0):>6.1f} "
                f"{r['peak_rss_mb']:>7,.0f}MB {loader:>8,.0f}MB"
            )
            report.append(
                {"name": name, **r, "events_per_s": rate, "ratio_vs_baseline": rate / base_rate}
            )
        target = 200_000
        e2e = report[2]["events_per_s"]  # validation, dedup, watermarks, features, detectors
        print(
            f"\ntarget >= {target:,} retail events/s per core through validation, features and "
            f"detectors: {'MET' if e2e >= target else 'NOT MET'} ({e2e:,.0f}/s; "
            f"{report[3]['events_per_s']:,.0f}/s with the DuckDB sink on the same core)"
        )
        if not args.no_profile:
            in_child("pipeline", str(path), "0", "1", "1")
            where = HERE / "results" / "profile.txt"
            print(f"\nprofile of the end-to-end run (top by own time): {where}")
            print("\n".join((HERE / "results" / "profile.txt").read_text().splitlines()[:40]))
        (HERE / "results").mkdir(exist_ok=True)
        (HERE / "results" / "throughput.json").write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent / "src"))
    main()

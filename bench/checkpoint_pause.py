"""The embedded runtime's checkpoint pause, and what each part of the snapshot costs.

One command: ``python bench/checkpoint_pause.py --data EVENTS.jsonl [--every N] [--json]``
(without ``--data`` it simulates 1M events first). It runs ``vigil run`` semantics over the
file with a checkpoint every ``N`` events (default 200,000; taken at the first batch end, about
4 MiB of input, after each N), times every checkpoint (the
whole pause: outputs flushed, state backend, request facts, snapshot written), then, on the
final state, times taking each part whole. Beside it, in the same run, the baseline: the
request-time facts pickled whole, struct by struct, as every checkpoint kept them before
they had files of their own (a base, then deltas of the entries changed).
"""

from __future__ import annotations

import argparse
import gc
import json
import pickle
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _timing import time_calls  # run as a script: this directory is on sys.path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, help="events.jsonl (default: simulate 1M)")
    parser.add_argument("--every", type=int, default=200_000, help="checkpoint every N events")
    parser.add_argument("--state-backend", default="memory", choices=("memory", "rocksdb"))
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    if args.data is not None and not args.data.is_file():
        parser.error(f"--data {args.data}: no such file (a simulator's events.jsonl)")

    from vigil.detectors.registry import default_detectors
    from vigil.ingest.sources import FileSource
    from vigil.runtime import checkpoint
    from vigil.runtime.embedded import EmbeddedRuntime, RuntimeSettings

    with tempfile.TemporaryDirectory(prefix="vigil-bench-") as tmp:
        data = args.data
        if data is None:
            from vigil.sim import SimConfig, simulate

            print("simulating 1M events ...", file=sys.stderr)
            data = simulate(SimConfig(seed=1, events=1_000_000), Path(tmp) / "sim").events_path
        settings = RuntimeSettings(
            analytics=False, checkpoint_every_events=args.every, state_backend=args.state_backend
        )
        rt = EmbeddedRuntime(
            default_detectors(), Path(tmp) / "out", settings, checkpoint_dir=Path(tmp) / "ckpt"
        )
        pauses: list[float] = []
        time_calls(rt, "_checkpoint", pauses)
        backend_ms: list[float] = []
        snapshot_ms: list[float] = []
        time_calls(rt.state, "checkpoint", backend_ms)
        time_calls(checkpoint, "save", snapshot_ms)
        facts_ms: list[float] = []
        if hasattr(rt.facts, "checkpoint"):  # (a checkout from before the facts had files)
            time_calls(rt.facts, "checkpoint", facts_ms)
        stats = rt.run(FileSource(Path(data)))
        parts: dict[str, Any] = {
            "keyed_state (Context.keyed: refund model)": lambda: rt.keyed_state,
            "request facts (whole)": rt.facts.state,
            "dedup ids": lambda: (rt._seen_new, rt._seen_old),
            "decisions": rt.decisions.state,
            "timers": lambda: rt.timers,
        }
        costs = {name: _pickle_ms(get) for name, get in parts.items()}
        baseline = _pickle_ms(lambda: rt.facts.tables)
    result = {
        "events": stats.lines,
        "checkpoints": len(pauses),
        "pause_p50_ms": round(statistics.median(pauses), 1),
        "pause_max_ms": round(max(pauses), 1),
        "state_backend_p50_ms": round(statistics.median(backend_ms), 1),
        "snapshot_p50_ms": round(statistics.median(snapshot_ms), 1),
        "facts_p50_ms": round(statistics.median(facts_ms), 1) if facts_ms else None,
        "parts": {k: {"ms": round(v[0], 1), "mb": round(v[1], 2)} for k, v in costs.items()},
        "facts_pickled_per_struct_ms": round(baseline[0], 1),
        "facts_encoded_ms": round(costs["request facts (whole)"][0], 1),
    }
    if args.json:
        print(json.dumps(result))
        return
    print(f"{result['events']:,} events, {result['checkpoints']} checkpoints")
    print(
        f"checkpoint pause: p50 {result['pause_p50_ms']} ms, max {result['pause_max_ms']} ms "
        f"(state backend p50 {result['state_backend_p50_ms']} ms, request facts p50 "
        f"{result['facts_p50_ms']} ms, snapshot file p50 {result['snapshot_p50_ms']} ms)"
    )
    print("the final snapshot, part by part (pickle):")
    for name, (ms, mb) in costs.items():
        print(f"  {name:40s} {ms:8.1f} ms {mb:8.2f} MB")
    ratio = baseline[0] / max(costs["request facts (whole)"][0], 1e-9)
    print(
        f"request facts taken whole: {costs['request facts (whole)'][0]:.0f} ms encoded, against "
        f"{baseline[0]:.0f} ms pickled struct by struct in this run ({ratio:.0f}x)"
    )


def _pickle_ms(get: Any) -> tuple[float, float]:
    """Time to take a part (``get``) whole and pickle it (the collector held off: its pauses
    are not the part's)."""
    gc.collect()
    gc.disable()
    try:
        t0 = time.perf_counter()
        blob = pickle.dumps(get(), protocol=pickle.HIGHEST_PROTOCOL)
        return (time.perf_counter() - t0) * 1000, len(blob) / 1e6
    finally:
        gc.enable()


if __name__ == "__main__":
    main()

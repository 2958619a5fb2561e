"""Keyed state at scale: memory, and the pause of a checkpoint against the keys it changed.

    python bench/state_scale.py [--customers N] [--backend memory|rocksdb] [--changed K]
                                [--checkpoints C] [--json]

In one child process (so peak RSS is this workload's alone): N customers are written through
the stage contract (``vigil.state.keyed``), each with a value (sign-up, country, order and
refund counts, the last amounts) and a map of the devices, cards and addresses it used (three
fields), as a customer-keyed stage keeps them. Then, C times: K random customers change (a
new order), and a checkpoint is taken; its pause is timed.

Baselines measured in the same run: the first checkpoint (everything is new), and a pickle of
the same state as the runtime's snapshot held it before ADR 0004 (the whole state, every time).
The figure to read is the pause of a checkpoint after K changes against those two: it should
follow K, not N.

This measures the state layer with a customer-shaped workload. The issue's full figure
(10 million customers through the whole pipeline) waits for every detector to be on stages
(docs/adr/0004-keyed-state.md, "Where it stands").
"""

from __future__ import annotations

import argparse
import json
import pickle
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DAY_MS = 86_400_000
T0 = 1_767_225_600_000


def child(customers: int, backend_name: str, changed: int, checkpoints: int) -> dict[str, object]:
    from vigil.state.keyed import MapSpec, StageContext, ValueSpec, open_backend

    class Customers:
        name = "customers"
        version = 1
        reads = frozenset({"order_placed"})
        key = "customer"

        def state(self) -> tuple[object, ...]:
            return (ValueSpec("profile", 400 * DAY_MS), MapSpec("links", 400 * DAY_MS))

    rng = random.Random(1)
    with tempfile.TemporaryDirectory(prefix="vigil-state-scale-") as tmp:
        root = Path(tmp)
        backend = open_backend(backend_name, root / "work")
        ctx = StageContext(Customers(), backend, lambda *_: None)  # type: ignore[arg-type]
        profile, links = ctx.value("profile"), ctx.map("links")
        t = T0
        started = time.perf_counter()
        for i in range(customers):
            t += 5
            ctx.bind(f"c-{i:012x}", t, 0)
            profile.set((t, "US", 1, 0, (rng.randint(500, 90_000),)))
            links.put(f"d:{rng.getrandbits(48):012x}", t)
            links.put(f"p:{rng.getrandbits(48):012x}", t)
            links.put(f"a:{rng.getrandbits(48):012x}", t)
        load_s = time.perf_counter() - started
        ckpt = root / "ckpt"
        seen_files: set[str] = set()

        def take() -> tuple[float, int]:
            t0 = time.perf_counter()
            manifest = backend.checkpoint(ckpt)
            pause = time.perf_counter() - t0
            backend.committed(ckpt, manifest)
            if backend_name == "memory":
                return pause, int(manifest["files"][-1]["bytes"])  # type: ignore[index]
            # RocksDB: SST files are immutable and named once; a checkpoint links the old
            # ones and writes the new ones (and copies its small MANIFEST and OPTIONS)
            folder = ckpt / str(manifest["dir"])
            written = 0
            for path in folder.iterdir():
                if not path.name.endswith(".sst") or path.name not in seen_files:
                    written += path.stat().st_size
                seen_files.add(path.name)
            return pause, written

        first_pause, first_bytes = take()
        pauses: list[float] = []
        sizes: list[int] = []
        for _round in range(checkpoints):
            for _ in range(changed):
                t += 5
                i = rng.randrange(customers)
                ctx.bind(f"c-{i:012x}", t, 0)
                old = profile.get()
                profile.set((old[0], old[1], old[2] + 1, old[3], (*old[4][-4:], 1234)))
            pause, written = take()
            pauses.append(pause)
            sizes.append(written)
        full_pickle_s = float("nan")
        if backend_name == "memory":  # what the snapshot did before: pickle everything
            t0 = time.perf_counter()
            blob = pickle.dumps(
                (backend.values, backend.maps),  # type: ignore[attr-defined]
                protocol=pickle.HIGHEST_PROTOCOL,
            )
            full_pickle_s = time.perf_counter() - t0
            del blob
        backend.close()
    pauses.sort()
    p99 = pauses[min(len(pauses) - 1, int(0.99 * len(pauses)))]
    full_pickle_ms = None if backend_name != "memory" else round(full_pickle_s * 1000, 1)
    return {
        "customers": customers,
        "backend": backend_name,
        "changed_per_checkpoint": changed,
        "checkpoints": checkpoints,
        "load_seconds": round(load_s, 2),
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "first_checkpoint_ms": round(first_pause * 1000, 1),
        "first_checkpoint_bytes": first_bytes,
        "checkpoint_pause_p50_ms": round(statistics.median(pauses) * 1000, 1),
        "checkpoint_pause_p99_ms": round(p99 * 1000, 1),
        "checkpoint_bytes": int(statistics.median(sizes)),
        "full_pickle_ms": full_pickle_ms,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--backend", choices=("memory", "rocksdb"), default="memory")
    ap.add_argument("--changed", type=int, default=10_000, help="keys changed per checkpoint")
    ap.add_argument("--checkpoints", type=int, default=10)
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.customers, args.backend, args.changed, args.checkpoints)))
        return
    cmd = [
        sys.executable, __file__, "--child", "--customers", str(args.customers),
        "--backend", args.backend, "--changed", str(args.changed),
        "--checkpoints", str(args.checkpoints),
    ]  # fmt: skip
    if not args.json:
        print(f"state_scale: {args.customers:,} customers on {args.backend} ...", file=sys.stderr)
    result = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
    if args.json:
        print(json.dumps(result))
        return
    r = result
    print(
        f"customers              {r['customers']:,} ({r['backend']}), "
        f"loaded in {r['load_seconds']} s"
    )
    print(f"peak RSS               {r['peak_rss_bytes'] / 2**30:.2f} GiB")
    print(
        f"first checkpoint       {r['first_checkpoint_ms']} ms, "
        f"{r['first_checkpoint_bytes'] / 2**20:.1f} MiB (everything new)"
    )
    print(
        f"after {r['changed_per_checkpoint']:,} changes  p50 {r['checkpoint_pause_p50_ms']} ms, "
        f"p99 {r['checkpoint_pause_p99_ms']} ms, {r['checkpoint_bytes'] / 2**20:.2f} MiB written"
    )
    if r["backend"] == "memory":
        print(
            f"baseline: whole-state pickle (the snapshot before ADR 0004) {r['full_pickle_ms']} ms"
        )


if __name__ == "__main__":
    main()

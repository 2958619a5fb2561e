"""Keyed state at scale: memory, and the pause of a checkpoint against the keys it changed.

    python bench/state_scale.py [--customers N] [--backend memory|rocksdb] [--changed K]
                                [--checkpoints C] [--json]
    python bench/state_scale.py --pipeline [--customers N] [--backend ...] [--every E] [--json]

In one child process (so peak RSS is this workload's alone): N customers are written through
the stage contract (``vigil.state.keyed``), each with a value (sign-up, country, order and
refund counts, the last amounts) and a map of the devices, cards and addresses it used (three
fields), as a customer-keyed stage keeps them. Then, C times: K random customers change (a
new order), and a checkpoint is taken; its pause is timed.

Baselines measured in the same run: the first checkpoint (everything is new), and a pickle of
the same state as the runtime's snapshot held it before ADR 0004 (the whole state, every time).
The figure to read is the pause of a checkpoint after K changes against those two: it should
follow K, not N.

With ``--pipeline``, the same question through the whole pipeline: a file is generated with
N customers, each signing up, logging in, placing an order (device, IP, address, card) that
is delivered, one in ten asking for and getting a refund (about 4.2 events a customer, in
event-time order), and ``vigil run`` semantics (every detector, request-time decisions, no
analytics sink) run over it in a child process, checkpointing every ``--every`` events; the
child's peak RSS and every checkpoint's pause are reported, with the state backend's part.
What stays in the heap whatever the backend (``fraud_ring``'s graph, the request-time
facts, the dedup ids) is what the RocksDB figure shows.
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

from _timing import time_calls  # run as a script: this directory is on sys.path

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


def write_customers(path: Path, customers: int) -> int:
    """``customers`` customers' events, in event-time order, as JSON lines; how many."""
    import heapq

    from vigil.events.codec import encode_one
    from vigil.events.schemas import (
        CustomerLogin,
        CustomerSignup,
        LineItem,
        OrderPlaced,
        RefundIssued,
        RefundRequested,
        ShipmentDelivered,
    )

    step = 60_000 * 60 * 24 * 90 // max(1, customers)  # sign-ups spread over 90 days
    countries = ("US", "GB", "DE", "FR", "CA", "ES", "IT", "NL")

    def stream(kind: str, offset_ms: int, every: int = 1):
        for i in range(0, customers, every):
            yield T0 + i * step + offset_ms, i, kind

    def event(kind: str, t: int, i: int):  # type: ignore[no-untyped-def]
        cid, oid = f"c-{i:016x}", f"o-{i:014x}"
        dev, ip = f"dv-{i:012x}", f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"
        country = countries[i % len(countries)]
        if kind == "signup":
            return CustomerSignup(
                event_id=f"su-{i:x}",
                event_time_ms=t,
                customer_id=cid,
                email_hash=f"em-{i:x}",
                country=country,
                device_id=dev,
                ip=ip,
            )
        if kind == "login":
            return CustomerLogin(
                event_id=f"li-{i:x}",
                event_time_ms=t,
                customer_id=cid,
                device_id=dev,
                ip=ip,
                country=country,
                success=True,
            )
        price = 2_000 + (i * 7919) % 150_000
        if kind == "order":
            item = LineItem(
                sku=f"sku-{i % 5000}",
                category="electronics",
                price_cents=price,
                weight_g=500 + i % 3000,
            )
            return OrderPlaced(
                event_id=f"op-{i:x}",
                event_time_ms=t,
                order_id=oid,
                customer_id=cid,
                items=[item],
                total_cents=price,
                shipping_address_hash=f"ad-{i:x}",
                payment_fingerprint=f"pf-{i:x}",
                device_id=dev,
                ip=ip,
                country=country,
            )
        if kind == "delivered":
            return ShipmentDelivered(
                event_id=f"sd-{i:x}", event_time_ms=t, order_id=oid, customer_id=cid, carrier="ups"
            )
        refund = {
            "event_id": f"rq-{i:x}",
            "event_time_ms": t,
            "refund_id": f"rf-{i:x}",
            "order_id": oid,
            "customer_id": cid,
            "amount_cents": price,
            "method": "original_payment",
            "issued_by": "system",
            "policy": "returnless",
        }
        if kind == "request":
            return RefundRequested(**refund, channel="self_service")
        return RefundIssued(**{**refund, "event_id": f"ri-{i:x}", "event_time_ms": t + 1_000})

    day = 86_400_000
    streams = [
        stream("signup", 0), stream("login", 60_000), stream("order", 300_000),
        stream("delivered", 2 * day), stream("request", 5 * day, 10), stream("issued", 5 * day, 10),
    ]  # fmt: skip
    n = 0
    with open(path, "wb") as fh:
        for t, i, kind in heapq.merge(*streams):
            fh.write(encode_one(event(kind, t, i)) + b"\n")
            n += 1
    return n


def child_pipeline(path: str, backend_name: str, every: int) -> dict[str, object]:
    from vigil.detectors.registry import default_detectors
    from vigil.ingest.sources import FileSource
    from vigil.runtime.embedded import EmbeddedRuntime, RuntimeSettings

    with tempfile.TemporaryDirectory(prefix="vigil-state-scale-") as tmp:
        settings = RuntimeSettings(
            analytics=False, checkpoint_every_events=every, state_backend=backend_name
        )
        rt = EmbeddedRuntime(
            default_detectors(), Path(tmp) / "out", settings, checkpoint_dir=Path(tmp) / "ckpt"
        )
        pauses: list[float] = []
        backend_ms: list[float] = []
        time_calls(rt, "_checkpoint", pauses)
        time_calls(rt.state, "checkpoint", backend_ms)
        started = time.perf_counter()
        stats = rt.run(FileSource(Path(path)))
        seconds = time.perf_counter() - started
        ckpt_bytes = sum(p.stat().st_size for p in (Path(tmp) / "ckpt").rglob("*") if p.is_file())
        # what the heap holds whatever the backend, by its pickled size (where the memory goes)
        held = {
            "fraud_ring graph and maps": rt.keyed_state,
            "request-time facts": rt.facts.tables,
            "dedup ids": (rt._seen_new, rt._seen_old),
            "decisions": rt.decisions.state(),
        }
        held_mb = {k: round(len(pickle.dumps(v, protocol=5)) / 1e6, 1) for k, v in held.items()}
    ordered = sorted(pauses)
    return {
        "events": stats.lines,
        "events_per_second": round(stats.lines / seconds),
        "checkpoints": len(pauses),
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "checkpoint_pause_p50_ms": round(statistics.median(pauses), 1),
        "checkpoint_pause_p99_ms": round(
            ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))], 1
        ),
        "state_backend_p50_ms": round(statistics.median(backend_ms), 1),
        "checkpoint_bytes": ckpt_bytes,
        "heap_parts_pickled_mb": held_mb,
    }


def main_pipeline(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="vigil-state-scale-in-") as tmp:
        path = Path(tmp) / "events.jsonl"
        if not args.json:
            print(f"writing {args.customers:,} customers' events ...", file=sys.stderr)
        n = write_customers(path, args.customers)
        if not args.json:
            print(f"{n:,} events; running the pipeline on {args.backend} ...", file=sys.stderr)
        cmd = [
            sys.executable, __file__, "--child-pipeline", str(path), "--backend", args.backend,
            "--every", str(args.every),
        ]  # fmt: skip
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    r = {"customers": args.customers, "backend": args.backend, **json.loads(out)}
    if args.json:
        print(json.dumps(r))
        return
    print(f"customers              {r['customers']:,} ({r['backend']}), {r['events']:,} events")
    print(f"throughput             {r['events_per_second']:,} events/s (all detectors, no sink)")
    print(f"peak RSS               {r['peak_rss_bytes'] / 2**30:.2f} GiB "
          f"({r['peak_rss_bytes'] / r['customers']:,.0f} bytes a customer)")  # fmt: skip
    print(
        f"checkpoint pause       p50 {r['checkpoint_pause_p50_ms']} ms, p99 "
        f"{r['checkpoint_pause_p99_ms']} ms over {r['checkpoints']} checkpoints "
        f"(state backend p50 {r['state_backend_p50_ms']} ms); "
        f"{r['checkpoint_bytes'] / 2**20:.0f} MiB on disk at the end"
    )
    parts = ", ".join(f"{k} {v} MB" for k, v in r["heap_parts_pickled_mb"].items())
    print(f"held in the heap       (pickled) {parts}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--backend", choices=("memory", "rocksdb"), default="memory")
    ap.add_argument("--changed", type=int, default=10_000, help="keys changed per checkpoint")
    ap.add_argument("--checkpoints", type=int, default=10)
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument(
        "--pipeline", action="store_true", help="the customers' events through the whole pipeline"
    )
    ap.add_argument(
        "--every", type=int, default=500_000, help="--pipeline: checkpoint every N events"
    )
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--child-pipeline", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child_pipeline:
        print(json.dumps(child_pipeline(args.child_pipeline, args.backend, args.every)))
        return
    if args.pipeline:
        main_pipeline(args)
        return
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

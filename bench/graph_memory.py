"""Memory and update cost of the ring detector's entity graph, against a plain baseline.

    .venv/bin/python bench/graph_memory.py                 # 10 million entities (~3 min)
    .venv/bin/python bench/graph_memory.py --entities 200000   # a quick run

A synthetic retailer with ``--entities`` entities in total (customers and what they link
to: devices, home IPs, shipping addresses, payment fingerprints), generated
deterministically: about 2% of customers in families sharing a tablet, address and home IP;
3% of them behind 200 mobile-carrier CGNAT IPs (hubs); 1% at 100 pickup points (hubs); rings
of 30 accounts on 3 devices and one card. Each customer signs up (device, IP) and places two
orders (device, IP, address, card), so about 10 account-entity updates per customer.

Each structure is built in its own child process, so peak RSS is its own:

* ``graph``: ``vigil.detectors.graph.entity_graph.EntityGraph`` (what ``fraud_ring`` keeps),
  then one expiry rebuild (``expire``) and one node sweep are timed on the full graph;
* ``baseline``: a plain ``dict[str, set[str]]`` adjacency in both directions, the obvious
  first implementation (no expiry, no components: the graph does strictly more).

Printed: state bytes per entity (RSS growth / entities), microseconds per update (minus the
cost of generating the names, measured in the same child), peak RSS, and graph / baseline
ratios. The brief's target: state for 10 million customers and linked entities <= 4 GiB.
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

DAY_MS = 86_400_000
T0 = 1_767_571_200_000
#: nodes per customer in this world: the account, ~1.4 devices, home IP, address, card, and
#: the second device or IP some customers have
_PER_CUSTOMER = 5.3
GIB = 1 << 30


def _rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * resource.getpagesize()


def _peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def events(n_entities: int) -> Iterator[tuple[str, tuple[str, ...], int]]:
    """(account, entities touched, time ms) per event, deterministic."""
    n_customers = max(100, int(n_entities / _PER_CUSTOMER))
    span = 60 * DAY_MS
    step = span // n_customers
    for i in range(n_customers):
        h = (i * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFF
        cid = f"c:c-{h:012x}"
        fam = i // 4 if i % 50 == 0 or i % 50 == 1 else -1  # ~2% in families of 2-4
        device = f"d:fam{fam}" if fam >= 0 else f"d:{h ^ 0x5A5A:012x}"
        home_ip = f"i:fam{fam}" if fam >= 0 else f"i:{(h >> 8) & 0xFFFFFFFF:08x}"
        address = f"a:fam{fam}" if fam >= 0 else f"a:{h ^ 0xA5A5:012x}"
        card = f"p:{h ^ 0x3C3C:012x}"
        mobile_ip = f"i:cgnat{(i // 100) % 200}" if i % 100 < 3 else home_ip
        if i % 100 == 5:
            address = f"a:pickup{(i // 100) % 100}"
        if i % 10_000 < 30:  # a ring: 30 accounts, 3 phones, one card
            device, card = f"d:ring{i // 10_000}-{i % 3}", f"p:ring{i // 10_000}"
        second = f"d:{h ^ 0x7777:012x}" if h % 5 < 2 else device
        t = T0 + i * step
        yield cid, (device, home_ip), t
        yield cid, (device, mobile_ip, address, card), t + DAY_MS
        yield cid, (second, home_ip, address, card), t + 20 * DAY_MS


def _count_updates(n_entities: int) -> tuple[int, int, float]:
    """(events, updates, seconds spent only generating them)."""
    n_ev = n_up = 0
    t = time.perf_counter()
    for _, ents, _ in events(n_entities):
        n_ev += 1
        n_up += len(ents)
    return n_ev, n_up, time.perf_counter() - t


def _build_graph(n_entities: int) -> dict[str, float]:
    from vigil.detectors.graph.entity_graph import EntityGraph

    caps = {"d": 32, "p": 32, "a": 12, "i": 8}
    g = EntityGraph({}, caps, 45)
    touch = g.touch
    gc.collect()
    before = _rss_bytes()
    t = time.perf_counter()
    for account, ents, when in events(n_entities):
        touch(account, ents, when)
    build_s = time.perf_counter() - t
    gc.collect()
    after = _rss_bytes()
    stats = g.stats()
    t = time.perf_counter()
    g.expire(T0 + 100 * DAY_MS)  # nothing expires: the cost of the daily rebuild pass
    expire_s = time.perf_counter() - t
    t = time.perf_counter()
    g.sweep_nodes(T0 + 30 * DAY_MS)  # nothing idle yet: the cost of the weekly pass
    sweep_s = time.perf_counter() - t
    return {
        "state_bytes": after - before,
        "build_s": build_s,
        "expire_s": expire_s,
        "sweep_s": sweep_s,
        "nodes": stats["nodes"],
        "hubs": stats["hubs"],
        "components": stats["components"],
        "linked_nodes": stats["linked_nodes"],
        "peak_rss": _peak_rss_bytes(),
    }


def _build_baseline(n_entities: int) -> dict[str, float]:
    adj: dict[str, set[str]] = {}
    gc.collect()
    before = _rss_bytes()
    t = time.perf_counter()
    for account, ents, _ in events(n_entities):
        mine = adj.get(account)
        if mine is None:
            mine = adj[account] = set()
        for e in ents:
            mine.add(e)
            other = adj.get(e)
            if other is None:
                other = adj[e] = set()
            other.add(account)
    build_s = time.perf_counter() - t
    gc.collect()
    after = _rss_bytes()
    return {
        "state_bytes": after - before,
        "build_s": build_s,
        "nodes": len(adj),
        "peak_rss": _peak_rss_bytes(),
    }


_MODES: dict[str, Callable[[int], dict[str, float]]] = {
    "graph": _build_graph,
    "baseline": _build_baseline,
}


def _child(mode: str, n_entities: int) -> None:
    gc.freeze()
    n_ev, n_up, gen_s = _count_updates(n_entities)
    out = _MODES[mode](n_entities)
    out.update({"events": n_ev, "updates": n_up, "gen_s": gen_s})
    print(json.dumps(out))


def _run_child(mode: str, n_entities: int) -> dict[str, float]:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", mode, "--entities", str(n_entities)],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=10_000_000)
    parser.add_argument(
        "--baseline-entities",
        type=int,
        default=None,
        help="entities for the baseline (default: the same; its bytes per entity are compared)",
    )
    parser.add_argument("--child", choices=sorted(_MODES), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child, args.entities)
        return 0
    n = args.entities
    nb = args.baseline_entities or n
    graph = _run_child("graph", n)
    base = _run_child("baseline", nb)
    g_nodes, b_nodes = graph["nodes"], base["nodes"]
    g_bpe = graph["state_bytes"] / g_nodes
    b_bpe = base["state_bytes"] / b_nodes
    g_us = max(0.0, graph["build_s"] - graph["gen_s"]) / graph["updates"] * 1e6
    b_us = max(0.0, base["build_s"] - base["gen_s"]) / base["updates"] * 1e6
    projected = g_bpe * 10_000_000 / GIB
    print(f"entity graph benchmark: {n:,} entities requested, {g_nodes:,.0f} nodes built")
    print(f"  events {graph['events']:,.0f}, account-entity updates {graph['updates']:,.0f}")
    print(
        f"  graph:    {graph['state_bytes'] / GIB:6.2f} GiB state, {g_bpe:6.1f} B/entity, "
        f"{g_us:5.2f} us/update, peak RSS {graph['peak_rss'] / GIB:5.2f} GiB; "
        f"{graph['hubs']:,.0f} hubs, {graph['components']:,.0f} components "
        f"({graph['linked_nodes']:,.0f} linked nodes)"
    )
    print(
        f"            expiry rebuild pass {graph['expire_s'] * 1e3:,.0f} ms, "
        f"node sweep pass {graph['sweep_s'] * 1e3:,.0f} ms"
    )
    print(
        f"  baseline: {base['state_bytes'] / GIB:6.2f} GiB state, {b_bpe:6.1f} B/entity, "
        f"{b_us:5.2f} us/update, peak RSS {base['peak_rss'] / GIB:5.2f} GiB "
        f"(dict of sets, {b_nodes:,.0f} nodes, no expiry, no components)"
    )
    print(
        f"  ratios graph/baseline: memory per entity {g_bpe / b_bpe:.2f}x, "
        f"time per update {g_us / b_us if b_us else float('nan'):.2f}x"
    )
    verdict = "meets" if projected <= 4.0 else "MISSES"
    print(f"  projected state for 10M entities: {projected:.2f} GiB ({verdict} the 4 GiB target)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""A hostile stream through `vigil run`: every kind of bad record, none of which may crash,
blind or be lost.

    python bench/hostile_stream.py [--events 1000000] [--seed 11] [--inject 1000] [--keep DIR]

The simulator writes the stream with 5% malformed records (its own kinds: missing and
mistyped fields, cut lines, unknown types and enum values, broken JSON); then, at random
places, ``--inject`` times each: a value far over its bound (5,000 characters in a string
field), an event dated in the year 3000 and an event id sent again with another body; and a
tenth as many lines over the 1 MiB record bound. Both streams, with and without the
injections, go through `vigil run` with the DuckDB analytics sink on (a 50 MB value used to
crash it), and the bench prints,
beside each other: exit code, events/s, counts, whether they reconcile, dead letters by
reason, whether every injected record was kept with the right reason, and whether the
alerts are the same (the injections must change nothing but the dead letters).
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

YEAR_3000_MS = 32_503_680_000_000


def inject(lines: list[bytes], n: int, seed: int) -> tuple[list[bytes], dict[str, str]]:
    """The stream with the injections, and injected event id (or line tag) -> reason."""
    rng = random.Random(seed)
    from vigil.events.codec import DecodeFailure, decode_one

    # originals the runtime accepts (the simulator's malformed twins parse as JSON too)
    valid = [i for i, x in enumerate(lines) if not isinstance(decode_one(x, i), DecodeFailure)]
    extra: dict[int, list[bytes]] = {}
    expected: dict[str, str] = {}
    for kind in ("oversized_value", "oversized_line", "future", "conflicting"):
        # a tenth as many lines over the record bound: each is over a MiB
        for k in range(max(1, n // 10) if kind == "oversized_line" else n):
            at = rng.choice(valid)
            doc = json.loads(lines[at])
            if kind == "conflicting":
                doc["v"] = 1
                doc["_resent"] = k  # another body, the same id (unknown fields are ignored)
                expected[str(doc["event_id"])] = "conflicting_duplicate"
                extra.setdefault(at + 1, []).append(json.dumps(doc).encode())
                continue
            doc["event_id"] = f"{kind}-{k}"
            if kind == "oversized_value":
                # the event's first string field (an id, a hash, a country, an enum: each has
                # a bound far below 5,000 characters)
                field = next(
                    f
                    for f, v in doc.items()
                    if isinstance(v, str) and f not in ("type", "event_id")
                )
                doc[field] = "x" * 5_000
                expected[doc["event_id"]] = "malformed"
            elif kind == "oversized_line":
                doc["padding"] = "p" * (1 << 20)
                expected[doc["event_id"]] = "malformed"
            else:
                doc["event_time_ms"] = YEAR_3000_MS
                expected[doc["event_id"]] = "too_early"
            extra.setdefault(at, []).append(json.dumps(doc).encode())
    out: list[bytes] = []
    for i, line in enumerate(lines):
        out.extend(extra.get(i, ()))
        out.append(line)
    return out, expected


def run(path: Path, out: Path) -> dict[str, object]:
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "vigil.cli.main", "run", "--input", str(path), "--out", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    stats = json.loads((out / "stats.json").read_text()) if (out / "stats.json").exists() else {}
    return {"exit": proc.returncode, "wall_s": wall, "stats": stats, "stderr": proc.stderr[-600:]}


def kept(out: Path, expected: dict[str, str]) -> tuple[int, list[str]]:
    """How many injected records are in the dead letters with the expected reason."""
    found: dict[str, str] = {}
    with (out / "dead_letter.jsonl").open("rb") as fh:
        for line in fh:
            d = json.loads(line)
            eid = d.get("event_id")
            reason = d["reason_code"]
            if eid is None and "record of" in d["reason"]:
                try:  # an oversized line names no id (not read): find it in the raw text
                    raw = d.get("raw") or ""
                    start = raw.index('"event_id": "') + 13
                    eid = raw[start : raw.index('"', start)]
                except ValueError:
                    continue
            want = expected.get(eid) if eid is not None else None
            # a re-send of an event that was itself too late is too late first
            if want == reason or (want == "conflicting_duplicate" and reason == "too_late"):
                found[eid] = reason  # type: ignore[index]
    missing = sorted(set(expected) - set(found))
    return len(found), missing[:5]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--seed", type=int, default=11)
    p.add_argument("--inject", type=int, default=1_000, help="records of each injected kind")
    p.add_argument("--keep", type=Path, default=None, help="keep the streams and outputs here")
    a = p.parse_args()
    from vigil.sim import SimConfig, simulate

    with tempfile.TemporaryDirectory(prefix="vigil-hostile-") as tmp:
        root = a.keep or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        print(f"simulating {a.events:,} events with 5% malformed records ...", flush=True)
        simulate(SimConfig(seed=a.seed, events=a.events, malformed_rate=0.05), root / "sim")
        clean_path = root / "sim" / "events.jsonl"
        lines = clean_path.read_bytes().splitlines()
        hostile, expected = inject(lines, a.inject, a.seed)
        hostile_path = root / "hostile.jsonl"
        hostile_path.write_bytes(b"".join(line + b"\n" for line in hostile))
        print(f"injected {len(expected):,} records ({a.inject:,} of each kind); running ...")
        clean = run(clean_path, root / "clean")
        bad = run(hostile_path, root / "hostile")
        n_kept, missing = kept(root / "hostile", expected)
        same = (root / "clean" / "alerts.jsonl").read_bytes() == (
            root / "hostile" / "alerts.jsonl"
        ).read_bytes()
        rows = [("stream", "simulated, 5% malformed", "the same + injections")]
        for label, key in (
            ("exit code", "exit"),
            ("events read", "events_read"),
            ("processed", "processed"),
            ("dead-lettered", "dead_lettered"),
            ("duplicates", "duplicates"),
            ("reconciles", "reconciles"),
            ("dead letters by reason", "dead_letter_reasons"),
            ("alerts", "alerts"),
            ("events/s (with DuckDB)", "events_per_second"),
        ):
            vals = []
            for r in (clean, bad):
                stats = r["stats"]
                assert isinstance(stats, dict)
                vals.append(str(r[key]) if key == "exit" else str(stats.get(key)))
            rows.append((label, vals[0], vals[1]))
        width = max(len(r[0]) for r in rows)
        for label, x, y in rows:
            print(f"{label:<{width}}  {x:<40}  {y}")
        print(f"injected records kept with the expected reason: {n_kept:,} of {len(expected):,}")
        if missing:
            print(f"  not found (first 5): {missing}")
        print(f"alerts identical with and without the injections: {same}")
        for r in (clean, bad):
            if r["exit"] != 0:
                print(r["stderr"])
        ok = bad["exit"] == 0 and n_kept == len(expected) and same
        print("RESULT:", "no crash, nothing lost, nothing changed" if ok else "FAILED")
        if not ok:
            raise SystemExit(1)


if __name__ == "__main__":
    main()

"""A real crash test: SIGKILL the runtime process at random points, restart it until it
completes, and compare every output with an uninterrupted run (ADR 0001, exactly-once).

``_driver.py`` runs the embedded runtime with the test detectors, a checkpoint directory,
a small checkpoint interval and analytics on. The input (~200k lines) is generated from a
fixed seed: refunds, receipts, orders and logins within the out-of-orderness bound, plus
duplicates, late and too-late events, malformed and blank lines.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest

from vigil.events.codec import encode_one
from vigil.events.schemas import EventBase

from ._streams import login, order_placed, receipt, refund

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True, params=["memory", "rocksdb"])
def state_backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every kill runs on each state backend (the driver reads the variable); the reference
    runs are the in-memory backend's, so the two must also agree with each other."""
    monkeypatch.setenv("VIGIL_TEST_STATE_BACKEND", request.param)
    return str(request.param)


DRIVER = Path(__file__).with_name("_driver.py")
MINUTE = 60_000
T0 = 1_767_225_600_000
VOLATILE = {
    "wall_seconds_this_process_and_before",
    "events_per_second",
    "checkpoints_written",
    "resumed_from_line",
}


def generate(n_lines: int, seed: int) -> bytes:
    """A deterministic stream; times advance ~0.9 s per line and arrive up to 5 min late."""
    rng = random.Random(seed)
    lines: list[bytes] = []
    on_time_lines: list[bytes] = []
    refunded: list[str] = []
    t = T0
    for n in range(n_lines):
        t += rng.randint(0, 1_800)
        r = rng.random()
        if r < 0.005 and on_time_lines:
            lines.append(rng.choice(on_time_lines[-500:]))  # duplicate of a recent event
            continue
        if r < 0.0055 and len(on_time_lines) > 10_000:
            # a re-send older than the allowed lateness: a duplicate until its id is pruned
            lines.append(rng.choice(on_time_lines[:-10_000]))
            continue
        if r < 0.007:
            lines.append(
                b'{"type": "refund_issued", "event_id": "bad-%d", "event_time_ms": "x"}' % n
            )
            continue
        if r < 0.008:
            lines.append(b"")
            continue
        on_time = r >= 0.013
        if r < 0.011:
            ev_t = t - rng.randint(11 * MINUTE, 55 * MINUTE)  # late, within the lateness
        elif r < 0.013:
            ev_t = t - rng.randint(2 * 60 * MINUTE, 6 * 60 * MINUTE)  # too late
        else:
            ev_t = t - rng.randint(0, 5 * MINUTE)
        key = rng.randrange(5_000)
        order, customer = f"o{key}", f"c{key % 400}"
        kind = rng.choices(["order", "login", "refund", "receipt"], weights=[30, 40, 15, 15])[0]
        event: EventBase
        if kind == "order":
            event = order_placed(n, ev_t, order, customer, rng.randint(500, 90_000))
        elif kind == "login":
            event = login(n, ev_t, customer)
        elif kind == "refund":
            event = refund(n, ev_t, order, customer, rng.randint(100, 90_000))
            refunded.append(order)
        else:
            target = rng.choice(refunded[-300:]) if refunded and rng.random() < 0.8 else order
            event = receipt(n, ev_t, target)
        raw = encode_one(event)
        lines.append(raw)
        if on_time:
            on_time_lines.append(raw)
    return b"".join(line + b"\n" for line in lines)


@dataclass(frozen=True)
class Result:
    alerts: bytes
    dead_letters: bytes
    decisions: bytes
    stats: dict[str, Any]
    tables: dict[str, list[tuple[Any, ...]]]
    counts: dict[str, int]


def _result(out: Path) -> Result:
    con = duckdb.connect(str(out / "analytics.duckdb"), read_only=True)
    try:
        tables = {
            name: sorted(con.execute(f"SELECT {cols} FROM {name}").fetchall())
            for name, cols in [
                ("events", "* EXCLUDE (flush_seq)"),
                ("alerts", "* EXCLUDE (flush_seq)"),
                ("features", "*"),
            ]
        }
    finally:
        con.close()
    stats = json.loads((out / "stats.json").read_bytes())
    return Result(
        alerts=(out / "alerts.jsonl").read_bytes(),
        dead_letters=(out / "dead_letter.jsonl").read_bytes(),
        decisions=(out / "decisions.jsonl").read_bytes(),
        stats={k: v for k, v in stats.items() if k not in VOLATILE},
        tables=tables,
        counts={name: len(rows) for name, rows in tables.items()},
    )


@dataclass(frozen=True)
class Case:
    inp: Path
    every: int  # checkpoint every this many lines (at the next batch end)
    chunk_bytes: int  # read size: batches are about this long
    reference: Result | None = None


def _start(case: Case, out: Path, ckpt: Path, crash: str | None) -> subprocess.Popen[bytes]:
    args = [sys.executable, str(DRIVER), str(case.inp), str(out), str(ckpt)]
    args += [str(case.every), str(case.chunk_bytes)]
    if crash:
        args.append(crash)
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _finish(proc: subprocess.Popen[bytes], timeout_s: float = 300) -> int:
    _, err = proc.communicate(timeout=timeout_s)
    if proc.returncode not in (0, -9):
        raise AssertionError(f"driver failed ({proc.returncode}):\n{err.decode()}")
    return proc.returncode


def _run_to_completion(case: Case, out: Path, ckpt: Path) -> None:
    assert _finish(_start(case, out, ckpt, None)) == 0


def _case(tmp: Path, n_lines: int, seed: int, every: int, chunk_bytes: int) -> Case:
    inp = tmp / "events.jsonl"
    inp.write_bytes(generate(n_lines, seed))
    case = Case(inp, every, chunk_bytes)
    _run_to_completion(case, tmp / "ref", tmp / "ref-ckpt")
    reference = _result(tmp / "ref")
    stats = reference.stats
    assert stats["reconciles"]
    # the stream exercises every path
    assert stats["duplicates"] and stats["late_accepted"] and stats["window_late_drops"]
    assert stats["dead_letter_reasons"]["malformed"] and stats["dead_letter_reasons"]["too_late"]
    assert stats["blank_lines"] and stats["alerts"] and stats["pending_timers_at_end"]
    assert b'"rule:refunds_twice_no_receipt"' in reference.alerts  # the rules' stages ran
    return Case(inp, every, chunk_bytes, reference)


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Case:
    """~200k lines, 56 MB: a checkpoint every 5,000 lines (about every second batch)."""
    return _case(
        tmp_path_factory.mktemp("big"), 200_000, 20261124, every=5_000, chunk_bytes=1 << 20
    )


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Case:
    """10k lines in batches of ~60 with a checkpoint every 200: flushes and checkpoints
    dominate, so crash points are hit early and often."""
    return _case(tmp_path_factory.mktemp("small"), 10_000, 7, every=200, chunk_bytes=16_384)


def _assert_same(out: Path, reference: Result | None) -> None:
    assert reference is not None
    got = _result(out)
    assert got.alerts == reference.alerts
    assert got.dead_letters == reference.dead_letters
    assert got.decisions == reference.decisions and reference.decisions
    assert got.counts == reference.counts
    assert got.tables == reference.tables
    assert got.stats == reference.stats


def _mtime_ns(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except FileNotFoundError:
        return None


def _wait_for_new_checkpoint(proc: subprocess.Popen[bytes], checkpoint: Path) -> None:
    """Until the process saved a checkpoint (so each kill lands after some progress)."""
    before = _mtime_ns(checkpoint)
    deadline = time.monotonic() + 120
    while proc.poll() is None and _mtime_ns(checkpoint) == before:
        assert time.monotonic() < deadline, "no checkpoint within 2 minutes"
        time.sleep(0.01)


@pytest.mark.parametrize("seed", [1, 2])
def test_random_sigkills(big: Case, tmp_path: Path, seed: int) -> None:
    """Kill 5 times, each a random 0-0.8 s after the process saved a new checkpoint (with
    two seeds on two backends and the CLI's kills, over 20 random points in all)."""
    rng = random.Random(seed)
    out, ckpt = tmp_path / "out", tmp_path / "ckpt"
    checkpoint = ckpt / "checkpoint.pkl"
    kills, resumed_from = 0, set()
    for _attempt in range(12):
        proc = _start(big, out, ckpt, None)
        if kills < 5:
            _wait_for_new_checkpoint(proc, checkpoint)
            time.sleep(rng.uniform(0, 0.8))
            proc.kill()
        if _finish(proc) == 0:
            break
        kills += 1
        resumed_from.add(_mtime_ns(checkpoint))
    else:
        pytest.fail("the runtime never completed")
    assert kills >= 4
    assert len(resumed_from) >= 3, "restarts resumed from different checkpoints"
    _assert_same(out, big.reference)


CRASH_POINTS = {
    "analytics_and_outputs": [
        "store_sent:1",  # first analytics load under way, no checkpoint yet
        "store_sent:3",  # rows handed to the loader, maybe committed, nothing saved
        "store_flush:4",  # analytics committed, outputs and checkpoint not
        "sink_flush:7",  # outputs flushed beyond the checkpointed length
    ],
    "checkpoints_and_the_end": [
        "checkpoint_tmp:3",  # new checkpoint in its temporary file, not yet renamed
        "state_saved:2",  # the state's checkpoint files written, the snapshot naming them not
        "checkpoint_saved:1",  # right after a checkpoint
        "checkpoint_tmp:1",
        "features:1",  # the end: features written, stats.json not yet
    ],
}


@pytest.mark.parametrize("points", CRASH_POINTS.values(), ids=CRASH_POINTS.keys())
def test_kill_at_flush_and_checkpoint_points(
    small: Case, tmp_path: Path, points: list[str]
) -> None:
    out, ckpt = tmp_path / "out", tmp_path / "ckpt"
    for point in points:
        assert _finish(_start(small, out, ckpt, point)) == -9, f"{point} was never reached"
    _run_to_completion(small, out, ckpt)
    _assert_same(out, small.reference)

"""``vigil spark run`` as a user runs it: killed with SIGKILL mid-run and started again, it
writes the alerts of an uninterrupted run; a detector not on Spark yet is refused, saying why."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.spark.conftest import embedded_alerts

pytestmark = pytest.mark.slow


def _spark_run(events: Path, out: Path, ckpt: Path, *more: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "vigil.cli.main", "spark", "run", "--input", str(events),
         "--out", str(out), "--checkpoint-dir", str(ckpt), *more],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip


def test_a_detector_not_on_spark_is_refused_with_the_reason(tmp_path: Path) -> None:
    events = tmp_path / "e.jsonl"
    events.write_text("")
    proc = _spark_run(events, tmp_path / "out", tmp_path / "ck", "--detector", "empty_box")
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert b"empty_box: its order and route stages ask and answer each other" in err


def test_killed_mid_run_then_resumed_gives_the_uninterrupted_alerts(
    spark: object, tmp_path: Path
) -> None:
    """(The ``spark`` fixture installs Java when missing; the runs start their own JVMs.)"""
    from vigil.sim import SimConfig, simulate

    simulate(SimConfig(seed=19, events=60_000), tmp_path / "sim")
    events = tmp_path / "sim" / "events.jsonl"
    # the reference: the embedded runtime's alerts of the detectors on Spark
    # (test_differential.py shows the two runtimes agree)
    expected = embedded_alerts(events, tmp_path / "ref")["serial_returner"]
    assert len(expected) >= 6

    out, ckpt = tmp_path / "out", tmp_path / "ck"
    proc = _spark_run(events, out, ckpt, "--max-lines", "15000")
    batches = ckpt / "serial_returner" / "findings"
    deadline = time.monotonic() + 300
    while proc.poll() is None and time.monotonic() < deadline:
        if batches.is_dir() and len(list(batches.glob("batch-*.bin"))) >= 2:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    again = _spark_run(events, out, ckpt, "--max-lines", "15000")
    assert again.wait(timeout=600) == 0, again.stderr.read() if again.stderr else ""
    assert sorted((out / "alerts.jsonl").read_bytes().splitlines()) == expected


def test_a_checkpoint_is_resumed_only_with_what_it_was_started_with(
    spark: object, tmp_path: Path
) -> None:
    from vigil.errors import ConfigError
    from vigil.spark.job import SparkSettings, run
    from vigil.spark.support import pipelines

    golden = Path(__file__).resolve().parents[1] / "golden"
    (det,) = pipelines(["serial_returner"])
    ckpt = tmp_path / "ck"
    run(det, golden / "legit_mix.jsonl", tmp_path / "out", ckpt, SparkSettings(max_lines=500),
        spark=spark)  # fmt: skip
    with pytest.raises(ConfigError, match=r"was written with input .*legit_mix\.jsonl"):
        run(det, golden / "ring.jsonl", tmp_path / "out", ckpt, SparkSettings(max_lines=500),
            spark=spark)  # fmt: skip
    with pytest.raises(ConfigError, match="was written with max_lines 500, not 400"):
        run(det, golden / "legit_mix.jsonl", tmp_path / "out", ckpt, SparkSettings(max_lines=400),
            spark=spark)  # fmt: skip


def test_events_from_the_far_future_are_skipped_not_fatal(spark: object, tmp_path: Path) -> None:
    """``vigil run`` keeps them as too_early dead letters. On Spark, a time past what a
    timestamp holds stopped the query (on every re-run), and one in 2100 moved the watermark
    and would have made every later event too late."""
    import json

    from vigil.sim import SimConfig, simulate
    from vigil.spark.job import SparkSettings, run
    from vigil.spark.support import pipelines

    simulate(SimConfig(seed=8, events=30_000), tmp_path / "sim")
    sim = tmp_path / "sim" / "events.jsonl"
    lines = sim.read_bytes().splitlines()
    expected = embedded_alerts(sim, tmp_path / "embedded")["serial_returner"]
    assert expected
    first = json.loads(lines[0])
    future = [
        json.dumps({**first, "event_id": f"future-{n}", "event_time_ms": t}).encode()
        for n, t in enumerate((99_999_999_999_999_999, 4_102_444_800_000))
    ]
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"\n".join([*future, *lines]) + b"\n")
    (det,) = pipelines(["serial_returner"])
    run(det, events, tmp_path / "out", tmp_path / "ck", SparkSettings(max_lines=10_000),
        spark=spark)  # fmt: skip
    assert sorted((tmp_path / "out" / "alerts.jsonl").read_bytes().splitlines()) == expected

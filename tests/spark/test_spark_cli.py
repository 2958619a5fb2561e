"""``vigil spark run`` as a user runs it: killed with SIGKILL mid-run and started again, it
writes the alerts of an uninterrupted run; a detector not on Spark yet is refused, saying why."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

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
    ref = subprocess.run(
        [sys.executable, "-m", "vigil.cli.main", "run", "--input", str(events),
         "--out", str(tmp_path / "ref"), "--no-analytics"],
        capture_output=True,
    )  # fmt: skip
    assert ref.returncode == 0, ref.stderr.decode()
    expected = b"\n".join(
        line
        for line in (tmp_path / "ref" / "alerts.jsonl").read_bytes().splitlines()
        if line.startswith(b'{"detector":"serial_returner"')
    )
    assert expected.count(b"\n") >= 5

    out, ckpt = tmp_path / "out", tmp_path / "ck"
    proc = _spark_run(events, out, ckpt, "--max-lines", "15000")
    batches = out / ".spark-batches" / "serial_returner"
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
    assert sorted((out / "alerts.jsonl").read_bytes().splitlines()) == sorted(expected.splitlines())

"""`vigil run` killed with SIGKILL at random points and restarted gives exactly the outputs of
an uninterrupted run: no alert lost, none duplicated, dead letters and analytics rows too."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

pytestmark = pytest.mark.slow


def vigil_run(
    events: Path, out: Path, ckpt: Path, new_session: bool = False, backend: str = "memory"
) -> subprocess.Popen[bytes]:
    cmd = [
        sys.executable, "-m", "vigil.cli.main", "run", "--input", str(events), "--out", str(out),
        "--checkpoint-dir", str(ckpt), "--checkpoint-every", "2000", "--state-backend", backend,
    ]  # fmt: skip
    return subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=new_session
    )


@pytest.fixture(scope="module")
def big_stream(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from vigil.sim import SimConfig, simulate

    out = tmp_path_factory.mktemp("kill-sim")
    simulate(SimConfig(seed=11, events=250_000), out)
    return out / "events.jsonl"


def wait_for_new_checkpoint(path: Path, proc: subprocess.Popen[bytes]) -> bool:
    """Wait until the running process writes a checkpoint (so a kill lands mid-run)."""
    before = path.stat().st_mtime_ns if path.exists() else None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if path.exists() and path.stat().st_mtime_ns != before:
            return True
        time.sleep(0.01)
    return False


@pytest.mark.parametrize("backend", ["memory", "rocksdb"])
def test_sigkill_at_random_points_then_restart_matches_uninterrupted(
    big_stream: Path, tmp_path: Path, backend: str
) -> None:
    """The reference is the in-memory backend's run: the killed runs on either backend
    must give its outputs byte for byte."""
    events = big_stream
    ref_out = tmp_path / "ref"
    ref = vigil_run(events, ref_out, tmp_path / "ref-ckpt")
    assert ref.wait(timeout=300) == 0, ref.stderr.read() if ref.stderr else ""
    ref_alerts = (ref_out / "alerts.jsonl").read_bytes()
    assert ref_alerts.count(b"\n") > 0, (
        "the stream must raise alerts for this test to mean anything"
    )

    rng = random.Random(20261124)
    out, ckpt = tmp_path / "killed", tmp_path / "killed-ckpt"
    kills = 0
    for _attempt in range(40):
        proc = vigil_run(events, out, ckpt, backend=backend)
        if kills < 3 and wait_for_new_checkpoint(ckpt / "checkpoint.pkl", proc):
            time.sleep(rng.uniform(0.0, 0.4))  # somewhere mid-batch, mid-flush or mid-save
        if kills >= 3 or proc.poll() is not None:
            assert proc.wait(timeout=300) == 0, proc.stderr.read() if proc.stderr else ""
            break
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        kills += 1
    else:
        pytest.fail("the killed run never finished")
    assert kills >= 2, "the test must actually kill the run mid-way (more than once)"

    assert (out / "alerts.jsonl").read_bytes() == ref_alerts
    assert (out / "dead_letter.jsonl").read_bytes() == (ref_out / "dead_letter.jsonl").read_bytes()
    stats = json.loads((out / "stats.json").read_text())
    ref_stats = json.loads((ref_out / "stats.json").read_text())
    for key in ("events_read", "processed", "dead_lettered", "duplicates", "alerts", "reconciles"):
        assert stats[key] == ref_stats[key], key
    assert stats["resumed_from_line"] is not None
    con = duckdb.connect(str(out / "analytics.duckdb"), read_only=True)
    rows, distinct = con.execute("select count(*), count(distinct event_id) from events").fetchone()  # type: ignore[misc]
    assert rows == distinct == stats["processed"]
    assert con.execute("select count(*) from alerts").fetchone() == (stats["alerts"],)


@pytest.mark.parametrize(
    ("backend", "sig"),
    [("memory", signal.SIGINT), ("rocksdb", signal.SIGINT), ("memory", signal.SIGTERM)],
)
def test_ctrl_c_or_sigterm_stops_cleanly_and_the_same_command_resumes(
    big_stream: Path, tmp_path: Path, backend: str, sig: signal.Signals
) -> None:
    """SIGINT to the whole process group (what Ctrl-C does), or SIGTERM (what a service
    manager sends): the run checkpoints, exits 0 and says how to resume; running the same
    command again finishes with the uninterrupted alerts."""
    ref_out = tmp_path / "ref"
    assert vigil_run(big_stream, ref_out, tmp_path / "ref-ckpt").wait(timeout=300) == 0
    out, ckpt = tmp_path / "out", tmp_path / "ckpt"
    proc = vigil_run(big_stream, out, ckpt, new_session=True, backend=backend)
    assert wait_for_new_checkpoint(ckpt / "checkpoint.pkl", proc)
    os.killpg(proc.pid, sig)
    assert proc.wait(timeout=120) == 0, proc.stderr.read() if proc.stderr else ""
    said = proc.stderr.read().decode() if proc.stderr else ""
    assert "run the same command again to resume" in said
    assert json.loads((out / "stats.json").read_text())["stopped_early_on_signal"]
    assert vigil_run(big_stream, out, ckpt, backend=backend).wait(timeout=300) == 0
    assert (out / "alerts.jsonl").read_bytes() == (ref_out / "alerts.jsonl").read_bytes()
    stats = json.loads((out / "stats.json").read_text())
    assert not stats["stopped_early_on_signal"] and stats["reconciles"]

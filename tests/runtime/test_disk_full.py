"""A real full disk (a small tmpfs) under each directory ``vigil run`` writes: the outputs
with analytics on, and the checkpoints. Each stops the run at once with one clear line (no
traceback, no stray temporary file); once space is freed, the same command resumes and
gives the uninterrupted run's outputs byte for byte, analytics rows included (issue 15)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from tests.small_disk import grow, small_disk

from vigil.sim import SimConfig, simulate

pytestmark = pytest.mark.slow

OUTPUTS = ("alerts.jsonl", "decisions.jsonl", "dead_letter.jsonl")


def _vigil_run(
    events: Path, out: Path, ckpt: Path, backend: str = "memory"
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vigil.cli.main", "run", "--input", str(events),
         "--out", str(out), "--checkpoint-dir", str(ckpt), "--checkpoint-every", "20000",
         "--state-backend", backend],
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip


@pytest.fixture(scope="module")
def stream(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A simulated stream (about 14 MB) and its uninterrupted run's outputs."""
    root = tmp_path_factory.mktemp("disk-full")
    sim = simulate(SimConfig(seed=4, events=60_000), root / "sim")
    done = _vigil_run(sim.events_path, root / "ref", root / "ref-ckpt")
    assert done.returncode == 0, done.stderr
    assert (root / "ref" / "alerts.jsonl").read_bytes().count(b"\n") > 0
    return sim.events_path, root / "ref"


def _analytics(out: Path) -> tuple[object, ...]:
    con = duckdb.connect(str(out / "analytics.duckdb"), read_only=True)
    try:
        events = con.execute("select count(*), count(distinct event_id) from events").fetchone()
        alerts = con.execute("select count(*) from alerts").fetchone()
        return (events, alerts)
    finally:
        con.close()


def _one_clear_line(stderr: str, where: Path) -> None:
    assert "Traceback" not in stderr, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, stderr
    assert errors[0].startswith(f"error: disk full in {str(where)!r}"), errors[0]
    assert "Free space and run the same command again" in errors[0]


def test_a_full_output_disk_with_analytics_stops_at_once_and_resumes_exactly(
    stream: tuple[Path, Path], tmp_path: Path
) -> None:
    events, ref = stream
    out, ckpt = tmp_path / "out", tmp_path / "ckpt"
    with small_disk(out, "3m"):
        full = _vigil_run(events, out, ckpt)
        assert full.returncode == 2
        _one_clear_line(full.stderr, out)
        assert not [p for p in out.iterdir() if ".load-" in p.name], "no scratch file left"
        grow(out, "200m")
        resumed = _vigil_run(events, out, ckpt)
        assert resumed.returncode == 0, resumed.stderr
        for name in OUTPUTS:
            assert (out / name).read_bytes() == (ref / name).read_bytes(), name
        assert _analytics(out) == _analytics(ref)


@pytest.mark.parametrize("backend", ["memory", "rocksdb"])
def test_a_full_checkpoint_disk_stops_at_once_and_resumes_exactly(
    stream: tuple[Path, Path], tmp_path: Path, backend: str
) -> None:
    """RocksDB keeps its live database in the checkpoint directory too: the disk fills
    under its writes as well as under a checkpoint."""
    events, ref = stream
    out, ckpt = tmp_path / "out", tmp_path / "ckpt"
    with small_disk(ckpt, "64k"):
        full = _vigil_run(events, out, ckpt, backend)
        assert full.returncode == 2
        _one_clear_line(full.stderr, ckpt)
        assert not list(ckpt.glob("*.tmp")), "no temporary checkpoint left behind"
        grow(ckpt, "200m")
        resumed = _vigil_run(events, out, ckpt, backend)
        assert resumed.returncode == 0, resumed.stderr
        for name in OUTPUTS:
            assert (out / name).read_bytes() == (ref / name).read_bytes(), name
        assert _analytics(out) == _analytics(ref)

"""bench/hostile_stream.py on a small stream, so CI runs the fault-injection run too (the
bench's default is 1M events): 5% malformed records from the simulator plus 200 injected
records of every hostile kind, through ``vigil run`` with DuckDB on. No crash, every
injected record kept with its reason, alerts byte for byte those without the injections."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "hostile_stream.py"


def test_a_hostile_stream_crashes_nothing_loses_nothing_changes_nothing(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--events", "200000", "--inject", "200",
         "--keep", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "RESULT: no crash, nothing lost, nothing changed" in done.stdout
    kept = next(line for line in done.stdout.splitlines() if line.startswith("injected records"))
    n_kept, n_injected = (int(x.replace(",", "")) for x in kept.split(": ")[1].split(" of "))
    assert n_kept == n_injected > 0

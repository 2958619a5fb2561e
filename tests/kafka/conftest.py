"""One tansu broker per test module, and a simulated stream with its file run's outputs."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.kafka_broker import running_broker


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_broker(tmp_path_factory.mktemp("broker") / "tansu.log") as address:
        yield address


@pytest.fixture(scope="module")
def stream(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A simulated stream (the simulator's ids and volumes) and, beside it in ``ref/``, what
    ``vigil run`` writes for it from the file."""
    from vigil.sim import SimConfig, simulate

    out = tmp_path_factory.mktemp("kafka-sim")
    simulate(SimConfig(seed=13, events=40_000), out)
    events = out / "events.jsonl"
    done = subprocess.run(
        [sys.executable, "-m", "vigil.cli.main", "run", "--input", str(events),
         "--out", str(out / "ref"), "--no-analytics"],
        capture_output=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    assert (out / "ref" / "alerts.jsonl").read_bytes().count(b"\n") > 5
    return events


def vigil_run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vigil.cli.main", "run", "--no-analytics", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )

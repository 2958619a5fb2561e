"""One local Spark session for the module (a JVM start costs ~15 s): Java from Debian,
installed by the project's script when missing."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    java_home = subprocess.run(
        ["bash", str(ROOT / "scripts" / "ensure-java.sh")],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    os.environ.setdefault("JAVA_HOME", java_home)
    from vigil.spark.job import SparkSettings, session

    spark = session(SparkSettings(), tmp_path_factory.mktemp("spark") / "spark.log")
    yield spark
    spark.stop()


def embedded_alerts(events: Path, out: Path) -> dict[str, list[bytes]]:
    """What ``vigil run`` raises over ``events``, for each detector on Spark: the reference
    the Spark runtime must give, as sorted lines."""
    import sys

    from vigil.spark.support import ON_SPARK

    done = subprocess.run(
        [sys.executable, "-m", "vigil.cli.main", "run", "--input", str(events), "--out", str(out),
         "--no-analytics"],
        capture_output=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    found: dict[str, list[bytes]] = {name: [] for name in ON_SPARK}
    for line in (out / "alerts.jsonl").read_bytes().splitlines():
        for name in ON_SPARK:
            if line.startswith(b'{"detector":"' + name.encode() + b'"'):
                found[name].append(line)
    return {name: sorted(lines) for name, lines in found.items()}

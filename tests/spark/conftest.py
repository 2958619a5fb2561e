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

"""A small simulated retailer shared by the CLI tests (made once per session, seconds)."""

from __future__ import annotations

from pathlib import Path

import pytest

from vigil.sim import SimConfig, simulate


@pytest.fixture(scope="session")
def sim_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sim")
    simulate(SimConfig(seed=5, events=60_000), out)
    return out

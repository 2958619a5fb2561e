"""Same config, same bytes, in any process; another seed, another stream."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

from vigil.sim import SimConfig, simulate

FILES = ("events.jsonl", "truth.jsonl", "simulation.json")

_CHILD = """
import sys
from pathlib import Path
from vigil.sim import SimConfig, simulate
simulate(SimConfig(seed=1, events=30_000), Path(sys.argv[1]))
"""


def _digests(folder: Path) -> dict[str, str]:
    return {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in FILES}


def test_same_config_gives_identical_files_across_processes_and_hash_seeds(
    small_run: Path, tmp_path: Path
) -> None:
    children = []
    for hash_seed in ("0", "4242"):
        out = tmp_path / f"hashseed-{hash_seed}"
        env = dict(os.environ, PYTHONHASHSEED=hash_seed)
        children.append((out, subprocess.Popen([sys.executable, "-c", _CHILD, str(out)], env=env)))
    for _, child in children:
        assert child.wait(timeout=120) == 0
    expected = _digests(small_run)
    for out, _ in children:
        assert _digests(out) == expected


def test_same_config_twice_in_one_process(small_run: Path, tmp_path: Path) -> None:
    simulate(SimConfig(seed=1, events=30_000), tmp_path)
    assert _digests(tmp_path) == _digests(small_run)


def test_another_seed_gives_another_stream(small_run: Path, tmp_path: Path) -> None:
    simulate(SimConfig(seed=2, events=30_000), tmp_path)
    other = _digests(tmp_path)
    same = _digests(small_run)
    assert other["events.jsonl"] != same["events.jsonl"]
    assert other["truth.jsonl"] != same["truth.jsonl"]
    first_lines = set((small_run / "events.jsonl").read_bytes().splitlines()[1000:2000])
    assert not first_lines & set((tmp_path / "events.jsonl").read_bytes().splitlines())

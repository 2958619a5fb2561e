"""A threshold approved while the stream runs: the runtime child restarts at it and resumes.

``RuntimeProcess.use_policy`` is what the console's approval calls under ``vigil serve``; here
it drives a real ``vigil run --follow`` child over a simulated stream.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import pytest
from tests.policy_change import assert_policy_applies_from

from vigil.api.runtime import RuntimeCommand, RuntimeProcess
from vigil.decisions.policy import DecisionPolicy
from vigil.runtime.embedded import PROGRESS_FILE
from vigil.sim import SimConfig, simulate


def _caught_up(out: Path, size: int, runtime: RuntimeProcess, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert runtime.alive(), (out / "runtime.log").read_text()
        try:
            if json.loads((out / PROGRESS_FILE).read_bytes())["input_offset"] >= size:
                return
        except (FileNotFoundError, ValueError):
            pass
        time.sleep(0.1)
    raise AssertionError(f"the runtime did not reach offset {size}")


@pytest.mark.slow
def test_the_runtime_child_takes_new_thresholds_from_where_it_stopped(tmp_path: Path) -> None:
    sim = simulate(SimConfig(seed=1, events=40_000), tmp_path / "sim")
    lines = sim.events_path.read_bytes().splitlines(keepends=True)
    half = len(lines) // 2
    state = tmp_path / "state"
    state.mkdir()
    log, out = state / "input.jsonl", state / "run"
    log.write_bytes(b"".join(lines[:half]))
    before, after = DecisionPolicy(), DecisionPolicy(0.99, 0.9999)
    runtime = RuntimeProcess(
        RuntimeCommand(
            input_log=log, out_dir=out, checkpoint_dir=state / "checkpoint", policy=before, nice=0
        )
    )
    runtime.start()
    try:
        _caught_up(out, log.stat().st_size, runtime)
        pid = runtime.pid
        assert runtime.use_policy(after) is True
        assert runtime.alive() and runtime.pid != pid
        assert runtime.command.policy == after
        kept = (out / "decisions.jsonl").stat().st_size  # nothing new to read yet
        with log.open("ab") as fh:
            fh.write(b"".join(lines[half:]))
        _caught_up(out, log.stat().st_size, runtime)
    finally:
        runtime.stop()
    assert_policy_applies_from(out / "decisions.jsonl", kept, before, after)
    assert "decision thresholds changed at the resume" in (out / "runtime.log").read_text()


def test_a_policy_for_a_runtime_not_started_is_kept_for_its_start(tmp_path: Path) -> None:
    runtime = RuntimeProcess(
        RuntimeCommand(
            input_log=tmp_path / "input.jsonl",
            out_dir=tmp_path / "run",
            checkpoint_dir=tmp_path / "checkpoint",
            policy=DecisionPolicy(),
        )
    )
    assert runtime.use_policy(DecisionPolicy(0.6, 0.97)) is False
    argv = runtime.command.argv()
    assert argv[argv.index("--review-threshold") + 1] == "0.6"
    assert argv[argv.index("--deny-threshold") + 1] == "0.97"


def test_the_runtime_child_gets_the_state_backend_and_request_model(tmp_path: Path) -> None:
    command = RuntimeCommand(
        input_log=tmp_path / "input.jsonl",
        out_dir=tmp_path / "run",
        checkpoint_dir=tmp_path / "checkpoint",
        policy=DecisionPolicy(),
    )
    assert "--state-backend" not in command.argv()  # the default: vigil run's own
    argv = dataclasses.replace(
        command, state_backend="rocksdb", request_model=tmp_path / "models" / "v0001"
    ).argv()
    assert argv[argv.index("--state-backend") + 1] == "rocksdb"
    assert argv[argv.index("--request-model") + 1] == str(tmp_path / "models" / "v0001")


def test_the_runtime_child_gets_the_data_centre_ranges(tmp_path: Path) -> None:
    command = RuntimeCommand(
        input_log=tmp_path / "input.jsonl",
        out_dir=tmp_path / "run",
        checkpoint_dir=tmp_path / "checkpoint",
        policy=DecisionPolicy(),
    )
    assert "--datacentre-ranges" not in command.argv()
    ranges = tmp_path / "ranges.txt"
    argv = dataclasses.replace(command, datacentre_ranges=ranges).argv()
    assert argv[argv.index("--datacentre-ranges") + 1] == str(ranges)
    assert "--no-ads" not in argv and "--ad-window" not in argv
    argv = dataclasses.replace(command, ads=False, ad_windows=("partner-video=3d,12h",)).argv()
    assert "--no-ads" in argv and argv[argv.index("--ad-window") + 1] == "partner-video=3d,12h"
    # and vigil run takes the option the server passes on
    from click.testing import CliRunner

    from vigil.cli.main import cli

    ranges.write_text("3.5.140.0/22\n")
    events = tmp_path / "input.jsonl"
    events.write_text("")
    out = str(tmp_path / "out")
    run = CliRunner().invoke(
        cli, ["run", "--input", str(events), "--out", out, "--no-analytics", "--datacentre-ranges",
              str(ranges)],
    )  # fmt: skip
    assert run.exit_code == 0, run.output

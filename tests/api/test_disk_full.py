"""A real ``vigil serve`` whose state directory fills up (a small tmpfs) while a simulated
stream is posted: each request that cannot be kept is a 503 that says "disk full" in one
line, and nothing of it is kept; once space is freed the sender re-sends it, and the input
log, the dead letters and the runtime's alerts are exactly those of an uninterrupted
stream (issue 15)."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.serve_process import served
from tests.small_disk import grow, small_disk

from vigil.sim import SimConfig, simulate

pytestmark = pytest.mark.slow

KEY = "disk-full-key-with-every-scope"
BATCH = 500


def test_a_full_disk_refuses_whole_requests_and_a_resend_after_freeing_loses_nothing(
    tmp_path: Path,
) -> None:
    sim = simulate(SimConfig(seed=6, events=20_000), tmp_path / "sim")
    lines = sim.events_path.read_bytes().splitlines()
    state = tmp_path / "state"
    full_answers: list[str] = []
    with small_disk(state, "3m"), served(state, KEY, "--no-cases") as (_url, client):
        grown = False
        for start in range(0, len(lines), BATCH):
            body = b"\n".join(lines[start : start + BATCH]) + b"\n"
            headers = {"Content-Type": "application/x-ndjson"}
            r = client.post("/v1/events", content=body, headers=headers)
            if r.status_code == 503:
                full_answers.append(r.json()["detail"])
                assert not grown, r.text
                grow(state, "500m")  # the operator frees space
                grown = True
                r = client.post("/v1/events", content=body, headers=headers)  # and re-sends
            assert r.status_code == 200, r.text
        assert grown, "the stream must fill the 3 MB disk for this test to mean anything"
        log = state / "input.jsonl"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # the runtime child catches up (it may have
            progress = state / "run" / "progress.json"  # stopped on the full disk and been
            try:  # restarted by the server)
                if json.loads(progress.read_text())["input_offset"] == log.stat().st_size:
                    break
            except (OSError, ValueError):
                pass
            time.sleep(0.25)
        else:
            pytest.fail("the runtime did not catch up with the input log")
        served_alerts = (state / "run" / "alerts.jsonl").read_bytes()
        kept = log.read_bytes().splitlines()
        dead = (state / "api_dead_letter.jsonl").read_bytes().splitlines()

        # the answer said what happened, in one line
        (detail,) = full_answers
        assert detail.startswith("disk full appending to ") and "\n" not in detail
        assert detail.endswith(": nothing of this request was kept. Free space and send it again")

        # every line exactly once: valid ones in the input log in order, the simulator's
        # malformed ones in the dead letters
        assert len(dead) == sim.malformed
        assert len(kept) + len(dead) == len(lines)
        malformed = set(_raws(dead))
        assert kept == [line for line in lines if line not in malformed]

        # and the runtime's alerts are those of an uninterrupted run of that log
        ref = tmp_path / "ref"
        done = subprocess.run(
            [sys.executable, "-m", "vigil.cli.main", "run", "--input", str(log),
             "--out", str(ref), "--no-analytics"],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert served_alerts == (ref / "alerts.jsonl").read_bytes()
        assert served_alerts.count(b"\n") > 0
    server_log = (tmp_path / "serve.log").read_text()
    assert "Traceback" not in server_log
    assert server_log.count("disk full appending to") == 1


def _raws(dead: list[bytes]) -> list[bytes]:
    """The exact bytes each dead letter keeps."""
    out = []
    for line in dead:
        letter = json.loads(line)
        exact = letter.get("raw_base64")
        out.append(base64.b64decode(exact) if exact else letter["raw"].encode())
    return out

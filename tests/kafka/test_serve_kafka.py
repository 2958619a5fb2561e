"""``vigil serve --kafka-input``: a topic's events reach the API and its runtime, which raise
the alerts ``vigil run`` raises over the same stream; the feed's offsets are committed."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from tests.kafka_broker import committed_offsets, create_topics, produce_lines
from tests.serve_process import served

pytestmark = pytest.mark.slow


def test_a_topic_fed_to_serve_gives_the_runs_alerts(
    broker: str, stream: Path, tmp_path: Path
) -> None:
    lines = stream.read_bytes().splitlines()
    create_topics(broker, {"events-s": 2})
    produce_lines(broker, "events-s", lines, partitions=2)
    state = tmp_path / "state"
    with served(state, "k" * 32, "--no-cases", "--kafka-input", f"kafka://{broker}/events-s") as (
        _url,
        client,
    ):
        progress = state / "run" / "progress.json"
        deadline = time.monotonic() + 180
        while True:
            assert time.monotonic() < deadline, "the topic's events did not all reach the runtime"
            stored = (
                (state / "input.jsonl").read_bytes().count(b"\n")
                if (state / "input.jsonl").exists()
                else 0
            )
            done = json.loads(progress.read_text())["lines"] if progress.exists() else 0
            offsets = committed_offsets(broker, "vigil-serve", "events-s").values()
            # a partition no record went to has no committed offset (negative)
            if done and done == stored and sum(o for o in offsets if o > 0) == len(lines):
                break
            time.sleep(0.5)
        alerts = client.get("/v1/alerts", params={"limit": 1000}).json()
    # every record is in the runtime's input log or the API's dead letters, once
    rejected = (state / "api_dead_letter.jsonl").read_bytes().count(b"\n")
    assert stored + rejected == len(lines)
    ref = {
        json.loads(line)["alert_id"]
        for line in (stream.parent / "ref" / "alerts.jsonl").read_text().splitlines()
    }
    got = {
        json.loads(line)["alert_id"]
        for line in (state / "run" / "alerts.jsonl").read_text().splitlines()
    }
    # two partitions interleave differently from the file: the same alerts, within lateness
    assert got == ref
    assert alerts

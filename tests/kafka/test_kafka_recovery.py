"""Kafka in and out across crashes: kill -9 at random points and a restart give the outputs
of an uninterrupted run, and each output record is in its topic exactly once."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from tests.kafka_broker import create_topics, produce_lines, read_topic

from vigil.detectors.registry import default_detectors
from vigil.detectors.settings import DetectorSettings
from vigil.kafka.config import parse_kafka_url
from vigil.kafka.outbox import TopicOutbox
from vigil.kafka.source import KafkaSource
from vigil.runtime.embedded import EmbeddedRuntime, RuntimeSettings

pytestmark = pytest.mark.slow


def _assert_topic_holds_file(broker: str, topic: str, path: Path) -> None:
    """The topic has each line of the file once (by its ``vigil-line`` header), equal."""
    records = read_topic(broker, topic)
    by_line: dict[int, bytes] = {}
    for headers, value, _p in records:
        line = int(headers["vigil-line"])
        assert line not in by_line, f"line {line} of {path.name} is in {topic} twice"
        by_line[line] = value
    assert [by_line[n] for n in sorted(by_line)] == path.read_bytes().splitlines()
    assert sorted(by_line) == list(range(1, len(by_line) + 1))


@pytest.mark.parametrize("backend", ["memory", "rocksdb"])
def test_sigkill_at_random_points_then_restart_matches_uninterrupted(
    broker: str, stream: Path, tmp_path: Path, backend: str
) -> None:
    events, alerts, decisions = (
        f"{name}-k-{backend}" for name in ("events", "alerts", "decisions")
    )
    create_topics(broker, {events: 1, alerts: 1, decisions: 3})
    produce_lines(broker, events, stream.read_bytes().splitlines())
    out, ckpt = tmp_path / "out", tmp_path / "ckpt"
    cmd = [
        sys.executable, "-m", "vigil.cli.main", "run", "--no-analytics",
        "--input", f"kafka://{broker}/{events}", "--out", str(out), "--group", f"vigil-k-{backend}",
        "--checkpoint-dir", str(ckpt), "--checkpoint-every", "2000", "--idle-timeout", "2",
        "--alerts-topic", alerts, "--decisions-topic", decisions, "--state-backend", backend,
    ]  # fmt: skip
    rng = random.Random(20261207)
    kills = 0
    for _attempt in range(20):
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        marker = ckpt / "checkpoint.pkl"
        before = marker.stat().st_mtime_ns if marker.exists() else None
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            if marker.exists() and marker.stat().st_mtime_ns != before:
                break
            time.sleep(0.005)
        time.sleep(rng.uniform(0.0, 0.15))  # mid-batch, mid-checkpoint or mid-produce
        if kills >= 3 or proc.poll() is not None:
            assert proc.wait(timeout=300) == 0, proc.stderr.read() if proc.stderr else ""
            break
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        kills += 1
    assert kills == 3, "the run ended before it could be killed three times"
    ref = stream.parent / "ref"
    for name in ("alerts", "decisions"):
        assert (out / f"{name}.jsonl").read_bytes() == (ref / f"{name}.jsonl").read_bytes()
    _assert_topic_holds_file(broker, alerts, out / "alerts.jsonl")
    _assert_topic_holds_file(broker, decisions, out / "decisions.jsonl")


class _Crash(Exception):
    pass


class _CrashAfterProducing(TopicOutbox):
    """Dies right after its ``n``-th publish was acknowledged: the records are in the topic,
    the checkpoint that would say so is never written."""

    def __init__(self, *args: Any, n: int) -> None:
        super().__init__(*args)
        self.n = n
        self.calls = 0

    def publish(self, positions: dict[str, int]) -> None:
        super().publish(positions)
        self.calls += 1
        if self.calls == self.n and self.produced:
            raise _Crash


def _runtime(out: Path, ckpt: Path, publisher: TopicOutbox) -> EmbeddedRuntime:
    settings = RuntimeSettings(
        analytics=False, publish_every_batch=True, checkpoint_every_events=5_000
    )
    return EmbeddedRuntime(
        default_detectors(DetectorSettings()), out, settings, ckpt, publisher=publisher
    )


def test_records_produced_after_the_last_checkpoint_are_not_produced_again(
    broker: str, stream: Path, tmp_path: Path
) -> None:
    create_topics(broker, {"events-r": 1, "decisions-r": 2})
    produce_lines(broker, "events-r", stream.read_bytes().splitlines())
    source_at = parse_kafka_url(f"kafka://{broker}/events-r")
    out, ckpt = tmp_path / "out", tmp_path / "ckpt"
    crashing = _CrashAfterProducing(source_at, {"decisions": "decisions-r"}, out, n=4)
    with pytest.raises(_Crash):
        _runtime(out, ckpt, crashing).run(KafkaSource(source_at, idle_timeout_s=1.0))
    in_topic = len(read_topic(broker, "decisions-r"))
    assert in_topic > 0
    resumed = TopicOutbox(source_at, {"decisions": "decisions-r"}, out)
    _runtime(out, ckpt, resumed).run(KafkaSource(source_at, idle_timeout_s=1.0))
    # the resume read the crashed run's records back and skipped them
    assert resumed.produced == (out / "decisions.jsonl").read_bytes().count(b"\n") - in_topic
    _assert_topic_holds_file(broker, "decisions-r", out / "decisions.jsonl")

"""Spark reads Kafka through Vigil's Python data source (no JVM connector): a topic on a real
broker gives the alerts the embedded runtime raises from the same events."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.kafka_broker import create_topics, produce_lines, running_broker
from tests.spark.conftest import embedded_alerts

from vigil.spark.job import SparkSettings, run
from vigil.spark.support import pipelines

pytestmark = pytest.mark.slow


def test_a_topic_read_by_spark_gives_the_embedded_alerts(spark: Any, tmp_path: Path) -> None:
    from vigil.sim import SimConfig, simulate

    simulate(SimConfig(seed=23, events=40_000), tmp_path / "sim")
    events = tmp_path / "sim" / "events.jsonl"
    expected = embedded_alerts(events, tmp_path / "embedded")["serial_returner"]
    assert len(expected) >= 3
    with running_broker(tmp_path / "tansu.log") as broker:
        create_topics(broker, {"events": 2})
        produce_lines(broker, "events", events.read_bytes().splitlines(), partitions=2)
        (det,) = pipelines(["serial_returner"])
        stats = run(
            det,
            f"kafka://{broker}/events",
            tmp_path / "spark",
            tmp_path / "ckpt",
            SparkSettings(max_lines=15_000),
            spark=spark,
        )
    assert stats["events_read"] == len(events.read_bytes().splitlines())
    assert sorted((tmp_path / "spark" / "alerts.jsonl").read_bytes().splitlines()) == expected

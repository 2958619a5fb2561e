"""The embedded runtime and the Spark runtime raise the same alerts on the same stream, for
every detector on Spark so far: the golden streams, and a simulated stream of 100,000
events the detectors were not tuned on (docs/spark.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.spark.conftest import embedded_alerts

from vigil.spark.job import SparkSettings, run
from vigil.spark.support import pipelines

pytestmark = pytest.mark.slow

GOLDEN = Path(__file__).resolve().parents[1] / "golden"


def _on_spark(spark: Any, events: Path, out: Path, max_lines: int) -> dict[str, list[bytes]]:
    found = {}
    for det in pipelines():
        settings = SparkSettings(max_lines=max_lines)
        run(det, events, out / det.name, out / f"ckpt-{det.name}", settings, spark=spark)
        found[det.name] = sorted((out / det.name / "alerts.jsonl").read_bytes().splitlines())
    return found


@pytest.mark.parametrize(
    "stream", sorted(p.name for p in GOLDEN.glob("*.jsonl") if ".expected" not in p.name)
)
def test_golden_streams_give_the_same_alerts(spark: Any, stream: str, tmp_path: Path) -> None:
    events = GOLDEN / stream
    assert _on_spark(spark, events, tmp_path / "spark", 1_000) == embedded_alerts(
        events, tmp_path / "embedded"
    )


def test_a_simulated_stream_gives_the_same_alerts(spark: Any, tmp_path: Path) -> None:
    from vigil.sim import SimConfig, simulate

    simulate(SimConfig(seed=17, events=100_000), tmp_path / "sim")
    events = tmp_path / "sim" / "events.jsonl"
    expected = embedded_alerts(events, tmp_path / "embedded")
    assert sum(len(v) for v in expected.values()) >= 10, "too few alerts to mean anything"
    # several micro-batches: state, watermark and lateness cross batch boundaries
    assert _on_spark(spark, events, tmp_path / "spark", 25_000) == expected

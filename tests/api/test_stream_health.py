"""What ``/metrics`` and ``/healthz`` say of the stream, from the runtime's ``progress.json``:
a burst of bad records and a jumped watermark turn the server degraded, with the reason
(a simulated stream run by the real runtime)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import msgspec
import pytest
from fastapi.testclient import TestClient
from tests.api.conftest import headers, state_of

from vigil.api import stream_health
from vigil.api.stream_health import Progress, StreamHealth
from vigil.detectors.registry import default_detectors
from vigil.ingest.sources import FileSource
from vigil.runtime.embedded import EmbeddedRuntime, RuntimeSettings
from vigil.runtime.stats import RunStats
from vigil.sim import SimConfig, simulate


@pytest.fixture(scope="module")
def lines(tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    root = tmp_path_factory.mktemp("stream")
    simulate(SimConfig(seed=2, events=20_000), root / "sim")
    return (root / "sim" / "events.jsonl").read_bytes().splitlines()


def _watched_run(lines: list[bytes], tmp: Path) -> list[tuple[int, list[str]]]:
    """Run the runtime as ``vigil serve`` does (publishing after every batch); after each
    batch, read its progress as the API does: (lines read, problems) per batch."""
    inp = tmp / "events.jsonl"
    inp.write_bytes(b"".join(line + b"\n" for line in lines))
    out = tmp / "out"
    wall = [0.0]
    health = StreamHealth(out / "progress.json", clock_s=lambda: wall[0])
    seen: list[tuple[int, list[str]]] = []

    def after_batch(stats: RunStats, _offset: int) -> None:
        wall[0] += 1.0  # a batch a second
        health.refresh()
        seen.append((stats.lines, health.problems()))

    settings = RuntimeSettings(analytics=False, publish_every_batch=True)
    runtime = EmbeddedRuntime(default_detectors(), out, settings, progress=after_batch)
    runtime.run(FileSource(inp, chunk_bytes=1 << 16))
    return seen


def test_a_burst_of_bad_records_is_reported_while_it_lasts(
    lines: list[bytes], tmp_path: Path
) -> None:
    at = len(lines) // 2
    burst = [b'{"type":"order_placed","event_id":"x%d"' % i for i in range(3_000)]  # cut short
    seen = _watched_run([*lines[:at], *burst, *lines[at:]], tmp_path)
    before = [p for n, p in seen if n < at]
    assert before and not any(before)  # the simulator's few bad lines are the normal rate
    during = [p for n, p in seen if at + 1_500 <= n <= at + 3_000]
    assert during and all(any("dead letters jumped" in x for x in p) for p in during)
    # a burst between on-time records: the watermark never stalls
    assert not any("stalled" in x for _n, p in seen for x in p)


def test_a_stream_sent_again_stalls_the_watermark_and_says_so(
    lines: list[bytes], tmp_path: Path
) -> None:
    """The producer re-sends the whole stream after it: every line is a duplicate (or too
    late), the watermark stands still while lines keep coming. Reported once that lasted a
    minute, not before; the first pass never is."""
    seen = _watched_run([*lines, *lines], tmp_path)
    first = [p for n, p in seen if n <= len(lines)]
    assert first and not any("stalled" in x for p in first for x in p)
    stalled = [x for n, p in seen if n > len(lines) for x in p if "stalled" in x]
    assert stalled, "a minute of lines that do not move the watermark must be reported"
    # the old stream's lines are too late for the watermark (dead letters), or duplicates
    assert re.fullmatch(
        r"the watermark stalled at 2026-\d\d-\d\dT\d\d:\d\dZ: [\d,]+ lines over the last "
        r"\d+ s did not move it \([\d,]+ dead letters, [\d,]+ duplicates\): a producer "
        r"re-sending old data, or a clock that jumped ahead before",
        stalled[0],
    ), stalled[0]
    # the first report comes a minute (of batches, a second each) into the second pass
    first_at = next(n for n, p in seen if any("stalled" in x for x in p))
    batches_in = sum(1 for n, _p in seen if len(lines) < n <= first_at)
    assert stream_health.STALL_S <= batches_in <= stream_health.STALL_S + 2


def test_a_jumped_watermark_is_reported_for_a_while() -> None:
    wall = [1_000.0]
    health = StreamHealth(Path("/nonexistent/progress.json"), clock_s=lambda: wall[0])
    day = 86_400_000
    health.observe(Progress(lines=10, watermark_ms=1_767_600_000_000))
    wall[0] += 1
    health.observe(Progress(lines=20, watermark_ms=1_767_600_000_000 + 2 * day))
    assert health.problems() == []  # two days in a second: a replay, not a jump
    wall[0] += 1
    health.observe(Progress(lines=30, watermark_ms=1_767_600_000_000 + 400 * day))
    assert any("watermark jumped 398.0 days" in p for p in health.problems())
    wall[0] += stream_health.JUMP_HOLD_S + 1
    assert health.problems() == []
    # a runtime catching up on a backlog: 30 days over 20,000 lines in one publish is data,
    # not a jump (the demo's runtime did this and read as degraded)
    health.observe(Progress(lines=20_030, watermark_ms=1_767_600_000_000 + 430 * day))
    assert health.problems() == []


def test_healthz_and_metrics_say_what_the_runtime_published(
    client: TestClient, lines: list[bytes], tmp_path: Path
) -> None:
    progress_path = state_of(client).settings.progress_path
    progress_path.parent.mkdir(parents=True, exist_ok=True)
    first = {"lines": 10_000, "processed": 9_950, "duplicates": 30,
             "dead_letters": {"malformed": 20, "too_late": 0}, "watermark_ms": 1_767_700_000_000,
             "alerts_by_detector": {"refund_without_return": 4}}  # fmt: skip
    progress_path.write_bytes(msgspec.json.encode(first))
    assert client.get("/healthz").json()["reasons"] == []
    burst = dict(first, lines=14_000, dead_letters={"malformed": 3_020, "too_late": 0})
    progress_path.write_bytes(msgspec.json.encode(burst))
    r = client.get("/healthz")
    assert r.status_code == 503
    assert any(
        "dead letters jumped: 75.0% of the last 4,000 lines" in x for x in r.json()["reasons"]
    )
    metrics = client.get("/metrics", headers=headers()).text
    assert 'vigil_runtime_dead_letters{reason="malformed"} 3020.0' in metrics
    assert 'vigil_runtime_alerts{detector="refund_without_return"} 4.0' in metrics
    assert "vigil_runtime_watermark_lag_seconds" in metrics
    assert "process_cpu_seconds_total" in metrics
    json.loads(r.text)

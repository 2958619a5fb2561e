"""The YSB operator against a brute-force count of the same generated events."""

from __future__ import annotations

import itertools
import json
import random
from collections import Counter
from pathlib import Path

import pytest

from vigil.ads.ysb import (
    ADS_PER_CAMPAIGN,
    CAMPAIGNS,
    WINDOW_MS,
    CampaignTable,
    CampaignWindowAggregator,
    campaign_table,
    event_lines,
    file_chunks,
    write_events,
)

START_MS = 1_700_000_000_000


class StepClock:
    """Processing time that moves only when told to."""

    def __init__(self, now_ms: int = 0) -> None:
        self.now_ms = now_ms

    def __call__(self) -> int:
        return self.now_ms


def brute_force(lines: bytes, table: CampaignTable) -> dict[tuple[str, int], int]:
    counts: Counter[tuple[str, int]] = Counter()
    for line in lines.splitlines():
        e = json.loads(line)
        if e["event_type"] == "view":
            t = int(e["event_time"])
            counts[(table.campaign_of[e["ad_id"]], t - t % WINDOW_MS)] += 1
    return dict(counts)


@pytest.fixture(scope="module")
def table() -> CampaignTable:
    return campaign_table(seed=7)


def test_table_is_ysbs_shape_and_seeded(table: CampaignTable) -> None:
    assert len(table.campaign_ids) == CAMPAIGNS
    assert len(set(table.ad_ids)) == CAMPAIGNS * ADS_PER_CAMPAIGN
    assert Counter(table.campaign_of.values()) == dict.fromkeys(
        table.campaign_ids, ADS_PER_CAMPAIGN
    )
    assert campaign_table(seed=7) == table
    assert campaign_table(seed=8).ad_ids != table.ad_ids


def test_lines_are_the_original_format(table: CampaignTable) -> None:
    line = event_lines(table, [START_MS], random.Random(1)).decode()
    e = json.loads(line)
    assert list(e) == [
        "user_id",
        "page_id",
        "ad_id",
        "ad_type",
        "event_type",
        "event_time",
        "ip_address",
    ]
    assert e["event_time"] == str(START_MS) and e["ip_address"] == "1.2.3.4"
    assert line.startswith('{"user_id": "') and line.endswith('"}\n')


def test_counts_equal_brute_force_with_skewed_times(tmp_path: Path, table: CampaignTable) -> None:
    path = tmp_path / "events.jsonl"
    # 20k events over 40 s of event time, each moved by up to 50 ms either way: events
    # around every window's edges arrive out of order
    write_events(path, table, 20_000, seed=3, start_ms=START_MS, events_per_s=500, jitter_ms=50)
    data = path.read_bytes()
    times = [int(json.loads(line)["event_time"]) for line in data.splitlines()]
    assert any(b < a for a, b in itertools.pairwise(times)), "no event out of order"
    expected = brute_force(data, table)
    assert len(expected) >= 4 * CAMPAIGNS

    clock = StepClock()
    agg = CampaignWindowAggregator(table.campaign_of, clock=clock)
    with file_chunks(path, size=4096) as chunks:
        for chunk in chunks:
            clock.now_ms += 7
            agg.process_many(chunk)
    agg.flush()
    assert agg.events == 20_000
    assert agg.counts == expected
    assert set(agg.written_ms) == set(expected)


def test_unknown_ads_are_dropped_as_the_original_join_does(table: CampaignTable) -> None:
    line = event_lines(table, [START_MS], random.Random(1)).replace(b'"click"', b'"view"')
    line = line.replace(b'"purchase"', b'"view"')
    ad = json.loads(line)["ad_id"]
    agg = CampaignWindowAggregator(table.campaign_of, clock=StepClock())
    agg.process_many(line + line.replace(ad.encode(), b"not-an-ad"))
    agg.flush()
    assert agg.counts == {(table.campaign_of[ad], START_MS - START_MS % WINDOW_MS): 1}


def test_windows_are_written_every_second_and_at_their_close(table: CampaignTable) -> None:
    clock = StepClock(now_ms=5_000)
    agg = CampaignWindowAggregator(table.campaign_of, clock=clock, out_of_order_ms=100)
    rng = random.Random(2)
    window = START_MS - START_MS % WINDOW_MS

    def views(times: list[int]) -> bytes:
        lines = event_lines(table, times, rng)
        return lines.replace(b'"click"', b'"view"').replace(b'"purchase"', b'"view"')

    agg.process_many(views([window + 1_000, window + 2_000]))
    assert agg.counts == {}, "written before a second passed and before any window closed"
    clock.now_ms += 999
    agg.maybe_flush()
    assert agg.counts == {}
    clock.now_ms += 1
    agg.maybe_flush()
    assert sum(agg.counts.values()) == 2
    assert set(agg.written_ms.values()) == {6_000}

    # events up to the window's end plus the allowed out-of-orderness: still open
    clock.now_ms += 300
    agg.process_many(views([window + 9_990, window + WINDOW_MS + 99]))
    assert sum(agg.counts.values()) == 2
    # the watermark passes the end: the window's final count is written at once
    clock.now_ms += 10
    agg.process_many(views([window + WINDOW_MS + 100]))
    assert sum(n for (_c, w), n in agg.counts.items() if w == window) == 3
    assert max(t for (_c, w), t in agg.written_ms.items() if w == window) == 6_310

    # an event later than that is still counted, at the next flush (nothing is dropped)
    agg.process_many(views([window + 5_000]))
    clock.now_ms += 1_000
    agg.maybe_flush()
    assert sum(n for (_c, w), n in agg.counts.items() if w == window) == 4
    assert sum(agg.counts.values()) == 6

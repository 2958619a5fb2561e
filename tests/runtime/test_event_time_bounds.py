"""Event times far ahead: one record dated in the future must not move the watermark (and
turn every later event into a late one); a stream that really moved on is followed, and
caught up in bounded work (simulated streams)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from vigil.detectors.registry import default_detectors
from vigil.ingest.dead_letter import DeadLetter, dead_letter_decoder
from vigil.ingest.sources import FileSource
from vigil.runtime.embedded import EmbeddedRuntime, RuntimeSettings
from vigil.runtime.stats import RunStats
from vigil.sim import SimConfig, simulate

YEAR_3000_MS = 32_503_680_000_000
DAY_MS = 86_400_000


@pytest.fixture(scope="module")
def lines(tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    root = tmp_path_factory.mktemp("bounds")
    simulate(SimConfig(seed=8, events=30_000), root / "sim")
    return (root / "sim" / "events.jsonl").read_bytes().splitlines()


def _run(
    lines: list[bytes], tmp: Path, name: str, **settings: Any
) -> tuple[RunStats, dict[str, bytes]]:
    inp = tmp / f"{name}.jsonl"
    inp.write_bytes(b"".join(line + b"\n" for line in lines))
    out = tmp / name
    runtime = EmbeddedRuntime(
        default_detectors(), out, RuntimeSettings(analytics=False, **settings)
    )
    stats = runtime.run(FileSource(inp))
    files = {f: (out / f).read_bytes() for f in ("alerts.jsonl", "decisions.jsonl")}
    files["dead_letter.jsonl"] = (out / "dead_letter.jsonl").read_bytes()
    return stats, files


def _early(files: dict[str, bytes]) -> list[DeadLetter]:
    dead = map(dead_letter_decoder.decode, files["dead_letter.jsonl"].splitlines())
    return [d for d in dead if d.reason_code == "too_early"]


def _valid_indexes(lines: list[bytes]) -> list[int]:
    out = []
    for i, line in enumerate(lines):
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if isinstance(doc, dict) and isinstance(doc.get("event_time_ms"), int):
            out.append(i)
    return out


def _future_copy(line: bytes, event_id: str, time_ms: int) -> bytes:
    doc = json.loads(line)
    doc["event_id"], doc["event_time_ms"] = event_id, time_ms
    return json.dumps(doc).encode()


def _shifted_after(lines: list[bytes], shift_ms: int) -> list[bytes]:
    """The stream with every event after its middle ``shift_ms`` later (a gap)."""
    valid = _valid_indexes(lines)
    cut = valid[len(valid) // 2]

    def shifted(line: bytes) -> bytes:
        try:
            doc = json.loads(line)
        except ValueError:
            return line
        if isinstance(doc, dict) and isinstance(doc.get("event_time_ms"), int):
            doc["event_time_ms"] += shift_ms
            return json.dumps(doc).encode()
        return line

    return [*lines[:cut], *map(shifted, lines[cut:])]


def test_one_event_dated_year_3000_is_kept_and_changes_nothing(
    lines: list[bytes], tmp_path: Path
) -> None:
    base_stats, base = _run(lines, tmp_path, "base")
    valid = _valid_indexes(lines)
    at = valid[len(valid) // 2]
    hostile = [*lines[:at], _future_copy(lines[at], "future-1", YEAR_3000_MS), *lines[at:]]
    stats, got = _run(hostile, tmp_path, "hostile")

    assert base_stats.alerts > 0
    assert got["alerts.jsonl"] == base["alerts.jsonl"]
    assert got["decisions.jsonl"] == base["decisions.jsonl"]
    assert stats.too_early == 1 and stats.too_late == base_stats.too_late
    assert stats.watermark_ms == base_stats.watermark_ms
    assert stats.reconciles()
    early = _early(got)
    assert len(early) == 1
    assert early[0].event_id == "future-1" and early[0].field == "event_time_ms"
    assert early[0].line_no == at + 1
    assert "ahead of the wall clock" in early[0].reason


def test_a_future_event_at_the_end_of_the_input_is_kept_too(
    lines: list[bytes], tmp_path: Path
) -> None:
    _, base = _run(lines, tmp_path, "base")
    last = _valid_indexes(lines)[-1]
    stats, got = _run([*lines, _future_copy(lines[last], "future-2", YEAR_3000_MS)], tmp_path, "x")
    assert got["alerts.jsonl"] == base["alerts.jsonl"]
    assert stats.too_early == 1 and stats.reconciles()


def test_a_stream_from_the_future_is_kept_whole(lines: list[bytes], tmp_path: Path) -> None:
    """Against a wall clock set before the stream began, nothing has happened yet, even the
    first event (which would otherwise set the stream's clock)."""
    first = int(json.loads(lines[_valid_indexes(lines)[0]])["event_time_ms"])
    inp = tmp_path / "in.jsonl"
    inp.write_bytes(b"".join(line + b"\n" for line in lines))
    settings = RuntimeSettings(analytics=False)
    runtime = EmbeddedRuntime(default_detectors(), tmp_path / "o", settings)
    runtime.wall_clock_ms = lambda: first - 2 * DAY_MS
    stats = runtime.run(FileSource(inp))
    assert stats.processed == 0 and stats.alerts == 0
    assert stats.too_early + stats.malformed + stats.duplicates == stats.events_read


def test_with_the_skew_on_an_outlier_ahead_of_the_stream_is_held_then_kept(
    lines: list[bytes], tmp_path: Path
) -> None:
    """A record a month ahead of a replayed stream is in the wall clock's past: only the
    stream-relative skew (opt-in) catches it, and one outlier changes nothing."""
    _, base = _run(lines, tmp_path, "base")
    valid = _valid_indexes(lines)
    at = valid[len(valid) // 2]
    ahead = int(json.loads(lines[at])["event_time_ms"]) + 30 * DAY_MS
    odd = [*lines[:at], _future_copy(lines[at], "month-ahead", ahead), *lines[at:]]
    stats, got = _run(odd, tmp_path, "skew", max_clock_skew_ms=7 * DAY_MS)
    assert got["alerts.jsonl"] == base["alerts.jsonl"]
    assert got["decisions.jsonl"] == base["decisions.jsonl"]
    assert stats.too_early == 1 and stats.clock_jumps == 0 and stats.reconciles()
    early = _early(got)
    assert [d.event_id for d in early] == ["month-ahead"]
    assert "clock skew" in early[0].reason


def test_with_the_skew_on_a_stream_that_moves_on_after_a_gap_is_followed(
    lines: list[bytes], tmp_path: Path
) -> None:
    """A producer back after an outage, everything after the gap 30 days later: the events
    held at the gap are processed once enough in a row show the jump; none is lost."""
    base_stats, _ = _run(lines, tmp_path, "base")
    gap = _shifted_after(lines, 30 * DAY_MS)
    stats, _ = _run(gap, tmp_path, "gap", max_clock_skew_ms=7 * DAY_MS)
    assert stats.clock_jumps == 1
    assert stats.too_early == 0
    assert stats.reconciles()
    # the events the gap separates are all processed (only lateness at the cut may differ)
    assert stats.processed + stats.too_late == base_stats.processed + base_stats.too_late


def test_a_jump_of_years_is_caught_up_in_bounded_work(lines: list[bytes], tmp_path: Path) -> None:
    """Periodic work (the ring graph's daily expiry) does not run once per empty day across
    a gap: three years cost about what a day costs."""
    base_stats, _ = _run(lines, tmp_path, "base")
    # three years on is in the future here: no wall-clock bound for this replay
    years = _shifted_after(lines, 3 * 365 * DAY_MS)
    stats, _ = _run(years, tmp_path, "years", max_future_ms=None)
    assert stats.too_early == 0 and stats.reconciles()
    assert stats.timers_fired < base_stats.timers_fired + 100, (
        stats.timers_fired,
        base_stats.timers_fired,
    )

"""RunStats: the counters reconcile and the summary reports them."""

from __future__ import annotations

import msgspec

from vigil.runtime.stats import RunStats


def test_events_read_reconcile_with_their_outcomes() -> None:
    stats = RunStats(lines=10, blank_lines=2, processed=5, malformed=1, too_late=1, duplicates=1)
    assert (stats.events_read, stats.dead_lettered) == (8, 2)
    assert stats.reconciles()
    stats.processed -= 1
    assert not stats.reconciles()


def test_summary_reports_every_counter() -> None:
    stats = RunStats(
        lines=4, processed=3, duplicates=1, alerts_by_detector={"b": 1, "a": 2}, wall_s=0.5
    )
    summary = stats.summary()
    assert summary["reconciles"] is True
    assert summary["dead_letter_reasons"] == {
        "malformed": 0,
        "too_late": 0,
        "too_early": 0,
        "conflicting_duplicate": 0,
    }
    assert summary["clock_jumps"] == 0
    assert list(summary["alerts_by_detector"]) == ["a", "b"]  # sorted: stable output
    assert summary["events_per_second"] == 8
    assert RunStats().summary()["events_per_second"] is None
    msgspec.json.encode(summary)  # plain JSON

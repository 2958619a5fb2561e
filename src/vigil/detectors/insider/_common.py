"""Small helpers shared by the insider-risk detectors (no state of their own)."""

from __future__ import annotations

from datetime import UTC, datetime

# scoring and retention helpers are shared with the sequence detectors
from vigil.detectors.sequences._common import (
    GC_PREFIX,
    days,
    file_for_sweep,
    is_young,
    logistic,
    money,
    note_signup,
    retain,
    sweep,
    touch,
)

__all__ = [
    "GC_PREFIX",
    "days",
    "file_for_sweep",
    "is_young",
    "logistic",
    "median",
    "money",
    "note_signup",
    "retain",
    "sweep",
    "touch",
    "utc_stamp",
]


def utc_stamp(time_ms: int) -> str:
    """An event time as ``2024-03-01T08:00Z`` (derived from the event, not the clock)."""
    return datetime.fromtimestamp(time_ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%MZ")


def median(values: list[float]) -> float:
    """Median of a non-empty list."""
    xs = sorted(values)
    n = len(xs)
    mid = n // 2
    return xs[mid] if n % 2 else (xs[mid - 1] + xs[mid]) / 2.0

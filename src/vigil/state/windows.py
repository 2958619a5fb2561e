"""Keyed tumbling and sliding event-time windows over pure aggregators.

An aggregator is three pure functions (``initialize``, ``agg``, ``result``), so the
runtime owns, checkpoints and replays the accumulators. A window [start, end) holds the
values whose event time t satisfies start <= t < end; windows start at multiples of the
slide. A tumbling window is a sliding one whose slide equals its size. A window closes,
and its result is emitted once, when the watermark reaches its end.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import msgspec

from vigil.errors import ConfigError

V = TypeVar("V")
A = TypeVar("A")
R = TypeVar("R")


@dataclass(frozen=True)
class Aggregator(Generic[V, A, R]):
    """Pure aggregation: ``agg`` must not mutate its inputs in ways ``result`` can observe twice."""

    initialize: Callable[[], A]
    agg: Callable[[A, V], A]
    result: Callable[[A], R]


@dataclass(frozen=True)
class WindowSpec(Generic[V, A, R]):
    name: str
    size_ms: int
    slide_ms: int
    aggregator: Aggregator[V, A, R]

    def __post_init__(self) -> None:
        if self.size_ms <= 0 or self.slide_ms <= 0:
            raise ConfigError(f"window {self.name!r}: size_ms and slide_ms must be > 0")
        if self.size_ms % self.slide_ms:
            raise ConfigError(
                f"window {self.name!r}: size_ms ({self.size_ms}) must be a multiple of "
                f"slide_ms ({self.slide_ms})"
            )

    @classmethod
    def tumbling(
        cls, name: str, size_ms: int, aggregator: Aggregator[V, A, R]
    ) -> WindowSpec[V, A, R]:
        return cls(name, size_ms, size_ms, aggregator)

    def starts_for(self, time_ms: int) -> range:
        """Starts of every window containing ``time_ms``."""
        last = time_ms - time_ms % self.slide_ms
        first = last - self.size_ms + self.slide_ms
        return range(first, last + 1, self.slide_ms)


class Window(msgspec.Struct, frozen=True):
    """A closed event-time window [start_ms, end_ms) of one key and its result."""

    key: str
    start_ms: int
    end_ms: int
    result: Any


class WindowStore:
    """Open windows of one spec: accumulators by (key, start) plus a heap of window ends."""

    __slots__ = ("_accs", "_ends", "spec")

    def __init__(self, spec: WindowSpec[Any, Any, Any]) -> None:
        self.spec = spec
        self._accs: dict[tuple[str, int], Any] = {}
        self._ends: list[tuple[int, str, int]] = []

    def __len__(self) -> int:
        return len(self._accs)

    def add(self, key: str, time_ms: int, value: Any, closed_before_ms: int) -> int:
        """Add a value; windows ending at or before ``closed_before_ms`` are already closed
        and do not take it. Returns how many closed windows missed the value."""
        spec = self.spec
        agg = spec.aggregator
        accs = self._accs
        missed = 0
        for start in spec.starts_for(time_ms):
            end = start + spec.size_ms
            if end <= closed_before_ms:
                missed += 1
                continue
            slot = (key, start)
            if slot in accs:
                acc = accs[slot]
            else:  # an accumulator may legitimately be None, so test membership
                acc = agg.initialize()
                heapq.heappush(self._ends, (end, key, start))
            accs[slot] = agg.agg(acc, value)
        return missed

    def next_end_ms(self) -> int | None:
        return self._ends[0][0] if self._ends else None

    def close_until(self, watermark_ms: int) -> list[Window]:
        """Close every window whose end <= watermark, in (end, key, start) order."""
        out: list[Window] = []
        ends = self._ends
        result = self.spec.aggregator.result
        while ends and ends[0][0] <= watermark_ms:
            end, key, start = heapq.heappop(ends)
            acc = self._accs.pop((key, start))
            out.append(Window(key, start, end, result(acc)))
        return out

    # checkpointing: plain data only
    def snapshot(self) -> tuple[dict[tuple[str, int], Any], list[tuple[int, str, int]]]:
        return self._accs, self._ends

    def restore(self, data: tuple[dict[tuple[str, int], Any], list[tuple[int, str, int]]]) -> None:
        self._accs, self._ends = data

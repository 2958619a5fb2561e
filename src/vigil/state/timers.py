"""Event-time timers: a heap ordered by (fire time, phase, registration order).

The phase is for stages downstream of others (``vigil.state.keyed.pipeline``): of the timers
due at one instant, those of a later phase fire after every timer of an earlier phase, so a
stage that gathers what others emit at their timers fires once they all have (as a
downstream operator's timer fires after its upstream's, once the watermark passes).
"""

from __future__ import annotations

import heapq
from typing import Any


class TimerQueue:
    """Timers fire in event-time order; ties fire by phase, then in the order they were set
    (determinism)."""

    __slots__ = ("_heap", "_seq")

    def __init__(self) -> None:
        self._heap: list[tuple[int, int, int, str, str, Any]] = []
        self._seq = 0

    def __len__(self) -> int:
        return len(self._heap)

    def set(
        self, fire_at_ms: int, owner: str, key: str, payload: Any = None, phase: int = 0
    ) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (fire_at_ms, phase, self._seq, owner, key, payload))

    def next_due_ms(self) -> int | None:
        return self._heap[0][0] if self._heap else None

    def pop_due(self, frontier_ms: int) -> tuple[int, str, str, Any] | None:
        """The earliest timer with fire time <= ``frontier_ms``, or None."""
        heap = self._heap
        if heap and heap[0][0] <= frontier_ms:
            fire_at, _, _, owner, key, payload = heapq.heappop(heap)
            return fire_at, owner, key, payload
        return None

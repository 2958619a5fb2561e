"""Records of several partitions, handed on in event-time order.

Each partition of a topic is in time order (a producer keys by entity, its events come in
order), but a consumer catching up on a backlog fetches large runs of one partition at a
time: handed on as fetched, one partition's events would run days ahead of another's, move
the watermark there, and turn the other's into ``too_late`` dead letters. So records wait in
one queue per partition, and the earliest head goes first, as long as every partition has a
record waiting or has been read to its end (a partition with nothing new does not hold the
others back). A backlog is then merged the same way on every run, whatever the fetch sizes.

Memory is bounded: beyond ``max_waiting`` records, the earliest heads go out anyway (a
partition that stopped answering then no longer holds the stream back, and its records may
arrive late).
"""

from __future__ import annotations

import heapq
from collections import deque

import msgspec

#: records waiting at most before the earliest heads go out regardless
MAX_WAITING = 200_000


class _Time(msgspec.Struct):
    event_time_ms: int = -1


_time_of = msgspec.json.Decoder(_Time).decode


def event_time(value: bytes) -> int:
    """The record's event time; -1 for one that has none (it goes first, to be kept as a
    dead letter by the runtime)."""
    try:
        return _time_of(value).event_time_ms
    except (msgspec.DecodeError, msgspec.ValidationError):
        return -1


class AlignedMerge:
    """Per-partition queues of ``(value, offset)``; ``take`` hands on what may go."""

    def __init__(self, partitions: list[str], max_waiting: int = MAX_WAITING) -> None:
        self.partitions = partitions
        self.max_waiting = max_waiting
        self._queues: dict[str, deque[tuple[int, bytes, int]]] = {p: deque() for p in partitions}
        self.waiting = 0

    def add(self, partition: str, value: bytes, offset: int) -> None:
        self._queues[partition].append((event_time(value), value, offset))
        self.waiting += 1

    def take(
        self,
        caught_up: set[str],
        position: dict[str, int],
        where: list[tuple[str, int]] | None = None,
    ) -> list[bytes]:
        """The records that may go, earliest first; ``position`` (next offset per partition)
        moves past each, and ``where`` gets each one's (partition, offset). ``caught_up``:
        partitions read to their end, with nothing fetched since (an empty queue of theirs
        holds nothing back)."""
        queues = self._queues
        heap = [(q[0][0], p) for p, q in queues.items() if q]
        heapq.heapify(heap)
        out: list[bytes] = []
        #: partitions that may still bring something earlier than every head
        holding = {p for p, q in queues.items() if not q and p not in caught_up}
        while heap:
            if holding and self.waiting <= self.max_waiting:
                break
            _t, p = heapq.heappop(heap)
            queue = queues[p]
            _t, value, offset = queue.popleft()
            self.waiting -= 1
            out.append(value)
            position[p] = offset + 1
            if where is not None:
                where.append((p, offset))
            if queue:
                heapq.heappush(heap, (queue[0][0], p))
            elif p not in caught_up:
                holding.add(p)
        return out

"""The event-time engine: one heap of planned events (keyed by arrival) and actions (by time).

Why one heap: an order's whole life (delivery, return, scans, refund) is planned the moment it is
placed, so its later events wait in the heap as compact JSON bytes, not objects, and actions (the
hourly traffic tick, the daily session planner, scenario starts) sit in the same heap and run at
their time. An event is keyed by its *arrival* time (event time + a delay drawn by
:mod:`vigil.sim.disorder` when it is planned). Since an action at time T only plans events whose
event time, hence arrival, is >= T, popping the heap writes the file in arrival order and runs
every action before anything that depends on it: no second pass, no second heap, and memory holds
only what is still pending.

Event ids are given as lines leave the heap ("ev-1", "ev-2", ... in arrival order), so an id never
tells when or by what an event was planned; a duplicate re-sent later carries the same id.
"""

from __future__ import annotations

from collections.abc import Callable
from heapq import heappop, heappush
from math import log

import msgspec

from vigil.events.schemas import EVENT_TYPES, EventBase
from vigil.sim.disorder import Disorder
from vigil.sim.writer import FLUSH_AT, LineWriter

#: event_id placeholder; the real id is written in when the event leaves the heap
PENDING_ID = "-"
_PLACEHOLDER = b'"event_id":"-"'

Action = Callable[[int], None]


class _Ready(bytes):
    """A line that is written as is (a duplicate or malformed twin): no id, no new twin."""


class PlanningError(RuntimeError):
    """An internal bug: something was scheduled in the past of the timeline."""


class Timeline:
    """Planned events and actions, popped in (arrival or action time, insertion) order."""

    __slots__ = (
        "_cap",
        "_disorder",
        "_encode",
        "_heap",
        "_late_p",
        "_mean",
        "_random",
        "_seq",
        "ad_lines",
        "by_type",
        "ivt_lines",
        "last_event_ms",
        "lines",
        "now",
        "side_lines",
    )

    def __init__(self, disorder: Disorder) -> None:
        self._heap: list[tuple[int, int, bytes | Action]] = []
        self._seq = 0
        self._encode = msgspec.json.Encoder().encode
        self._disorder = disorder
        self._random = disorder.rng.random
        self._late_p = disorder.late_p
        self._mean = disorder.on_time_mean_ms
        self._cap = disorder.on_time_max_ms
        #: event lines planned so far (ads among them)
        self.lines = 0
        self.ad_lines = 0
        #: lines planned by side scenarios, net of the lines their changes took away (see
        #: ``Ctx.side``); the traffic budget does not count them, so the main world is
        #: planned as if they did not exist
        self.side_lines = 0
        #: lines of invalid ad traffic (``put_ivt``), also in ``side_lines``
        self.ivt_lines = 0
        #: time of the action running now; nothing may be planned before it
        self.now = 0
        self.last_event_ms = 0
        self.by_type: dict[type[EventBase], int] = dict.fromkeys(EVENT_TYPES, 0)

    def put(self, ev: EventBase) -> None:
        """Plan one event (its arrival delay is drawn now)."""
        t = ev.event_time_ms
        if t < self.now:
            raise PlanningError(f"event {type(ev).__name__} planned at {t} before now {self.now}")
        u = self._random()
        if u >= self._late_p:
            delay = int(-self._mean * log(1.0 - self._random()))
            if delay > self._cap:
                delay = self._cap
        else:
            delay = self._disorder.late_delay(u)
        self._seq += 1
        heappush(self._heap, (t + delay, self._seq, self._encode(ev)))
        self.lines += 1
        self.by_type[type(ev)] += 1
        if t > self.last_event_ms:
            self.last_event_ms = t

    def put_ad(self, ev: EventBase) -> None:
        self.put(ev)
        self.ad_lines += 1

    def put_ivt(self, ev: EventBase) -> None:
        """Plan an event of invalid ad traffic (or a look-alike planned only with it): in
        ``side_lines``, so no traffic budget counts it, and in ``ivt_lines``."""
        self.put(ev)
        self.side_lines += 1
        self.ivt_lines += 1

    @property
    def main_lines(self) -> int:
        """Lines planned so far, invalid ad traffic aside: values derived from this number
        (new profile hashes) are the same with invalid traffic on or off."""
        return self.lines - self.ivt_lines

    def call_at(self, t_ms: int, action: Action) -> None:
        if t_ms < self.now:
            raise PlanningError(f"action planned at {t_ms} before now {self.now}")
        self._seq += 1
        heappush(self._heap, (t_ms, self._seq, action))

    def run(self, out: LineWriter, ids_from: int = 1) -> int:
        """Pop everything: lines are written (with their id, numbered from ``ids_from``, and
        maybe a twin), actions run. Returns the number of the last id given."""
        heap = self._heap
        disorder = self._disorder
        rnd = self._random
        twin_p = disorder.twin_p
        buf = out.buf
        lines = out.lines
        n = ids_from - 1
        while heap:
            key, _, item = heappop(heap)
            if type(item) is bytes:
                n += 1
                line = item.replace(_PLACEHOLDER, b'"event_id":"ev-%d"' % n, 1)
                buf += line
                buf += b"\n"
                v = rnd()
                if v < twin_p:
                    delay, twin = disorder.twin(v, line)
                    self._seq += 1
                    heappush(heap, (key + delay, self._seq, _Ready(twin)))
            elif isinstance(item, _Ready):
                buf += item
                buf += b"\n"
            else:
                assert callable(item)
                self.now = key
                item(key)
                continue
            lines += 1
            if len(buf) >= FLUSH_AT:
                out.lines = lines
                out.flush()
        out.lines = lines
        return n

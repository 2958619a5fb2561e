"""Brute-force expectations for a stream, straight from the documented semantics.

Nothing here reuses the runtime's code paths: lines are classified with a plain loop over
the arrival order, and window results and timer outcomes are recomputed from scratch for
each window and each refund (quadratic, fine for the small streams of property tests).

Semantics (README of the runtime): watermark = highest event time seen - out-of-orderness;
it advances on an event that raises the maximum, and what is due fires *before* that event
is handled. ``t < watermark`` is late (processed, closed windows miss it), ``t < watermark -
allowed lateness`` is too late (dead letter), whether or not its id was seen before; other
re-sends of an ``event_id`` are duplicates and are dropped.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import msgspec

from vigil.detectors.base import Alert, Signal
from vigil.events.codec import encode_one
from vigil.events.schemas import EventBase, RefundIssued, ReturnReceived

from ._detectors import NoReturnDetector, RefundWindowsDetector, no_return_signal, window_signal


@dataclass(frozen=True)
class Item:
    """One input line; ``event`` is what it encodes, None for a malformed or blank line."""

    raw: bytes
    event: EventBase | None = None

    @classmethod
    def of(cls, event: EventBase) -> Item:
        return cls(encode_one(event), event)


@dataclass(frozen=True)
class Arrival:
    line_no: int
    item: Item
    status: str  # blank | malformed | duplicate | too_late | late | on_time
    watermark_after: int | None  # None: no watermark yet
    advanced: bool

    @property
    def processed(self) -> bool:
        return self.status in ("late", "on_time")


def classify(items: list[Item], bound_ms: int, lateness_ms: int) -> list[Arrival]:
    out: list[Arrival] = []
    seen: set[str] = set()
    max_t: int | None = None
    wm: int | None = None
    for n, item in enumerate(items, start=1):
        ev = item.event
        advanced = False
        if not item.raw.strip():
            status = "blank"
        elif ev is None:
            status = "malformed"
        elif wm is not None and ev.event_time_ms < wm - lateness_ms:
            status = "too_late"  # judged first: a re-send older than the lateness is too late
        elif ev.event_id in seen:
            status = "duplicate"
        else:
            status = "late" if wm is not None and ev.event_time_ms < wm else "on_time"
            seen.add(ev.event_id)
            if max_t is None or ev.event_time_ms > max_t:
                max_t = ev.event_time_ms
                if wm is None or max_t - bound_ms > wm:
                    wm = max_t - bound_ms
                    advanced = True
        out.append(Arrival(n, item, status, wm, advanced))
    return out


def final_watermark(arrivals: list[Arrival]) -> int | None:
    return arrivals[-1].watermark_after if arrivals else None


def _first_advance_reaching(arrivals: list[Arrival], start: int, time_ms: int) -> int | None:
    """Index of the first arrival from ``start`` on whose watermark advance reaches ``time_ms``."""
    for j in range(start, len(arrivals)):
        wm = arrivals[j].watermark_after
        if arrivals[j].advanced and wm is not None and wm >= time_ms:
            return j
    return None


def _alert(sig: Signal) -> Alert:
    alert_id = f"{sig.detector}:{sig.subject_type}:{sig.subject_id}"
    return Alert(alert_id=alert_id, **msgspec.structs.asdict(sig))


@dataclass
class Expected:
    alerts: set[Alert]
    timers_fired: int
    pending_timers: int
    windows_fired: int
    window_late_drops: int
    counts: Counter[str]


def expect(
    arrivals: list[Arrival], no_return: NoReturnDetector, windows: RefundWindowsDetector
) -> Expected:
    alerts: set[Alert] = set()
    processed = [(i, a) for i, a in enumerate(arrivals) if a.processed]
    refunds = [(i, a.item.event) for i, a in processed if isinstance(a.item.event, RefundIssued)]
    receipts = [(i, a.item.event) for i, a in processed if isinstance(a.item.event, ReturnReceived)]

    # "A and no B within T": the timer fires at the first watermark advance (after the refund
    # was handled) that reaches t + T; receipts handled before that point can cancel it.
    fired = 0
    within = no_return.within_ms
    for i, refund in refunds:
        fire_at = refund.event_time_ms + within
        j = _first_advance_reaching(arrivals, i + 1, fire_at)
        if j is None:
            continue
        fired += 1
        cancelled = any(
            k < j
            and r.order_id == refund.order_id
            and refund.event_time_ms <= r.event_time_ms < fire_at
            for k, r in receipts
        )
        if not cancelled:
            sig = no_return_signal(
                refund.refund_id, refund.order_id, refund.customer_id, refund.amount_cents, fire_at
            )
            alerts.add(_alert(sig))

    # Windows: a value counts in [start, end) if the window was still open when it arrived.
    final_wm = final_watermark(arrivals)
    windows_fired = 0
    late_drops = 0
    for spec in windows.specs:
        contents: dict[tuple[str, int], list[int]] = {}
        for i, refund in refunds:
            t = refund.event_time_ms
            wm = arrivals[i].watermark_after
            for start in range(t - spec.size_ms + 1, t + 1):
                if start % spec.slide_ms:
                    continue
                if wm is not None and start + spec.size_ms <= wm:
                    late_drops += 1
                    continue
                contents.setdefault((refund.customer_id, start), []).append(refund.amount_cents)
        for (key, start), amounts in contents.items():
            end = start + spec.size_ms
            if final_wm is not None and end <= final_wm:
                windows_fired += 1
                sig = window_signal(spec.name, key, start, end, len(amounts), sum(amounts))
                alerts.add(_alert(sig))

    return Expected(
        alerts=alerts,
        timers_fired=fired,
        pending_timers=len(refunds) - fired,
        windows_fired=windows_fired,
        window_late_drops=late_drops,
        counts=Counter(a.status for a in arrivals),
    )

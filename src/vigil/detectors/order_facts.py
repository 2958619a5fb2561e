"""What became of an order and its return parcel, and how long return routes normally take.

Two forms. The older one (``record_order_fact`` / ``first_times``): when an order was first
delivered and first showed a return (a carrier scan or a warehouse receipt), which
``fraud_ring`` and the agent profiles judge by. The newer one (``note_*`` / ``return_status``
/ ``on_its_way``, below): a return counts when it is received, and a scanned parcel counts
as on its way only until its route's normal transit time has passed (``normal_transit_ms``,
learned online); ``refund_without_return`` and ``agent_refunds`` judge by it.

Each detector keeps its own copy in its own keyed state (detectors share no state), in one
compact form: most orders are only ever delivered, so such an order is stored as the bare
int delivery time, short for ``(last_activity, None, delivered)``; the first scan or receipt
turns it into ``(last_activity_ms, first_return_ms, first_delivery_ms)`` (``with_order_fact``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from vigil.detectors.base import Context
from vigil.detectors.sequences._common import file_for_sweep
from vigil.events.schemas import CarrierScan

RETURNED = 1
DELIVERED = 2


def record_order_fact(
    ctx: Context, namespace: str, order_id: str, time_ms: int, slot: int, retention_ms: int
) -> None:
    """Note a delivery (``DELIVERED``) or a scan/receipt (``RETURNED``) of an order."""
    orders = ctx.keyed(namespace)
    entry: Any = orders.get(order_id)
    orders[order_id], _last = with_order_fact(entry, time_ms, slot)
    if entry is None:
        file_for_sweep(ctx, (namespace, order_id), time_ms + retention_ms)


def with_order_fact(entry: Any, time_ms: int, slot: int) -> tuple[Any, int]:
    """A delivery or a scan/receipt noted on a stored entry, which is not changed in place:
    the new entry (the bare int delivery time, or a ``(last, first return, first delivery)``
    tuple) and its last activity, from which its time-to-live counts."""
    if entry is None:
        if slot == DELIVERED:
            return time_ms, time_ms
        return (time_ms, time_ms, None), time_ms
    new: list[Any] = [entry, None, entry] if type(entry) is int else list(entry)
    if time_ms > new[0]:
        new[0] = time_ms
    first = new[slot]
    if first is None or time_ms < first:
        new[slot] = time_ms
    return tuple(new), new[0]


def first_times(entry: Any) -> tuple[int | None, int | None]:
    """(first return ms, first delivery ms) of a stored entry (None: nothing known)."""
    if entry is None:
        return None, None
    if type(entry) is int:
        return None, entry
    return entry[RETURNED], entry[DELIVERED]


# --- return parcels: received, or still on their way? -----------------------------------------
#
# ``refund_without_return`` and ``agent_refunds`` ask a stricter question than the helpers
# above: a carrier scan alone no longer means the goods came back. A return counts when it is
# *received*; a parcel the carrier scanned counts as on its way only until the normal transit
# time of its route has passed, and that time is learned from the stream (see
# ``normal_transit_ms``). (``fraud_ring`` and the agent profiles still use the helpers above.)
#
# Entry in the detector's namespace, per order: the bare int delivery time while nothing else
# is known (most orders), else a list
#   [last_activity_ms, delivered_ms | None, first_scan_ms | None, received_ms | None,
#    route | None, first_delivered_scan_ms | None]
# where ``route`` is "<origin country>><destination postal code>" of the earliest scan
# (``route_of``) and the last slot is the earliest scan of type "delivered".

_DELIVERED = 1
_FIRST_SCAN = 2
_RECEIVED = 3
_ROUTE = 4
_SCAN_DELIVERED = 5

#: learned transit per route: route -> ``TransitHistogram`` state
TRANSIT_NAMESPACE = "transit"
#: timer set at a receipt's event time; it teaches the route its first scan -> receipt time
TRANSIT_TIMER = "transit|"
#: learned times forget old parcels by this factor per day
TRANSIT_DECAY_PER_DAY = 0.99
#: a route's normal transit is kept within these bounds, whatever was learned
TRANSIT_MIN_MS = 86_400_000
TRANSIT_MAX_MS = 30 * 86_400_000


@dataclass(frozen=True)
class TransitModel:
    """How a route's normal transit time (first scan -> receipt) is read from what was
    learned: the ``quantile`` of the route's received parcels, times ``1 + margin``; the
    ``prior_ms`` until ``min_parcels`` (decayed) parcels of the route were received."""

    quantile: float = 0.99
    margin: float = 0.25
    prior_ms: int = 10 * 86_400_000
    min_parcels: float = 20.0


def route_of(origin_country: str, destination_postal_code: str | None) -> str:
    """A return route: where the parcel was first scanned, and the postal code it goes to
    (spaces and case ignored; "?" when the carrier did not say)."""
    dest = destination_postal_code.replace(" ", "").upper() if destination_postal_code else "?"
    return origin_country + ">" + dest


def parcel_list(entry: Any, t: int) -> list[Any]:
    """The entry in its list form with ``t`` as activity: a new list for no entry or the
    bare delivery time, else ``entry`` itself, updated."""
    if entry is None:
        return [t, None, None, None, None, None]
    if type(entry) is int:
        return [max(entry, t), entry, None, None, None, None]
    if t > entry[0]:
        entry[0] = t
    return entry  # type: ignore[no-any-return]


def with_delivery(entry: Any, t: int) -> Any:
    """The entry once the order is known delivered at ``t`` (a list is updated in place)."""
    if entry is None:
        return t
    if type(entry) is int:
        return t if t < entry else entry
    if t > entry[0]:
        entry[0] = t
    if entry[_DELIVERED] is None or t < entry[_DELIVERED]:
        entry[_DELIVERED] = t
    return entry


def add_return_scan(entry: list[Any], scan: CarrierScan) -> None:
    """A carrier scan of the return parcel (the earliest one sets the route)."""
    t = scan.event_time_ms
    first = entry[_FIRST_SCAN]
    entry[_ROUTE] = earliest_route(first, entry[_ROUTE], scan)
    if first is None or t < first:
        entry[_FIRST_SCAN] = t
    if scan.scan_type == "delivered":
        seen = entry[_SCAN_DELIVERED]
        if seen is None or t < seen:
            entry[_SCAN_DELIVERED] = t


def add_receipt(entry: list[Any], t: int) -> bool:
    """The centre received the parcel at ``t``; True if it is the earliest receipt."""
    if entry[_RECEIVED] is None or t < entry[_RECEIVED]:
        entry[_RECEIVED] = t
        return True
    return False


def _updated_entry(
    ctx: Context,
    namespace: str,
    order_id: str,
    t: int,
    retention_ms: int,
    update: Callable[[Any, int], Any],
) -> Any:
    """The order's entry after ``update(entry, t)``; stored (and filed for retention when
    new) if ``update`` made another object of it."""
    orders = ctx.keyed(namespace)
    entry: Any = orders.get(order_id)
    found = update(entry, t)
    if found is not entry:
        orders[order_id] = found
        if entry is None:
            file_for_sweep(ctx, (namespace, order_id), t + retention_ms)
    return found


def _parcel_entry(ctx: Context, namespace: str, order_id: str, t: int, retention_ms: int) -> Any:
    return _updated_entry(ctx, namespace, order_id, t, retention_ms, parcel_list)


def note_delivery(ctx: Context, namespace: str, order_id: str, t: int, retention_ms: int) -> None:
    """The carrier delivered the order to the customer (the outbound parcel)."""
    _updated_entry(ctx, namespace, order_id, t, retention_ms, with_delivery)


def earliest_route(first_ms: int | None, route: str | None, scan: CarrierScan) -> str | None:
    """A parcel's route once ``scan`` is known too: the earliest scan's (of two at the same
    instant, the smaller route, so that arrival order does not matter)."""
    t = scan.event_time_ms
    if first_ms is not None and t > first_ms:
        return route
    other = route_of(scan.location_country, scan.destination_postal_code)
    if first_ms is None or t < first_ms or route is None or other < route:
        return other
    return route


def note_return_scan(ctx: Context, namespace: str, scan: CarrierScan, retention_ms: int) -> None:
    """A carrier scan of the order's return parcel (the earliest one sets the route)."""
    entry = _parcel_entry(ctx, namespace, scan.order_id, scan.event_time_ms, retention_ms)
    add_return_scan(entry, scan)


def note_receipt(ctx: Context, namespace: str, order_id: str, t: int, retention_ms: int) -> None:
    """The return centre received the parcel; a timer at ``t`` teaches the route (by then
    every scan dated before the receipt has arrived)."""
    entry = _parcel_entry(ctx, namespace, order_id, t, retention_ms)
    if add_receipt(entry, t):
        ctx.set_timer(t, TRANSIT_TIMER + order_id, t)


def learn_transit(ctx: Context, namespace: str, key: str, payload: Any) -> None:
    """Handle a ``TRANSIT_TIMER``: the route of a received parcel learns its first scan ->
    receipt time. Timers fire in event-time order and ``AmountBaseline`` holds updates of
    the latest instant back from reads at that instant, so what a route has learned at a
    given event time does not depend on arrival order."""
    lesson = transit_lesson(ctx.keyed(namespace).get(key[len(TRANSIT_TIMER) :]), payload)
    if lesson is not None:
        teach_transit(ctx, lesson[0], lesson[1], payload)


def transit_lesson(entry: Any, received_ms: int) -> tuple[str, int] | None:
    """(route, first scan) a parcel received at ``received_ms`` teaches its route; None if an
    earlier receipt turned up (its own timer teaches) or nothing was scanned."""
    if type(entry) is not list or entry[_RECEIVED] != received_ms or entry[_FIRST_SCAN] is None:
        return None
    return entry[_ROUTE], entry[_FIRST_SCAN]


def teach_transit(ctx: Context, route: str, first_scan_ms: int, received_ms: int) -> None:
    """A parcel of ``route`` first scanned at ``first_scan_ms`` was received at
    ``received_ms``; call it from a timer at ``received_ms`` (see ``learn_transit``)."""
    if first_scan_ms > received_ms:
        return
    routes = ctx.keyed(TRANSIT_NAMESPACE)
    state: list[Any] | None = routes.get(route)
    if state is None:
        state = routes[route] = TransitHistogram.new()
    TransitHistogram.record(state, first_scan_ms, received_ms)


class TransitHistogram:
    """First scan -> receipt times of one route: a histogram of ln(minutes) in bins of 0.1
    (about 10 %), where older parcels count less (``TRANSIT_DECAY_PER_DAY``), learned in
    event-time order without depending on the order of equal-time updates.

    State (plain data, kept in keyed state): ``[scaled_weight, hist, ref_ms, pending_ms,
    pending]``. Instead of shrinking every bin as time passes, a parcel received at ``t`` is
    added with weight ``decay ** -((t - ref_ms) / day)``: quantiles do not change when every
    bin is scaled alike, and the decayed weight at ``now`` is ``scaled_weight * decay **
    ((now - ref_ms) / day)``. ``pending`` holds the updates of the latest instant; they are
    folded in only once a strictly later instant is read, so two updates at one instant never
    see each other (as ``AmountBaseline``)."""

    BINS = 120
    BIN = 0.1

    @staticmethod
    def new() -> list[Any]:
        return [0.0, [0.0] * TransitHistogram.BINS, None, None, {}]

    @staticmethod
    def add(state: list[Any], time_ms: int, transit_ms: int) -> None:
        """Queue one parcel received at ``time_ms`` (call ``fold`` with ``time_ms`` first)."""
        minutes = max(1, transit_ms // 60_000)
        b = min(TransitHistogram.BINS - 1, int(math.log(minutes) / TransitHistogram.BIN))
        state[3] = time_ms
        pending: dict[int, int] = state[4]
        pending[b] = pending.get(b, 0) + 1

    @staticmethod
    def record(state: list[Any], first_scan_ms: int, received_ms: int) -> None:
        """A parcel first scanned at ``first_scan_ms`` and received at ``received_ms``."""
        TransitHistogram.fold(state, received_ms)
        TransitHistogram.add(state, received_ms, received_ms - first_scan_ms)

    @staticmethod
    def fold(state: list[Any], now_ms: int) -> None:
        pending_ms = state[3]
        if pending_ms is None or pending_ms >= now_ms:
            return
        if state[2] is None:
            state[2] = pending_ms
        hist: list[float] = state[1]
        w = TRANSIT_DECAY_PER_DAY ** (-(pending_ms - state[2]) / 86_400_000)
        if w > 1e12:  # rebase, so that weights stay far from overflow (every ~7 years)
            for i, x in enumerate(hist):
                hist[i] = x / w
            state[0] /= w
            state[2], w = pending_ms, 1.0
        pending: dict[int, int] = state[4]
        for b, n in pending.items():
            hist[b] += n * w
            state[0] += n * w
        state[3], state[4] = None, {}

    @staticmethod
    def weight(state: list[Any], now_ms: int) -> float:
        """The decayed number of parcels folded in, as of ``now_ms``."""
        if state[2] is None:
            return 0.0
        age_days: float = (now_ms - state[2]) / 86_400_000
        return float(state[0]) * float(TRANSIT_DECAY_PER_DAY**age_days)

    @staticmethod
    def quantile_ms(state: list[Any], q: float) -> float:
        """The ``q`` quantile of the folded transit times, in ms (interpolated in its bin)."""
        hist: list[float] = state[1]
        target = q * state[0]
        acc = 0.0
        for i, w in enumerate(hist):
            if w > 0 and acc + w >= target:
                return math.exp((i + (target - acc) / w) * TransitHistogram.BIN) * 60_000
            acc += w
        return math.exp(TransitHistogram.BINS * TransitHistogram.BIN) * 60_000


def normal_transit_ms(ctx: Context, route: str | None, at_ms: int, model: TransitModel) -> int:
    """How long parcels of ``route`` normally take from first scan to receipt, as learned
    from parcels received before ``at_ms`` (call it from a timer: ``at_ms`` is then an
    event time every detector run agrees on)."""
    state: list[Any] | None = ctx.keyed(TRANSIT_NAMESPACE).get(route) if route else None
    return model.prior_ms if state is None else transit_of(state, at_ms, model)


def transit_of(state: list[Any], at_ms: int, model: TransitModel) -> int:
    """A route's normal transit from its histogram (folded to ``at_ms`` in place)."""
    TransitHistogram.fold(state, at_ms)
    if TransitHistogram.weight(state, at_ms) < model.min_parcels:
        return model.prior_ms
    ms = TransitHistogram.quantile_ms(state, model.quantile) * (1.0 + model.margin)
    return int(min(TRANSIT_MAX_MS, max(TRANSIT_MIN_MS, ms)))


def route_is_known(ctx: Context, route: str | None, at_ms: int, model: TransitModel) -> bool:
    """Have at least ``min_parcels`` (decayed) parcels of ``route`` been received before
    ``at_ms``? (an established route: where customers really send returns from)"""
    state: list[Any] | None = ctx.keyed(TRANSIT_NAMESPACE).get(route) if route else None
    if state is None:
        return False
    TransitHistogram.fold(state, at_ms)
    return TransitHistogram.weight(state, at_ms) >= model.min_parcels


class ReturnStatus(NamedTuple):
    """What became of an order's return parcel by a deadline."""

    #: the order was delivered to the customer by the deadline
    delivered: bool
    #: the centre received the return parcel by the deadline
    received: bool
    #: earliest carrier scan of the return parcel by the deadline (None: never scanned)
    first_scan_ms: int | None
    route: str | None
    #: earliest "delivered" scan of the return parcel by the deadline
    scan_delivered_ms: int | None


def return_status(entry: Any, deadline_ms: int) -> ReturnStatus:
    """The order's parcels as of ``deadline_ms`` (only facts dated at or before it count)."""
    if entry is None:
        return ReturnStatus(False, False, None, None, None)
    if type(entry) is int:
        return ReturnStatus(entry <= deadline_ms, False, None, None, None)

    def by(t: int | None) -> int | None:
        return t if t is not None and t <= deadline_ms else None

    first = by(entry[_FIRST_SCAN])
    return ReturnStatus(
        by(entry[_DELIVERED]) is not None,
        by(entry[_RECEIVED]) is not None,
        first,
        entry[_ROUTE] if first is not None else None,
        by(entry[_SCAN_DELIVERED]),
    )


def on_its_way(
    ctx: Context, status: ReturnStatus, deadline_ms: int, at_ms: int, model: TransitModel
) -> bool:
    """Does a scanned, not yet received parcel still count as on its way at ``deadline_ms``
    (its first scan less than its route's normal transit time before)? Read at ``at_ms``."""
    if status.first_scan_ms is None or status.received:
        return False
    due = status.first_scan_ms + normal_transit_ms(ctx, status.route, at_ms, model)
    return due > deadline_ms

"""Order parcels and return routes on the keyed-state contract, for the detectors that judge
whether a refund's goods came back.

``ParcelKeeping``: what an order stage keeps of the order's parcels (``order_facts``'s
entry: the outbound delivery, the return parcel's scans and receipt) and how it teaches
the route of a received parcel.

The route stage: how long return parcels of one route normally take, learned per route.

Keyed by route (``order_facts.route_of``: first-scan country > destination postal code). An
order stage tells it of each received parcel (``ParcelReceived``, sent at the receipt's time)
and asks it, from a timer, when a scanned parcel is due (``TransitAsked``); it answers with
``TransitAnswered``: first scan + the route's normal transit, and whether the route is
established (enough received parcels). The order stage reads the answer within the same
timer, so it judges by what the route had learned at that event time.

The detectors that share the order stage (``order_stage``) share one route stage, which
answers each with its own transit settings; ``empty_box`` keeps its own. The learned times
are the same code as ``order_facts.TransitHistogram``.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from vigil.detectors.order_facts import (
    TransitHistogram,
    TransitModel,
    add_receipt,
    add_return_scan,
    parcel_list,
    transit_lesson,
    transit_of,
    with_delivery,
)
from vigil.events.derived import ParcelReceived, TransitAnswered, TransitAsked
from vigil.events.schemas import CarrierScan, ReturnReceived, ShipmentDelivered
from vigil.state.keyed.spec import StateSpec, ValueSpec
from vigil.state.keyed.stage import KeyKind, Output, StageContext


class TransitSettings(Protocol):
    @property
    def transit_quantile(self) -> float: ...
    @property
    def transit_margin(self) -> float: ...
    @property
    def transit_prior_ms(self) -> int: ...
    @property
    def transit_min_parcels(self) -> float: ...


#: the source events ``ParcelKeeping`` reads
PARCEL_EVENTS: frozenset[str] = frozenset({"shipment_delivered", "carrier_scan", "return_received"})
#: its timer at a receipt's time (by then every scan dated before it has arrived)
PARCEL_TIMER = "transit|"


class ParcelKeeping:
    """An order stage's parcels: the value ``parcel`` holds ``(entry, basis)``, the entry as
    ``order_facts`` keeps it (the bare delivery time, or [last, delivered, first scan,
    received, route, first delivered scan]) and ``basis``, the latest time it was touched
    (its time-to-live counts from there)."""

    def parcel(self, ctx: StageContext) -> tuple[Any, int]:
        found = ctx.value("parcel").get()
        return (None, 0) if found is None else found

    def _put_parcel(self, ctx: StageContext, entry: Any, basis: int) -> None:
        ctx.value("parcel").set((entry, basis), at_ms=basis)

    def _parcel_list(self, ctx: StageContext, t: int) -> tuple[list[Any], int]:
        entry, basis = self.parcel(ctx)
        found = parcel_list(list(entry) if type(entry) is list else entry, t)
        return found, max(basis, found[0])

    def note_parcel(self, event: Any, ctx: StageContext) -> None:
        """Keep a delivery, return scan or receipt of the order (other events: nothing)."""
        tp = type(event)
        t = event.event_time_ms
        if tp is ShipmentDelivered:
            entry, basis = self.parcel(ctx)
            found = with_delivery(list(entry) if type(entry) is list else entry, t)
            if type(entry) is list or found is not entry:
                last = found if type(found) is int else found[0]
                self._put_parcel(ctx, found, max(basis, last))
        elif tp is CarrierScan:
            entry, basis = self._parcel_list(ctx, t)
            add_return_scan(entry, event)
            self._put_parcel(ctx, entry, basis)
        elif tp is ReturnReceived:
            entry, basis = self._parcel_list(ctx, t)
            if add_receipt(entry, t):
                ctx.timer(t, PARCEL_TIMER + str(t))
            self._put_parcel(ctx, entry, basis)

    def parcel_lesson(self, name: str, ctx: StageContext) -> Sequence[Output]:
        """Handle the ``PARCEL_TIMER`` ``name``: the route of the received parcel learns its
        first-scan-to-receipt time (nothing if an earlier receipt turned up since)."""
        received = int(name[len(PARCEL_TIMER) :])
        lesson = transit_lesson(self.parcel(ctx)[0], received)
        if lesson is None:
            return ()
        return (
            ParcelReceived(
                event_time_ms=received,
                route=lesson[0],
                first_scan_ms=lesson[1],
                received_ms=received,
            ),
        )


def transit_model(s: TransitSettings) -> TransitModel:
    return TransitModel(
        s.transit_quantile, s.transit_margin, s.transit_prior_ms, s.transit_min_parcels
    )


@dataclass(frozen=True)
class RouteModels:
    """The transit settings a route stage answers with, per question's ``purpose``."""

    models: tuple[tuple[str, Any], ...]


class RouteTransitStage:
    """Learns a route's first-scan-to-receipt times and answers when its parcels are due.

    One stage serves every detector whose parcels its order stage keeps (``share_stages``
    merges them): each question names its ``purpose`` and is answered with the transit
    settings of the detector that asked. A subclass with its own ``name`` keeps its own
    routes (``empty_box``, whose order stage is its own)."""

    name: ClassVar[str] = "routes"
    version: ClassVar[int] = 1
    reads: ClassVar[frozenset[str]] = frozenset({"parcel_received", "transit_asked"})
    key: ClassVar[KeyKind] = "route"

    def __init__(self, settings: TransitSettings, purposes: tuple[str, ...]) -> None:
        """Answer the questions of these ``purposes`` with ``settings``."""
        self.settings = RouteModels(tuple((p, settings) for p in purposes))

    def merged(self, other: RouteTransitStage) -> RouteTransitStage:
        """One stage answering the questions of both (``share_stages``)."""
        mine, theirs = dict(self.settings.models), dict(other.settings.models)
        if any(mine[p] != theirs[p] for p in mine.keys() & theirs.keys()):
            raise ValueError("route stages ask with different settings for one purpose")
        out = copy.copy(self)
        out.settings = RouteModels(tuple({**mine, **theirs}.items()))
        return out

    def state(self) -> Sequence[StateSpec]:
        return (ValueSpec("transit", ttl_ms=None),)  # TransitHistogram

    def key_of(self, event: Any) -> str | None:
        return event.route  # type: ignore[no-any-return]

    def on_event(self, event: Any, ctx: StageContext) -> Sequence[Output]:
        handle = ctx.value("transit")
        state: list[Any] | None = handle.get()
        if type(event) is ParcelReceived:
            if event.first_scan_ms > event.received_ms:
                return ()
            state = TransitHistogram.new() if state is None else copy_hist(state)
            TransitHistogram.record(state, event.first_scan_ms, event.received_ms)
            handle.set(state)
            return ()
        if type(event) is TransitAsked:
            model = transit_model(dict(self.settings.models)[event.purpose])
            transit, known = model.prior_ms, False
            if state is not None:
                state = copy_hist(state)
                transit = transit_of(state, event.deadline_ms, model)
                known = TransitHistogram.weight(state, event.deadline_ms) >= model.min_parcels
                handle.set(state)
            return (
                TransitAnswered(
                    event_time_ms=event.deadline_ms,
                    order_id=event.order_id,
                    refund_id=event.refund_id,
                    due_ms=event.first_scan_ms + transit,
                    deadline_ms=event.deadline_ms,
                    purpose=event.purpose,
                    first_scan_ms=event.first_scan_ms,
                    known=known,
                ),
            )
        return ()

    def on_timer(self, name: str, fired_at_ms: int, ctx: StageContext) -> Sequence[Output]:
        return ()


def copy_hist(state: list[Any]) -> list[Any]:
    """A histogram to change and write back (stored values are never changed in place)."""
    return [state[0], list(state[1]), state[2], state[3], dict(state[4])]


__all__ = [
    "PARCEL_EVENTS",
    "PARCEL_TIMER",
    "ParcelKeeping",
    "RouteModels",
    "RouteTransitStage",
    "TransitSettings",
    "copy_hist",
    "transit_model",
]

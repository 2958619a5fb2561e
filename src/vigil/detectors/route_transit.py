"""The route stage: how long return parcels of one route normally take, learned per route.

Keyed by route (``order_facts.route_of``: first-scan country > destination postal code). An
order stage tells it of each received parcel (``ParcelReceived``, sent at the receipt's time)
and asks it, from a timer, when a scanned parcel is due (``TransitAsked``); it answers with
``TransitAnswered``: first scan + the route's normal transit, and whether the route is
established (enough received parcels). The order stage reads the answer within the same
timer, so it judges by what the route had learned at that event time.

Each detector built on it has its own route stage (a subclass naming it), with the
transit settings of that detector; the learned times are the same code as
``order_facts.TransitHistogram``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Protocol

from vigil.detectors.order_facts import TransitHistogram, TransitModel, transit_of
from vigil.events.derived import ParcelReceived, TransitAnswered, TransitAsked
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


def transit_model(s: TransitSettings) -> TransitModel:
    return TransitModel(
        s.transit_quantile, s.transit_margin, s.transit_prior_ms, s.transit_min_parcels
    )


class RouteTransitStage:
    """Learns a route's first-scan-to-receipt times and answers when its parcels are due.

    Subclasses set ``name``."""

    name: ClassVar[str] = "routes"
    version: ClassVar[int] = 1
    reads: ClassVar[frozenset[str]] = frozenset({"parcel_received", "transit_asked"})
    key: ClassVar[KeyKind] = "route"

    def __init__(self, settings: TransitSettings) -> None:
        self.settings = settings

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
            model = transit_model(self.settings)
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


__all__ = ["RouteTransitStage", "TransitSettings", "copy_hist", "transit_model"]

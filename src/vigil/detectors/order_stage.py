"""One order-lifecycle stage for the detectors that judge an order's parcels (ADR 0004).

``refund_without_return`` and ``agent_refunds`` both judge, at a deadline, whether an
order's goods came back: both need the order's delivery, return scans and receipt, and
both teach the return route what a received parcel took. Each used to keep its own copy in
its own order stage. ``OrdersStage`` keeps the parcels once (``ParcelKeeping``) and hosts
each detector's part of the order (``OrderPart``): its refunds on the order, its timers, and
what it does when they fire. A part reaches the parcels through the stage, and its own
handles, under the one order key: nothing reads another order.

Each detector still builds its own ``OrdersStage`` with its one part, so it also runs
alone (``build_detector``, the detectors' own tests). ``share_stages`` (the registry calls
it) merges the pipelines that hold stages of the same name into one, merging those stages:
one order stage with every part, one route stage answering every detector's model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from vigil.detectors.route_transit import PARCEL_EVENTS, PARCEL_TIMER, ParcelKeeping
from vigil.state.keyed.spec import StateSpec, ValueSpec
from vigil.state.keyed.stage import KeyKind, Output, StageContext, type_name

__all__ = ["OrderPart", "OrderParts", "OrdersStage"]

#: separates a part's prefix from the rest of its timer name
_PART_SEP = ":"


class OrderPart(Protocol):
    """A detector's part of the order stage."""

    #: unique among the parts of one stage; starts its timer names (``prefix:...``)
    prefix: str
    #: the event types it handles besides the parcel events (which the stage keeps)
    reads: frozenset[str]

    @property
    def retention_ms(self) -> int:
        """How long the order's parcels are kept after their last change."""
        ...

    def state(self) -> Sequence[StateSpec]:
        """Its own handles (names unique among the parts)."""
        ...

    def on_event(self, event: Any, ctx: StageContext, orders: OrdersStage) -> Sequence[Output]: ...

    def on_timer(
        self, name: str, fired_at_ms: int, ctx: StageContext, orders: OrdersStage
    ) -> Sequence[Output]:
        """``name`` without the part's prefix."""
        ...


@dataclass(frozen=True)
class OrderParts:
    """The parts an order stage hosts (each holds its detector's settings only)."""

    parts: tuple[OrderPart, ...]


class OrdersStage(ParcelKeeping):
    """The order's parcels, and the parts of the detectors that judge them."""

    name: ClassVar[str] = "orders"
    version: ClassVar[int] = 1
    key: ClassVar[KeyKind] = "order"

    def __init__(self, parts: Sequence[OrderPart]) -> None:
        prefixes = [p.prefix for p in parts]
        if len(set(prefixes)) != len(prefixes) or any(_PART_SEP in p for p in prefixes):
            raise ValueError(f"order stage parts need distinct plain prefixes: {prefixes}")
        self.settings = OrderParts(tuple(parts))

    @property
    def reads(self) -> frozenset[str]:
        return PARCEL_EVENTS.union(*(p.reads for p in self.settings.parts))

    def merged(self, other: OrdersStage) -> OrdersStage:
        """One stage with the parts of both (``share_stages``)."""
        return OrdersStage((*self.settings.parts, *other.settings.parts))

    def __repr__(self) -> str:
        return f"OrdersStage({', '.join(p.prefix for p in self.settings.parts)})"

    def state(self) -> Sequence[StateSpec]:
        # kept for the longest retention of the parts (60 days each by default)
        retention = max(p.retention_ms for p in self.settings.parts)
        specs: list[StateSpec] = [ValueSpec("parcel", ttl_ms=retention)]
        for part in self.settings.parts:
            specs.extend(part.state())
        return specs

    def key_of(self, event: Any) -> str | None:
        return event.order_id  # type: ignore[no-any-return]

    def on_event(self, event: Any, ctx: StageContext) -> Sequence[Output]:
        tag = type_name(event)
        if tag in PARCEL_EVENTS:
            self.note_parcel(event, ctx)
        out: list[Output] = []
        for part in self.settings.parts:
            if tag in part.reads:
                out.extend(part.on_event(event, ctx, self))
        return out

    def part_timer(self, part: OrderPart, ctx: StageContext, fire_at_ms: int, name: str) -> None:
        """Set ``part``'s timer ``name`` for this order."""
        ctx.timer(fire_at_ms, part.prefix + _PART_SEP + name)

    def on_timer(self, name: str, fired_at_ms: int, ctx: StageContext) -> Sequence[Output]:
        if name.startswith(PARCEL_TIMER):
            return self.parcel_lesson(name, ctx)
        prefix, _, rest = name.partition(_PART_SEP)
        for part in self.settings.parts:
            if part.prefix == prefix:
                return part.on_timer(rest, fired_at_ms, ctx, self)
        return ()

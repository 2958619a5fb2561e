"""The order-lifecycle stage: what the stages keyed otherwise learn about an order.

Keyed by order. Events about an order carry the order id and not always its customer (a
warehouse receipt knows only the order), so the facts other stages need about the order's
customer come from here as derived events (``vigil.events.derived``): today
``OrderReturned``, the warehouse receipt of an order the stage saw placed. One such stage
is meant to serve every detector (docs/adr/0004-keyed-state.md); the detectors still on the
older, global state keep their own order stores until they move onto stages.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from vigil.events.derived import OrderReturned
from vigil.events.schemas import OrderPlaced, ReturnReceived
from vigil.state.keyed.spec import StateSpec, ValueSpec
from vigil.state.keyed.stage import KeyKind, Output, StageContext

DAY_MS = 86_400_000


@dataclass(frozen=True)
class OrderLifecycleSettings:
    #: how long after its placement an order's customer is remembered (event time)
    retention_ms: int = 60 * DAY_MS


class OrderLifecycleStage:
    """Remembers each order's customer; tells the customer's stages of its returns."""

    name: ClassVar[str] = "order_lifecycle"
    version: ClassVar[int] = 1
    reads: ClassVar[frozenset[str]] = frozenset({"order_placed", "return_received"})
    key: ClassVar[KeyKind] = "order"

    def __init__(self, settings: OrderLifecycleSettings | None = None) -> None:
        self.settings = settings or OrderLifecycleSettings()

    def state(self) -> Sequence[StateSpec]:
        return (ValueSpec("customer", ttl_ms=self.settings.retention_ms),)

    def key_of(self, event: Any) -> str | None:
        return event.order_id  # type: ignore[no-any-return]

    def on_event(self, event: Any, ctx: StageContext) -> Sequence[Output]:
        customer = ctx.value("customer")
        if type(event) is OrderPlaced:
            if customer.get() is None:  # placed twice (another event id): the first counts
                customer.set(event.customer_id)
            return ()
        if type(event) is ReturnReceived:
            known = customer.get()
            if known is None:
                return ()  # an order older than the retention (or never seen)
            return (
                OrderReturned(
                    event_time_ms=event.event_time_ms,
                    order_id=event.order_id,
                    customer_id=known,
                    condition=event.condition,
                ),
            )
        return ()

    def on_timer(self, name: str, fired_at_ms: int, ctx: StageContext) -> Sequence[Output]:
        return ()

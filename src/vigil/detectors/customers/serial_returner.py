"""Serial returners / wardrobing: customers who send most of what they buy back, worn.

Policy abuse of lower severity than the headline scenarios: the brief asks for it to be
*scored, not blocked* and reported separately. So this detector's findings reach the refund's
decision as a reason, but never its score (``DecisionPolicy.score_only_detectors``), and the
evaluation reports it alone, under scenario 5.

Per customer, over the last ``window_ms`` of event time: orders placed, orders whose return the
warehouse received, and how many of those came back used or damaged. A customer with at least
``min_returned_orders`` returned orders and ``min_worn_returns`` worn ones is scored by return
rate and worn returns (logistic, weights in ``SerialReturnerSettings``). An alert is raised when
the worn-return count reaches each level of a doubling ladder (2, 4, 8, ...), so a customer who
keeps going is alerted again, with every refund of theirs in the window listed. A receipt knows
its order, not its customer: orders are remembered (``window_ms``) to find the customer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from vigil.detectors.base import BaseDetector, Context, Signal, clamp01
from vigil.detectors.sequences._common import GC_PREFIX, file_for_sweep, logistic, money, sweep
from vigil.detectors.settings import SerialReturnerSettings
from vigil.events.schemas import EventBase, OrderPlaced, RefundIssued, ReturnReceived

REASON_HIGH_RETURN_RATE = "high_return_rate"
REASON_WORN_RETURNS = "returns_arrive_worn"

_ORDERS = "orders"  # order_id -> [placed_ms, customer_id]
# customer_id -> [last_ms, [order ms], [(returned order_id, receipt ms, worn)],
#                 [(refund_id, amount_cents, refund ms)], alerted ladder level]
_CUSTOMERS = "customers"
_WORN = frozenset({"used", "damaged"})


class SerialReturnerDetector(BaseDetector):
    """Customers whose orders mostly come back, worn: scored, never blocked."""

    name: ClassVar[str] = "serial_returner"
    version: ClassVar[int] = 1
    subscribes: ClassVar[frozenset[str]] = frozenset(
        {"order_placed", "return_received", "refund_issued"}
    )

    def __init__(self, settings: SerialReturnerSettings | None = None) -> None:
        self.settings = settings or SerialReturnerSettings()

    def _customer(self, ctx: Context, customer_id: str, t: int) -> list[Any]:
        customers = ctx.keyed(_CUSTOMERS)
        entry: list[Any] | None = customers.get(customer_id)
        if entry is None:
            entry = customers[customer_id] = [t, [], [], [], 0]
            file_for_sweep(ctx, (_CUSTOMERS, customer_id), t + self.settings.window_ms)
        elif t > entry[0]:
            entry[0] = t
        return entry

    def on_event(self, event: EventBase, ctx: Context) -> Sequence[Signal]:
        t = event.event_time_ms
        s = self.settings
        if type(event) is OrderPlaced:
            orders = ctx.keyed(_ORDERS)
            if event.order_id not in orders:
                orders[event.order_id] = [t, event.customer_id]
                file_for_sweep(ctx, (_ORDERS, event.order_id), t + s.window_ms)
            self._customer(ctx, event.customer_id, t)[1].append(t)
            return ()
        if type(event) is RefundIssued:
            entry = self._customer(ctx, event.customer_id, t)
            entry[3].append((event.refund_id, event.amount_cents, t))
            return ()
        if type(event) is ReturnReceived:
            order = ctx.keyed(_ORDERS).get(event.order_id)
            if order is None:
                return ()  # an order older than the window (or never seen)
            customer_id: str = order[1]
            entry = self._customer(ctx, customer_id, t)
            if any(r[0] == event.order_id for r in entry[2]):
                return ()  # one receipt per order counts
            entry[2].append((event.order_id, t, event.condition in _WORN))
            return self._judge(customer_id, entry, t)
        return ()

    def on_timer(self, key: str, payload: Any, fired_at_ms: int, ctx: Context) -> Sequence[Signal]:
        if key.startswith(GC_PREFIX):
            sweep(ctx, key, fired_at_ms, self.settings.window_ms)
        return ()

    def _judge(self, customer_id: str, entry: list[Any], t: int) -> Sequence[Signal]:
        s = self.settings
        since = t - s.window_ms
        entry[1] = [x for x in entry[1] if x >= since]
        entry[2] = [r for r in entry[2] if r[1] >= since]
        entry[3] = [r for r in entry[3] if r[2] >= since]
        n_orders = max(len(entry[1]), len(entry[2]))
        n_returned = len(entry[2])
        n_worn = sum(1 for r in entry[2] if r[2])
        if n_returned < s.min_returned_orders or n_worn < s.min_worn_returns:
            return ()
        level = s.min_worn_returns
        while level * 2 <= n_worn:
            level *= 2
        if level <= entry[4]:
            return ()
        rate = n_returned / n_orders
        logit = s.bias + s.return_rate_weight * rate + s.worn_weight * min(n_worn, s.max_worn)
        score = clamp01(logistic(logit))
        if score < s.min_emit_score:
            return ()
        entry[4] = level
        refunds = sorted(entry[3])
        amount = sum(r[1] for r in refunds)
        return (
            Signal(
                detector=self.name,
                version=self.version,
                subject_type="account",
                subject_id=f"{customer_id}#{level}",
                score=round(score, 6),
                reasons=(REASON_HIGH_RETURN_RATE, REASON_WORN_RETURNS),
                explanation=(
                    f"customer {customer_id} returned {n_returned} of {n_orders} orders in the "
                    f"last {s.window_ms // 86_400_000} days ({rate:.0%}), {n_worn} of them worn "
                    f"or damaged; {len(refunds)} refunds worth {money(amount)}"
                ),
                event_time_ms=t,
                refund_ids=tuple(r[0] for r in refunds),
                amount_cents=amount,
                customer_id=customer_id,
            ),
        )

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
keeps going is alerted again, with every refund of theirs in the window listed.

On the keyed-state contract (docs/adr/0004-keyed-state.md): a receipt knows its order, not
its customer, so the order-lifecycle stage (keyed by order) turns it into an
``OrderReturned`` for this stage, keyed by customer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from vigil.detectors.base import Signal, clamp01
from vigil.detectors.lifecycle import OrderLifecycleSettings, OrderLifecycleStage
from vigil.detectors.sequences._common import logistic, money
from vigil.detectors.settings import SerialReturnerSettings
from vigil.events.derived import OrderReturned
from vigil.events.schemas import OrderPlaced, RefundIssued
from vigil.state.keyed.pipeline import StagePipeline
from vigil.state.keyed.spec import StateSpec, ValueSpec
from vigil.state.keyed.stage import KeyKind, Output, StageContext

REASON_HIGH_RETURN_RATE = "high_return_rate"
REASON_WORN_RETURNS = "returns_arrive_worn"
#: the version findings carry (the scoring is unchanged since version 1)
SIGNAL_VERSION = 1

# the customer's entry: (last_ms, order times, ((returned order_id, receipt ms, worn), ...),
#                        ((refund_id, amount_cents, refund ms), ...), alerted ladder level)
Entry = tuple[int, tuple[int, ...], tuple[tuple[str, int, bool], ...], tuple[Any, ...], int]
_WORN = frozenset({"used", "damaged"})


class SerialReturnerStage:
    """Customers whose orders mostly come back, worn: scored, never blocked."""

    name: ClassVar[str] = "serial_returner"
    version: ClassVar[int] = 2
    reads: ClassVar[frozenset[str]] = frozenset({"order_placed", "refund_issued", "order_returned"})
    key: ClassVar[KeyKind] = "customer"

    def __init__(self, settings: SerialReturnerSettings | None = None) -> None:
        self.settings = settings or SerialReturnerSettings()

    def state(self) -> Sequence[StateSpec]:
        # idle for a window: forgotten (every list in it is pruned to the window anyway)
        return (ValueSpec("entry", ttl_ms=self.settings.window_ms),)

    def key_of(self, event: Any) -> str | None:
        return event.customer_id  # type: ignore[no-any-return]

    def on_event(self, event: Any, ctx: StageContext) -> Sequence[Output]:
        t = event.event_time_ms
        handle = ctx.value("entry")
        entry: Entry | None = handle.get()
        if entry is None:
            entry = (t, (), (), (), 0)
        elif t > entry[0]:
            entry = (t, *entry[1:])
        last, orders, returns, refunds, level = entry
        out: Sequence[Output] = ()
        # the entry lives a window past its last activity (a late event does not shorten it)
        if type(event) is OrderPlaced:
            orders = (*orders, t)
        elif type(event) is RefundIssued:
            refunds = (*refunds, (event.refund_id, event.amount_cents, t))
        elif type(event) is OrderReturned and not any(r[0] == event.order_id for r in returns):
            # one receipt per order counts
            returns = (*returns, (event.order_id, t, event.condition in _WORN))
            judged, out = self._judge(event.customer_id, (last, orders, returns, refunds, level), t)
            handle.set(judged, at_ms=last)
            return out
        handle.set((last, orders, returns, refunds, level), at_ms=last)
        return out

    def on_timer(self, name: str, fired_at_ms: int, ctx: StageContext) -> Sequence[Output]:
        return ()

    def _judge(self, customer_id: str, entry: Entry, t: int) -> tuple[Entry, Sequence[Output]]:
        s = self.settings
        since = t - s.window_ms
        last, orders, returns, refunds, alerted = entry
        orders = tuple(x for x in orders if x >= since)
        returns = tuple(r for r in returns if r[1] >= since)
        refunds = tuple(r for r in refunds if r[2] >= since)
        entry = (last, orders, returns, refunds, alerted)
        n_orders = max(len(orders), len(returns))
        n_returned = len(returns)
        n_worn = sum(1 for r in returns if r[2])
        if n_returned < s.min_returned_orders or n_worn < s.min_worn_returns:
            return entry, ()
        level = s.min_worn_returns
        while level * 2 <= n_worn:
            level *= 2
        if level <= alerted:
            return entry, ()
        rate = n_returned / n_orders
        logit = s.bias + s.return_rate_weight * rate + s.worn_weight * min(n_worn, s.max_worn)
        score = clamp01(logistic(logit))
        if score < s.min_emit_score:
            return entry, ()
        entry = (last, orders, returns, refunds, level)
        listed = sorted(refunds)
        amount = sum(r[1] for r in listed)
        return entry, (
            Signal(
                detector=self.name,
                version=SIGNAL_VERSION,
                subject_type="account",
                subject_id=f"{customer_id}#{level}",
                score=round(score, 6),
                reasons=(REASON_HIGH_RETURN_RATE, REASON_WORN_RETURNS),
                explanation=(
                    f"customer {customer_id} returned {n_returned} of {n_orders} orders in the "
                    f"last {s.window_ms // 86_400_000} days ({rate:.0%}), {n_worn} of them worn "
                    f"or damaged; {len(listed)} refunds worth {money(amount)}"
                ),
                event_time_ms=t,
                refund_ids=tuple(r[0] for r in listed),
                amount_cents=amount,
                customer_id=customer_id,
            ),
        )


class SerialReturnerDetector(StagePipeline):
    """The serial-returner stages (order lifecycle, then the customer) as one detector.

    Its findings are those of version 1 (the scoring did not change); a checkpoint of the
    version before the stages is refused all the same (its fingerprint names the stages)."""

    name: ClassVar[str] = "serial_returner"
    version: ClassVar[int] = SIGNAL_VERSION

    def __init__(self, settings: SerialReturnerSettings | None = None) -> None:
        s = settings or SerialReturnerSettings()
        super().__init__(
            (
                OrderLifecycleStage(OrderLifecycleSettings(retention_ms=s.window_ms)),
                SerialReturnerStage(s),
            ),
            s,
        )

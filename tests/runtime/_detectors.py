"""Small detectors the runtime tests drive, and the brute-force oracles that check them.

* ``NoReturnDetector`` ("A and no B within T"): a refund (A) with no receipt of a return
  for the same order (B) at event time in ``[t_refund, t_refund + within_ms)`` alerts
  when its timer fires. Receipts live in keyed state; the check happens on the timer.
* ``RefundWindowsDetector``: per-customer tumbling and sliding windows of refund count
  and sum; every closed window becomes an alert whose explanation carries the result.

* ``CustomerRefundsPipeline``: a stage on the keyed-state contract (keyed by customer; a
  value, a list and a map, each with a time-to-live, and a per-key timer): every 10th
  refund of a customer sets a timer 30 minutes on whose alert reports the count, the sum
  of the last five amounts and the orders refunded, as the state holds them then.

All raise alerts only from timers and windows, with ``event_time_ms`` = the fire time,
so alert order must follow event time. This module is imported by the test modules and
by ``_driver.py`` (run as a script), so it depends on ``vigil`` only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from vigil.detectors.base import BaseDetector, Context, Signal, clamp01
from vigil.events.schemas import EventBase, RefundIssued, ReturnReceived
from vigil.state.keyed import ListSpec, MapSpec, StageContext, StateSpec, ValueSpec
from vigil.state.keyed.pipeline import StagePipeline
from vigil.state.keyed.stage import KeyKind
from vigil.state.windows import Aggregator, Window, WindowSpec

HOUR_MS = 3_600_000

COUNT_SUM: Aggregator[int, tuple[int, int], tuple[int, int]] = Aggregator(
    initialize=lambda: (0, 0),
    agg=lambda acc, amount: (acc[0] + 1, acc[1] + amount),
    result=lambda acc: acc,
)


class NoReturnDetector(BaseDetector):
    name = "test_no_return"
    version = 1
    subscribes = frozenset({"refund_issued", "return_received"})

    def __init__(self, within_ms: int = HOUR_MS) -> None:
        self.within_ms = within_ms

    def on_event(self, event: EventBase, ctx: Context) -> Sequence[Signal]:
        if isinstance(event, RefundIssued):
            payload = (event.refund_id, event.event_time_ms, event.amount_cents, event.customer_id)
            ctx.set_timer(event.event_time_ms + self.within_ms, event.order_id, payload)
        elif isinstance(event, ReturnReceived):
            ctx.keyed("receipts").setdefault(event.order_id, []).append(event.event_time_ms)
        return ()

    def on_timer(self, key: str, payload: Any, fired_at_ms: int, ctx: Context) -> Sequence[Signal]:
        refund_id, t_refund, amount, customer = payload
        receipts = ctx.keyed("receipts").get(key, ())
        if any(t_refund <= t < t_refund + self.within_ms for t in receipts):
            return ()
        return (no_return_signal(refund_id, key, customer, amount, fired_at_ms),)


def no_return_signal(refund_id: str, order: str, customer: str, amount: int, t: int) -> Signal:
    return Signal(
        detector=NoReturnDetector.name,
        version=NoReturnDetector.version,
        subject_type="refund",
        subject_id=refund_id,
        score=clamp01(amount / 100_000),
        reasons=("no_return_within",),
        explanation=f"refund {refund_id} on order {order}: no return received",
        event_time_ms=t,
        refund_ids=(refund_id,),
        amount_cents=amount,
        customer_id=customer,
        order_id=order,
    )


class RefundWindowsDetector(BaseDetector):
    name = "test_refund_windows"
    version = 1
    subscribes = frozenset({"refund_issued"})

    def __init__(
        self, tumbling_ms: int = HOUR_MS, sliding_ms: int = 3 * HOUR_MS, slide_ms: int = HOUR_MS
    ) -> None:
        self.specs = (
            WindowSpec.tumbling("tumbling", tumbling_ms, COUNT_SUM),
            WindowSpec("sliding", sliding_ms, slide_ms, COUNT_SUM),
        )

    def windows(self) -> Sequence[WindowSpec[Any, Any, Any]]:
        return self.specs

    def on_event(self, event: EventBase, ctx: Context) -> Sequence[Signal]:
        if isinstance(event, RefundIssued):
            for spec in self.specs:
                ctx.window_add(
                    spec.name, event.customer_id, event.event_time_ms, event.amount_cents
                )
        return ()

    def on_window(self, name: str, window: Window, ctx: Context) -> Sequence[Signal]:
        count, total = window.result
        return (window_signal(name, window.key, window.start_ms, window.end_ms, count, total),)


def window_signal(name: str, key: str, start: int, end: int, count: int, total: int) -> Signal:
    return Signal(
        detector=RefundWindowsDetector.name,
        version=RefundWindowsDetector.version,
        subject_type="account",
        subject_id=f"{key}/{name}/{start}",
        score=clamp01(count / 10),
        reasons=(name,),
        explanation=f"count={count} sum={total}",
        event_time_ms=end,
        amount_cents=total,
        customer_id=key,
    )


class CustomerRefundsStage:
    name: ClassVar[str] = "customer_refunds"
    version: ClassVar[int] = 1
    reads: ClassVar[frozenset[str]] = frozenset({"refund_issued"})
    key: ClassVar[KeyKind] = "customer"

    def state(self) -> Sequence[StateSpec]:
        return (
            ValueSpec("count", ttl_ms=6 * HOUR_MS),
            ListSpec("amounts", ttl_ms=6 * HOUR_MS),
            MapSpec("orders", ttl_ms=2 * HOUR_MS),
        )

    def key_of(self, event: Any) -> str | None:
        return event.customer_id  # type: ignore[no-any-return]

    def on_event(self, event: Any, ctx: StageContext) -> Sequence[Any]:
        count = (ctx.value("count").get() or 0) + 1
        ctx.value("count").set(count)
        ctx.list("amounts").set((*ctx.list("amounts").get(), event.amount_cents)[-5:])
        ctx.map("orders").put(event.order_id, event.amount_cents)
        if count % 10 == 0:
            ctx.timer(event.event_time_ms + 30 * 60_000, f"report-{count}")
        return ()

    def on_timer(self, name: str, fired_at_ms: int, ctx: StageContext) -> Sequence[Any]:
        count = ctx.value("count").get() or 0
        amounts = ctx.list("amounts").get()
        orders = ctx.map("orders").items()
        return (
            Signal(
                detector="customer_refunds",
                version=1,
                subject_type="account",
                subject_id=f"{ctx.key}#{name}",
                score=clamp01(count / 100),
                reasons=("refund_count",),
                explanation=f"{count} refunds; last {sum(amounts)}; orders {orders}",
                event_time_ms=fired_at_ms,
                customer_id=ctx.key,
            ),
        )


class CustomerRefundsPipeline(StagePipeline):
    name: ClassVar[str] = "customer_refunds"
    version: ClassVar[int] = 1

    def __init__(self) -> None:
        super().__init__((CustomerRefundsStage(),))


def make_detectors() -> list[BaseDetector]:
    return [NoReturnDetector(), RefundWindowsDetector(), CustomerRefundsPipeline()]

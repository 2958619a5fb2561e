"""The ad analytics as keyed stages (docs/adr/0004-keyed-state.md; docs/ads.md).

The stages, each scoped to one key (impressions and clicks are also counted into their
campaign's minute, which needs no state: ``vigil.ads.pipeline``):

- ``ad_clicks`` (click id): a click meets the orders that name it (``ad_click_id``), in
  whichever order they arrive; an order up to the platform's click window after its click is
  credited to the click's campaign (``AdConversion``, kind ``click``), unless the click is
  judged invalid traffic (its verdict lives here);
- ``ad_devices`` (device, ``vigil.ads.devices``): view-through credit (kind ``view``) and the
  invalid-traffic rules on a device's history;
- ``ivt_addresses`` (IP address, ``vigil.ads.sivt``): the device-farm rule.
- ``ad_refunds`` (refund id): a refund's order, so a label or a decision about the refund
  reaches the order (``AdOrderFlagged``).
- ``ad_orders`` (order id): an order's credit, what was paid back on it and whether it was
  judged fraud; each change is a row of the campaign's minute of the order, so net revenue
  moves when a refund or a label arrives, days after the order.

A stage keeps an entry only as long as an event could still change it: the attribution
windows plus the runtime's lateness (an event later than that is a ``too_late`` dead letter
and never reaches a stage).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Final

from vigil.ads.figures import AdFigures, AdInvalid
from vigil.ads.givt import GeneralIvt
from vigil.ads.settings import BUCKET_MS, DAY_MS, AdSettings
from vigil.events.derived import AdClickJudged, AdConversion, AdOrderFlagged
from vigil.events.schemas import (
    AdClick,
    Chargeback,
    InvestigationOutcome,
    OrderPlaced,
    RefundIssued,
)
from vigil.state.keyed.spec import StateSpec, ValueSpec
from vigil.state.keyed.stage import KeyKind, Output, StageContext

#: how long an order's credit is kept for refunds and labels to find it
ORDER_TTL_MS: Final = 180 * DAY_MS


def _minute(t: int) -> int:
    return t - t % BUCKET_MS


class ClickStage:
    """A click, the orders that name it, and its verdict as traffic.

    The click stage owns a click's verdict: general rules (a declared bot's user agent, a
    data-centre address) it applies itself; the device and address stages send theirs
    (``AdClickJudged``). A click is invalid while any reason holds. An invalid click's cost
    is owed back (an ``invalid_clicks`` row, an ``AdInvalid`` record) and the orders that name
    it are not credited to the campaign; a verdict taken back restores both.
    """

    name: ClassVar[str] = "ad_clicks"
    version: ClassVar[int] = 2
    reads: ClassVar[frozenset[str]] = frozenset({"ad_click", "order_placed", "ad_click_judged"})
    key: ClassVar[KeyKind] = "click"

    def __init__(self, settings: AdSettings) -> None:
        self.settings = settings
        ivt = settings.ivt
        self._givt = GeneralIvt(ivt.datacentres) if ivt is not None else None

    def state(self) -> Sequence[StateSpec]:
        keep = self.settings.longest_click_ms + self.settings.late_ms
        return (
            # (campaign, advertiser, platform, time, cost): orders may follow for a click window
            ValueSpec("click", keep),
            # orders that name the click: (order id, time, revenue); those before the click
            # arrived wait in it too (the click can only be late, not later)
            ValueSpec("orders", keep),
            # the reasons the click is invalid (empty: valid)
            ValueSpec("reasons", keep),
        )

    def key_of(self, event: Any) -> str | None:
        tp = type(event)
        if tp is AdClick or tp is AdClickJudged:
            return str(event.click_id)
        return event.ad_click_id  # type: ignore[no-any-return]

    def on_event(self, event: Any, ctx: StageContext) -> Sequence[Output]:
        tp = type(event)
        if tp is AdClick:
            return self._click(event, ctx)
        if tp is AdClickJudged:
            return self._judged(event, ctx)
        order: OrderPlaced = event
        mine = (order.order_id, order.event_time_ms, order.total_cents)
        orders = ctx.value("orders").get() or ()
        ctx.value("orders").set((*orders, mine))
        click = ctx.value("click").get()
        if click is None or ctx.value("reasons").get():
            return ()
        credit = self._credit(click, *mine, 1)
        return () if credit is None else (credit,)

    def _click(self, event: AdClick, ctx: StageContext) -> Sequence[Output]:
        if ctx.value("click").get() is not None:
            return ()  # the same click sent again under another event id: counted once
        click = (event.campaign_id, event.advertiser_id, event.platform, event.event_time_ms,
                 event.cost_micros)  # fmt: skip
        ctx.value("click").set(click)
        found = self._givt.reason(event.user_agent, event.ip) if self._givt is not None else None
        reasons = (found,) if found is not None else ()
        out: list[Output] = []
        if reasons:
            ctx.value("reasons").set(reasons)
            out.extend(self._verdict(event.click_id, click, True, reasons))
            return out
        for order_id, order_ms, revenue in ctx.value("orders").get() or ():
            credit = self._credit(click, order_id, order_ms, revenue, 1)
            if credit is not None:
                out.append(credit)
        return out

    def _judged(self, event: AdClickJudged, ctx: StageContext) -> Sequence[Output]:
        before: tuple[str, ...] = ctx.value("reasons").get() or ()
        if event.invalid:
            after = tuple(sorted({*before, event.reason}))
        else:
            after = tuple(r for r in before if r != event.reason)
        if after == before:
            return ()
        if after:
            ctx.value("reasons").set(after)
        else:
            ctx.value("reasons").clear()
        click = ctx.value("click").get()
        if click is None:
            return ()
        if bool(after) == bool(before):  # still invalid, for other reasons too: say which
            return (self._verdict(event.click_id, click, True, after)[1],) if after else ()
        invalid = bool(after)
        out = list(self._verdict(event.click_id, click, invalid, after))
        sign = -1 if invalid else 1
        for order_id, order_ms, revenue in ctx.value("orders").get() or ():
            credit = self._credit(click, order_id, order_ms, revenue, sign)
            if credit is not None:
                out.append(credit)
        return out

    @staticmethod
    def _verdict(
        click_id: str, click: tuple[str, str, str, int, int], invalid: bool,
        reasons: tuple[str, ...],
    ) -> Sequence[Output]:  # fmt: skip
        campaign, advertiser, platform, t, cost = click
        sign = 1 if invalid else -1
        return (
            AdFigures(
                campaign_id=campaign,
                advertiser_id=advertiser,
                platform=platform,
                minute_ms=_minute(t),
                invalid_clicks=sign,
                invalid_spend_micros=sign * cost,
            ),
            AdInvalid(
                kind="click",
                id=click_id,
                campaign_id=campaign,
                advertiser_id=advertiser,
                event_time_ms=t,
                invalid=invalid,
                reasons=reasons,
                cost_micros=cost,
            ),
        )

    def _credit(
        self, click: tuple[str, str, str, int, int], order_id: str, order_ms: int, revenue: int,
        sign: int,
    ) -> AdConversion | None:  # fmt: skip
        campaign, advertiser, platform, click_ms, _ = click
        if not 0 <= order_ms - click_ms <= self.settings.windows(platform).click_ms:
            return None
        return AdConversion(
            event_time_ms=order_ms,
            order_id=order_id,
            campaign_id=campaign,
            advertiser_id=advertiser,
            platform=platform,
            kind="click",
            order_ms=order_ms,
            revenue_cents=revenue,
            sign=sign,
        )

    def on_timer(self, name: str, fired_at_ms: int, ctx: StageContext) -> Sequence[Output]:
        return ()


class RefundStage:
    """A refund's order, so that what is said about the refund reaches the order."""

    name: ClassVar[str] = "ad_refunds"
    version: ClassVar[int] = 1
    reads: ClassVar[frozenset[str]] = frozenset(
        {"refund_requested", "refund_issued", "investigation_outcome"}
    )
    key: ClassVar[KeyKind] = "refund"

    def __init__(self, settings: AdSettings) -> None:
        self.settings = settings

    def state(self) -> Sequence[StateSpec]:
        return (
            ValueSpec("order", ORDER_TTL_MS),
            # a label that came before the refund's own events (late ones)
            ValueSpec("label", self.settings.late_ms),
        )

    def key_of(self, event: Any) -> str | None:
        if type(event) is InvestigationOutcome:
            return event.subject_id if event.subject_type == "refund" else None
        return str(event.refund_id)

    def on_event(self, event: Any, ctx: StageContext) -> Sequence[Output]:
        if type(event) is InvestigationOutcome:
            fraud = event.outcome == "fraud"
            order_id = ctx.value("order").get()
            if order_id is None:
                ctx.value("label").set(fraud)
                return ()
            return (_label(event.event_time_ms, order_id, event.subject_id, fraud),)
        if ctx.value("order").get() is not None:
            return ()
        ctx.value("order").set(event.order_id)
        label = ctx.value("label").get()
        if label is None:
            return ()
        ctx.value("label").clear()
        return (_label(event.event_time_ms, event.order_id, event.refund_id, label),)

    def on_timer(self, name: str, fired_at_ms: int, ctx: StageContext) -> Sequence[Output]:
        return ()


def _label(at_ms: int, order_id: str, refund_id: str, fraud: bool) -> AdOrderFlagged:
    return AdOrderFlagged(
        event_time_ms=at_ms, order_id=order_id, refund_id=refund_id, source="label", fraud=fraud
    )


#: an order's credit: (campaign, advertiser, platform, kind, order time, revenue)
_Credit = tuple[str, str, str, str, int, int]


class OrderStage:
    """An order's credit and what later became of it: refunds, chargebacks, fraud."""

    name: ClassVar[str] = "ad_orders"
    version: ClassVar[int] = 1
    reads: ClassVar[frozenset[str]] = frozenset(
        {"ad_conversion", "ad_order_flagged", "refund_issued", "chargeback",
         "investigation_outcome"}
    )  # fmt: skip
    key: ClassVar[KeyKind] = "order"

    def state(self) -> Sequence[StateSpec]:
        # (credit or None, cents paid back, the last label or None, refunds denied): kept
        # for months, refunds and labels come late
        return (ValueSpec("order", ORDER_TTL_MS),)

    def key_of(self, event: Any) -> str | None:
        if type(event) is InvestigationOutcome:
            return event.subject_id if event.subject_type == "order" else None
        return str(event.order_id)

    def on_event(self, event: Any, ctx: StageContext) -> Sequence[Output]:
        handle = ctx.value("order")
        before = handle.get() or _NOTHING
        credit, paid, label, denied = before
        tp = type(event)
        if tp is AdConversion:
            mine: _Credit = (event.campaign_id, event.advertiser_id, event.platform,
                             event.kind, event.order_ms, event.revenue_cents)  # fmt: skip
            if event.sign > 0:
                credit = mine
            elif credit == mine:
                credit = None
        elif tp is RefundIssued or tp is Chargeback:
            paid += event.amount_cents
        elif tp is InvestigationOutcome:
            label = event.outcome == "fraud"
        elif event.source == "label":
            label = event.fraud
        elif event.fraud:
            denied = tuple(sorted({*denied, event.refund_id}))
        else:
            denied = tuple(r for r in denied if r != event.refund_id)
        after = (credit, paid, label, denied)
        if after == before:
            return ()
        handle.set(after)
        rows = []
        old, new = _share(*before), _share(*after)
        if before[0] is not None and before[0] != credit:
            rows.append(_row(before[0], old, -1))
            old = None
        if credit is not None:
            rows.append(_row(credit, new, 1, old))
        return [r for r in rows if r is not None]

    def on_timer(self, name: str, fired_at_ms: int, ctx: StageContext) -> Sequence[Output]:
        return ()


#: what a credited order adds: (orders, revenue, refunded, fraud orders, fraud cents)
_Share = tuple[int, int, int, int, int]


#: an order nothing is known about
_NOTHING: Final = (None, 0, None, ())


def _share(
    credit: _Credit | None, paid: int, label: bool | None, denied: tuple[str, ...]
) -> _Share | None:
    """A person's label decides whether the order was fraud; without one, a deny decision
    on any of its refunds does."""
    if credit is None:
        return None
    fraud = label if label is not None else bool(denied)
    revenue = credit[5]
    if credit[3] == "view":  # gross only: net figures are those of click-credited orders
        return (1, revenue, 0, 0, 0)
    if fraud:
        return (1, revenue, 0, 1, revenue)
    return (1, revenue, min(paid, revenue), 0, 0)


def _row(
    credit: _Credit, share: _Share | None, sign: int, minus: _Share | None = None
) -> AdFigures | None:
    """``sign`` × ``share``, less ``minus`` (what the same credit added before)."""
    campaign, advertiser, platform, kind, order_ms, _ = credit
    now = [sign * x for x in share] if share is not None else [0] * 5
    if minus is not None:
        now = [a - b for a, b in zip(now, minus, strict=True)]
    if not any(now):
        return None
    orders, revenue, refunded, fraud_orders, fraud_cents = now
    view = kind == "view"
    return AdFigures(
        campaign_id=campaign,
        advertiser_id=advertiser,
        platform=platform,
        minute_ms=_minute(order_ms),
        orders=0 if view else orders,
        revenue_cents=0 if view else revenue,
        view_orders=orders if view else 0,
        view_revenue_cents=revenue if view else 0,
        refunded_cents=refunded,
        fraud_orders=fraud_orders,
        fraud_cents=fraud_cents,
    )


def ad_stages(settings: AdSettings) -> list[Any]:
    """The stages, in the order they see an event."""
    from vigil.ads.devices import DeviceStage
    from vigil.ads.sivt import AddressIvtStage

    stages: list[Any] = [ClickStage(settings), DeviceStage(settings), RefundStage(settings),
                         OrderStage()]  # fmt: skip
    if settings.ivt is not None:
        stages.append(AddressIvtStage(settings.ivt, settings.late_ms))
    return stages

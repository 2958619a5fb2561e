"""One stage per device (``ad_devices``): what it saw, what it clicked, what it ordered.

Two uses read the same history, so they share one stage and one copy of it (an impression is
one map write and one read, the cost that dominates the ad pipeline: docs/ads.md, "Cost"):

- **view-through** attribution: an order with no click is credited to the campaign of the
  last impression its device saw within the view window (ties on time: the larger id). An
  impression that arrives late and is later than the one credited moves the credit: the old
  campaign's conversion is taken back (``sign`` -1) and the new one's given;
- the **invalid-traffic** rules on a device's history (``vigil.ads.sivt``): a click with no
  impression of its campaign within ``impression_before_ms`` before it (``no_impression``),
  ``burst_clicks`` clicks on one campaign within ``burst_window_ms`` of a click
  (``click_burst``), a click less than ``fast_order_ms`` before an order by the same device
  (``fast_order``). Verdicts go to the click stage (``AdClickJudged``); each click with an
  address goes to the address stage (``AdClickAtIp``), again when a late impression gives it
  one. Verdicts are recomputed for the clicks around each new event, so the final verdict does
  not depend on arrival order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from vigil.ads.settings import AdSettings
from vigil.ads.sivt import at_ip, judged
from vigil.events.derived import AdConversion
from vigil.events.schemas import AdClick, AdImpression, OrderPlaced
from vigil.state.keyed.spec import MapSpec, StateSpec, ValueSpec
from vigil.state.keyed.stage import KeyKind, Output, StageContext

#: one impression a device saw: (time, impression id, campaign, advertiser, platform)
_Seen = tuple[int, str, str, str, str]
#: an order without a click and what it was credited to: (order id, time, revenue, credit)
_ViewOrder = tuple[str, int, int, _Seen | None]
#: a click: (time, click id, campaign, reasons judged here, ip)
_Click = tuple[int, str, str, tuple[str, ...], str | None]
#: the device's recent history: (orders without a click, clicks, times of all its orders)
_Recent = tuple[tuple[_ViewOrder, ...], tuple[_Click, ...], tuple[int, ...]]
_EMPTY: _Recent = ((), (), ())


class DeviceStage:
    """A device's impressions, clicks and orders: view-through credit and click rules."""

    name: ClassVar[str] = "ad_devices"
    version: ClassVar[int] = 1
    key: ClassVar[KeyKind] = "device"

    def __init__(self, settings: AdSettings) -> None:
        self.settings = settings
        self.ivt = settings.ivt
        self.reads = frozenset(
            {"ad_impression", "order_placed"} | ({"ad_click"} if self.ivt is not None else set())
        )
        late = settings.late_ms
        rules = self.ivt.longest_ms if self.ivt is not None else 0
        #: how long an impression can matter: to an order (view window) or a click (rules)
        self._seen_ms = max(settings.longest_view_ms, rules) + late
        #: how long a click or an order time can matter to the rules, after the lateness
        self._rules_ms = rules

    def state(self) -> Sequence[StateSpec]:
        return (
            # impression id -> (time, campaign, advertiser, platform); each expires on its own
            MapSpec("seen", self._seen_ms),
            ValueSpec("recent", self._rules_ms + self.settings.late_ms),
        )

    def key_of(self, event: Any) -> str | None:
        return str(event.device_id)

    def on_event(self, event: Any, ctx: StageContext) -> Sequence[Output]:
        tp = type(event)
        if tp is AdImpression:
            return self._impression(event, ctx)
        if tp is AdClick:
            return self._click(event, ctx)
        return self._order(event, ctx)

    # --- events ---------------------------------------------------------------------------

    def _impression(self, event: AdImpression, ctx: StageContext) -> list[Output]:
        t = event.event_time_ms
        ctx.map("seen").put(
            event.impression_id, (t, event.campaign_id, event.advertiser_id, event.platform)
        )
        recent: _Recent | None = ctx.value("recent").get()
        if recent is None:
            return []
        views, clicks, orders = recent
        new: _Seen = (t, event.impression_id, event.campaign_id, event.advertiser_id,
                      event.platform)  # fmt: skip
        out: list[Output] = []
        kept_views = []
        for order_id, order_ms, revenue, credited in views:
            if self._counts(new, order_ms) and (credited is None or new[:2] > credited[:2]):
                if credited is not None:
                    out.append(_view(credited, order_id, order_ms, revenue, -1))
                out.append(_view(new, order_id, order_ms, revenue, 1))
                credited = new
            kept_views.append((order_id, order_ms, revenue, credited))
        kept_clicks = []
        if self.ivt is not None:
            window = self.ivt.impression_before_ms
            for at, click_id, campaign, reasons, ip in clicks:
                if (
                    "no_impression" in reasons
                    and campaign == event.campaign_id
                    and (t <= at <= t + window)
                ):
                    reasons = tuple(r for r in reasons if r != "no_impression")
                    out.append(judged(at, click_id, "no_impression", False))
                    if ip:  # the address stage counts it as a click with an impression now
                        out.append(at_ip(ip, click_id, event.device_id, campaign, at, True))
                kept_clicks.append((at, click_id, campaign, reasons, ip))
        if out:
            ctx.value("recent").set((tuple(kept_views), tuple(kept_clicks) or clicks, orders))
        return out

    def _order(self, order: OrderPlaced, ctx: StageContext) -> list[Output]:
        t = order.event_time_ms
        views, clicks, orders = self._recent(ctx)
        out: list[Output] = []
        if order.ad_click_id is None:
            best: _Seen | None = None
            for imp, (at, campaign, advertiser, platform) in ctx.map("seen").items():
                seen = (at, imp, campaign, advertiser, platform)
                if self._counts(seen, t) and (best is None or seen[:2] > best[:2]):
                    best = seen
            views = (*views, (order.order_id, t, order.total_cents, best))
            if best is not None:
                out.append(_view(best, order.order_id, t, order.total_cents, 1))
        if self.ivt is not None:
            orders = (*orders, t)
            fast = self.ivt.fast_order_ms
            marked = []
            for at, click_id, campaign, reasons, ip in clicks:
                if "fast_order" not in reasons and 0 <= t - at < fast:
                    reasons = (*reasons, "fast_order")
                    out.append(judged(at, click_id, "fast_order", True))
                marked.append((at, click_id, campaign, reasons, ip))
            clicks = tuple(marked)
        ctx.value("recent").set((views, clicks, orders))
        return out

    def _click(self, event: AdClick, ctx: StageContext) -> list[Output]:
        ivt = self.ivt
        assert ivt is not None  # the stage reads clicks only with the rules on
        t, click_id, campaign = event.event_time_ms, event.click_id, event.campaign_id
        views, clicks, orders = self._recent(ctx)
        out: list[Output] = []
        reasons: list[str] = []
        had_impression = any(
            c == campaign and t - ivt.impression_before_ms <= at <= t
            for _, (at, c, _a, _p) in ctx.map("seen").items()
        )
        if not had_impression:
            reasons.append("no_impression")
        if any(0 <= o - t < ivt.fast_order_ms for o in orders):
            reasons.append("fast_order")
        out.extend(judged(t, click_id, r, True) for r in reasons)
        mine = [*clicks, (t, click_id, campaign, tuple(reasons), event.ip)]
        out.extend(self._bursts(mine, campaign, t))
        ctx.value("recent").set((views, tuple(mine), orders))
        if event.ip:
            out.append(at_ip(event.ip, click_id, event.device_id, campaign, t, had_impression))
        return out

    # --- helpers --------------------------------------------------------------------------

    def _recent(self, ctx: StageContext) -> _Recent:
        """The device's recent history, less what no event can still reach: orders older
        than the lateness (their credit is final), clicks and order times older than the
        lateness and the rules' longest window."""
        views, clicks, orders = ctx.value("recent").get() or _EMPTY
        late = ctx.horizon_ms - self.settings.late_ms
        oldest = late - self._rules_ms
        return (
            tuple(v for v in views if v[1] >= late),
            tuple(c for c in clicks if c[0] >= oldest),
            tuple(o for o in orders if o >= oldest),
        )

    def _bursts(self, clicks: list[_Click], campaign: str, t: int) -> list[Output]:
        """Mark every click of ``campaign`` near ``t`` that now has ``burst_clicks`` clicks
        within the window around it (counts only grow: a burst is never taken back)."""
        assert self.ivt is not None
        w = self.ivt.burst_window_ms
        mine = [c[0] for c in clicks if c[2] == campaign]
        if len(mine) < self.ivt.burst_clicks:
            return []
        out: list[Output] = []
        for i, (at, click_id, camp, reasons, ip) in enumerate(clicks):
            if camp != campaign or abs(at - t) > w or "click_burst" in reasons:
                continue
            if sum(1 for x in mine if abs(x - at) <= w) >= self.ivt.burst_clicks:
                clicks[i] = (at, click_id, camp, (*reasons, "click_burst"), ip)
                out.append(judged(at, click_id, "click_burst", True))
        return out

    def _counts(self, seen: _Seen, order_ms: int) -> bool:
        return 0 <= order_ms - seen[0] <= self.settings.windows(seen[4]).view_ms

    def on_timer(self, name: str, fired_at_ms: int, ctx: StageContext) -> Sequence[Output]:
        return ()


def _view(seen: _Seen, order_id: str, order_ms: int, revenue: int, sign: int) -> AdConversion:
    return AdConversion(
        event_time_ms=order_ms,
        order_id=order_id,
        campaign_id=seen[2],
        advertiser_id=seen[3],
        platform=seen[4],
        kind="view",
        order_ms=order_ms,
        revenue_cents=revenue,
        sign=sign,
    )

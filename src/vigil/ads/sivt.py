"""Sophisticated invalid traffic (SIVT): clicks that only a device's or an address's history
shows to be no person's. Two stages on the keyed contract (ADR 0004):

- ``ivt_devices`` (device): a click with no impression of its campaign on the device within
  ``impression_before_ms`` before it (``no_impression``); a device clicking one campaign
  ``burst_clicks`` times within ``burst_window_ms`` of a click (``click_burst``); a click
  less than ``fast_order_ms`` before an order by the same device (``fast_order``: no person
  reads an ad, reaches the shop and pays in a second; click injection does);
- ``ivt_addresses`` (IP address): an address whose clicks within ``farm_window_ms`` of a
  click come from ``farm_devices`` devices or more, most without an impression before
  (``click_farm``). Many devices behind one address is normal (a carrier's shared address):
  what marks a farm is that they click ads they were never shown.

Each stage sends its verdicts to the click stage (``AdClickJudged``), which owns the click's
verdict and what follows from it (``vigil.ads.stages.ClickStage``). Verdicts are recomputed
for the clicks around each new event, so the final verdict does not depend on the order
events arrive in: a late impression clears a ``no_impression`` verdict, a late click may
complete a burst, and the address stage hears of an impression that arrived after its click.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from vigil.ads.settings import IvtSettings
from vigil.events.derived import AdClickAtIp, AdClickJudged
from vigil.events.schemas import AdClick, AdImpression, OrderPlaced
from vigil.state.keyed.spec import MapSpec, StateSpec, ValueSpec
from vigil.state.keyed.stage import KeyKind, Output, StageContext

#: a click as the device stage keeps it: (time, click id, campaign, reasons it judged, ip)
_Click = tuple[int, str, str, tuple[str, ...], str | None]


def _judged(at_ms: int, click_id: str, reason: str, invalid: bool) -> AdClickJudged:
    return AdClickJudged(event_time_ms=at_ms, click_id=click_id, reason=reason, invalid=invalid)


def _at_ip(ip: str, click_id: str, device: str, at_ms: int, had: bool) -> AdClickAtIp:
    return AdClickAtIp(
        event_time_ms=at_ms, ip=ip, click_id=click_id, device_id=device, click_ms=at_ms,
        had_impression=had,
    )  # fmt: skip


class DeviceIvtStage:
    """A device's impressions, clicks and orders, and the click rules that read them."""

    name: ClassVar[str] = "ivt_devices"
    version: ClassVar[int] = 1
    reads: ClassVar[frozenset[str]] = frozenset({"ad_impression", "ad_click", "order_placed"})
    key: ClassVar[KeyKind] = "device"

    def __init__(self, ivt: IvtSettings, late_ms: int) -> None:
        self.ivt = ivt
        self.late_ms = late_ms

    def state(self) -> Sequence[StateSpec]:
        keep = self.ivt.longest_ms + self.late_ms
        return (
            # campaign -> times of its impressions on this device (recent ones)
            MapSpec("seen", keep),
            ValueSpec("clicks", keep),
            ValueSpec("orders", keep),
        )

    def key_of(self, event: Any) -> str | None:
        return str(event.device_id)

    def on_event(self, event: Any, ctx: StageContext) -> Sequence[Output]:
        tp = type(event)
        oldest = ctx.horizon_ms - self.late_ms - self.ivt.longest_ms
        if tp is AdImpression:
            return self._impression(event, ctx, oldest)
        if tp is AdClick:
            return self._click(event, ctx, oldest)
        return self._order(event, ctx, oldest)

    def _impression(self, event: AdImpression, ctx: StageContext, oldest: int) -> list[Output]:
        t = event.event_time_ms
        seen = ctx.map("seen")
        times = [x for x in seen.get(event.campaign_id) or () if x >= oldest]
        times.append(t)
        seen.put(event.campaign_id, tuple(sorted(times)))
        clicks: tuple[_Click, ...] = ctx.value("clicks").get() or ()
        window = self.ivt.impression_before_ms
        out: list[Output] = []
        kept = []
        for at, click_id, campaign, reasons, ip in clicks:
            if (
                "no_impression" in reasons
                and campaign == event.campaign_id
                and t <= at <= t + window
            ):
                reasons = tuple(r for r in reasons if r != "no_impression")
                out.append(_judged(at, click_id, "no_impression", False))
                if ip:  # the address stage counts it as a click with an impression now
                    out.append(_at_ip(ip, click_id, event.device_id, at, True))
            kept.append((at, click_id, campaign, reasons, ip))
        if out:
            ctx.value("clicks").set(tuple(kept))
        return out

    def _click(self, event: AdClick, ctx: StageContext, oldest: int) -> list[Output]:
        ivt = self.ivt
        t, click_id, campaign = event.event_time_ms, event.click_id, event.campaign_id
        out: list[Output] = []
        reasons: list[str] = []
        seen = ctx.map("seen").get(campaign) or ()
        had_impression = any(t - ivt.impression_before_ms <= x <= t for x in seen)
        if not had_impression:
            reasons.append("no_impression")
        orders: tuple[int, ...] = ctx.value("orders").get() or ()
        if any(0 <= o - t < ivt.fast_order_ms for o in orders):
            reasons.append("fast_order")
        out.extend(_judged(t, click_id, r, True) for r in reasons)
        clicks = [c for c in ctx.value("clicks").get() or () if c[0] >= oldest]
        clicks.append((t, click_id, campaign, tuple(reasons), event.ip))
        out.extend(self._bursts(clicks, campaign, t))
        ctx.value("clicks").set(tuple(clicks))
        if event.ip:
            out.append(_at_ip(event.ip, click_id, event.device_id, t, had_impression))
        return out

    def _bursts(self, clicks: list[_Click], campaign: str, t: int) -> list[Output]:
        """Mark every click of ``campaign`` near ``t`` that now has ``burst_clicks`` clicks
        within the window around it (counts only grow: a burst is never taken back)."""
        ivt = self.ivt
        w = ivt.burst_window_ms
        mine = [c[0] for c in clicks if c[2] == campaign]
        out: list[Output] = []
        for i, (at, click_id, camp, reasons, ip) in enumerate(clicks):
            if camp != campaign or abs(at - t) > w or "click_burst" in reasons:
                continue
            if sum(1 for x in mine if abs(x - at) <= w) >= ivt.burst_clicks:
                clicks[i] = (at, click_id, camp, (*reasons, "click_burst"), ip)
                out.append(_judged(at, click_id, "click_burst", True))
        return out

    def _order(self, event: OrderPlaced, ctx: StageContext, oldest: int) -> list[Output]:
        t = event.event_time_ms
        orders = [o for o in ctx.value("orders").get() or () if o >= oldest]
        orders.append(t)
        ctx.value("orders").set(tuple(orders))
        clicks: tuple[_Click, ...] = ctx.value("clicks").get() or ()
        out: list[Output] = []
        kept = []
        for at, click_id, campaign, reasons, ip in clicks:
            if "fast_order" not in reasons and 0 <= t - at < self.ivt.fast_order_ms:
                reasons = (*reasons, "fast_order")
                out.append(_judged(at, click_id, "fast_order", True))
            kept.append((at, click_id, campaign, reasons, ip))
        if out:
            ctx.value("clicks").set(tuple(kept))
        return out

    def on_timer(self, name: str, fired_at_ms: int, ctx: StageContext) -> Sequence[Output]:
        return ()


#: a click as the address stage keeps it: (time, click id, device, had an impression, farm)
_AtIp = tuple[int, str, str, bool, bool]


class AddressIvtStage:
    """The clicks from one address, and the device-farm rule."""

    name: ClassVar[str] = "ivt_addresses"
    version: ClassVar[int] = 1
    reads: ClassVar[frozenset[str]] = frozenset({"ad_click_at_ip"})
    key: ClassVar[KeyKind] = "ip"

    def __init__(self, ivt: IvtSettings, late_ms: int) -> None:
        self.ivt = ivt
        self.late_ms = late_ms

    def state(self) -> Sequence[StateSpec]:
        return (ValueSpec("clicks", self.ivt.farm_window_ms * 2 + self.late_ms),)

    def key_of(self, event: Any) -> str | None:
        return str(event.ip)

    def on_event(self, event: Any, ctx: StageContext) -> Sequence[Output]:
        ivt = self.ivt
        w = ivt.farm_window_ms
        t = event.click_ms
        oldest = ctx.horizon_ms - self.late_ms - 2 * w
        clicks: list[_AtIp] = [c for c in ctx.value("clicks").get() or () if c[0] >= oldest]
        known = next((i for i, c in enumerate(clicks) if c[1] == event.click_id), None)
        if known is None:
            clicks.append((t, event.click_id, event.device_id, event.had_impression, False))
        else:  # a late impression gave the click one: it counts as shown the ad now
            c = clicks[known]
            clicks[known] = (c[0], c[1], c[2], event.had_impression, c[4])
        out: list[Output] = []
        for i, (at, click_id, device, had, farm) in enumerate(clicks):
            if abs(at - t) > w:
                continue  # its window did not change
            near = [c for c in clicks if abs(c[0] - at) <= w]
            devices = {c[2] for c in near}
            blind = sum(1 for c in near if not c[3]) / len(near)
            now = len(devices) >= ivt.farm_devices and blind >= ivt.farm_impressionless_share
            if now != farm:
                clicks[i] = (at, click_id, device, had, now)
                out.append(_judged(at, click_id, "click_farm", now))
        ctx.value("clicks").set(tuple(clicks))
        return out

    def on_timer(self, name: str, fired_at_ms: int, ctx: StageContext) -> Sequence[Output]:
        return ()

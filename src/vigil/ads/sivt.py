"""Sophisticated invalid traffic (SIVT): clicks that only a device's or an address's history
shows to be no person's, judged by two stages on the keyed contract (ADR 0004):

- ``ad_devices`` (device, ``vigil.ads.devices``, which also holds view-through attribution:
  one copy of a device's history): a click with no impression of its campaign on the device within
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
from vigil.state.keyed.spec import StateSpec, ValueSpec
from vigil.state.keyed.stage import KeyKind, Output, StageContext


def judged(at_ms: int, click_id: str, reason: str, invalid: bool) -> AdClickJudged:
    return AdClickJudged(event_time_ms=at_ms, click_id=click_id, reason=reason, invalid=invalid)


def at_ip(ip: str, click_id: str, device: str, campaign: str, at_ms: int, had: bool) -> AdClickAtIp:
    return AdClickAtIp(
        event_time_ms=at_ms, ip=ip, click_id=click_id, device_id=device, campaign_id=campaign,
        click_ms=at_ms, had_impression=had,
    )  # fmt: skip


#: a click as the address stage keeps it: (time, click id, device, had an impression, farm,
#: campaign, burst)
_AtIp = tuple[int, str, str, bool, bool, str, bool]


class AddressIvtStage:
    """The clicks from one address: the device-farm rule, and bursts from the address."""

    name: ClassVar[str] = "ivt_addresses"
    version: ClassVar[int] = 2
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
            clicks.append((t, event.click_id, event.device_id, event.had_impression, False,
                           event.campaign_id, False))  # fmt: skip
        else:  # a late impression gave the click one: it counts as shown the ad now
            c = clicks[known]
            clicks[known] = (c[0], c[1], c[2], event.had_impression, c[4], c[5], c[6])
        out: list[Output] = []
        bw = ivt.burst_window_ms
        for i, (at, click_id, device, had, farm, campaign, burst) in enumerate(clicks):
            if abs(at - t) > w:
                continue  # its window did not change
            near = [c for c in clicks if abs(c[0] - at) <= w]
            devices = {c[2] for c in near}
            blind = sum(1 for c in near if not c[3]) / len(near)
            now = len(devices) >= ivt.farm_devices and blind >= ivt.farm_impressionless_share
            if now != farm:
                out.append(judged(at, click_id, "click_farm", now))
            # one address clicking one campaign again and again through a few device ids
            # (counts only grow: never taken back)
            if not burst and abs(at - t) <= bw:
                same = [c for c in near if c[5] == campaign and abs(c[0] - at) <= bw]
                # few device ids, each clicking again: not a crowd behind a carrier's address
                if len(same) >= ivt.address_burst_clicks and 2 * len({c[2] for c in same}) <= len(
                    same
                ):
                    burst = True
                    out.append(judged(at, click_id, "address_burst", True))
            clicks[i] = (at, click_id, device, had, now, campaign, burst)
        ctx.value("clicks").set(tuple(clicks))
        return out

    def on_timer(self, name: str, fired_at_ms: int, ctx: StageContext) -> Sequence[Output]:
        return ()

"""Ads on a partner social network: impressions, clicks, and clicks that lead to orders.

Why here: the same engine serves advertisers' live campaign figures (impressions, clicks,
attributed purchases, cost). Impressions go to customers' devices and to devices the retailer has
never seen; a small share are clicked. An attributed order carries the ``ad_click_id`` of an
earlier click by the same device, emitted just before it. Every impression and click says which
IP and user agent it came from (:mod:`vigil.sim.looks`: derived from the device, no draws).

With ``ivt_share`` > 0, invalid traffic (:mod:`vigil.sim.ivt`) is planned beside the people's:
its lines are interleaved with theirs hour by hour and take their ids from the same counters,
so neither an id nor its place in the file tells them apart.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from dataclasses import dataclass
from typing import TYPE_CHECKING

from vigil.events.schemas import AdClick, AdImpression
from vigil.sim.config import HOUR_MS, MINUTE_MS, SECOND_MS, SimConfig
from vigil.sim.ids import K_ANON_DEVICE, Hasher
from vigil.sim.looks import DeviceLooks
from vigil.sim.timeline import PENDING_ID, Timeline
from vigil.sim.world import World

if TYPE_CHECKING:
    from vigil.sim.ivt import InvalidTraffic

PLATFORMS = ("partner-social", "partner-social", "partner-social", "partner-video")


@dataclass(frozen=True, slots=True)
class Campaign:
    campaign_id: str
    advertiser_id: str
    platform: str
    cpm_micros: int
    cpc_micros: int
    weight: float


class AdNetwork:
    """Campaigns and the traffic they buy."""

    def __init__(
        self, cfg: SimConfig, rng: random.Random, hasher: Hasher, tl: Timeline, world: World
    ) -> None:
        self._rng = rng
        self._h = hasher
        self._tl = tl
        self._world = world
        self._ctr = cfg.ad_click_rate
        #: devices of people who are not (yet) customers, named on first use
        self._anon: list[str | None] = [None] * max(1_000, cfg.n_customers)
        self.looks = DeviceLooks(hasher, len(self._anon))
        #: invalid traffic, when ``ivt_share`` > 0 (set by the generator)
        self.ivt: InvalidTraffic | None = None
        self.campaigns: list[Campaign] = []
        for k in range(cfg.campaigns):
            adv = k if k < cfg.advertisers else rng.randrange(cfg.advertisers)
            cpm = rng.randint(500, 6_000)
            self.campaigns.append(
                Campaign(
                    campaign_id=f"cmp-{k + 1}",
                    advertiser_id=f"adv-{adv + 1}",
                    platform=rng.choice(PLATFORMS),
                    cpm_micros=cpm,
                    cpc_micros=cpm * rng.randint(60, 250),
                    weight=rng.paretovariate(1.5),
                )
            )
        total = sum(c.weight for c in self.campaigns)
        acc = 0.0
        self._cum: list[float] = []
        for c in self.campaigns:
            acc += c.weight / total
            self._cum.append(acc)
        self._impressions = 0
        self._clicks = 0

    def _campaign(self) -> Campaign:
        return self.campaign(self._rng)

    def campaign(self, rng: random.Random) -> Campaign:
        """A campaign drawn like the traffic it buys (by weight)."""
        k = bisect_right(self._cum, rng.random())
        return self.campaigns[min(k, len(self.campaigns) - 1)]

    def hour(self, t0: int, budget: int) -> None:
        """Ad traffic in the hour starting at ``t0``, until ``budget`` lines are planned."""
        rng = self._rng
        tl = self._tl
        world = self._world
        start = tl.ad_lines
        n_active = world.active_count(t0)
        anon = self._anon
        looks = self.looks
        ivt = self.ivt
        if ivt is not None:
            ivt.plan_hour(t0, n_active)
        while tl.ad_lines - start < budget:
            t = t0 + int(rng.random() * HOUR_MS)
            if rng.random() < 0.6:
                p = world.profile(int(n_active * rng.random() ** 1.5))
                device = p.devices[0]
                ip = looks.customer_ip(device, p)
            else:
                k = int(rng.random() * len(anon))
                device = anon[k] or self._anon_device(k)
                ip = looks.stranger_ip(device)
            c = self._campaign()
            ua = looks.user_agent(device)
            self.impression(t, c, device, ip, ua)
            if rng.random() < self._ctr:
                t_click = t + rng.randint(SECOND_MS, 90 * SECOND_MS)
                self.click(t_click, c, device, ip, ua)
                if ivt is not None:
                    ivt.after_human_click(t_click, c, device, ip, ua)
            if ivt is not None:
                ivt.interleave((tl.ad_lines - start) / budget)
        if ivt is not None:
            ivt.interleave(1.0)

    def _anon_device(self, k: int) -> str:
        device = f"d-{self._h.hex(K_ANON_DEVICE, k)}"
        self._anon[k] = device
        return device

    def click_before(self, t_order: int, earliest: int, device: str, ip: str) -> str | None:
        """An impression and a click by ``device`` (at ``ip``, the order's) shortly before an
        order; the click id."""
        rng = self._rng
        lead = min(t_order - earliest, rng.randint(MINUTE_MS, 90 * MINUTE_MS))
        if lead < 2 * SECOND_MS:
            return None
        t_impression = t_order - lead
        t_click = t_impression + min(lead // 2, rng.randint(SECOND_MS, 60 * SECOND_MS))
        c = self._campaign()
        ua = self.looks.user_agent(device)
        if self.ivt is not None:
            # some people buy seconds after the click (a look-alike of injected clicks)
            t_click = self.ivt.human_click_time(t_impression, t_click, t_order)
        self.impression(t_impression, c, device, ip, ua)
        return self.click(t_click, c, device, ip, ua)

    def order_placed(self, t_order: int, device: str, ip: str) -> None:
        """An everyday order by ``device`` at ``t_order`` is being planned (invalid traffic may
        inject a click just before it)."""
        if self.ivt is not None:
            self.ivt.maybe_inject(t_order, device, ip)

    def impression(
        self, t: int, c: Campaign, device: str, ip: str, ua: str, *, side: bool = False
    ) -> str:
        """Plan an impression; ``side``: outside the ad budget (invalid traffic and the
        look-alikes only planned with it), so the people's ads are planned as without it."""
        self._impressions += 1
        impression_id = f"imp-{self._impressions}"
        (self._tl.put_ivt if side else self._tl.put_ad)(
            AdImpression(
                event_id=PENDING_ID,
                event_time_ms=t,
                impression_id=impression_id,
                campaign_id=c.campaign_id,
                advertiser_id=c.advertiser_id,
                platform=c.platform,
                device_id=device,
                cost_micros=c.cpm_micros,
                ip=ip,
                user_agent=ua,
            )
        )
        if self.ivt is not None and not side:
            self.ivt.seen(device, c.campaign_id)
        return impression_id

    def click(
        self, t: int, c: Campaign, device: str, ip: str, ua: str, *, side: bool = False
    ) -> str:
        self._clicks += 1
        click_id = f"clk-{self._clicks}"
        (self._tl.put_ivt if side else self._tl.put_ad)(
            AdClick(
                event_id=PENDING_ID,
                event_time_ms=t,
                click_id=click_id,
                campaign_id=c.campaign_id,
                advertiser_id=c.advertiser_id,
                platform=c.platform,
                device_id=device,
                cost_micros=c.cpc_micros,
                ip=ip,
                user_agent=ua,
            )
        )
        return click_id

"""Invalid ad traffic: bots, data-centre browsers, device farms, click bursts, clicks with no
impression and injected clicks, with one ground-truth record per invalid event.

Why beside the people's traffic and not instead of it: the filter that reads these events must
be measured on seeds it was not tuned on, and a simulated world where turning invalid traffic
on moved the people would make before/after comparisons meaningless. So everything here draws
from its own random stream (``vigil-sim:<seed>:ivt``), its lines are outside every traffic
budget (``Timeline.side_lines``), and a person's impression, click and order are planned
exactly as without it; ``ivt_share`` = 0 (the default) writes the stream of a run without
this module. What moves when it is on: arrival disorder, line ids, and the numbers of ad ids
(one counter for people and invalid traffic, so an id never says which is which).

Nothing only the simulator could know marks an invalid event: same campaigns (drawn by weight
like the people's), platforms, id formats, browsers (:mod:`vigil.sim.looks`, the same
function of the device) and address shapes. What marks each scenario is what marks it in the
real world (``docs/simulator.md``, "Invalid ad traffic"), and the people are given look-alikes
of several of those marks while it is on: repeated clicks, shared carrier IPs, quick buyers.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from vigil.events.truth import SubjectKind
from vigil.sim.ads import AdNetwork, Campaign
from vigil.sim.config import HOUR_MS, MINUTE_MS, SECOND_MS
from vigil.sim.context import Ctx
from vigil.sim.ids import K_IVT_DEVICE, ip_from
from vigil.sim.looks import (
    BOTS,
    CRAWLER_RANGES,
    UNLISTED_DATACENTER,
    ip_in,
    load_datacenter_sample,
)
from vigil.sim.world import COUNTRIES, FRAUD_COUNTRIES, Country

#: scenario names (``vigil.events.truth.IVT_SCENARIOS``)
BOT_UA = "bot_ua"
DATACENTER = "datacenter"
CLICK_FARM = "click_farm"
CLICK_BURST = "click_burst"
NO_IMPRESSION = "no_impression"
CLICK_INJECTION = "click_injection"
#: the scenarios planned hour by hour, with the mean lines of one episode (a bot's visit, a
#: data-centre session, a farm's burst, a burst, a few unannounced clicks)
EPISODIC: dict[str, float] = {
    BOT_UA: 9.0,
    DATACENTER: 6.0,
    CLICK_FARM: 45.0,  # replaced by the farms' own size once they are drawn
    CLICK_BURST: 17.0,
    NO_IMPRESSION: 2.0,
}
#: lines per device taking part in a farm's burst (its click, 15 % an impression first, 10 %
#: a second click)
FARM_LINES_PER_CLICKER = 1.25
#: everyday orders per retail line (measured on default runs), to turn the injection share
#: into a chance per order
ORDERS_PER_RETAIL_LINE = 0.11

#: (time, click?, campaign, device, ip, user agent, scenario or None for a person)
Spec = tuple[int, bool, Campaign, str, str, str, str | None]


@dataclass
class _Bot:
    ua: str
    ips: list[str]
    #: a bot that keeps cookies shows one device id; the others a new one per request
    device: str | None
    click_p: float


@dataclass
class _Node:
    """A data-centre host (a proxy or a scripted browser) and the device ids it rotates."""

    ip: str
    devices: list[str]


@dataclass
class _Farm:
    devices: list[str]
    ips: list[str]


@dataclass
class IvtTally:
    """Invalid events and their cost per scenario, and the look-alikes (``simulation.json``)."""

    impressions: dict[str, int] = field(default_factory=dict)
    clicks: dict[str, int] = field(default_factory=dict)
    cost_micros: dict[str, int] = field(default_factory=dict)
    human_repeat_clicks: int = 0
    human_fast_clicks: int = 0

    def as_dict(self) -> dict[str, object]:
        names = sorted(set(self.impressions) | set(self.clicks))
        return {
            "by_scenario": {
                s: {
                    "impressions": self.impressions.get(s, 0),
                    "clicks": self.clicks.get(s, 0),
                    "cost_micros": self.cost_micros.get(s, 0),
                }
                for s in names
            },
            "invalid_impressions": sum(self.impressions.values()),
            "invalid_clicks": sum(self.clicks.values()),
            "invalid_cost_micros": sum(self.cost_micros.values()),
            "human_repeat_clicks": self.human_repeat_clicks,
            "human_fast_clicks": self.human_fast_clicks,
        }


class InvalidTraffic:
    """Plans invalid ad traffic hour by hour (called by :class:`AdNetwork`)."""

    def __init__(self, ctx: Ctx, ads: AdNetwork, ads_target: float, retail_target: float) -> None:
        cfg = ctx.cfg
        self.ctx = ctx
        self.ads = ads
        self.rng = random.Random(f"vigil-sim:{cfg.seed}:ivt")
        self.tally = IvtTally()
        self._h = ctx.h
        self._looks = ads.looks
        self._devices = 0
        self._pending: list[Spec] = []
        self._emitted = 0
        self._human_seen: set[tuple[str, str]] = set()
        self._repeat_p = cfg.ivt_human_repeat_click_rate
        self._fast_p = cfg.ivt_human_fast_click_share
        self._sample = load_datacenter_sample()
        self._unlisted_p = cfg.ivt_datacenter_unlisted_share
        weights = {
            BOT_UA: cfg.ivt_bot_weight,
            DATACENTER: cfg.ivt_datacenter_weight,
            CLICK_FARM: cfg.ivt_click_farm_weight,
            CLICK_BURST: cfg.ivt_click_burst_weight,
            NO_IMPRESSION: cfg.ivt_no_impression_weight,
            CLICK_INJECTION: cfg.ivt_click_injection_weight,
        }
        total_w = sum(weights.values())
        lines = ads_target * cfg.ivt_share / (1.0 - cfg.ivt_share)
        #: episodes still to plan per scenario (any scenario with a weight gets at least one)
        self._left: dict[str, float] = {
            s: max(1.0, lines * weights[s] / total_w / mean)
            for s, mean in EPISODIC.items()
            if weights[s] > 0
        }
        inject_lines = lines * weights[CLICK_INJECTION] / total_w
        orders = max(1.0, retail_target * ORDERS_PER_RETAIL_LINE)
        self._inject_p = min(0.5, inject_lines / orders) if weights[CLICK_INJECTION] > 0 else 0.0
        self._injected = 0
        # the hours' weights: the people's daily curve
        self._start = cfg.start_ms
        n_hours = max(1, (cfg.end_ms - cfg.start_ms) // HOUR_MS)
        w = [1.0 + 0.35 * math.sin(2 * math.pi * ((h % 24) - 9) / 24) for h in range(n_hours)]
        self._w = w
        self._rest = [0.0] * n_hours
        acc = 0.0
        for h in range(n_hours - 1, -1, -1):
            acc += w[h]
            self._rest[h] = acc
        rng = self.rng
        n_bots = max(4, min(60, round(self._left.get(BOT_UA, 0.0) / 6)))
        self._bots = [self._new_bot() for _ in range(n_bots)]
        n_nodes = max(3, min(200, round(self._left.get(DATACENTER, 0.0) / 4)))
        self._nodes = [
            _Node(self._datacenter_ip(), [self._device() for _ in range(rng.randint(1, 12))])
            for _ in range(n_nodes)
        ]
        n_farms = max(1, min(12, round(self._left.get(CLICK_FARM, 0.0) / 12)))
        self._farms = [self._new_farm() for _ in range(n_farms)]
        if CLICK_FARM in self._left:
            # a burst's size depends on the farms drawn: count episodes with theirs
            per_burst = sum(_burst_size(len(f.devices), 0.3) for f in self._farms) / n_farms
            farm_lines = lines * weights[CLICK_FARM] / total_w
            self._left[CLICK_FARM] = max(1.0, farm_lines / (per_burst * FARM_LINES_PER_CLICKER))

    # --- what the people do while it is on ------------------------------------------------

    def seen(self, device: str, campaign_id: str) -> None:
        """A person's device was shown a campaign (clicks without one pick others)."""
        self._human_seen.add((device, campaign_id))

    def after_human_click(self, t: int, c: Campaign, device: str, ip: str, ua: str) -> None:
        """Some people click the same ad again a little later (valid: no truth record)."""
        rng = self.rng
        if rng.random() < self._repeat_p:
            t2 = t + rng.randint(2 * SECOND_MS, 10 * MINUTE_MS)
            self.ads.click(t2, c, device, ip, ua, side=True)
            self.tally.human_repeat_clicks += 1

    def human_click_time(self, t_impression: int, t_click: int, t_order: int) -> int:
        """A person's click before an order, moved to seconds before it for the quick ones."""
        rng = self.rng
        if rng.random() < self._fast_p:
            t_fast = t_order - rng.randint(3 * SECOND_MS, 25 * SECOND_MS)
            if t_fast > t_impression:
                self.tally.human_fast_clicks += 1
                return t_fast
        return t_click

    # --- click injection (at order time) --------------------------------------------------

    def maybe_inject(self, t_order: int, device: str, ip: str) -> None:
        """A click from the buyer's own device a moment before the order (malware or a
        rogue app claiming the sale); the order itself is left as it was."""
        rng = self.rng
        if self._inject_p <= 0 or rng.random() >= self._inject_p:
            return
        t = t_order - rng.randint(80, 900)
        if t < self.ctx.tl.now:
            return
        c = self.ads.campaign(rng)
        ua = self._looks.user_agent(device)
        self._emit((t, True, c, device, ip, ua, CLICK_INJECTION))

    # --- hour by hour ---------------------------------------------------------------------

    def plan_hour(self, t0: int, n_active: int) -> None:
        """Plan this hour's episodes; their events wait to be interleaved with the people's."""
        rng = self.rng
        h = min((t0 - self._start) // HOUR_MS, len(self._w) - 1)
        share = self._w[h] / self._rest[h]
        specs: list[Spec] = []
        for scenario, left in self._left.items():
            n = _whole(rng, left * share)
            for _ in range(n):
                if scenario == BOT_UA:
                    self._bot_visit(t0, specs)
                elif scenario == DATACENTER:
                    self._datacenter_session(t0, specs)
                elif scenario == CLICK_FARM:
                    self._farm_burst(t0, specs)
                elif scenario == CLICK_BURST:
                    self._click_burst(t0, specs)
                else:
                    self._unannounced_clicks(t0, n_active, specs)
            self._left[scenario] = left - n
        rng.shuffle(specs)
        self._pending = specs
        self._emitted = 0

    def interleave(self, progress: float) -> None:
        """Emit pending events up to ``progress`` (0-1) of the hour's people's ads."""
        pending = self._pending
        goal = min(len(pending), math.ceil(len(pending) * progress))
        while self._emitted < goal:
            self._emit(pending[self._emitted])
            self._emitted += 1
        if self._emitted >= len(pending):
            self._pending = []
            self._emitted = 0

    def _emit(self, spec: Spec) -> None:
        t, is_click, c, device, ip, ua, scenario = spec
        ads = self.ads
        tally = self.tally
        kind: SubjectKind
        if is_click:
            subject = ads.click(t, c, device, ip, ua, side=True)
            kind = "ad_click"
            cost = c.cpc_micros
            if scenario is not None:
                tally.clicks[scenario] = tally.clicks.get(scenario, 0) + 1
        else:
            subject = ads.impression(t, c, device, ip, ua, side=True)
            kind = "ad_impression"
            cost = c.cpm_micros
            if scenario is not None:
                tally.impressions[scenario] = tally.impressions.get(scenario, 0) + 1
        if scenario is None:
            return
        tally.cost_micros[scenario] = tally.cost_micros.get(scenario, 0) + cost
        self.ctx.truth(
            kind,
            subject,
            fraud=True,
            scenario=scenario,
            campaign_id=c.campaign_id,
            advertiser_id=c.advertiser_id,
            cost_micros=cost,
        )

    # --- actors ---------------------------------------------------------------------------

    def _device(self) -> str:
        """A device id of invalid traffic: the format of everyone's."""
        self._devices += 1
        return f"d-{self._h.hex(K_IVT_DEVICE, self._devices)}"

    def _home_ip(self, countries: tuple[Country, ...] = COUNTRIES) -> str:
        """A home or mobile address in a country's block, shaped like the people's."""
        country = self.rng.choice(countries)
        return ip_from(country.octet, self.rng.getrandbits(64))

    def _datacenter_ip(self) -> str:
        rng = self.rng
        ranges = UNLISTED_DATACENTER if rng.random() < self._unlisted_p else self._sample
        return ip_in(rng.choice(ranges), rng.getrandbits(64))

    def _new_bot(self) -> _Bot:
        rng = self.rng
        ua, source = rng.choice(BOTS)
        if source in CRAWLER_RANGES:
            ranges = CRAWLER_RANGES[source]
            ips = [ip_in(rng.choice(ranges), rng.getrandbits(64)) for _ in range(rng.randint(1, 4))]
        else:
            ips = [self._datacenter_ip() for _ in range(rng.randint(1, 3))]
        scripted = not ua.startswith("Mozilla/5.0 (compatible")
        return _Bot(
            ua=ua,
            ips=ips,
            device=self._device() if rng.random() < 0.5 else None,
            click_p=rng.uniform(0.1, 0.35) if scripted else rng.uniform(0.01, 0.08),
        )

    def _new_farm(self) -> _Farm:
        cfg = self.ctx.cfg
        rng = self.rng
        looks = self._looks
        devices: list[str] = []
        want = rng.randint(cfg.ivt_farm_devices_min, cfg.ivt_farm_devices_max)
        while len(devices) < want:
            d = self._device()
            # racks of phones, and a few emulators with a desktop browser
            if looks.is_mobile(d) or rng.random() < 0.1:
                devices.append(d)
        # a few mobile or residential addresses, mostly where such farms sit
        ips = [self._home_ip(FRAUD_COUNTRIES) for _ in range(rng.randint(1, 6))]
        return _Farm(devices, ips)

    # --- episodes -------------------------------------------------------------------------

    def _bot_visit(self, t0: int, out: list[Spec]) -> None:
        """A crawler or script loads pages with ads: impressions, now and then a click within
        a second or two (bots follow links at once)."""
        rng = self.rng
        bot = rng.choice(self._bots)
        t = t0 + int(rng.random() * HOUR_MS)
        ip = rng.choice(bot.ips)
        for _ in range(1 + int(rng.expovariate(1 / 7))):
            c = self.ads.campaign(rng)
            device = bot.device or self._device()
            out.append((t, False, c, device, ip, bot.ua, BOT_UA))
            if rng.random() < bot.click_p:
                out.append((t + rng.randint(150, 3_000), True, c, device, ip, bot.ua, BOT_UA))
            t += rng.randint(500, 30 * SECOND_MS)

    def _datacenter_session(self, t0: int, out: list[Spec]) -> None:
        """A browser on a cloud host (a proxy, a scripted browser): it looks like a person,
        paced like one, clicks more often, and comes from a hosting range."""
        rng = self.rng
        node = rng.choice(self._nodes)
        device = rng.choice(node.devices)
        ua = self._looks.user_agent(device)
        t = t0 + int(rng.random() * HOUR_MS)
        for _ in range(rng.randint(1, 8)):
            c = self.ads.campaign(rng)
            out.append((t, False, c, device, node.ip, ua, DATACENTER))
            if rng.random() < 0.3:
                t_click = t + rng.randint(2 * SECOND_MS, 60 * SECOND_MS)
                out.append((t_click, True, c, device, node.ip, ua, DATACENTER))
            t += rng.randint(20 * SECOND_MS, 6 * MINUTE_MS)

    def _farm_burst(self, t0: int, out: list[Spec]) -> None:
        """Part of a farm clicks one campaign within minutes, on few shared IPs; a few of its
        phones load the ad first, most go straight to the click."""
        rng = self.rng
        farm = rng.choice(self._farms)
        c = self.ads.campaign(rng)
        t = t0 + int(rng.random() * HOUR_MS)
        span = rng.randint(2 * MINUTE_MS, 20 * MINUTE_MS)
        k = _burst_size(len(farm.devices), rng.uniform(0.1, 0.5))
        for n, device in enumerate(rng.sample(farm.devices, k)):
            ip = farm.ips[n % len(farm.ips)]
            ua = self._looks.user_agent(device)
            t_click = t + int(rng.random() * span)
            if rng.random() < 0.15:
                t_imp = max(t0, t_click - rng.randint(SECOND_MS, 30 * SECOND_MS))
                out.append((t_imp, False, c, device, ip, ua, CLICK_FARM))
            out.append((t_click, True, c, device, ip, ua, CLICK_FARM))
            if rng.random() < 0.1:
                t2 = t_click + rng.randint(5 * SECOND_MS, 3 * MINUTE_MS)
                out.append((t2, True, c, device, ip, ua, CLICK_FARM))

    def _click_burst(self, t0: int, out: list[Spec]) -> None:
        """One device, or one IP cycling through a few device ids (cookies cleared), clicks
        the same campaign many times within minutes."""
        rng = self.rng
        c = self.ads.campaign(rng)
        ip = self._home_ip()
        devices = [self._device()]
        if rng.random() < 0.3:
            devices += [self._device() for _ in range(rng.randint(1, 5))]
        t = t0 + int(rng.random() * HOUR_MS)
        if rng.random() < 0.5:
            d = devices[0]
            out.append((t, False, c, d, ip, self._looks.user_agent(d), CLICK_BURST))
            t += rng.randint(SECOND_MS, 20 * SECOND_MS)
        span = rng.randint(MINUTE_MS, 10 * MINUTE_MS)
        for _ in range(rng.randint(5, 30)):
            d = rng.choice(devices)
            t_click = t + int(rng.random() * span)
            out.append((t_click, True, c, d, ip, self._looks.user_agent(d), CLICK_BURST))

    def _unannounced_clicks(self, t0: int, n_active: int, out: list[Spec]) -> None:
        """Clicks no impression came before: from a device nobody showed the campaign to
        (faked clicks), or from a customer's own device (malware, a rogue SDK)."""
        rng = self.rng
        looks = self._looks
        if rng.random() < 0.5:
            device = self._device()
            ip = self._home_ip()
        else:
            p = self.ctx.world.profile(int(n_active * rng.random() ** 1.5))
            device = p.devices[0]
            ip = looks.customer_ip(device, p)
        ua = looks.user_agent(device)
        for _ in range(rng.randint(1, 3)):
            c = self.ads.campaign(rng)
            for _retry in range(3):
                if (device, c.campaign_id) not in self._human_seen:
                    break
                c = self.ads.campaign(rng)
            else:
                continue
            t = t0 + int(rng.random() * HOUR_MS)
            out.append((t, True, c, device, ip, ua, NO_IMPRESSION))


def _burst_size(devices: int, share: float) -> int:
    """How many of a farm's devices take part in a burst."""
    return max(2, min(devices, 120, int(devices * share)))


def _whole(rng: random.Random, expected: float) -> int:
    """A whole number with the given expectation."""
    if expected <= 0:
        return 0
    whole = int(expected)
    return whole + (1 if rng.random() < expected - whole else 0)

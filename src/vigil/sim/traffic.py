"""Background traffic: the hourly tick of customer activity and ads, and the daily agent shifts.

Why a line budget instead of fixed rates: the run must write ``events`` lines within 2 %. Every
hour gets a share of what is left (by a daily curve, the holiday spike, and a quieter tail with no
new orders), rounded at random to whole lines so small budgets stay unbiased, and generates
activity until that many lines are planned. Lines an order commits for
its future (delivery, return, refund) count when it is placed, and agent sessions and sign-ups are
reserved up front, so the budget corrects itself and the last hour lands on the target.

After the ordering period the tick keeps emitting logins, profile changes and ads until the end
of the stream, at least ``tail_margin_days`` after the last possible refund (and never leaves
six hours without a line), so a detector waiting 10-14 days for a return scan sees the watermark
pass.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_left
from functools import partial

from vigil.events.schemas import AgentSessionEnded, AgentSessionStarted, ProfileChanged
from vigil.sim.ads import AdNetwork
from vigil.sim.config import DAY_MS, HOUR_MS, MINUTE_MS, SECOND_MS
from vigil.sim.context import Ctx
from vigil.sim.ids import K_PROFILE_VALUE
from vigil.sim.orders import Everyday
from vigil.sim.timeline import PENDING_ID

#: share of activity draws that are orders / profile changes (the rest are logins)
P_ORDER = 0.30
P_PROFILE = 0.02
#: retail activity per hour after the ordering period, relative to before (logins only)
TAIL_WEIGHT = 0.4
#: how much more often a serial returner orders than an average customer
SERIAL_BOOST = 3.0


class Traffic:
    """Schedules the hourly tick and the daily session planner on the timeline."""

    def __init__(
        self, ctx: Ctx, everyday: Everyday, ads: AdNetwork, retail_target: float, ads_target: float
    ) -> None:
        self.ctx = ctx
        self.everyday = everyday
        self.ads = ads
        cfg = ctx.cfg
        self._start = cfg.start_ms
        self._active_end = cfg.active_end_ms
        self._end = cfg.end_ms
        n_hours = (self._end - self._start) // HOUR_MS
        holiday = cfg.holiday_index
        retail_w: list[float] = []
        ads_w: list[float] = []
        for h in range(n_hours):
            curve = 1.0 + 0.35 * math.sin(2 * math.pi * ((h % 24) - 9) / 24)
            ads_w.append(curve)
            if h < cfg.days * 24:
                retail_w.append(curve * (cfg.holiday_factor if h // 24 == holiday else 1.0))
            else:
                retail_w.append(curve * TAIL_WEIGHT)
        self._retail_w = retail_w
        self._ads_w = ads_w
        self._retail_rest = _suffix_sums(retail_w)
        self._ads_rest = _suffix_sums(ads_w)
        self._retail_target = retail_target
        self._ads_target = ads_target
        sessions = ctx.roster.sessions
        self._session_starts = [s.start_ms for s in sessions]
        world = ctx.world
        self.reserved = sum(2 + s.n_routine for s in sessions) + world.n_new
        self._next_signup = world.n_existing
        n = world.n_regular
        self._serial_p = min(0.05, SERIAL_BOOST * len(world.serial) / n) if world.serial else 0.0

    def schedule(self) -> None:
        tl = self.ctx.tl
        tl.call_at(self._start, self._tick)
        tl.call_at(self._start, self._day)
        for i in self.ctx.world.travellers:
            tl.call_at(self.ctx.world.trips[i].start_ms, partial(self._trip, i=i))

    # --- hourly tick ----------------------------------------------------------------------

    def _tick(self, t: int) -> None:
        ctx = self.ctx
        tl = ctx.tl
        rng = ctx.rng
        world = ctx.world
        h = (t - self._start) // HOUR_MS
        hour_end = t + HOUR_MS
        while self._next_signup < world.n_regular and world.signup_ms(self._next_signup) < hour_end:
            i = self._next_signup
            ctx.signup(max(t, world.signup_ms(i)), world.profile(i))
            self._next_signup += 1
            self.reserved -= 1
        retail_done = tl.lines - tl.ad_lines - tl.side_lines
        left = self._retail_target - retail_done - self.reserved
        budget = _whole(rng, left * self._retail_w[h] / self._retail_rest[h])
        ads_budget = _whole(
            rng, (self._ads_target - tl.ad_lines) * self._ads_w[h] / self._ads_rest[h]
        )
        active = t < self._active_end
        if not active and budget + ads_budget == 0 and h % 6 == 0:
            budget = 1  # keep event time moving to the end, even with no budget left
        everyday = self.everyday
        goal = retail_done + budget
        # customers who signed up during this hour start acting from the next one
        n_active = world.active_count(t)
        while tl.lines - tl.ad_lines - tl.side_lines < goal:
            t_ev = t + int(rng.random() * HOUR_MS)
            u = rng.random()
            if not active:
                u = P_ORDER + u * (1.0 - P_ORDER)
            if u < P_ORDER:
                if rng.random() < self._serial_p:
                    idx = world.serial[int(rng.random() * len(world.serial))]
                else:
                    idx = int(n_active * rng.random() ** 1.5)
                everyday.order(t_ev, t, idx)
            elif u < P_ORDER + P_PROFILE:
                everyday.profile_change(t_ev, int(n_active * rng.random() ** 1.5))
            else:
                everyday.login(t_ev, int(n_active * rng.random() ** 1.5))
        self.ads.hour(t, ads_budget)
        if hour_end < self._end:
            tl.call_at(hour_end, self._tick)

    def _trip(self, t: int, i: int) -> None:
        """A traveller logs in and orders from abroad during the trip (a trap)."""
        ctx = self.ctx
        rng = ctx.rng
        trip = ctx.world.trips[i]
        span = trip.end_ms - trip.start_ms
        for _ in range(rng.randint(3, 10)):
            self.everyday.login(t + int(rng.random() * span), i)
        if trip.start_ms < self._active_end:
            for _ in range(rng.randint(1, 2)):
                t_order = t + int(rng.random() * min(span, self._active_end - t))
                ctx.tl.call_at(t_order, partial(self._trip_order, i=i))

    def _trip_order(self, t: int, i: int) -> None:
        self.everyday.order(t, t, i)

    # --- daily agent shifts ------------------------------------------------------------------

    def _day(self, t: int) -> None:
        """Emit the sessions that start today, with their routine actions."""
        ctx = self.ctx
        tl = ctx.tl
        rng = ctx.rng
        world = ctx.world
        sessions = ctx.roster.sessions
        lo = bisect_left(self._session_starts, t)
        hi = bisect_left(self._session_starts, t + DAY_MS)
        for s in sessions[lo:hi]:
            agent = s.agent
            tl.put(
                AgentSessionStarted(
                    event_id=PENDING_ID,
                    event_time_ms=s.start_ms,
                    session_id=s.session_id,
                    agent_id=agent.agent_id,
                    device_id=s.device_id,
                    ip=s.ip,
                    country=s.country,
                    mfa=s.mfa,
                )
            )
            span = s.end_ms - s.start_ms - 2 * SECOND_MS
            for _ in range(s.n_routine):
                ta = s.start_ms + SECOND_MS + int(rng.random() * span)
                u = rng.random()
                recent = ctx.recent_orders
                if u < 0.35 and recent:
                    placed, cid, oid = recent[int(rng.random() * len(recent))]
                    if placed < ta:
                        ctx.action(ta, s, "view_account", cid, oid)
                        continue
                p = world.profile(world.pick(rng, ta))
                if u < 0.88:
                    ctx.action(ta, s, "view_account", p.customer_id, None)
                elif u < 0.98:
                    ctx.action(ta, s, "edit_address", p.customer_id, None)
                    tl.put(
                        ProfileChanged(
                            event_id=PENDING_ID,
                            event_time_ms=ta + rng.randint(SECOND_MS, MINUTE_MS),
                            customer_id=p.customer_id,
                            field="address",
                            new_value_hash=f"h:{ctx.h.hex(K_PROFILE_VALUE, tl.main_lines, 16)}",
                        )
                    )
                else:
                    ctx.action(ta, s, "override_policy", p.customer_id, None)
            tl.put(
                AgentSessionEnded(
                    event_id=PENDING_ID,
                    event_time_ms=s.end_ms,
                    session_id=s.session_id,
                    agent_id=agent.agent_id,
                )
            )
            self.reserved -= 2 + s.n_routine
        if t + DAY_MS < self._end:
            tl.call_at(t + DAY_MS, self._day)


def _whole(rng: random.Random, expected: float) -> int:
    """A whole number of lines with the given expectation (small budgets stay unbiased)."""
    if expected <= 0:
        return 0
    whole = int(expected)
    return whole + (1 if rng.random() < expected - whole else 0)


def _suffix_sums(weights: list[float]) -> list[float]:
    out = [0.0] * len(weights)
    acc = 0.0
    for i in range(len(weights) - 1, -1, -1):
        acc += weights[i]
        out[i] = acc
    return out

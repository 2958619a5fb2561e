"""Fraud scenarios 1-4 of the brief, with ground truth (scenario 5 lives in ``orders``).

Why these shapes (they are what detectors must find, and nothing easier):

1. ``insider_refund``: a few corrupt agents in ordinary teams. Their clients buy high-value goods;
   the agent, in an ordinary session of their own (usual device, MFA, in shift), refunds by
   manual override or "returnless", often after opening an "item not received" return. No parcel
   is ever scanned or received. The agents otherwise work like everyone else, and a share of
   their fraudulent orders is moderate ($150-$600, ``insider_moderate_share``).
2. ``agent_takeover``: a real agent's credentials used from a new device and IP for a burst of
   3-10 high-value overrides to mule accounts. No returns. By default from a foreign country,
   without MFA, outside the agent's shift; but a share of sessions has MFA (stolen session
   cookie, MFA fatigue), a share runs inside the shift, and a share comes through a residential
   proxy in the agent's home country (``takeover_*_share``), so only device and IP are new.
3. ``empty_box``: refund on first scan; the first scan weighs far less than the goods (empty or
   junk box) or about right (cheaper look-alike); the warehouse later finds nothing matching.
   Fake-tracking variant: scans at the wrong place and weight, and the warehouse never receives.
4. ``ring``: account farms sharing a few devices, IPs, drop addresses and payment instruments
   across countries, each account with few but high-value orders, refunded through the ring's
   agent (usually corrupt) without returns, by empty boxes, or by a self-service "returnless"
   refund of a mid-value order ($60-$300) that the system grants with no agent involved.

Every fraudulent refund, order, account, corrupt agent and taken-over session gets a truth record.
"""

from __future__ import annotations

from functools import partial

from vigil.events.schemas import (
    AgentSessionEnded,
    AgentSessionStarted,
    Condition,
)
from vigil.sim.agents import Agent, Session
from vigil.sim.catalog import Product
from vigil.sim.config import DAY_MS, HOUR_MS, MINUTE_MS, SECOND_MS
from vigil.sim.context import Ctx, Order
from vigil.sim.ids import K_FRAUD, ip_from
from vigil.sim.orders import INR_REASON
from vigil.sim.parcels import send_parcel, transit_ms
from vigil.sim.timeline import PENDING_ID
from vigil.sim.world import (
    BY_CODE,
    COUNTRIES,
    FRAUD_COUNTRIES,
    WAREHOUSE_COUNTRY,
    Country,
    Profile,
    pick_country,
)

INSIDER = "insider_refund"
TAKEOVER = "agent_takeover"
EMPTY_BOX = "empty_box"
RING = "ring"


class Fraud:
    """Plans every fraud instance of the run at its start time."""

    def __init__(self, ctx: Ctx) -> None:
        self.ctx = ctx
        self._n = 0
        self._clients: dict[tuple[int, int], Profile] = {}
        self._priced: dict[tuple[int, int], list[Product]] = {}

    # --- scheduling ---------------------------------------------------------------------

    def schedule(self) -> None:
        ctx = self.ctx
        cfg = ctx.cfg
        rng = ctx.rng
        for agent in ctx.roster.corrupt:
            ctx.truth(
                "agent", agent.agent_id, fraud=True, scenario=INSIDER, agent_id=agent.agent_id
            )
        lo = cfg.start_ms + DAY_MS
        hi = max(lo + DAY_MS, cfg.active_end_ms - 10 * DAY_MS)

        def spread(n: int) -> list[int]:
            return [lo + int((k + rng.random()) * (hi - lo) / n) for k in range(n)]

        corrupt = ctx.roster.corrupt
        for k, t in enumerate(spread(cfg.per_million(cfg.insider_refunds_per_million))):
            agent = corrupt[k % len(corrupt)]
            slot = (k // len(corrupt)) % cfg.insider_clients_per_agent
            ctx.tl.call_at(t, partial(self._insider, agent=agent, slot=slot))
        # Below a million lines, instance sizes shrink with the stream so that small test
        # streams keep serious fraud rare (a 60-account ring would dominate 200k lines).
        scale = min(1.0, cfg.events / 1_000_000)

        def scaled_top(lo_size: int, hi_size: int) -> int:
            return max(lo_size, min(hi_size, round(hi_size * scale)))

        honest = [a for a in ctx.roster.agents if not a.corrupt]
        burst_top = scaled_top(cfg.takeover_burst_min, cfg.takeover_burst_max)
        for t in spread(cfg.per_million(cfg.takeover_sessions_per_million)):
            victim = honest[int(rng.random() * len(honest))]
            burst = rng.randint(cfg.takeover_burst_min, burst_top)
            ctx.tl.call_at(t, partial(self._takeover, victim=victim, burst=burst))
        for t in spread(cfg.per_million(cfg.empty_box_per_million)):
            ctx.tl.call_at(t, self._empty_box_account)
        ring_top = scaled_top(cfg.ring_size_min, cfg.ring_size_max)
        for t in spread(cfg.per_million(cfg.rings_per_million)):
            size = rng.randint(cfg.ring_size_min, ring_top)
            ctx.tl.call_at(t, partial(self._ring, size=size))

    # --- shared pieces --------------------------------------------------------------------

    def _fresh(self, kind: int) -> str:
        self._n += 1
        return self.ctx.h.hex(K_FRAUD, (kind << 40) | self._n, 16)

    def _account(
        self,
        t: int,
        scenario: str,
        *,
        country: Country | None = None,
        device: str | None = None,
        ip: str | None = None,
        address: str | None = None,
        payment: str | None = None,
    ) -> Profile:
        ctx = self.ctx
        if country is None:
            country = pick_country(ctx.rng)
        p = ctx.world.add_account(
            country=country,
            devices=(device or f"d-{self._fresh(1)[:12]}",),
            home_ip=ip or ip_from(country.octet, int(self._fresh(2), 16)),
            address=address or f"h:{self._fresh(3)}",
            payment=payment or f"pf:{self._fresh(4)[:12]}",
        )
        ctx.signup(t, p)
        ctx.truth(
            "account", p.customer_id, fraud=True, scenario=scenario, customer_id=p.customer_id
        )
        return p

    def _order(
        self,
        t: int,
        p: Profile,
        scenario: str,
        *,
        device: str | None = None,
        ip: str | None = None,
        items: list[tuple[Product, int]] | None = None,
    ) -> Order:
        return fraud_order(self.ctx, t, p, scenario, device=device, ip=ip, items=items)

    def _mid_items(self, lo_cents: int, hi_cents: int) -> list[tuple[Product, int]]:
        """One resellable product priced in [lo, hi] (the cheapest fraud target if none)."""
        key = (lo_cents, hi_cents)
        pool = self._priced.get(key)
        if pool is None:
            pool = self._priced[key] = self.ctx.catalog.priced(lo_cents, hi_cents)
        if not pool:
            return [self.ctx.catalog.fraud_target(self.ctx.rng)]
        return [(pool[int(self.ctx.rng.random() * len(pool))], 1)]

    def _insider_refund(self, o: Order, agent: Agent, scenario: str) -> None:
        """The agent refunds ``o`` in their own next session; nothing is ever sent back."""
        ctx = self.ctx
        rng = ctx.rng
        found = ctx.roster.next_of(rng, agent, o.delivered_ms + int(rng.uniform(1.0, 7.0) * DAY_MS))
        if found is None:
            return
        s, tau = found
        ctx.agent_refund(
            s,
            tau,
            o,
            o.total_cents,
            policy="manual_override" if rng.random() < 0.75 else "returnless",
            scenario=scenario,
            fraud=True,
            request_reason=INR_REASON if rng.random() < 0.7 else None,
        )

    # --- 1. insider -------------------------------------------------------------------------

    def _insider(self, t0: int, agent: Agent, slot: int) -> None:
        ctx = self.ctx
        rng = ctx.rng
        client = self._clients.get((agent.idx, slot))
        if client is None:
            cfg = ctx.cfg
            if rng.random() < cfg.insider_aged_account_share:
                # the client's own long-standing account: nothing about it is new
                client = ctx.world.profile(ctx.world.pick(rng, t0))
                ctx.truth(
                    "account",
                    client.customer_id,
                    fraud=True,
                    scenario=INSIDER,
                    customer_id=client.customer_id,
                )
            else:
                client = self._account(t0, INSIDER)
            self._clients[(agent.idx, slot)] = client
        cfg = ctx.cfg
        items = None
        if rng.random() < cfg.insider_moderate_share:
            # moderate: a mid-priced order, so each refund looks like everyday work
            items = self._mid_items(cfg.insider_moderate_min_cents, cfg.insider_moderate_max_cents)
        o = self._order(t0 + rng.randint(HOUR_MS, 2 * DAY_MS), client, INSIDER, items=items)
        self._insider_refund(o, agent, INSIDER)

    # --- 2. takeover ------------------------------------------------------------------------

    def _takeover(self, t0: int, victim: Agent, burst: int) -> None:
        ctx = self.ctx
        rng = ctx.rng
        cfg = ctx.cfg
        mfa = rng.random() < cfg.takeover_mfa_share  # stolen session cookie / MFA fatigue
        in_shift = rng.random() < cfg.takeover_in_shift_share
        home = rng.random() < cfg.takeover_home_country_share  # residential proxy at home
        day = (t0 + 21 * DAY_MS) // DAY_MS * DAY_MS
        if in_shift:
            offset = victim.shift_start_hour * HOUR_MS + int(rng.uniform(0.5, 6.0) * HOUR_MS)
        else:
            offset = (victim.shift_start_hour + 9) * HOUR_MS + int(rng.uniform(0.0, 12.0) * HOUR_MS)
        start = day + offset
        n_accounts = max(1, burst - rng.randint(0, burst // 2))
        mules = []
        for _ in range(n_accounts):
            if rng.random() < 0.6:
                country = pick_country(rng)
            else:
                country = FRAUD_COUNTRIES[int(rng.random() * len(FRAUD_COUNTRIES))]
            mules.append(self._account(t0 + rng.randint(0, 3 * DAY_MS), TAKEOVER, country=country))
        orders = [
            self._order(
                start - rng.randint(7 * DAY_MS, 15 * DAY_MS), mules[j % n_accounts], TAKEOVER
            )
            for j in range(burst)
        ]
        where = FRAUD_COUNTRIES[int(rng.random() * len(FRAUD_COUNTRIES))]
        if home:
            where = BY_CODE.get(victim.home_country, where)
        s = Session(
            agent=victim,
            session_id=ctx.roster.new_session_id(),
            start_ms=start,
            end_ms=start,
            device_id=f"ad-{self._fresh(5)[:8]}",
            ip=ip_from(where.octet, int(self._fresh(6), 16)),
            country=where.code,
            mfa=mfa,
            n_routine=0,
        )
        ctx.tl.put(
            AgentSessionStarted(
                event_id=PENDING_ID,
                event_time_ms=start,
                session_id=s.session_id,
                agent_id=victim.agent_id,
                device_id=s.device_id,
                ip=s.ip,
                country=s.country,
                mfa=mfa,
            )
        )
        tau = start + rng.randint(30 * SECOND_MS, 3 * MINUTE_MS)
        for o in orders:
            t_ref, _ = ctx.agent_refund(
                s, tau, o, o.total_cents, policy="manual_override", scenario=TAKEOVER, fraud=True
            )
            tau = t_ref + rng.randint(30 * SECOND_MS, 3 * MINUTE_MS)
        s.end_ms = tau + rng.randint(MINUTE_MS, 5 * MINUTE_MS)
        ctx.tl.put(
            AgentSessionEnded(
                event_id=PENDING_ID,
                event_time_ms=s.end_ms,
                session_id=s.session_id,
                agent_id=victim.agent_id,
            )
        )
        ctx.truth("session", s.session_id, fraud=True, scenario=TAKEOVER, agent_id=victim.agent_id)

    # --- 3. empty box -------------------------------------------------------------------------

    def _empty_box_account(self, t0: int) -> None:
        p = self._account(t0, EMPTY_BOX)
        o = self._order(t0 + self.ctx.rng.randint(HOUR_MS, 2 * DAY_MS), p, EMPTY_BOX)
        self._empty_box_return(o, EMPTY_BOX)

    def _empty_box_return(self, o: Order, scenario: str) -> None:
        ctx = self.ctx
        cfg = ctx.cfg
        rng = ctx.rng
        t_req = o.delivered_ms + int(rng.uniform(1.0, 8.0) * DAY_MS)
        reason = ("defective", "not_as_described", "changed_mind")[int(rng.random() * 3)]
        return_id = ctx.request_return(t_req, o, [p.sku for p, _ in o.items], reason)
        first = t_req + int(rng.uniform(0.3, 3.0) * DAY_MS)
        expected = ctx.parcel_weight(o.items)
        u = rng.random()
        variant = "empty_box/empty"
        if u < cfg.empty_box_ftid_share:
            variant = "empty_box/ftid_wrong_country"
            home = o.profile.country.code
            wh_country = WAREHOUSE_COUNTRY[o.profile.country.warehouse]
            elsewhere = [c.code for c in COUNTRIES if c.code not in (home, wh_country)]
            send_parcel(
                ctx,
                o,
                return_id,
                t_req,
                first,
                None,
                rng.randint(40, 400),
                "empty",
                scan_country=elsewhere[int(rng.random() * len(elsewhere))],
                end_country=elsewhere[int(rng.random() * len(elsewhere))],
            )
        else:
            condition: Condition
            if u < cfg.empty_box_ftid_share + cfg.empty_box_lookalike_share:
                weight = int(expected * rng.uniform(0.75, 1.25))
                condition = "wrong_item"
                variant = "empty_box/lookalike"
            else:
                weight = max(120, int(expected * rng.uniform(0.03, 0.25)))
                condition = "empty"
            receipt = first + transit_ms(ctx, o)
            send_parcel(
                ctx, o, return_id, t_req, first, receipt, weight, condition, items_matched=False
            )
        t_ref = first + rng.randint(5 * MINUTE_MS, 6 * HOUR_MS)
        ctx.refund(
            t_ref,
            o,
            o.total_cents,
            policy="on_first_scan",
            scenario=scenario,
            fraud=True,
            return_id=return_id,
        )
        if scenario == EMPTY_BOX:
            ctx.tally.variant(variant, o.total_cents)

    # --- 4. ring -----------------------------------------------------------------------------

    def _ring(self, t0: int, size: int) -> None:
        ctx = self.ctx
        cfg = ctx.cfg
        rng = ctx.rng
        n_countries = rng.randint(cfg.ring_countries_min, cfg.ring_countries_max)
        countries = rng.sample(COUNTRIES[:12], min(n_countries, 12))
        devices = [
            f"d-{self._fresh(7)[:12]}"
            for _ in range(rng.randint(cfg.ring_devices_min, cfg.ring_devices_max))
        ]
        ips = [
            ip_from(c.octet, int(self._fresh(8), 16))
            for c in rng.sample(countries, min(len(countries), rng.randint(2, 4)))
        ]
        addresses = [f"h:{self._fresh(9)}" for _ in range(rng.randint(1, 3))]
        payments = [f"pf:{self._fresh(10)[:12]}" for _ in range(rng.randint(1, 3))]
        agents: list[Agent]
        corrupt = ctx.roster.corrupt
        frontline = [
            a for a in ctx.roster.agents if a.team in ("general", "returns") and not a.corrupt
        ]
        if corrupt and rng.random() < cfg.ring_corrupt_agent_share:
            agents = [corrupt[int(rng.random() * len(corrupt))]]
        else:
            agents = [frontline[int(rng.random() * len(frontline))]]
        if rng.random() < 0.3:
            agents.append(frontline[int(rng.random() * len(frontline))])
        refunded = set(rng.sample(range(size), round(size * cfg.ring_refund_share)))
        for j in range(size):
            t_sign = t0 + rng.randint(0, 10 * DAY_MS)
            p = self._account(
                t_sign,
                RING,
                country=countries[j % len(countries)],
                device=devices[j % len(devices)],
                ip=ips[j % len(ips)],
                address=addresses[int(rng.random() * len(addresses))],
                payment=payments[int(rng.random() * len(payments))],
            )
            t = t_sign + rng.randint(2 * HOUR_MS, 3 * DAY_MS)
            if rng.random() < 0.3:
                warm = [ctx.catalog.everyday(rng)]
                self._order(t, p, RING, items=warm, ip=ips[int(rng.random() * len(ips))])
                t += rng.randint(HOUR_MS, 3 * DAY_MS)
            device = (
                devices[int(rng.random() * len(devices))] if rng.random() < 0.3 else p.devices[0]
            )
            u = rng.random() if j in refunded else 1.0
            returnless = (
                cfg.ring_empty_box_share
                <= u
                < (cfg.ring_empty_box_share + cfg.ring_returnless_share)
            )
            items = self._mid_items(6_000, 30_000) if returnless else None
            ip = ips[int(rng.random() * len(ips))]
            o = self._order(t, p, RING, device=device, ip=ip, items=items)
            if j not in refunded:
                continue
            if u < cfg.ring_empty_box_share:
                self._empty_box_return(o, RING)
            elif returnless:
                self._returnless(o, RING)
            else:
                self._insider_refund(o, agents[int(rng.random() * len(agents))], RING)

    def _returnless(self, o: Order, scenario: str) -> None:
        """A self-service "damaged / not as described" claim refunded by the system under the
        returnless policy: no agent, no parcel."""
        ctx = self.ctx
        rng = ctx.rng
        t_req = o.delivered_ms + int(rng.uniform(0.5, 6.0) * DAY_MS)
        reason = ("arrived_damaged", "defective", "not_as_described")[int(rng.random() * 3)]
        return_id = ctx.request_return(t_req, o, [p.sku for p, _ in o.items], reason)
        ctx.refund(
            t_req + rng.randint(MINUTE_MS, 2 * HOUR_MS),
            o,
            o.total_cents,
            policy="returnless",
            scenario=scenario,
            fraud=True,
            return_id=return_id,
        )


def fraud_basket(ctx: Ctx) -> list[tuple[Product, int]]:
    """One to three high-value, resellable products (drawn from ``ctx.rng``)."""
    rng = ctx.rng
    u = rng.random()
    n = 1 if u < 0.25 else (2 if u < 0.7 else 3)
    out: list[tuple[Product, int]] = []
    for _ in range(n):
        product, q = ctx.catalog.fraud_target(rng)
        if all(product.sku != p.sku for p, _ in out):
            out.append((product, q))
    return out


def fraud_order(
    ctx: Ctx,
    t: int,
    p: Profile,
    scenario: str,
    *,
    device: str | None = None,
    ip: str | None = None,
    items: list[tuple[Product, int]] | None = None,
) -> Order:
    """Login and order from the account's device; records the order as fraudulent."""
    device = device or p.devices[0]
    ip = ip or p.home_ip
    ctx.login(t - ctx.rng.randint(MINUTE_MS, 15 * MINUTE_MS), p, device, ip, p.country.code)
    o = ctx.place_order(
        t, p, items or fraud_basket(ctx), device=device, ip=ip, country=p.country.code
    )
    ctx.truth(
        "order",
        o.order_id,
        fraud=True,
        scenario=scenario,
        amount_cents=o.total_cents,
        customer_id=p.customer_id,
        order_id=o.order_id,
    )
    return o

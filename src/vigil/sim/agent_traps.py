"""Traps with agents and parcels: lost parcels and agents on new laptops, overtime, outages.

Why: without them, every agent refund of hundreds of dollars with no return is fraud and
every session from a new device is an intruder, which real data never is.

* ``trap_lost_parcel``: a customer orders a high-value item ($200-$2,000, laptops and consoles
  included); the carrier loses it, so there is no delivery event; the customer claims "item not
  received" and an ordinary frontline agent refunds it by manual override or returnless. No
  return ever exists. The refund and the order get truth records with ``fraud=False``.
* ``trap_porch_theft``: the same claim on a parcel the carrier reports *delivered* (stolen
  from the doorstep, left at the wrong door): a delivery event, then "item not received" and
  an ordinary agent's manual refund, no return. From the event stream alone this is what a
  bribed insider's refund looks like; only the people around it differ.
* ``trap_new_device_agent``: sessions planned by :meth:`Roster._plan_traps` (first session on a
  new laptop, overtime after the shift, MFA outages). The first two kinds get one to three
  ordinary refunds planned into them here (goodwill gestures, small "item not received" claims,
  overrides after which the parcel follows); any other legitimate refund that lands in such a
  session is labelled with the trap too (see ``Ctx.agent_refund``).
"""

from __future__ import annotations

from functools import partial

from vigil.sim.agents import GROUP_FRONTLINE, GROUP_VIP, NEW_DEVICE_AGENT, Session
from vigil.sim.catalog import Product
from vigil.sim.config import DAY_MS, MINUTE_MS
from vigil.sim.context import Ctx
from vigil.sim.orders import INR_REASON, RETURN_REASONS
from vigil.sim.parcels import send_parcel, transit_ms
from vigil.sim.world import TAG_VIP

LOST_PARCEL = "trap_lost_parcel"
PORCH_THEFT = "trap_porch_theft"
_GADGETS = ("laptop", "console", "phone")


class AgentTraps:
    """Plans lost-parcel claims and the ordinary work of trap sessions."""

    def __init__(self, ctx: Ctx) -> None:
        self.ctx = ctx
        cfg = ctx.cfg
        lo, hi = cfg.lost_parcel_min_cents, cfg.lost_parcel_max_cents
        self._gadgets = ctx.catalog.priced(lo, hi, _GADGETS)
        self._valuable = ctx.catalog.priced(lo, hi)

    def schedule(self) -> None:
        ctx = self.ctx
        cfg = ctx.cfg
        rng = ctx.rng
        lo = cfg.start_ms + DAY_MS
        hi = max(lo + DAY_MS, cfg.active_end_ms - 10 * DAY_MS)
        n = cfg.per_million(cfg.lost_parcel_per_million)
        if self._valuable:
            for k in range(n):
                ctx.tl.call_at(lo + int((k + rng.random()) * (hi - lo) / n), self._lost_parcel)
        n = cfg.per_million(cfg.porch_theft_per_million)
        if self._valuable:
            for k in range(n):
                ctx.tl.call_at(lo + int((k + rng.random()) * (hi - lo) / n), self._porch_theft)
        for s in ctx.roster.trap_sessions:
            if not s.trap_work:
                continue
            for _ in range(rng.randint(1, 3)):
                t = s.start_ms - int(rng.uniform(3.0, 12.0) * DAY_MS)
                if t > cfg.start_ms + DAY_MS:
                    ctx.tl.call_at(t, partial(self._work, s=s))

    def _lost_parcel(self, t: int) -> None:
        self._not_received(t, delivered=False, scenario=LOST_PARCEL)

    def _porch_theft(self, t: int) -> None:
        self._not_received(t, delivered=True, scenario=PORCH_THEFT)

    def _not_received(self, t: int, delivered: bool, scenario: str) -> None:
        """A dear order whose customer honestly never got it, refunded by an ordinary agent."""
        ctx = self.ctx
        rng = ctx.rng
        p = ctx.world.profile(ctx.world.pick(rng, t))
        pool = self._gadgets if self._gadgets and rng.random() < 0.5 else self._valuable
        product: Product = pool[int(rng.random() * len(pool))]
        o = ctx.place_order(
            t,
            p,
            [(product, 1)],
            device=p.devices[0],
            ip=p.home_ip,
            country=p.country.code,
            delivered=delivered,
        )
        ctx.truth(
            "order",
            o.order_id,
            fraud=False,
            scenario=scenario,
            amount_cents=o.total_cents,
            customer_id=p.customer_id,
            order_id=o.order_id,
        )
        # a lost parcel is chased after days of waiting; a stolen one the day it "arrived"
        wait = (3.0, 10.0) if not delivered else (0.2, 4.0)
        t_claim = o.delivered_ms + int(rng.uniform(*wait) * DAY_MS)
        group = GROUP_VIP if p.tag == TAG_VIP else GROUP_FRONTLINE
        found = ctx.roster.find(rng, t_claim, group)
        if found is None:
            return
        s, tau = found
        ctx.agent_refund(
            s,
            tau,
            o,
            o.total_cents,
            policy="manual_override" if rng.random() < 0.7 else "returnless",
            scenario=scenario,
            fraud=False,
            request_reason=INR_REASON if rng.random() < 0.85 else None,
        )

    def _work(self, t: int, s: Session) -> None:
        """An ordinary order placed at ``t`` and refunded by ``s``'s agent in ``s``."""
        ctx = self.ctx
        rng = ctx.rng
        p = ctx.world.profile(ctx.world.pick(rng, t))
        items = [ctx.catalog.everyday(rng) for _ in range(1 + int(rng.random() * 2))]
        if items[0][0].sku == items[-1][0].sku:
            items = items[:1]
        o = ctx.place_order(
            t,
            p,
            items,
            device=p.devices[0],
            ip=p.home_ip,
            country=p.country.code,
            delivery_days=(1.0, 2.5),
        )
        span = max(MINUTE_MS, s.end_ms - s.start_ms - 10 * MINUTE_MS)
        tau = s.start_ms + MINUTE_MS + int(rng.random() * span)
        u = rng.random()
        if u < 0.45:
            amount = min(
                o.total_cents, 10_000, max(500, int(o.total_cents * rng.uniform(0.1, 0.3)))
            )
            ctx.agent_refund(
                s, tau, o, amount, policy="manual_override", scenario=NEW_DEVICE_AGENT, fraud=False
            )
        elif u < 0.7 and o.total_cents <= 10_000:
            ctx.agent_refund(
                s,
                tau,
                o,
                o.total_cents,
                policy="manual_override" if rng.random() < 0.8 else "returnless",
                scenario=NEW_DEVICE_AGENT,
                fraud=False,
                request_reason=INR_REASON,
            )
        else:
            reason = RETURN_REASONS[int(rng.random() * len(RETURN_REASONS))]
            t_ref, return_id = ctx.agent_refund(
                s,
                tau,
                o,
                o.total_cents,
                policy="manual_override",
                scenario=NEW_DEVICE_AGENT,
                fraud=False,
                request_reason=reason,
            )
            assert return_id is not None
            first = t_ref + int(rng.uniform(0.5, 4.0) * DAY_MS)
            receipt = max(t_ref + 2 * DAY_MS, first + transit_ms(ctx, o))
            receipt = min(receipt, t_ref + 10 * DAY_MS)
            send_parcel(
                ctx, o, return_id, t_ref, first, receipt, ctx.parcel_weight(o.items), "intact"
            )

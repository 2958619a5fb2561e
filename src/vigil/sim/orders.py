"""Everyday customers: logins, profile changes, orders, and each order's whole life.

Why plan a life at once: when an order is placed its delivery, any return (request, label, carrier
scans, warehouse receipt) and the refund are all decided and put on the timeline, so no per-order
state has to live on. Facts the detectors are built on, kept true here:

* A return is self-service mostly, sometimes opened by an agent. Refunds follow a policy:
  ``on_receipt`` (after the warehouse receives the parcel), ``on_first_scan`` (right after the
  carrier's first scan), ``returnless`` (cheap items < $25, no parcel at all) or
  ``manual_override`` (an agent, in a session).
* Legitimate manual refunds exist: goodwill gestures (<= $100, no return), "item not received"
  claims on cheap and mid-priced orders (no return), and overrides for items over $100, after
  which the parcel *does* follow (first scan 0.5-5 days, receipt 2-10 days after the refund).
  Most of the last kind go through the escalations team (a trap for insider detectors).
* Scanned parcels weigh what was ordered plus a box; the warehouse finds the items it expects
  (parcels, routes and transit times: :mod:`vigil.sim.parcels`).
* Carriers lose a fraction of a percent of honest return parcels (``lost_return_parcel_rate``,
  decided from its own random stream): first scan, maybe an in-transit scan, then nothing. The
  refund comes on first scan as planned, or, where it waited for the receipt, from an ordinary
  agent once the customer complains (``trap_lost_return_parcel``).
"""

from __future__ import annotations

import random

from vigil.events.schemas import (
    Condition,
    ProfileChanged,
    ProfileField,
    RefundPolicy,
)
from vigil.sim.ads import AdNetwork
from vigil.sim.agents import GROUP_ESCALATIONS, GROUP_FRONTLINE, GROUP_VIP, Session
from vigil.sim.catalog import Product
from vigil.sim.config import DAY_MS, HOUR_MS, MINUTE_MS, SECOND_MS
from vigil.sim.context import SIDE_LOST_RETURNS, Ctx, Order
from vigil.sim.ids import K_DEVICE, K_PROFILE_VALUE
from vigil.sim.parcels import send_parcel, transit_ms
from vigil.sim.timeline import PENDING_ID
from vigil.sim.traps import LOST_RETURN, legit_scenario
from vigil.sim.world import TAG_SERIAL, TAG_TRAVELLER, TAG_VIP, Profile

RETURN_REASONS = ("changed_mind", "wrong_size", "defective", "not_as_described", "arrived_damaged")
INR_REASON = "item_not_received"
_FIELDS: tuple[ProfileField, ...] = ("address", "address", "payment_method", "email", "phone")


class Everyday:
    """Everyday customer activity and the lives of everyday orders."""

    def __init__(self, ctx: Ctx, ads: AdNetwork) -> None:
        self.ctx = ctx
        self.ads = ads
        cfg = ctx.cfg
        calib = random.Random(f"{cfg.seed}-calibrate")
        mean = sum(_order_return_p(self._basket(calib, None)) for _ in range(4_000)) / 4_000
        self._return_scale = cfg.return_rate / mean if mean > 0 else 0.0
        self._holiday0 = cfg.start_ms + cfg.holiday_index * DAY_MS
        self._holiday1 = self._holiday0 + DAY_MS
        # extra returns of the last two weeks' orders land on the holiday: ~factor x a normal day
        self._holiday_extra = (cfg.holiday_factor - 1.0) * cfg.return_rate / 6.0
        self._new_devices = 0
        #: which honest return parcels the carrier loses, and what happens then
        self._lost_rng = random.Random(f"vigil-sim:{cfg.seed}:lost-return-parcels")

    def _lose(self, p: Profile) -> bool:
        """Does the carrier lose this honest return parcel? (one draw per parcel, always)"""
        lost = self._lost_rng.random() < self.ctx.cfg.lost_return_parcel_rate
        return lost and p.tag != TAG_SERIAL  # a serial returner's refund is scenario 5

    # --- activity -----------------------------------------------------------------------

    def _where(self, p: Profile, t: int) -> tuple[str, str]:
        """(country, ip) of a customer at ``t``: home, or abroad during a trip."""
        rng = self.ctx.rng
        if p.tag == TAG_TRAVELLER:
            trip = self.ctx.world.trips[p.idx]
            if trip.start_ms <= t < trip.end_ms:
                return trip.country.code, trip.ip
        return p.country.code, (p.home_ip if rng.random() < 0.75 else p.mobile_ip)

    def login(self, t: int, idx: int) -> None:
        ctx = self.ctx
        rng = ctx.rng
        p = ctx.world.profile(idx)
        country, ip = self._where(p, t)
        u = rng.random()
        if u < 0.02:
            self._new_devices += 1
            device = f"d-{ctx.h.hex(K_DEVICE, (6 << 40) | self._new_devices)}"
        else:
            device = p.devices[0] if u < 0.8 else p.devices[-1]
        ctx.login(t, p, device, ip, country, success=rng.random() >= 0.03)

    def profile_change(self, t: int, idx: int) -> None:
        ctx = self.ctx
        p = ctx.world.profile(idx)
        field = _FIELDS[int(ctx.rng.random() * len(_FIELDS))]
        value = (
            p.alt_address
            if field == "address"
            else f"h:{ctx.h.hex(K_PROFILE_VALUE, ctx.tl.main_lines, 16)}"
        )
        ctx.tl.put(
            ProfileChanged(
                event_id=PENDING_ID,
                event_time_ms=t,
                customer_id=p.customer_id,
                field=field,
                new_value_hash=value,
            )
        )

    def order(self, t: int, earliest: int, idx: int) -> None:
        """A customer orders at ``t`` (planned from ``earliest``, the hour's start)."""
        ctx = self.ctx
        rng = ctx.rng
        p = ctx.world.profile(idx)
        country, ip = self._where(p, t)
        device = p.devices[0] if rng.random() < 0.75 else p.devices[-1]
        if rng.random() < 0.7:
            ctx.login(
                t - min(t - earliest, rng.randint(MINUTE_MS, 20 * MINUTE_MS)),
                p,
                device,
                ip,
                country,
            )
        click = None
        if rng.random() < ctx.cfg.ad_attributed_order_share:
            click = self.ads.click_before(t, earliest, device, ip)
        self.ads.order_placed(t, device, ip)
        items = self._basket(rng, p)
        o = ctx.place_order(
            t,
            p,
            items,
            device=device,
            ip=ip,
            country=country,
            address=p.address if rng.random() < 0.92 else p.alt_address,
            ad_click_id=click,
        )
        self._after(o, self._holiday0 <= t < self._holiday1)

    def _basket(self, rng: random.Random, p: Profile | None) -> list[tuple[Product, int]]:
        catalog = self.ctx.catalog
        if p is not None and p.tag == TAG_SERIAL:
            return _dedup([catalog.wardrobe(rng) for _ in range(1 + int(rng.random() * 3))])
        u = rng.random()
        n = 1 if u < 0.62 else (2 if u < 0.88 else 3)
        return _dedup([catalog.everyday(rng) for _ in range(n)])

    # --- an order's life -------------------------------------------------------------------

    def _after(self, o: Order, holiday_order: bool) -> None:
        ctx = self.ctx
        cfg = ctx.cfg
        rng = ctx.rng
        u = rng.random()
        if u < cfg.goodwill_rate:
            self._goodwill(o, holiday_order)
            return
        if u < cfg.goodwill_rate + cfg.inr_rate and o.total_cents <= 10_000:
            self._inr(o, holiday_order)
            return
        serial = o.profile.tag == TAG_SERIAL
        p_return = (
            cfg.serial_return_rate if serial else self._return_scale * _order_return_p(o.items)
        )
        if rng.random() < p_return:
            delay = min(14 * DAY_MS, int((0.3 + rng.expovariate(1 / 3.5)) * DAY_MS))
            t_req = o.delivered_ms + delay
            holiday = holiday_order or self._holiday0 <= t_req < self._holiday1
            self._return(o, t_req, holiday)
        elif (
            not serial
            and self._holiday0 - 14 * DAY_MS <= o.placed_ms
            and o.delivered_ms < self._holiday0
            and rng.random() < self._holiday_extra
        ):
            # the holiday spike: returns of recent orders pile up on the holiday
            self._return(o, self._holiday0 + int(rng.random() * DAY_MS), True)

    def _return(self, o: Order, t_req: int, holiday: bool) -> None:
        ctx = self.ctx
        cfg = ctx.cfg
        rng = ctx.rng
        items = o.items
        if len(items) > 1 and o.profile.tag != TAG_SERIAL and rng.random() < 0.25:
            items = rng.sample(items, 1 + int(rng.random() * (len(items) - 1)))
        amount = sum(p.price_cents * q for p, q in items)
        skus = [p.sku for p, _ in items]
        group = GROUP_VIP if o.profile.tag == TAG_VIP else GROUP_FRONTLINE
        reason = RETURN_REASONS[int(rng.random() * len(RETURN_REASONS))]
        # dearer returns are twice as likely to go through an agent
        agent_share = cfg.agent_return_share * (2.0 if amount > 10_000 else 1.0)
        if rng.random() < agent_share:
            if amount > 10_000 and rng.random() < cfg.agent_manual_refund_share:
                esc = rng.random() < cfg.escalation_manual_share
                found = ctx.roster.find(rng, t_req, GROUP_ESCALATIONS if esc else group)
                if found is not None:
                    self._manual_with_parcel(o, items, amount, found, esc, holiday, reason)
                    return
            found = ctx.roster.find(rng, t_req, group)
            if found is not None:
                s, tau = found
                ctx.action(tau, s, "view_account", o.profile.customer_id, o.order_id)
                t = tau + rng.randint(20 * SECOND_MS, 90 * SECOND_MS)
                return_id = ctx.request_return(t, o, skus, reason, s)
                self._system_refund(o, items, amount, t, return_id, holiday)
                return
        return_id = ctx.request_return(t_req, o, skus, reason)
        self._system_refund(o, items, amount, t_req, return_id, holiday)

    def _system_refund(
        self,
        o: Order,
        items: list[tuple[Product, int]],
        amount: int,
        t: int,
        return_id: str,
        holiday: bool,
    ) -> None:
        """After a return request at ``t``: returnless, or label, parcel and a system refund."""
        ctx = self.ctx
        cfg = ctx.cfg
        rng = ctx.rng
        hv = any(p.high_value for p, _ in items)
        scenario, fraud = legit_scenario(o.profile, hv=hv, holiday=holiday)
        if amount < 2_500 and rng.random() < cfg.returnless_share:
            t_ref = t + rng.randint(MINUTE_MS, 2 * HOUR_MS)
            ctx.refund(
                t_ref,
                o,
                amount,
                policy="returnless",
                scenario=scenario,
                fraud=fraud,
                return_id=return_id,
                skus=[p.sku for p, _ in items],
            )
            return
        first = t + int(rng.uniform(0.5, 5.0) * DAY_MS)
        receipt = first + transit_ms(ctx, o)
        condition = self._condition(o, hv)
        lost = self._lose(o.profile)
        weight = ctx.parcel_weight(items)
        send_parcel(ctx, o, return_id, t, first, receipt, weight, condition, lost=lost)
        policy: RefundPolicy
        if rng.random() < cfg.first_scan_policy_share:
            t_ref = first + rng.randint(5 * MINUTE_MS, 6 * HOUR_MS)
            policy = "on_first_scan"
        else:
            t_ref = receipt + rng.randint(10 * MINUTE_MS, 24 * HOUR_MS)
            policy = "on_receipt"
        if lost:
            scenario, fraud = LOST_RETURN, False
            if policy == "on_receipt":
                # no receipt, so no refund on receipt: the customer chases it up
                ctx.skip_refund()
                with ctx.side(self._lost_rng, SIDE_LOST_RETURNS):
                    self._lost_return_claim(o, items, amount, first, return_id)
                return
        ctx.refund(
            t_ref,
            o,
            amount,
            policy=policy,
            scenario=scenario,
            fraud=fraud,
            return_id=return_id,
            skus=[p.sku for p, _ in items],
        )

    def _condition(self, o: Order, hv: bool) -> Condition:
        u = self.ctx.rng.random()
        if o.profile.tag == TAG_SERIAL:
            return "used" if u < 0.85 else "intact"
        if hv:
            return "intact"
        return "intact" if u < 0.8 else ("used" if u < 0.92 else "damaged")

    def _manual_with_parcel(
        self,
        o: Order,
        items: list[tuple[Product, int]],
        amount: int,
        found: tuple[Session, int],
        escalation: bool,
        holiday: bool,
        reason: str,
    ) -> None:
        """An agent refunds at once by override; the parcel follows and arrives."""
        ctx = self.ctx
        rng = ctx.rng
        s, tau = found
        hv = any(p.high_value for p, _ in items)
        scenario, fraud = legit_scenario(o.profile, hv=hv, holiday=holiday, escalation=escalation)
        lost = self._lose(o.profile)
        if lost:
            scenario = LOST_RETURN  # refunded at once; the parcel never arrives
        t_ref, return_id = ctx.agent_refund(
            s,
            tau,
            o,
            amount,
            policy="manual_override",
            scenario=scenario,
            fraud=fraud,
            request_reason=reason,
            skus=[p.sku for p, _ in items],
        )
        assert return_id is not None
        first = t_ref + int(rng.uniform(0.5, 5.0) * DAY_MS)
        receipt = first + transit_ms(ctx, o)
        receipt = max(t_ref + 2 * DAY_MS, min(receipt, t_ref + 10 * DAY_MS))
        send_parcel(
            ctx,
            o,
            return_id,
            t_ref,
            first,
            receipt,
            ctx.parcel_weight(items),
            self._condition(o, hv),
            lost=lost,
        )

    def _lost_return_claim(
        self,
        o: Order,
        items: list[tuple[Product, int]],
        amount: int,
        first: int,
        return_id: str,
    ) -> None:
        """The carrier lost the return parcel and the refund waited for the receipt: about a
        week after handing it over the customer asks where their money is, and an ordinary
        agent refunds the return by override (inside ``Ctx.side``: its own draws)."""
        ctx = self.ctx
        rng = ctx.rng
        group = GROUP_VIP if o.profile.tag == TAG_VIP else GROUP_FRONTLINE
        found = ctx.roster.find(rng, first + int(rng.uniform(5.0, 7.0) * DAY_MS), group)
        if found is None:
            return
        s, tau = found
        ctx.agent_refund(
            s,
            tau,
            o,
            amount,
            policy="manual_override",
            scenario=LOST_RETURN,
            fraud=False,
            skus=[p.sku for p, _ in items],
            return_id=return_id,
        )

    def _inr(self, o: Order, holiday_order: bool) -> None:
        """'Item not received' on a cheap or mid-priced order: refunded by an agent, no return."""
        ctx = self.ctx
        rng = ctx.rng
        t = o.delivered_ms + int(rng.uniform(1.0, 10.0) * DAY_MS)
        group = GROUP_VIP if o.profile.tag == TAG_VIP else GROUP_FRONTLINE
        found = ctx.roster.find(rng, t, group)
        if found is None:
            return
        s, tau = found
        scenario, fraud = legit_scenario(o.profile, hv=False, holiday=holiday_order)
        ctx.agent_refund(
            s,
            tau,
            o,
            o.total_cents,
            policy="manual_override" if rng.random() < 0.8 else "returnless",
            scenario=scenario,
            fraud=fraud,
            request_reason=INR_REASON,
        )

    def _goodwill(self, o: Order, holiday_order: bool) -> None:
        """A goodwill gesture: part of the price back, by an agent, nothing returned."""
        ctx = self.ctx
        rng = ctx.rng
        t = o.delivered_ms + int(rng.uniform(0.5, 14.0) * DAY_MS)
        group = GROUP_VIP if o.profile.tag == TAG_VIP else GROUP_FRONTLINE
        found = ctx.roster.find(rng, t, group)
        if found is None:
            return
        s, tau = found
        amount = min(o.total_cents, 10_000, max(500, int(o.total_cents * rng.uniform(0.1, 0.3))))
        scenario, fraud = legit_scenario(o.profile, hv=False, holiday=holiday_order)
        ctx.agent_refund(
            s, tau, o, amount, policy="manual_override", scenario=scenario, fraud=fraud
        )


def _order_return_p(items: list[tuple[Product, int]]) -> float:
    keep = 1.0
    for p, _ in items:
        keep *= 1.0 - p.return_rate
    return 1.0 - keep


def _dedup(items: list[tuple[Product, int]]) -> list[tuple[Product, int]]:
    """One line per SKU."""
    seen: list[str] = []
    out = []
    for p, q in items:
        if p.sku not in seen:
            seen.append(p.sku)
            out.append((p, q))
    return out

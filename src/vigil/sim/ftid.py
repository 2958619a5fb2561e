"""Fake tracking ids that keep the right weight and the right country (scenario 3 variants).

Why: the older fake-tracking variant (``empty_box_ftid_share``) scans a light parcel in a
foreign country, which a detector of weight and country catches. These do not: the parcel is
a box of about what was bought, scanned in the customer's country (and the centre's), yet it
never reaches the return centre. What gives them away is *where* and *how long*:

* ``ftid_drop_label``: the label is addressed to a drop address (a reshipper, a mule's flat)
  in the customer's own country. Either the retailer's label record says so, or the record
  says the centre while the parcel carries another label (its tracking id) that the carrier
  reads as the drop's postal code. Scanned at the right weight, "delivered" at the drop.
* ``ftid_diverted``: the label says the right centre, but the parcel is diverted: "delivered"
  at another postal code of the centre's country, or scanned at the centre's postal code and
  then again somewhere else (intercepted on the last mile), with no "delivered".
* ``ftid_delivered_not_received``: every scan looks right and the carrier reports it
  delivered at the centre's postal code; the centre never receives it.

Refunds: on first scan by the system, or (``ftid_agent_refund_share``, when the carrier
reported a delivery) by an ordinary agent a few days after "delivered", once the customer
points at the tracking and asks where the refund is. The account is fresh, or
(``ftid_aged_account_share``) one the fraudster has had for long.

Truth: scenario ``empty_box`` (the brief's scenario 3 lists FTID as a variant); the variant's
name is counted in ``simulation.json`` (``variants``). Everything here runs inside
``Ctx.side`` with its own random stream (``vigil-sim:<seed>:ftid``), so the rate and shares
move no other order, refund or session of the run.
"""

from __future__ import annotations

import random
from functools import partial

from vigil.sim.agents import GROUP_FRONTLINE
from vigil.sim.config import DAY_MS, HOUR_MS, MINUTE_MS, SECOND_MS
from vigil.sim.context import SIDE_FTID, Ctx, Order
from vigil.sim.ids import K_FRAUD, ip_from
from vigil.sim.parcels import Scan, carrier_for, put_label, put_scans, transit_ms
from vigil.sim.scenarios import EMPTY_BOX, fraud_order
from vigil.sim.world import TAG_PLAIN, WAREHOUSES, Profile, pick_country

DROP_LABEL = "empty_box/ftid_drop_label"
DIVERTED = "empty_box/ftid_diverted"
DELIVERED_NOT_RECEIVED = "empty_box/ftid_delivered_not_received"
VARIANTS = (DROP_LABEL, DIVERTED, DELIVERED_NOT_RECEIVED)
#: hash kinds for this module's fresh devices, IPs, addresses, cards (Fraud uses 1-10)
_FRESH_KIND = 20


class FtidVariants:
    """Plans every right-weight, right-country FTID instance of the run."""

    def __init__(self, ctx: Ctx) -> None:
        self.ctx = ctx
        self.rng = random.Random(f"vigil-sim:{ctx.cfg.seed}:ftid")
        self._n = 0

    def schedule(self) -> None:
        ctx = self.ctx
        cfg = ctx.cfg
        rng = self.rng
        n = cfg.per_million(cfg.ftid_per_million)
        if n == 0:
            return
        # stratified: each variant gets its share of the instances (any share > 0 shows up
        # once there are a few instances), in a shuffled order
        cut1 = cfg.ftid_drop_label_share
        cut2 = cut1 + cfg.ftid_diverted_share
        variants = [
            DROP_LABEL if u < cut1 else DIVERTED if u < cut2 else DELIVERED_NOT_RECEIVED
            for u in ((k + 0.5) / n for k in range(n))
        ]
        rng.shuffle(variants)
        lo = cfg.start_ms + DAY_MS
        hi = max(lo + DAY_MS, cfg.active_end_ms - 10 * DAY_MS)
        for k, variant in enumerate(variants):
            t = lo + int((k + rng.random()) * (hi - lo) / n)
            ctx.tl.call_at(t, partial(self._instance, variant=variant))

    def _instance(self, t0: int, variant: str) -> None:
        ctx = self.ctx
        with ctx.side(self.rng, SIDE_FTID):
            p = self._account(t0)
            o = fraud_order(ctx, t0 + ctx.rng.randint(HOUR_MS, 2 * DAY_MS), p, EMPTY_BOX)
            self._return(o, variant)

    def _fresh(self, kind: int) -> str:
        self._n += 1
        return self.ctx.h.hex(K_FRAUD, ((_FRESH_KIND + kind) << 40) | self._n, 16)

    def _account(self, t0: int) -> Profile:
        ctx = self.ctx
        rng = ctx.rng
        world = ctx.world
        p: Profile | None = None
        if rng.random() < ctx.cfg.ftid_aged_account_share:
            for _ in range(10):  # an ordinary customer's own long-standing account
                candidate = world.profile(world.pick(rng, t0))
                if candidate.tag == TAG_PLAIN:
                    p = candidate
                    break
        if p is None:
            country = pick_country(rng)
            p = world.add_account(
                country=country,
                devices=(f"d-{self._fresh(1)[:12]}",),
                home_ip=ip_from(country.octet, int(self._fresh(2), 16)),
                address=f"h:{self._fresh(3)}",
                payment=f"pf:{self._fresh(4)[:12]}",
                side=True,
            )
            ctx.signup(t0, p)
        ctx.truth(
            "account", p.customer_id, fraud=True, scenario=EMPTY_BOX, customer_id=p.customer_id
        )
        return p

    def _return(self, o: Order, variant: str) -> None:
        ctx = self.ctx
        cfg = ctx.cfg
        rng = ctx.rng
        places = ctx.places
        p = o.profile
        home = p.country.code
        centre_id = p.country.warehouse
        wh_country, wh_postal = WAREHOUSES[centre_id]
        carrier = carrier_for(centre_id)
        t_req = o.delivered_ms + int(rng.uniform(1.0, 8.0) * DAY_MS)
        reason = ("defective", "not_as_described", "changed_mind")[int(rng.random() * 3)]
        skus = [prod.sku for prod, _ in o.items]
        return_id = ctx.request_return(t_req, o, skus, reason)
        t_label = t_req + rng.randint(10 * SECOND_MS, 20 * MINUTE_MS)
        first = t_req + int(rng.uniform(0.3, 3.0) * DAY_MS)
        transit = transit_ms(ctx, o)  # what the route normally takes
        depot = places.depot_number(p)
        tracking = ctx.tracking_id()
        scans: list[Scan] = [(first, "first_scan", home, *places.depot(carrier, home, depot))]
        hub: Scan = (
            first + int(transit * rng.uniform(0.2, 0.5)),
            "in_transit",
            home,
            *places.hub(carrier, home, depot),
        )
        self._n += 1
        destination: tuple[str | None, str, str] = (centre_id, wh_postal, wh_country)
        read_on_parcel = wh_postal
        if variant == DROP_LABEL:
            drop = places.drop(home, self._n)
            if rng.random() < 0.5:
                destination = (None, drop, home)  # the label record itself says the drop
            read_on_parcel = drop
            if rng.random() < 0.6:
                scans.append(hub)
            t_end = first + int(transit * rng.uniform(0.4, 0.9))
            drop_depot = places.depot(carrier, home, self._n % 40)[0]
            scans.append((t_end, "delivered", home, drop_depot, drop))
        elif variant == DIVERTED:
            scans.append(hub)
            elsewhere = places.near_centre(carrier, centre_id, self._n)
            if rng.random() < 0.5:
                t_end = first + int(transit * rng.uniform(0.8, 0.95))
                scans.append((t_end, "delivered", wh_country, *elsewhere))
            else:
                t_at = first + int(transit * rng.uniform(0.6, 0.8))
                scans.append((t_at, "in_transit", wh_country, *places.centre(carrier, centre_id)))
                t_away = t_at + int(rng.uniform(0.2, 1.0) * DAY_MS)
                scans.append((t_away, "in_transit", wh_country, *elsewhere))
        else:
            if rng.random() < 0.6:
                scans.append(hub)
            t_end = first + int(transit * rng.uniform(0.85, 0.95))
            scans.append((t_end, "delivered", wh_country, *places.centre(carrier, centre_id)))
        put_label(ctx, o, return_id, t_label, tracking, carrier, destination)
        put_scans(ctx, o, return_id, tracking, scans, ctx.parcel_weight(o.items), read_on_parcel)
        delivered = [sc[0] for sc in scans if sc[1] == "delivered"]
        if delivered and rng.random() < cfg.ftid_agent_refund_share:
            t_ask = delivered[0] + int(rng.uniform(1.0, 4.0) * DAY_MS)
            found = ctx.roster.find(rng, t_ask, GROUP_FRONTLINE)
            if found is not None:
                s, tau = found
                ctx.agent_refund(
                    s,
                    tau,
                    o,
                    o.total_cents,
                    policy="manual_override",
                    scenario=EMPTY_BOX,
                    fraud=True,
                    skus=skus,
                    return_id=return_id,
                )
                ctx.tally.variant(variant, o.total_cents)
                return
        ctx.refund(
            first + rng.randint(5 * MINUTE_MS, 6 * HOUR_MS),
            o,
            o.total_cents,
            policy="on_first_scan",
            scenario=EMPTY_BOX,
            fraud=True,
            return_id=return_id,
            skus=skus,
        )
        ctx.tally.variant(variant, o.total_cents)

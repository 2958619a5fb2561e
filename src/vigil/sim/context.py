"""What every part of the simulation shares, and the few moves they all make.

Why one context: order lives, fraud scenarios and traps all place orders, issue refunds, write
ground truth and run agent tickets. Doing that in one place keeps the facts the detectors rely on
(an agent refund carries its session, every refund has exactly one truth record, the refund
tally in ``simulation.json`` matches the stream) true by construction.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from vigil.events.schemas import (
    AgentAction,
    AgentActionKind,
    CustomerLogin,
    CustomerSignup,
    OrderPlaced,
    RefundIssued,
    RefundMethod,
    RefundPolicy,
    RefundRequested,
    RequestChannel,
    ReturnRequested,
    ShipmentDelivered,
)
from vigil.events.truth import HEADLINE_SCENARIOS, SubjectKind, TruthRecord
from vigil.sim.agents import Roster, Session
from vigil.sim.catalog import Catalog, Product
from vigil.sim.config import DAY_MS, SECOND_MS, SimConfig
from vigil.sim.ids import K_ORDER, K_REFUND, K_REQUEST, K_RETURN, K_TRACKING, Hasher
from vigil.sim.parcels import Places
from vigil.sim.timeline import PENDING_ID, Timeline
from vigil.sim.world import Profile, World
from vigil.sim.writer import TruthWriter

CARRIERS = ("UPS", "DHL", "FedEx", "USPS", "DPD", "Royal Mail")
#: ids made inside ``Ctx.side`` carry their space in these bits (never a main-world number)
_SIDE_SHIFT = 48
#: side spaces of the side scenarios
SIDE_FTID = 1
SIDE_LOST_RETURNS = 2


class Order:
    """An order as the simulator remembers it while planning its life."""

    __slots__ = (
        "country",
        "delivered_ms",
        "hv",
        "items",
        "order_id",
        "placed_ms",
        "profile",
        "total_cents",
    )

    def __init__(
        self,
        order_id: str,
        profile: Profile,
        items: list[tuple[Product, int]],
        placed_ms: int,
        delivered_ms: int,
        country: str,
    ) -> None:
        self.order_id = order_id
        self.profile = profile
        self.items = items
        self.placed_ms = placed_ms
        self.delivered_ms = delivered_ms
        self.country = country
        self.total_cents = sum(p.price_cents * q for p, q in items)
        self.hv = any(p.high_value for p, _ in items)


@dataclass
class Tally:
    """Refund and truth counts that go to ``simulation.json``."""

    refunds: int = 0
    refund_cents: int = 0
    last_refund_ms: int = 0
    by_scenario: dict[str, int] = field(default_factory=dict)
    cents_by_scenario: dict[str, int] = field(default_factory=dict)
    subjects: dict[str, dict[str, int]] = field(default_factory=dict)
    #: refunds and cents per scenario variant (``empty_box/ftid_drop_label``, ...)
    variants: dict[str, list[int]] = field(default_factory=dict)
    #: honest return parcels the carrier lost (``trap_lost_return_parcel``)
    lost_return_parcels: int = 0

    def variant(self, name: str, cents: int) -> None:
        slot = self.variants.setdefault(name, [0, 0])
        slot[0] += 1
        slot[1] += cents

    def headline_cents(self) -> int:
        return sum(v for k, v in self.cents_by_scenario.items() if k in HEADLINE_SCENARIOS)


class Ctx:
    """Shared state of one simulation run."""

    def __init__(
        self,
        cfg: SimConfig,
        rng: random.Random,
        hasher: Hasher,
        timeline: Timeline,
        world: World,
        catalog: Catalog,
        roster: Roster,
        truth: TruthWriter,
    ) -> None:
        self.cfg = cfg
        self.rng = rng
        self.h = hasher
        self.tl = timeline
        self.world = world
        self.catalog = catalog
        self.roster = roster
        self.truth_out = truth
        self.tally = Tally()
        self.places = Places(hasher)
        self._orders = 0
        self._returns = 0
        self._refunds = 0
        self._parcels = 0
        #: inside ``side()``: its space (> 0); ids come from that space's own counters
        self._side_space = 0
        self._side_counts: dict[int, list[int]] = {}
        #: a sample of (placed_ms, customer_id, order_id) that agents look at in routine work
        #: (some are planned for later than the look: callers check the time)
        self.recent_orders: list[tuple[int, str, str]] = []

    # --- side scenarios ---------------------------------------------------------------------

    @contextmanager
    def side(self, rng: random.Random, space: int) -> Iterator[None]:
        """Plan something beside the main world: draws from ``rng`` (its own stream), ids
        from counters of their own (``space``, one per side scenario: 1, 2, ...), lines
        outside the traffic budget (``Timeline.side_lines``), and orders kept out of the
        sample agents look at in routine work. So switching a side scenario on, or changing
        its rate, leaves every other order, refund and session of the run as it was (only
        arrival disorder and line ids move)."""
        if self._side_space:
            raise RuntimeError("Ctx.side() does not nest")
        if not 1 <= space < 256:
            raise ValueError(f"side space {space} is not in [1, 255]")
        saved, before = self.rng, self.tl.lines
        self.rng, self._side_space = rng, space
        try:
            yield
        finally:
            self.tl.side_lines += self.tl.lines - before
            self.rng, self._side_space = saved, 0

    # --- ids ------------------------------------------------------------------------------

    def _side_number(self, slot: int) -> int:
        counts = self._side_counts.setdefault(self._side_space, [0, 0, 0, 0])
        counts[slot] += 1
        return (self._side_space << _SIDE_SHIFT) | counts[slot]

    def order_id(self) -> str:
        if self._side_space:
            return f"o-{self.h.hex(K_ORDER, self._side_number(0), 14)}"
        self._orders += 1
        return f"o-{self.h.hex(K_ORDER, self._orders, 14)}"

    def return_id(self) -> str:
        if self._side_space:
            return f"rt-{self.h.hex(K_RETURN, self._side_number(1), 14)}"
        self._returns += 1
        return f"rt-{self.h.hex(K_RETURN, self._returns, 14)}"

    def tracking_id(self) -> str:
        if self._side_space:
            return f"1Z{self.h.hex(K_TRACKING, self._side_number(2), 16).upper()}"
        self._parcels += 1
        return f"1Z{self.h.hex(K_TRACKING, self._parcels, 16).upper()}"

    def _refund_number(self) -> int:
        if self._side_space:
            return self._side_number(3)
        self._refunds += 1
        return self._refunds

    # --- truth ----------------------------------------------------------------------------

    def truth(
        self,
        kind: SubjectKind,
        subject_id: str,
        *,
        fraud: bool,
        scenario: str | None,
        amount_cents: int = 0,
        customer_id: str | None = None,
        agent_id: str | None = None,
        order_id: str | None = None,
        campaign_id: str | None = None,
        advertiser_id: str | None = None,
        cost_micros: int = 0,
    ) -> None:
        self.truth_out.add(
            TruthRecord(
                kind=kind,
                id=subject_id,
                fraud=fraud,
                scenario=scenario,
                amount_cents=amount_cents,
                customer_id=customer_id,
                agent_id=agent_id,
                order_id=order_id,
                campaign_id=campaign_id,
                advertiser_id=advertiser_id,
                cost_micros=cost_micros,
            )
        )
        if scenario is not None:
            by_kind = self.tally.subjects.setdefault(scenario, {})
            by_kind[kind] = by_kind.get(kind, 0) + 1

    # --- common moves -------------------------------------------------------------------

    def signup(self, t: int, p: Profile) -> None:
        self.tl.put(
            CustomerSignup(
                event_id=PENDING_ID,
                event_time_ms=t,
                customer_id=p.customer_id,
                email_hash=self.world.email_hash(p.idx),
                country=p.country.code,
                device_id=p.devices[0],
                ip=p.home_ip,
            )
        )

    def login(
        self, t: int, p: Profile, device: str, ip: str, country: str, success: bool = True
    ) -> None:
        self.tl.put(
            CustomerLogin(
                event_id=PENDING_ID,
                event_time_ms=t,
                customer_id=p.customer_id,
                device_id=device,
                ip=ip,
                country=country,
                success=success,
            )
        )

    def place_order(
        self,
        t: int,
        p: Profile,
        items: list[tuple[Product, int]],
        *,
        device: str,
        ip: str,
        country: str,
        address: str | None = None,
        payment: str | None = None,
        ad_click_id: str | None = None,
        delivery_days: tuple[float, float] = (1.0, 6.0),
        delivered: bool = True,
    ) -> Order:
        """Emit the order and its delivery (unless the carrier loses the parcel:
        ``delivered=False``); return it for the rest of its life to be planned."""
        rng = self.rng
        delivered_ms = t + int(rng.uniform(*delivery_days) * DAY_MS)
        o = Order(self.order_id(), p, items, t, delivered_ms, country)
        self.tl.put(
            OrderPlaced(
                event_id=PENDING_ID,
                event_time_ms=t,
                order_id=o.order_id,
                customer_id=p.customer_id,
                items=[prod.items[q - 1] for prod, q in items],
                total_cents=o.total_cents,
                shipping_address_hash=address or p.address,
                payment_fingerprint=payment or p.payment,
                device_id=device,
                ip=ip,
                country=country,
                ad_click_id=ad_click_id,
            )
        )
        carrier = CARRIERS[int(rng.random() * len(CARRIERS))]
        if delivered:
            self.tl.put(
                ShipmentDelivered(
                    event_id=PENDING_ID,
                    event_time_ms=delivered_ms,
                    order_id=o.order_id,
                    customer_id=p.customer_id,
                    carrier=carrier,
                )
            )
        recent = self.recent_orders
        if self._side_space:
            pass  # the sample belongs to the main world's draws
        elif len(recent) < 2_000:
            recent.append((t, p.customer_id, o.order_id))
        else:
            recent[int(rng.random() * 2_000)] = (t, p.customer_id, o.order_id)
        return o

    def refund(
        self,
        t: int,
        o: Order,
        amount_cents: int,
        *,
        policy: RefundPolicy,
        scenario: str | None,
        fraud: bool,
        return_id: str | None = None,
        session: Session | None = None,
        method: RefundMethod | None = None,
        skus: list[str] | None = None,
        reason: str | None = None,
    ) -> str:
        """Request a refund at ``t`` and issue it moments later (by the system, or by the
        session's agent); record its truth.

        Every refund is requested first (``refund_requested``, the moment a refund system
        asks Vigil), and issued whatever a decision would have said: the simulated world
        does not obey Vigil, so the truth and the later stream stay measurable. The delay
        between the two comes from its own hash, so adding requests moved nothing else in
        the world."""
        if method is None:
            u = self.rng.random()
            method = (
                "original_payment" if u < 0.85 else ("store_credit" if u < 0.97 else "gift_card")
            )
        number = self._refund_number()
        refund_id = f"rf-{self.h.hex(K_REFUND, number, 14)}"
        agent_id = session.agent.agent_id if session is not None else None
        session_id = session.session_id if session is not None else None
        channel: RequestChannel
        if session is not None:
            channel = "agent"
        elif policy in ("on_first_scan", "on_receipt"):
            channel = "automatic"
        else:
            channel = "self_service"
        if skus is None:
            skus = [p.sku for p, _ in o.items] if amount_cents >= o.total_cents else []
        self.tl.put(
            RefundRequested(
                event_id=PENDING_ID,
                event_time_ms=t,
                refund_id=refund_id,
                order_id=o.order_id,
                customer_id=o.profile.customer_id,
                return_id=return_id,
                amount_cents=amount_cents,
                skus=skus,
                reason=reason,
                channel=channel,
                method=method,
                issued_by="agent" if session is not None else "system",
                agent_id=agent_id,
                session_id=session_id,
                policy=policy,
            )
        )
        # 1-20 s from request to payout (an agent confirms; the payment system answers)
        delay = SECOND_MS + self.h.h(K_REQUEST, number) % (19 * SECOND_MS)
        self.tl.put(
            RefundIssued(
                event_id=PENDING_ID,
                event_time_ms=t + delay,
                refund_id=refund_id,
                order_id=o.order_id,
                customer_id=o.profile.customer_id,
                return_id=return_id,
                amount_cents=amount_cents,
                method=method,
                issued_by="agent" if session is not None else "system",
                agent_id=agent_id,
                session_id=session_id,
                policy=policy,
            )
        )
        self.truth(
            "refund",
            refund_id,
            fraud=fraud,
            scenario=scenario,
            amount_cents=amount_cents,
            customer_id=o.profile.customer_id,
            agent_id=agent_id,
            order_id=o.order_id,
        )
        tally = self.tally
        tally.refunds += 1
        tally.refund_cents += amount_cents
        tally.last_refund_ms = max(tally.last_refund_ms, t + delay)
        key = scenario or "none"
        tally.by_scenario[key] = tally.by_scenario.get(key, 0) + 1
        tally.cents_by_scenario[key] = tally.cents_by_scenario.get(key, 0) + amount_cents
        return refund_id

    def skip_refund(self) -> None:
        """Make the main-world draws ``refund`` would have made for a refund that a side
        scenario replaces (a lost parcel's refund on receipt that never comes): the payment
        method draw and a refund number; its two lines are taken off the budget's count."""
        self.rng.random()
        self._refunds += 1
        self.tl.side_lines -= 2

    def action(
        self,
        t: int,
        s: Session,
        kind: AgentActionKind,
        customer_id: str | None,
        order_id: str | None,
    ) -> None:
        self.tl.put(
            AgentAction(
                event_id=PENDING_ID,
                event_time_ms=t,
                session_id=s.session_id,
                agent_id=s.agent.agent_id,
                action=kind,
                customer_id=customer_id,
                order_id=order_id,
            )
        )

    def request_return(
        self, t: int, o: Order, skus: list[str], reason: str, s: Session | None = None
    ) -> str:
        """A return request, self-service or (with a session) opened by the agent on the
        customer's behalf; returns the return id."""
        return_id = self.return_id()
        self.tl.put(
            ReturnRequested(
                event_id=PENDING_ID,
                event_time_ms=t,
                return_id=return_id,
                order_id=o.order_id,
                customer_id=o.profile.customer_id,
                skus=skus,
                reason=reason,
                channel="self_service" if s is None else "agent",
                agent_id=None if s is None else s.agent.agent_id,
            )
        )
        return return_id

    def agent_refund(
        self,
        s: Session,
        tau: int,
        o: Order,
        amount_cents: int,
        *,
        policy: RefundPolicy,
        scenario: str | None,
        fraud: bool,
        request_reason: str | None = None,
        skus: list[str] | None = None,
        return_id: str | None = None,
    ) -> tuple[int, str | None]:
        """An agent handles a refund ticket in session ``s`` from ``tau`` (within ~5 minutes):
        looks the account up, optionally opens a return (or refunds the existing
        ``return_id``), overrides the policy, issues the refund and approves it. Returns (time
        of the refund, return id or None)."""
        rng = self.rng
        if scenario is None and not fraud and s.trap is not None:
            scenario = s.trap  # legitimate work in a trap session (new laptop, overtime ...)
        cid = o.profile.customer_id
        self.action(tau, s, "view_account", cid, o.order_id)
        t = tau + rng.randint(20 * SECOND_MS, 150 * SECOND_MS)
        if request_reason is not None:
            return_id = self.request_return(
                t, o, skus or [p.sku for p, _ in o.items], request_reason, s
            )
            t += rng.randint(10 * SECOND_MS, 60 * SECOND_MS)
        self.action(t, s, "override_policy", cid, o.order_id)
        t += rng.randint(5 * SECOND_MS, 60 * SECOND_MS)
        self.refund(
            t,
            o,
            amount_cents,
            policy=policy,
            scenario=scenario,
            fraud=fraud,
            return_id=return_id,
            session=s,
            skus=skus,
            reason=request_reason,
        )
        self.action(t + rng.randint(SECOND_MS, 5 * SECOND_MS), s, "approve_refund", cid, o.order_id)
        return t, return_id

    def parcel_weight(self, items: list[tuple[Product, int]]) -> int:
        """What a correctly packed return of ``items`` weighs (goods + box)."""
        goods = sum(p.weight_g * q for p, q in items)
        return goods + 150 + int(self.rng.random() * 450) + goods // 20

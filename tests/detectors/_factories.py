"""Event factories with deterministic defaults for detector tests (and golden streams).

``Events`` hands out events with unique, predictable ids; every time is given as an offset
from ``T0`` (a Monday, 00:00 UTC) in hours or days so tests read like timelines.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from vigil.events.schemas import (
    AdImpression,
    AgentAction,
    AgentRostered,
    AgentSessionEnded,
    AgentSessionStarted,
    CarrierScan,
    CustomerSignup,
    EventBase,
    IssuedBy,
    LineItem,
    OrderPlaced,
    RefundIssued,
    RefundPolicy,
    RefundRequested,
    ReturnLabelCreated,
    ReturnReceived,
    ReturnRequested,
    ShipmentDelivered,
)

T0 = 1_767_571_200_000  # 2026-01-05T00:00:00Z, a Monday
MINUTE = 60_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR


class Events:
    """A small builder: each call returns one event with a fresh ``e<N>`` id."""

    def __init__(self) -> None:
        self._n = 0

    def _id(self) -> str:
        self._n += 1
        return f"e{self._n:05d}"

    # --- retail -----------------------------------------------------------------------

    def signup(self, customer_id: str, t: int, *, country: str = "US") -> CustomerSignup:
        return CustomerSignup(
            event_id=self._id(),
            event_time_ms=t,
            customer_id=customer_id,
            email_hash="em-" + customer_id,
            country=country,
            device_id="dev-" + customer_id,
            ip="10.0.0.1",
        )

    def order(
        self,
        order_id: str,
        t: int,
        *,
        customer_id: str = "c1",
        items: Sequence[tuple[str, int, int]] = (("sku-1", 50_000, 1_000),),
        country: str = "US",
        device_id: str = "dev-c1",
    ) -> OrderPlaced:
        """``items``: (sku, price_cents, weight_g)."""
        line_items = [
            LineItem(sku=s, category="electronics", price_cents=p, weight_g=w) for s, p, w in items
        ]
        return OrderPlaced(
            event_id=self._id(),
            event_time_ms=t,
            order_id=order_id,
            customer_id=customer_id,
            items=line_items,
            total_cents=sum(p for _, p, _ in items),
            shipping_address_hash="addr-" + customer_id,
            payment_fingerprint="pay-" + customer_id,
            device_id=device_id,
            ip="10.0.0.1",
            country=country,
        )

    def delivered(self, order_id: str, t: int, customer_id: str = "c1") -> ShipmentDelivered:
        return ShipmentDelivered(
            event_id=self._id(),
            event_time_ms=t,
            order_id=order_id,
            customer_id=customer_id,
            carrier="ups",
        )

    def return_requested(
        self,
        return_id: str,
        order_id: str,
        t: int,
        *,
        customer_id: str = "c1",
        skus: Sequence[str] = ("sku-1",),
        agent_id: str | None = None,
    ) -> ReturnRequested:
        return ReturnRequested(
            event_id=self._id(),
            event_time_ms=t,
            return_id=return_id,
            order_id=order_id,
            customer_id=customer_id,
            skus=list(skus),
            reason="changed_mind",
            channel="agent" if agent_id else "self_service",
            agent_id=agent_id,
        )

    def label(self, return_id: str, order_id: str, t: int) -> ReturnLabelCreated:
        return ReturnLabelCreated(
            event_id=self._id(),
            event_time_ms=t,
            return_id=return_id,
            order_id=order_id,
            carrier="ups",
            tracking_id="trk-" + return_id,
        )

    def scan(
        self,
        return_id: str,
        order_id: str,
        t: int,
        *,
        weight_g: int = 1_200,
        country: str = "US",
        scan_type: str = "first_scan",
    ) -> CarrierScan:
        return CarrierScan(
            event_id=self._id(),
            event_time_ms=t,
            return_id=return_id,
            order_id=order_id,
            tracking_id="trk-" + return_id,
            scan_type=scan_type,  # type: ignore[arg-type]
            weight_g=weight_g,
            location_country=country,
        )

    def receipt(
        self,
        return_id: str,
        order_id: str,
        t: int,
        *,
        weight_g: int = 1_200,
        items_matched: bool = True,
        condition: str = "intact",
    ) -> ReturnReceived:
        return ReturnReceived(
            event_id=self._id(),
            event_time_ms=t,
            return_id=return_id,
            order_id=order_id,
            warehouse_id="wh-reno",
            items_matched=items_matched,
            weight_g=weight_g,
            condition=condition,  # type: ignore[arg-type]
        )

    def refund(
        self,
        refund_id: str,
        order_id: str,
        t: int,
        *,
        amount_cents: int = 50_000,
        policy: RefundPolicy = "manual_override",
        issued_by: IssuedBy = "agent",
        agent_id: str | None = "a1",
        session_id: str | None = None,
        return_id: str | None = None,
        customer_id: str = "c1",
    ) -> RefundIssued:
        return RefundIssued(
            event_id=self._id(),
            event_time_ms=t,
            refund_id=refund_id,
            order_id=order_id,
            customer_id=customer_id,
            return_id=return_id,
            amount_cents=amount_cents,
            method="original_payment",
            issued_by=issued_by,
            agent_id=agent_id if issued_by == "agent" else None,
            session_id=session_id,
            policy=policy,
        )

    def request(self, refund_id: str, order_id: str, t: int, **kw: Any) -> RefundRequested:
        """The request that comes just before ``refund`` with the same arguments."""
        issued = msgspec.structs.asdict(self.refund(refund_id, order_id, t, **kw))
        channel = "agent" if issued["issued_by"] == "agent" else "self_service"
        return RefundRequested(**issued, channel=channel)

    # --- agents -------------------------------------------------------------------------

    def roster(
        self,
        agent_id: str,
        t: int = T0,
        *,
        team: str = "tier1",
        home_country: str = "US",
        shift: tuple[int, int] = (8, 16),
    ) -> AgentRostered:
        return AgentRostered(
            event_id=self._id(),
            event_time_ms=t,
            agent_id=agent_id,
            team=team,
            home_country=home_country,
            shift_start_hour=shift[0],
            shift_end_hour=shift[1],
        )

    def session(
        self,
        session_id: str,
        agent_id: str,
        t: int,
        *,
        device_id: str = "laptop-1",
        ip: str = "10.1.0.1",
        country: str = "US",
        mfa: bool = True,
    ) -> AgentSessionStarted:
        return AgentSessionStarted(
            event_id=self._id(),
            event_time_ms=t,
            session_id=session_id,
            agent_id=agent_id,
            device_id=device_id,
            ip=ip,
            country=country,
            mfa=mfa,
        )

    def session_end(self, session_id: str, agent_id: str, t: int) -> AgentSessionEnded:
        return AgentSessionEnded(
            event_id=self._id(), event_time_ms=t, session_id=session_id, agent_id=agent_id
        )

    def action(self, session_id: str, agent_id: str, t: int) -> AgentAction:
        return AgentAction(
            event_id=self._id(),
            event_time_ms=t,
            session_id=session_id,
            agent_id=agent_id,
            action="view_account",
        )

    # --- time ---------------------------------------------------------------------------

    def tick(self, t: int) -> AdImpression:
        """An unrelated event that moves the watermark to ``t`` - out-of-orderness."""
        return AdImpression(
            event_id=self._id(),
            event_time_ms=t,
            impression_id="imp-" + str(self._n),
            campaign_id="camp-1",
            advertiser_id="adv-1",
            platform="social",
            device_id="dev-x",
            cost_micros=1_000,
        )


def shuffled_within(events: Sequence[EventBase], bound_ms: int, seed: int) -> list[EventBase]:
    """Reorder arrival so that no event arrives after one more than ``bound_ms`` newer.

    Each event gets an arrival time = event time + a pseudo-random delay in [0, bound_ms);
    sorting by it keeps every event within the out-of-orderness bound of the runtime.
    """
    import random

    rng = random.Random(seed)
    keyed = [(e.event_time_ms + rng.randrange(bound_ms), i, e) for i, e in enumerate(events)]
    keyed.sort(key=lambda x: (x[0], x[1]))
    return [e for _, _, e in keyed]


def mixed_stream() -> list[EventBase]:
    """A small stream on which every built-in detector fires, with legitimate look-alikes,
    one event of every type, and optional fields left out; sorted by event time and closed
    by a tick far enough ahead for every timer and window to fire."""
    from vigil.events.schemas import (
        AdClick,
        AnalystDecision,
        Chargeback,
        CustomerLogin,
        CustomerSignup,
        InvestigationOutcome,
        ProfileChanged,
    )

    f = Events()
    evs: list[EventBase] = [
        CustomerSignup(
            event_id="x-signup",
            event_time_ms=T0,
            customer_id="c1",
            email_hash="h",
            country="US",
            device_id="dev-c1",
            ip="10.0.0.1",
        ),
        CustomerLogin(
            event_id="x-login",
            event_time_ms=T0 + 1,
            customer_id="c1",
            device_id="dev-c1",
            ip="10.0.0.1",
            country="US",
            success=True,
        ),
        ProfileChanged(
            event_id="x-profile",
            event_time_ms=T0 + 2,
            customer_id="c1",
            field="address",
            new_value_hash="h2",
        ),
        AdClick(
            event_id="x-click",
            event_time_ms=T0 + 3,
            click_id="k1",
            campaign_id="camp-1",
            advertiser_id="adv-1",
            platform="social",
            device_id="dev-c1",
            cost_micros=5,
        ),
        Chargeback(
            event_id="x-cb",
            event_time_ms=T0 + 4,
            order_id="o-x",
            customer_id="c1",
            amount_cents=100,
        ),
        InvestigationOutcome(
            event_id="x-io",
            event_time_ms=T0 + 5,
            subject_type="agent",
            subject_id="a6",
            outcome="fraud",
        ),
        AnalystDecision(
            event_id="x-ad",
            event_time_ms=T0 + 6,
            alert_id="x",
            analyst_id="an1",
            outcome="legitimate",
        ),
    ]
    # rosters: tier1 a1-a6, escalations e1-e4
    evs += [f.roster(a, T0 - DAY) for a in ("a1", "a2", "a3", "a4", "a5", "a6")]
    evs += [f.roster(a, T0 - DAY, team="escalations") for a in ("e1", "e2", "e3", "e4")]
    # agent history for a1, then a takeover session with three refunds (one without session)
    for day in range(3):
        t = T0 + day * DAY + 8 * HOUR + 15 * MINUTE
        evs += [f.session(f"s-n{day}", "a1", t), f.session_end(f"s-n{day}", "a1", t + 7 * HOUR)]
    t = T0 + 3 * DAY + 2 * HOUR
    evs.append(
        f.session("s-evil", "a1", t, device_id="evil", ip="203.0.113.9", country="RO", mfa=False)
    )
    for i in range(3):
        evs.append(f.order(f"o-to{i}", T0 + i, customer_id=f"m{i}"))
        evs.append(
            f.request(
                f"r-to{i}",
                f"o-to{i}",
                t + (i + 1) * 5 * MINUTE - 5_000,
                amount_cents=45_000,
                agent_id="a1",
                session_id=None if i == 2 else "s-evil",
                customer_id=f"m{i}",
            )
        )
        evs.append(
            f.refund(
                f"r-to{i}",
                f"o-to{i}",
                t + (i + 1) * 5 * MINUTE,
                amount_cents=45_000,
                agent_id="a1",
                session_id=None if i == 2 else "s-evil",
                customer_id=f"m{i}",
            )
        )
    evs.append(f.session_end("s-evil", "a1", t + HOUR))
    # a serial returner: four wardrobe orders, three sent back worn, refunded on receipt
    for i in range(4):
        to = T0 + i * 2 * DAY
        evs.append(f.order(f"o-sr{i}", to, customer_id="c-sr"))
        if i < 3:
            evs.append(f.receipt(f"ret-sr{i}", f"o-sr{i}", to + 5 * DAY, condition="used"))
            evs.append(
                f.refund(
                    f"r-sr{i}",
                    f"o-sr{i}",
                    to + 5 * DAY + HOUR,
                    amount_cents=6_000,
                    policy="on_receipt",
                    issued_by="system",
                    return_id=f"ret-sr{i}",
                    customer_id="c-sr",
                )
            )
    # a traveller with MFA in shift
    tt = T0 + 4 * DAY + 10 * HOUR
    evs.append(f.session("s-trip", "a1", tt, ip="81.2.69.1", country="FR"))
    evs.append(f.order("o-trip", T0, customer_id="c7"))
    evs.append(
        f.refund(
            "r-trip",
            "o-trip",
            tt + 5 * MINUTE,
            session_id="s-trip",
            customer_id="c7",
            policy="returnless",
            amount_cents=3_000,
        )
    )
    # insider week: a6 pushes big overrides with no return; peers small; escalations big
    week = 7 * DAY
    w0 = T0 - T0 % week + week
    n = 0
    for day in range(6):
        td = w0 + day * DAY + 9 * HOUR
        for i, agent in enumerate(("a2", "a3", "a4", "a5")):
            n += 1
            evs += [
                f.order(f"o-w{n}", td - DAY),
                f.refund(
                    f"r-w{n}",
                    f"o-w{n}",
                    td + i * MINUTE,
                    amount_cents=4_000,
                    agent_id=agent,
                    policy="returnless",
                ),
            ]
        for i, agent in enumerate(("e1", "e2", "e3", "e4")):
            n += 1
            evs += [
                f.order(f"o-w{n}", td - DAY),
                f.scan(f"ret-w{n}", f"o-w{n}", td + 2 * DAY),
                f.refund(
                    f"r-w{n}",
                    f"o-w{n}",
                    td + HOUR + i * MINUTE,
                    amount_cents=60_000,
                    agent_id=agent,
                ),
            ]
        if day % 2 == 0:
            n += 1
            evs += [
                f.order(f"o-w{n}", td - DAY, customer_id="ring1"),
                f.delivered(f"o-w{n}", td - 12 * HOUR, customer_id="ring1"),
                f.refund(
                    f"r-ins{n}",
                    f"o-w{n}",
                    td + 3 * HOUR,
                    amount_cents=85_000,
                    agent_id="a6",
                    customer_id="ring1",
                ),
            ]
    # empty box: refund on first scan, then an empty parcel
    evs += [
        f.order("o-eb", T0, items=(("tv", 90_000, 1_000),), customer_id="c9"),
        f.return_requested("ret-eb", "o-eb", T0 + 5 * DAY, customer_id="c9", skus=("tv",)),
        f.scan("ret-eb", "o-eb", T0 + 6 * DAY, weight_g=1_100),
        f.refund(
            "r-eb",
            "o-eb",
            T0 + 6 * DAY + HOUR,
            policy="on_first_scan",
            issued_by="system",
            return_id="ret-eb",
            customer_id="c9",
            amount_cents=90_000,
        ),
        f.receipt(
            "ret-eb", "o-eb", T0 + 9 * DAY, weight_g=120, items_matched=False, condition="empty"
        ),
    ]
    # FTID: light scan abroad, never received
    evs += [
        f.order("o-ft", T0, items=(("phone", 70_000, 800),), customer_id="c10"),
        f.scan("ret-ft", "o-ft", T0 + 6 * DAY, weight_g=90, country="NG"),
        f.refund(
            "r-ft",
            "o-ft",
            T0 + 6 * DAY + HOUR,
            policy="on_first_scan",
            issued_by="system",
            return_id="ret-ft",
            customer_id="c10",
            amount_cents=70_000,
        ),
    ]
    # legit: high-value return that arrives intact; cheap returnless; refund on receipt
    evs += [
        f.order("o-hv", T0, items=(("sofa", 150_000, 30_000),), customer_id="c11"),
        f.return_requested("ret-hv", "o-hv", T0 + 3 * DAY, customer_id="c11", skus=("sofa",)),
        f.scan("ret-hv", "o-hv", T0 + 4 * DAY, weight_g=31_000),
        f.refund(
            "r-hv",
            "o-hv",
            T0 + 4 * DAY + HOUR,
            policy="on_first_scan",
            issued_by="system",
            return_id="ret-hv",
            customer_id="c11",
            amount_cents=150_000,
        ),
        f.receipt("ret-hv", "o-hv", T0 + 8 * DAY, weight_g=30_900),
        f.order("o-cheap", T0, items=(("socks", 2_400, 100),), customer_id="c12"),
        f.refund(
            "r-cheap",
            "o-cheap",
            T0 + 2 * DAY,
            policy="returnless",
            issued_by="system",
            customer_id="c12",
            amount_cents=2_400,
        ),
        f.order("o-rcpt", T0, customer_id="c13"),
        f.receipt("ret-rcpt", "o-rcpt", T0 + 5 * DAY),
        f.refund(
            "r-rcpt",
            "o-rcpt",
            T0 + 5 * DAY + HOUR,
            policy="on_receipt",
            issued_by="system",
            customer_id="c13",
        ),
    ]
    evs.sort(key=lambda e: e.event_time_ms)
    evs.append(f.tick(max(e.event_time_ms for e in evs) + 15 * DAY))
    # the carrier delivers every order of this stream (insider detectors count only refunds
    # of delivered orders: a parcel never delivered is an honest item-not-received refund)
    evs += [
        f.delivered(e.order_id, e.event_time_ms + DAY // 2, e.customer_id)
        for e in list(evs)
        if isinstance(e, OrderPlaced)
    ]
    evs.sort(key=lambda e: e.event_time_ms)
    return evs

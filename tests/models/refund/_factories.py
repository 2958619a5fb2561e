"""Small inputs for the refund model tests: hand-made events and synthetic labelled rows."""

from __future__ import annotations

import math
import random

import polars as pl

from vigil.events.schemas import (
    AgentRostered,
    AgentSessionStarted,
    CarrierScan,
    CustomerSignup,
    EventBase,
    LineItem,
    OrderPlaced,
    RefundIssued,
    RefundPolicy,
    ShipmentDelivered,
)
from vigil.models.refund.dataset import rows_frame
from vigil.models.refund.features import FEATURES, ID_COLUMNS

T0 = 1_767_571_200_000  # 2026-01-05T00:00:00Z
MINUTE = 60_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR


class Events:
    """Events with fresh ``e<N>`` ids; times are absolute epoch ms."""

    def __init__(self) -> None:
        self.n = 0

    def _id(self) -> str:
        self.n += 1
        return f"e{self.n:05d}"

    def signup(self, cid: str, t: int) -> CustomerSignup:
        return CustomerSignup(
            event_id=self._id(),
            event_time_ms=t,
            customer_id=cid,
            email_hash="h",
            country="US",
            device_id="dev-" + cid,
            ip="10.0.0.1",
        )

    def order(
        self, oid: str, cid: str, t: int, cents: int = 50_000, device: str = ""
    ) -> OrderPlaced:
        return OrderPlaced(
            event_id=self._id(),
            event_time_ms=t,
            order_id=oid,
            customer_id=cid,
            items=[LineItem(sku="s1", category="laptops", price_cents=cents, weight_g=2_000)],
            total_cents=cents,
            shipping_address_hash="addr-" + cid,
            payment_fingerprint="pay-" + cid,
            device_id=device or "dev-" + cid,
            ip="10.0.0.1",
            country="US",
        )

    def delivered(self, oid: str, cid: str, t: int) -> ShipmentDelivered:
        return ShipmentDelivered(
            event_id=self._id(), event_time_ms=t, order_id=oid, customer_id=cid, carrier="ups"
        )

    def scan(self, oid: str, t: int) -> CarrierScan:
        return CarrierScan(
            event_id=self._id(),
            event_time_ms=t,
            return_id="ret-" + oid,
            order_id=oid,
            tracking_id="tr",
            scan_type="first_scan",
            weight_g=2_000,
            location_country="US",
        )

    def refund(
        self,
        rid: str,
        oid: str,
        cid: str,
        t: int,
        *,
        cents: int = 50_000,
        agent: str | None = None,
        session: str | None = None,
        policy: RefundPolicy = "manual_override",
    ) -> RefundIssued:
        return RefundIssued(
            event_id=self._id(),
            event_time_ms=t,
            refund_id=rid,
            order_id=oid,
            customer_id=cid,
            amount_cents=cents,
            method="original_payment",
            issued_by="agent" if agent else "system",
            agent_id=agent,
            session_id=session,
            policy=policy,
        )

    def roster(self, aid: str, team: str = "general") -> AgentRostered:
        return AgentRostered(
            event_id=self._id(),
            event_time_ms=T0 - DAY,
            agent_id=aid,
            team=team,
            home_country="US",
            shift_start_hour=8,
            shift_end_hour=17,
        )

    def session(self, sid: str, aid: str, t: int, device: str = "laptop-1") -> AgentSessionStarted:
        return AgentSessionStarted(
            event_id=self._id(),
            event_time_ms=t,
            session_id=sid,
            agent_id=aid,
            device_id=device,
            ip="10.1.1.1",
            country="US",
            mfa=True,
        )


def small_world(seed: int = 0, customers: int = 40, days: int = 30) -> list[EventBase]:
    """A month of orders, deliveries, returns and refunds by a few agents (arrival = time order)."""
    rng = random.Random(seed)
    f = Events()
    out: list[EventBase] = [f.roster(f"a{i}", "general" if i < 3 else "returns") for i in range(5)]
    for i in range(customers):
        cid = f"c{i}"
        t = T0 + rng.randrange(days * DAY)
        if rng.random() < 0.5:
            out.append(f.signup(cid, t - rng.randrange(1, 20) * DAY))
        for k in range(rng.randint(1, 3)):
            oid = f"o{i}-{k}"
            to = t + k * DAY
            out.append(
                f.order(
                    oid,
                    cid,
                    to,
                    rng.choice([2_000, 20_000, 90_000]),
                    device=rng.choice(["dev-shared", f"dev-{cid}"]),
                )
            )
            if rng.random() < 0.9:
                out.append(f.delivered(oid, cid, to + 2 * DAY))
            if rng.random() < 0.5:
                aid = f"a{rng.randrange(5)}"
                sid = f"s-{oid}"
                tr = to + 4 * DAY
                out.append(f.session(sid, aid, tr - HOUR, rng.choice(["laptop-1", "laptop-x"])))
                out.append(
                    f.refund(
                        f"r-{oid}",
                        oid,
                        cid,
                        tr,
                        cents=rng.choice([2_000, 60_000]),
                        agent=aid,
                        session=sid,
                        policy=rng.choice(["manual_override", "on_first_scan"]),
                    )
                )
                if rng.random() < 0.5:
                    out.append(f.scan(oid, tr + rng.randrange(1, 10) * DAY))
    out.sort(key=lambda e: e.event_time_ms)
    return out


def synthetic_rows(n: int = 3_000, seed: int = 0, shift: float = 0.0) -> pl.DataFrame:
    """Labelled rows in time order whose fraud depends on account age, amount and returns."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        t = T0 + i * 10 * MINUTE
        young = rng.random() < 0.2
        age = rng.uniform(0, 30) if young else math.nan
        amount = rng.lognormvariate(4.0, 1.0)
        returned = float(rng.random() < 0.6)
        values: dict[str, object] = {}
        for f in FEATURES:
            values[f.name] = None if f.kind == "categorical" else math.nan
        values.update(
            amount_usd=amount,
            policy=rng.choice(["manual_override", "returnless", "on_receipt"]),
            method="original_payment",
            issued_by_agent=1.0,
            category=rng.choice(["laptops", "books"]),
            account_age_days=age,
            returned_by_decision=returned,
            delivered=1.0,
            customer_orders=float(rng.randint(1, 9)),
            refund_anomaly=rng.random(),
        )
        ids = (f"r{i:05d}", t, t + 7 * DAY, f"c{i % 500}", f"a{i % 7}", f"o{i}", int(amount * 100))
        rows.append((*ids, *(values[f.name] for f in FEATURES)))
    assert len(rows[0]) == len(ID_COLUMNS) + len(FEATURES)
    df = rows_frame(rows)
    rng2 = random.Random(seed + 1)
    lab = []
    for age, amount, returned in zip(
        df["account_age_days"], df["amount_usd"], df["returned_by_decision"], strict=True
    ):
        young = age is not None
        logit = -5.5 + shift + 3.0 * young + 1.5 * (amount > 150) + 2.0 * (1 - returned)
        lab.append(int(rng2.random() < 1 / (1 + math.exp(-logit))))
    return df.with_columns(
        pl.Series("label", lab, dtype=pl.Int8), pl.Series("label_known_ms", df["decision_time_ms"])
    )

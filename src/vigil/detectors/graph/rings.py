"""Fraud rings: components of the entity graph, scored by what their accounts do together.

Accounts are linked as events arrive (``entity_graph``): sign-ups and successful logins link
the account with their device and IP; orders with device, IP, shipping address and payment
fingerprint; profile changes with the new address, payment method, email or phone. Every
refund is kept per account; ``wait_ms`` after it (event time, like ``refund_without_return``)
the refund's component is judged on:

* how many accounts it links (``log2``), and across how many countries;
* the money of its refunds with no return (no carrier scan, no warehouse receipt by the
  deadline) of orders the carrier did deliver (never-delivered parcels are honest
  item-not-received refunds), and their share of the ring's judged refunds;
* whether one agent served several of its accounts' refunds (a ring often shares its agents);
* the share of its accounts that signed up shortly before the judgement (made for the job).

A refund whose warehouse receipt did not match (an empty box, another item) counts as money
that did not come back; one received and matching does not.

The logit weights are in ``FraudRingSettings``. A ring is named after its smallest account id
the first time it is alerted (``ring-<customer id>``); later alerts on the same ring (found
again through any of its accounts) get ``#2``, ``#3``... and are raised only when it has grown
materially (``growth_share`` more accounts, ``min_growth_cents`` more money at risk, or a
score ``min_score_rise`` higher), so a growing ring gives a few alerts, not one per event.
An alert lists the ring's accounts and linking entities (``members``), the links between them,
strongest first (``evidence``), and its refunds that did not (or not yet) come back
(``refund_ids``): no return, a mismatching receipt, scanned but not received, or still within
the wait.

Agents are *not* graph nodes: an agent serves thousands of customers, so linking through them
would glue the world together. They appear as evidence (two accounts refunded by the same
agent) and as a score term only.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar

from vigil.detectors.base import Evidence, Signal, clamp01
from vigil.detectors.graph.entity_graph import (
    ACCOUNT,
    DAY_MS,
    KINDS,
    EntityGraph,
    new_state,
    next_expiry_ms,
    touch_fast,
)
from vigil.detectors.order_facts import DELIVERED, RETURNED, first_times, with_order_fact
from vigil.detectors.sequences._common import logistic, money
from vigil.detectors.settings import FraudRingSettings
from vigil.events.schemas import (
    CarrierScan,
    CustomerLogin,
    CustomerSignup,
    EventBase,
    OrderPlaced,
    ProfileChanged,
    RefundIssued,
    ReturnReceived,
    ShipmentDelivered,
)
from vigil.features.facts import GOODS_NOT_BACK
from vigil.state.keyed.pipeline import StagePipeline
from vigil.state.keyed.spec import MapSpec, StateSpec, ValueSpec
from vigil.state.keyed.stage import KeyKind, Output, StageContext

REASON_LINKED = "linked_accounts"
REASON_COUNTRIES = "many_countries"
REASON_UNRETURNED = "refunds_without_return"
REASON_SHARED_AGENT = "shared_agent"
REASON_YOUNG = "young_accounts"
REASON_GROWN = "ring_grew"

_GRAPH = "graph"  # the entity graph (``entity_graph.new_state``), resident
_REFUNDS = "refunds"  # customer id -> (last refund ms, (RefundFacts, ...))
_ORDERS = "orders"  # order facts (first delivery, first scan or receipt): ``with_order_fact``
_RECEIPTS = "receipts"  # order id -> (receipt ms, negative: the items did not match; first ms)
_RINGS = "rings"  # anchor -> (alerts, accounts, cents at risk, score)
_RING_OF = "ring_of"  # customer id -> the anchor of the ring it was last alerted in
_JUDGE = "judge|"
_EXPIRE = "expire"
#: the one key of this stage (docs/adr/0004-keyed-state.md, "The global stage: rings")
GLOBAL_KEY = "global"
#: the version findings carry (the scoring is unchanged since version 1)
SIGNAL_VERSION = 1

#: (refund_id, order_id, amount_cents, time_ms, agent_id or "", policy)
RefundFacts = tuple[str, str, int, int, str, str]

_PROFILE_KIND = {"address": "a", "payment_method": "p", "email": "e", "phone": "t"}


class RingStage:
    """Rings of linked accounts with unreturned refund money, across countries: the one
    global stage (a ring is a connected component, which no partition key holds)."""

    name: ClassVar[str] = "fraud_ring"
    version: ClassVar[int] = 2
    reads: ClassVar[frozenset[str]] = frozenset(
        {
            "customer_signup",
            "customer_login",
            "profile_changed",
            "order_placed",
            "shipment_delivered",
            "carrier_scan",
            "return_received",
            "refund_issued",
        }
    )
    key: ClassVar[KeyKind] = "global"

    def __init__(self, settings: FraudRingSettings | None = None) -> None:
        self.settings = settings or FraudRingSettings()

    def state(self) -> Sequence[StateSpec]:
        ttl = self.settings.link_ttl_ms
        return (
            # links expire inside the graph (its daily ``expire`` timer), never the graph
            ValueSpec(_GRAPH, None, resident=True),
            MapSpec(_REFUNDS, ttl),
            MapSpec(_ORDERS, ttl),
            MapSpec(_RECEIPTS, ttl),
            MapSpec(_RINGS, None),
            MapSpec(_RING_OF, None),
        )

    def key_of(self, event: Any) -> str | None:
        return GLOBAL_KEY

    # --- the graph ----------------------------------------------------------------------------

    def _graph(self, state: dict[str, Any]) -> EntityGraph:
        s = self.settings
        return EntityGraph(state, _Caps(s), s.link_ttl_ms // DAY_MS)

    # --- events -------------------------------------------------------------------------------

    def on_event(self, event: EventBase, ctx: StageContext) -> Sequence[Output]:
        # The hot path (one call per login, order, sign-up, profile change): no EntityGraph is
        # built unless an entity links; the rest is settled on the state dict (``touch_fast``).
        if type(event) is CustomerLogin:  # the most frequent type first
            if not event.success:  # a failed login is someone else trying, not a link
                return ()
            account = "c:" + event.customer_id
            entities: tuple[str, ...] = ("d:" + event.device_id, "i:" + event.ip)
            country, signup = event.country, False
        elif type(event) is OrderPlaced:
            account = "c:" + event.customer_id
            entities = (
                "d:" + event.device_id,
                "i:" + event.ip,
                "a:" + event.shipping_address_hash,
                "p:" + event.payment_fingerprint,
            )
            country, signup = event.country, False
        elif type(event) is CustomerSignup:
            account = "c:" + event.customer_id
            entities = ("d:" + event.device_id, "i:" + event.ip)
            country, signup = event.country, True
        elif type(event) is ProfileChanged:
            kind = _PROFILE_KIND.get(event.field)
            if kind is None:
                return ()
            account = "c:" + event.customer_id
            entities = (kind + ":" + event.new_value_hash,)
            country, signup = "", False
        else:
            self._on_fact(event, ctx)
            return ()
        t = event.event_time_ms
        handle = ctx.value(_GRAPH)
        state: dict[str, Any] | None = handle.get()
        if state is None:
            # the graph's first touch: a daily timer expires its links from then on
            state = new_state()
            every = self.settings.rebuild_every_ms
            due = t - t % every + every
            state["next_expire_ms"] = due
            ctx.timer(due, _EXPIRE)
        a, settled = touch_fast(state, account, entities, t, country, signup)
        if settled < len(entities):  # what links (rare) needs the caps and the TTL
            g = self._graph(state)
            for entity in entities[settled:]:
                g.link(a, entity, t)
        handle.set(state)
        return ()

    def _on_fact(self, event: EventBase, ctx: StageContext) -> None:
        """A refund, or a fact about an order (delivered, scanned, received)."""
        t = event.event_time_ms
        if type(event) is ShipmentDelivered:
            self._order_fact(ctx, event.order_id, t, DELIVERED)
        elif type(event) is RefundIssued:
            self._add_refund(ctx, event)
        elif type(event) is CarrierScan:
            self._order_fact(ctx, event.order_id, t, RETURNED)
        elif type(event) is ReturnReceived:
            self._order_fact(ctx, event.order_id, t, RETURNED)
            receipts = ctx.map(_RECEIPTS)
            good = event.items_matched and event.condition not in GOODS_NOT_BACK
            old: tuple[int, int] | None = receipts.get(event.order_id)
            # the earliest receipt decides; a mismatching one is kept as a negative time. It
            # is kept for the TTL from the first receipt, whichever decides.
            if old is None:
                receipts.put(event.order_id, (t if good else -t, t))
            elif t < abs(old[0]):
                receipts.put(event.order_id, (t if good else -t, old[1]), at_ms=old[1])

    def _order_fact(self, ctx: StageContext, order_id: str, t: int, slot: int) -> None:
        orders = ctx.map(_ORDERS)
        entry, last = with_order_fact(orders.get(order_id), t, slot)
        orders.put(order_id, entry, at_ms=last)

    def _add_refund(self, ctx: StageContext, event: RefundIssued) -> None:
        t = event.event_time_ms
        refunds = ctx.map(_REFUNDS)
        entry: tuple[int, tuple[RefundFacts, ...]] | None = refunds.get(event.customer_id)
        facts: RefundFacts = (
            event.refund_id,
            event.order_id,
            event.amount_cents,
            t,
            event.agent_id or "",
            event.policy,
        )
        # kept for the TTL from the customer's latest refund
        last = t if entry is None else max(t, entry[0])
        refunds.put(event.customer_id, (last, (*(entry[1] if entry else ()), facts)), at_ms=last)
        ctx.timer(t + self.settings.wait_ms, _JUDGE + event.customer_id)

    # --- timers -------------------------------------------------------------------------------

    def on_timer(self, name: str, fired_at_ms: int, ctx: StageContext) -> Sequence[Output]:
        handle = ctx.value(_GRAPH)
        state: dict[str, Any] | None = handle.get()
        if state is None:
            return ()
        g = self._graph(state)
        if name.startswith(_JUDGE):
            out = self._judge(g, name[len(_JUDGE) :], fired_at_ms, ctx)
        elif name == _EXPIRE:
            g.expire(fired_at_ms)
            s = self.settings
            if state["rebuilds"] % s.node_sweep_every_rebuilds == 0:
                g.sweep_nodes(fired_at_ms)
            due = next_expiry_ms(fired_at_ms, s.rebuild_every_ms, ctx.watermark_ms)
            state["next_expire_ms"] = due
            ctx.timer(due, _EXPIRE)
            out = []
        else:
            return ()
        handle.set(state)  # a judgement's finds compress paths: the graph changed too
        return out

    # --- judgement ----------------------------------------------------------------------------

    def _judge(
        self, g: EntityGraph, customer_id: str, now_ms: int, ctx: StageContext
    ) -> list[Signal]:
        s = self.settings
        x = g.find_node("c:" + customer_id)
        if x is None:
            return []
        nodes = g.members(x)
        accounts = sorted(g.name(n)[2:] for n in nodes if g.name(n)[0] == ACCOUNT)
        if not s.min_accounts <= len(accounts) <= s.max_component_accounts:
            return []
        ring = self._features(g, nodes, accounts, now_ms, ctx)
        score = clamp01(logistic(ring.logit(s)))
        if score < s.min_emit_score:
            return []
        return self._maybe_alert(g, nodes, accounts, ring, score, now_ms, ctx)

    def _features(
        self,
        g: EntityGraph,
        nodes: list[int],
        accounts: list[str],
        now_ms: int,
        ctx: StageContext,
    ) -> _Ring:
        s = self.settings
        state = g.state
        codes: list[str] = state["codes"]
        country_col, born_col = state["country"], state["born"]
        refunds = ctx.map(_REFUNDS)
        orders = ctx.map(_ORDERS)
        receipts = ctx.map(_RECEIPTS)
        ring = _Ring(len(accounts))
        young_days = s.young_account_ms // DAY_MS
        now_day = now_ms // DAY_MS
        for n in nodes:
            name = g.name(n)
            if name[0] != ACCOUNT:
                continue
            cid = name[2:]
            if country_col[n]:
                ring.countries.add(codes[country_col[n]])
            if born_col[n] and now_day - born_col[n] <= young_days:
                ring.young += 1
            entry = refunds.get(cid)
            if entry is None:
                continue
            facts: tuple[RefundFacts, ...] = entry[1]
            for f in facts:
                ring.refunds += 1
                ring.refund_cents += f[2]
                deadline = f[3] + s.wait_ms
                found = receipts.get(f[1])
                receipt = None if found is None else found[0]
                returned_ms, delivered_ms = first_times(orders.get(f[1]))
                if receipt is not None and receipt > 0:
                    ring.judged += 1  # received and matching: the money came back
                    continue
                if receipt is not None:
                    status = "mismatched"  # an empty box or another item came back
                elif returned_ms is not None and returned_ms <= max(deadline, now_ms):
                    status = "in_transit"  # scanned, not received yet: not judged
                elif deadline > now_ms:
                    status = "pending"
                elif delivered_ms is None or delivered_ms > deadline:
                    continue  # never delivered: an honest item-not-received refund
                else:
                    status = "unreturned"
                if status == "unreturned" or status == "mismatched":
                    ring.judged += 1
                    ring.unreturned += 1
                    ring.unreturned_cents += f[2]
                if f[2] >= s.listed_refund_min_cents:
                    ring.at_risk.append((f[0], f[2], cid, status))
                if f[4]:
                    ring.agent_accounts.setdefault(f[4], set()).add(cid)
        ring.at_risk.sort()
        return ring

    def _maybe_alert(
        self,
        g: EntityGraph,
        nodes: list[int],
        accounts: list[str],
        ring: _Ring,
        score: float,
        now_ms: int,
        ctx: StageContext,
    ) -> list[Signal]:
        s = self.settings
        rings, ring_of = ctx.map(_RINGS), ctx.map(_RING_OF)
        anchors = sorted({a for a in map(ring_of.get, accounts) if a is not None})
        at_risk_cents = sum(r[1] for r in ring.at_risk)
        grown = False
        if anchors:
            anchor = anchors[0]
            seq, prev_accounts, prev_cents, prev_score = rings.get(anchor)
            more_accounts = len(accounts) - prev_accounts
            if (
                more_accounts < max(1.0, s.growth_share * prev_accounts)
                and at_risk_cents - prev_cents < s.min_growth_cents
                and score - prev_score < s.min_score_rise
            ):
                return []
            seq += 1
            grown = True
        else:
            anchor, seq = accounts[0], 1
        if not ring.at_risk:
            return []
        rings.put(anchor, (seq, len(accounts), at_risk_cents, score))
        for c in accounts:
            ring_of.put(c, anchor)
        return [self._signal(g, nodes, accounts, ring, score, anchor, seq, grown, now_ms)]

    def _signal(
        self,
        g: EntityGraph,
        nodes: list[int],
        accounts: list[str],
        ring: _Ring,
        score: float,
        anchor: str,
        seq: int,
        grown: bool,
        now_ms: int,
    ) -> Signal:
        s = self.settings
        evidence: list[Evidence] = []
        entities: list[str] = []
        kinds: dict[str, int] = {}
        strength = self._strengths()
        for n in nodes:
            name = g.name(n)
            if name[0] == ACCOUNT:
                continue
            linked = sorted((g.name(a)[2:], d) for a, d in g.accounts_of(n).items())
            if len(linked) < 2:
                continue
            kind = KINDS[name[0]]
            via = f"{kind}:{name[2:]}"
            entities.append(via)
            kinds[kind] = kinds.get(kind, 0) + 1
            weight = round(strength.get(name[0], 0.0) / (len(linked) - 1), 6)
            for (a, da), (b, db) in itertools.pairwise(linked):
                evidence.append(
                    Evidence(a=a, b=b, via=via, time_ms=max(da, db) * DAY_MS, weight=weight)
                )
        agents = sorted(a for a, cs in ring.agent_accounts.items() if len(cs) >= 2)
        for agent in agents:
            served = sorted(ring.agent_accounts[agent])
            for a, b in itertools.pairwise(served):
                evidence.append(
                    Evidence(
                        a=a, b=b, via=f"agent:{agent}", time_ms=now_ms, weight=s.agent_link_weight
                    )
                )
        evidence.sort(key=lambda e: (-e.weight, e.via, e.a, e.b))
        members = (
            tuple(f"account:{c}" for c in accounts)
            + tuple(sorted(entities))
            + tuple(f"agent:{a}" for a in agents)
        )
        reasons = [REASON_LINKED]
        if len(ring.countries) >= 2:
            reasons.append(REASON_COUNTRIES)
        if ring.unreturned:
            reasons.append(REASON_UNRETURNED)
        if ring.top_agent_share() > 0:
            reasons.append(REASON_SHARED_AGENT)
        if ring.young * 2 >= len(accounts):
            reasons.append(REASON_YOUNG)
        if grown:
            reasons.append(REASON_GROWN)
        at_risk_cents = sum(r[1] for r in ring.at_risk)
        linked_by = ", ".join(_count(n, k) for k, n in sorted(kinds.items()))
        agent_part = ""
        if agents:
            top = max(agents, key=lambda a: (len(ring.agent_accounts[a]), a))
            agent_part = f"; agent {top} refunded {len(ring.agent_accounts[top])} of its accounts"
        explanation = (
            f"ring of {_count(len(accounts), 'account')} in "
            f"{_count(len(ring.countries), 'country')} linked by "
            f"{linked_by or 'shared entities'}: {_count(ring.refunds, 'refund')} worth "
            f"{money(ring.refund_cents)}, {ring.unreturned} with no return or a wrong parcel "
            f"worth {money(ring.unreturned_cents)}{agent_part}; "
            f"{_count(ring.young, 'account')} signed up shortly before refunding; at risk: "
            f"{_count(len(ring.at_risk), 'refund')} worth {money(at_risk_cents)}"
        )
        customers = {r[2] for r in ring.at_risk}
        return Signal(
            detector=self.name,
            version=SIGNAL_VERSION,
            subject_type="ring",
            subject_id=f"ring-{anchor}#{seq}",
            score=round(score, 6),
            reasons=tuple(reasons),
            explanation=explanation,
            event_time_ms=now_ms,
            refund_ids=tuple(r[0] for r in ring.at_risk),
            amount_cents=at_risk_cents,
            customer_id=next(iter(customers)) if len(customers) == 1 else None,
            agent_id=agents[0] if len(agents) == 1 else None,
            members=members,
            evidence=tuple(evidence[: s.max_evidence]),
        )

    def _strengths(self) -> dict[str, float]:
        s = self.settings
        return {
            "d": s.device_link_strength,
            "p": s.payment_link_strength,
            "a": s.address_link_strength,
            "i": s.ip_link_strength,
            "e": s.email_link_strength,
            "t": s.phone_link_strength,
        }


class _Ring:
    """What a component's accounts did (built per judgement, never stored)."""

    __slots__ = (
        "accounts",
        "agent_accounts",
        "at_risk",
        "countries",
        "judged",
        "refund_cents",
        "refunds",
        "unreturned",
        "unreturned_cents",
        "young",
    )

    def __init__(self, accounts: int) -> None:
        self.accounts = accounts
        self.countries: set[str] = set()
        self.refunds = 0
        self.refund_cents = 0
        self.judged = 0
        self.unreturned = 0
        self.unreturned_cents = 0
        self.young = 0
        #: agent -> accounts whose unreturned or pending refunds it issued
        self.agent_accounts: dict[str, set[str]] = {}
        #: (refund_id, amount_cents, customer_id, status): "unreturned", "mismatched",
        #: "in_transit" (scanned, not received) or "pending" (within the wait)
        self.at_risk: list[tuple[str, int, str, str]] = []

    def top_agent_share(self) -> float:
        """Share of the ring's refunding accounts served by its busiest agent (if >= 2)."""
        if not self.agent_accounts:
            return 0.0
        top = max(len(cs) for cs in self.agent_accounts.values())
        if top < 2:
            return 0.0
        refunding = len(set().union(*self.agent_accounts.values()))
        return top / refunding

    def logit(self, s: FraudRingSettings) -> float:
        x = s.bias + s.accounts_weight * math.log2(self.accounts)
        x += s.country_weight * min(max(0, len(self.countries) - 1), s.max_countries_counted)
        x += s.money_weight * math.log2(1.0 + self.unreturned_cents / s.money_ref_cents)
        if self.judged:
            x += s.unreturned_share_weight * self.unreturned / self.judged
        x += s.shared_agent_weight * self.top_agent_share()
        x += s.young_weight * self.young / self.accounts
        return x


def _count(n: int, noun: str) -> str:
    """``3 devices``, ``1 country``, ``2 addresses``."""
    if n == 1:
        return f"1 {noun}"
    if noun.endswith("y"):
        return f"{n} {noun[:-1]}ies"
    if noun.endswith("s"):
        return f"{n} {noun}es"
    return f"{n} {noun}s"


class _Caps(Mapping[str, int]):
    """Sharing caps per entity kind letter, read from the settings only when asked (the
    graph needs a cap only when an entity gains a second account: rarely)."""

    __slots__ = ("_s",)

    _FIELDS: ClassVar[dict[str, str]] = {
        "d": "max_accounts_per_device",
        "p": "max_accounts_per_payment",
        "a": "max_accounts_per_address",
        "i": "max_accounts_per_ip",
        "e": "max_accounts_per_email",
        "t": "max_accounts_per_phone",
    }

    def __init__(self, settings: FraudRingSettings) -> None:
        self._s = settings

    def __getitem__(self, kind: str) -> int:
        cap: int = getattr(self._s, self._FIELDS[kind])
        return cap

    def __iter__(self) -> Iterator[str]:
        return iter(self._FIELDS)

    def __len__(self) -> int:
        return len(self._FIELDS)


class FraudRingDetector(StagePipeline):
    """The ring stage as one detector (its findings are those of version 1: the scoring did
    not change; a checkpoint of the version before the stage is refused all the same, as its
    fingerprint names the stage)."""

    name: ClassVar[str] = "fraud_ring"
    version: ClassVar[int] = SIGNAL_VERSION

    def __init__(self, settings: FraudRingSettings | None = None) -> None:
        s = settings or FraudRingSettings()
        super().__init__((RingStage(s),), s)

"""Point-in-time ring membership of customer accounts, for the agent profiles.

The agent profiles ask one question per refund: *at the moment this refund was recorded,
did the refunded account belong to a ring?* - a component of the entity graph
(:mod:`vigil.detectors.graph.entity_graph`) with ``min_accounts`` to
``max_component_accounts`` accounts, the same window ``fraud_ring`` judges.

:class:`RingLinks` keeps a private :class:`~vigil.detectors.graph.entity_graph.EntityGraph`
in the calling detector's own keyed namespace (``RING_GRAPH``) and feeds it exactly like
:class:`~vigil.detectors.graph.rings.FraudRingDetector` does: sign-ups and successful logins
link an account with their device and IP, orders with device, IP, shipping address and
payment fingerprint, profile changes with the new address, payment method, email or phone;
the same per-kind caps and link TTL (``FraudRingSettings``), and the same daily event-time
expiry (plus the weekly sweep of idle nodes). Only the graph code is shared; the feeding
mirrors ``rings.py`` (which must not import from ``insider``), so a change to how rings are
fed must be made in both places - ``tests/detectors/test_agent_profiles.py`` checks that the
two graphs agree on a small stream.

A second graph costs memory (about as much as ``fraud_ring``'s) but keeps the profile
collector self-contained: it runs in ``vigil agents`` without ``fraud_ring``, and its
answer is the graph *as it was* at refund time, not at the end of the input.
"""

from __future__ import annotations

from typing import Any

from vigil.detectors.base import Context
from vigil.detectors.graph.entity_graph import ACCOUNT, DAY_MS, EntityGraph, next_expiry_ms
from vigil.detectors.graph.rings import _PROFILE_KIND, _Caps
from vigil.detectors.settings import FraudRingSettings
from vigil.events.schemas import (
    CustomerLogin,
    CustomerSignup,
    EventBase,
    OrderPlaced,
    ProfileChanged,
)

__all__ = ["RING_EVENTS", "RING_EXPIRE_TIMER", "RING_GRAPH", "RingLinks"]

#: keyed-state namespace of the graph (inside the calling detector's own namespace)
RING_GRAPH = "ring_graph"
#: timer key of the daily expiry
RING_EXPIRE_TIMER = "ring_graph_expire"
#: event types that feed the graph
RING_EVENTS = frozenset({"customer_signup", "customer_login", "profile_changed", "order_placed"})


class RingLinks:
    """Feeds a private entity graph and answers "is this account in a ring right now?".

    Holds settings only; the graph lives in ``ctx.keyed(RING_GRAPH)`` (runtime-owned,
    checkpointed plain data).
    """

    __slots__ = ("_caps", "_ttl_days", "settings")

    def __init__(self, settings: FraudRingSettings | None = None) -> None:
        self.settings = settings or FraudRingSettings()
        self._caps = _Caps(self.settings)
        self._ttl_days = self.settings.link_ttl_ms // DAY_MS

    def graph(self, ctx: Context) -> EntityGraph:
        return EntityGraph(ctx.keyed(RING_GRAPH), self._caps, self._ttl_days)

    def observe(self, event: EventBase, ctx: Context) -> None:
        """Link the event's account with its entities (others are ignored)."""
        t = event.event_time_ms
        tp = type(event)
        if tp is OrderPlaced:
            assert isinstance(event, OrderPlaced)
            g = self.graph(ctx)
            g.touch(
                "c:" + event.customer_id,
                (
                    "d:" + event.device_id,
                    "i:" + event.ip,
                    "a:" + event.shipping_address_hash,
                    "p:" + event.payment_fingerprint,
                ),
                t,
                country=event.country,
            )
        elif tp is CustomerLogin:
            assert isinstance(event, CustomerLogin)
            if not event.success:  # a failed login is someone else trying, not a link
                return
            g = self.graph(ctx)
            g.touch(
                "c:" + event.customer_id,
                ("d:" + event.device_id, "i:" + event.ip),
                t,
                country=event.country,
            )
        elif tp is CustomerSignup:
            assert isinstance(event, CustomerSignup)
            g = self.graph(ctx)
            g.touch(
                "c:" + event.customer_id,
                ("d:" + event.device_id, "i:" + event.ip),
                t,
                country=event.country,
                signup=True,
            )
        elif tp is ProfileChanged:
            assert isinstance(event, ProfileChanged)
            kind = _PROFILE_KIND.get(event.field)
            if kind is None:
                return
            g = self.graph(ctx)
            g.touch("c:" + event.customer_id, (kind + ":" + event.new_value_hash,), t)
        else:
            return
        state = g.state
        if "next_expire_ms" not in state:
            every = self.settings.rebuild_every_ms
            due = t - t % every + every
            state["next_expire_ms"] = due
            ctx.set_timer(due, RING_EXPIRE_TIMER)

    def on_timer(self, key: str, fired_at_ms: int, ctx: Context) -> bool:
        """Run the daily expiry if ``key`` is its timer; False for other timers."""
        if key != RING_EXPIRE_TIMER:
            return False
        s = self.settings
        g = self.graph(ctx)
        g.expire(fired_at_ms)
        state: dict[str, Any] = g.state
        if state["rebuilds"] % s.node_sweep_every_rebuilds == 0:
            g.sweep_nodes(fired_at_ms)
        due = next_expiry_ms(fired_at_ms, s.rebuild_every_ms, ctx.watermark_ms)
        state["next_expire_ms"] = due
        ctx.set_timer(due, RING_EXPIRE_TIMER)
        return True

    def ring_accounts(self, ctx: Context, customer_id: str) -> int:
        """How many accounts the customer's component has now (0: never seen, 1: alone)."""
        g = self.graph(ctx)
        x = g.find_node("c:" + customer_id)
        if x is None:
            return 0
        return sum(1 for n in g.members(x) if g.name(n)[0] == ACCOUNT)

    def in_ring(self, ctx: Context, customer_id: str) -> bool:
        """Is the account now in a component that ``fraud_ring`` would judge?"""
        s = self.settings
        return s.min_accounts <= self.ring_accounts(ctx, customer_id) <= s.max_component_accounts

"""Per-entity running features (customer, agent, device), cheap enough for every event.

These are the analytics view of each entity (how many orders, refunds, refund money,
manual refunds) that the console and later models read from the ``features`` table.
"""

from __future__ import annotations

from vigil.events.schemas import (
    AgentSessionStarted,
    EventBase,
    OrderPlaced,
    RefundIssued,
    ReturnReceived,
)

#: the event types that change a feature (the runtime skips the call for the rest)
TRACKED_TYPES = frozenset({OrderPlaced, RefundIssued, AgentSessionStarted, ReturnReceived})


class EntityFeatures:
    """Counters by (entity type, id); plain dicts so checkpoints pickle them as they are."""

    def __init__(self) -> None:
        # customer -> [orders, order_cents, refunds, refund_cents]
        self.customers: dict[str, list[int]] = {}
        # agent -> [refunds, refund_cents, manual_refunds, manual_cents, sessions, no_mfa_sessions]
        self.agents: dict[str, list[int]] = {}
        # device -> number of orders placed from it
        self.devices: dict[str, int] = {}
        self.mismatched_receipts = 0

    def update(self, ev: EventBase) -> None:
        if isinstance(ev, OrderPlaced):
            c = self.customers.get(ev.customer_id)
            if c is None:
                c = self.customers[ev.customer_id] = [0, 0, 0, 0]
            c[0] += 1
            c[1] += ev.total_cents
            self.devices[ev.device_id] = self.devices.get(ev.device_id, 0) + 1
        elif isinstance(ev, RefundIssued):
            c = self.customers.get(ev.customer_id)
            if c is None:
                c = self.customers[ev.customer_id] = [0, 0, 0, 0]
            c[2] += 1
            c[3] += ev.amount_cents
            if ev.agent_id is not None:
                a = self._agent(ev.agent_id)
                a[0] += 1
                a[1] += ev.amount_cents
                if ev.policy in ("manual_override", "returnless"):
                    a[2] += 1
                    a[3] += ev.amount_cents
        elif isinstance(ev, AgentSessionStarted):
            a = self._agent(ev.agent_id)
            a[4] += 1
            if not ev.mfa:
                a[5] += 1
        elif isinstance(ev, ReturnReceived) and not ev.items_matched:
            self.mismatched_receipts += 1

    def _agent(self, agent_id: str) -> list[int]:
        a = self.agents.get(agent_id)
        if a is None:
            a = self.agents[agent_id] = [0, 0, 0, 0, 0, 0]
        return a

    def rows(self) -> list[tuple[str, str, str, float]]:
        """(entity_type, entity_id, feature, value) rows, sorted for stable output."""
        out: list[tuple[str, str, str, float]] = []
        names_c = ("orders", "order_cents", "refunds", "refund_cents")
        for cid in sorted(self.customers):
            out.extend(
                ("customer", cid, n, float(v))
                for n, v in zip(names_c, self.customers[cid], strict=True)
            )
        names_a = (
            "refunds",
            "refund_cents",
            "manual_refunds",
            "manual_refund_cents",
            "sessions",
            "no_mfa_sessions",
        )
        for aid in sorted(self.agents):
            out.extend(
                ("agent", aid, n, float(v)) for n, v in zip(names_a, self.agents[aid], strict=True)
            )
        for did in sorted(self.devices):
            out.append(("device", did, "orders", float(self.devices[did])))
        return out

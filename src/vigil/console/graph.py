"""A case's ring as graph elements for the browser (Cytoscape.js's JSON format).

Nodes are the ring's members: accounts, the devices, cards, addresses, IPs, emails and
phones they share, and the agents who refunded several of them. An edge joins an account
to each entity that links it to another member (``Evidence.via``); its width is the link's
weight (a device shared by two accounts counts more than an IP shared by eight). Only the
strongest links the detector kept are drawn (at most 40 per alert).

The case's other alerts add what an analyst asks next: an edge from each agent to the
accounts it refunded (an agent that only floated beside the ring now shows whom it served),
and each account's refund money (each refund once, from the refund alerts), drawn in its
label (``amount_cents``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["KINDS", "ring_elements"]

#: the kinds a node may be, in the legend's order
KINDS = ("account", "agent", "device", "card", "payment", "address", "ip", "email", "phone")


def _kind(member: str) -> str:
    return member.split(":", 1)[0] if ":" in member else "account"


def ring_elements(
    alerts: Iterable[Mapping[str, Any]], case_alerts: Iterable[Mapping[str, Any]] = ()
) -> list[dict[str, Any]]:
    """Nodes and edges from the ring alerts' ``members`` and ``evidence`` (payload dicts);
    ``case_alerts``: every alert of the case, for the agents' edges and accounts' money."""
    nodes: dict[str, dict[str, Any]] = {}
    edges: dict[tuple[str, str], float] = {}

    def node(member: str) -> None:
        if member not in nodes:
            kind = _kind(member)
            label = member.split(":", 1)[1] if ":" in member else member
            nodes[member] = {"data": {"id": member, "label": label, "kind": kind}}

    for alert in alerts:
        for member in alert.get("members") or ():
            node(str(member))
        for ev in alert.get("evidence") or ():
            via = str(ev["via"])
            node(via)
            for end in (ev["a"], ev["b"]):
                account = f"account:{end}"
                node(account)
                key = (account, via)
                edges[key] = max(edges.get(key, 0.0), float(ev.get("weight", 1.0)))
    per_refund: dict[str, tuple[str, int]] = {}
    for alert in case_alerts:
        customer, agent = alert.get("customer_id"), alert.get("agent_id")
        account = f"account:{customer}"
        if customer and agent and account in nodes:
            node(f"agent:{agent}")
            key = (account, f"agent:{agent}")
            edges[key] = max(edges.get(key, 0.0), 0.3)
        if alert.get("subject_type") == "refund" and customer and account in nodes:
            rid = str(alert.get("subject_id"))
            cents = int(alert.get("amount_cents") or 0)
            if cents > per_refund.get(rid, ("", -1))[1]:
                per_refund[rid] = (account, cents)
    money: dict[str, int] = {}
    for account, cents in per_refund.values():
        money[account] = money.get(account, 0) + cents
    for account, cents in money.items():
        nodes[account]["data"]["amount_cents"] = cents
    elements = list(nodes.values())
    for i, ((source, target), weight) in enumerate(sorted(edges.items())):
        elements.append(
            {"data": {"id": f"e{i}", "source": source, "target": target, "weight": weight}}
        )
    return elements

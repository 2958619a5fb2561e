"""A case's ring as graph elements for the browser (Cytoscape.js's JSON format).

Nodes are the ring's members: accounts, the devices, cards, addresses, IPs, emails and
phones they share, and the agents who refunded several of them. An edge joins an account
to each entity that links it to another member (``Evidence.via``); its width is the link's
weight (a device shared by two accounts counts more than an IP shared by eight). Only the
strongest links the detector kept are drawn (at most 40 per alert).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["ring_elements"]


def _kind(member: str) -> str:
    return member.split(":", 1)[0] if ":" in member else "account"


def ring_elements(alerts: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Nodes and edges from the ring alerts' ``members`` and ``evidence`` (payload dicts)."""
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
    elements = list(nodes.values())
    for i, ((source, target), weight) in enumerate(sorted(edges.items())):
        elements.append(
            {"data": {"id": f"e{i}", "source": source, "target": target, "weight": weight}}
        )
    return elements

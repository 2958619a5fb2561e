"""When an order was first delivered and first showed a return (carrier scan or warehouse
receipt): the two facts both ``refund_without_return`` and ``agent_refunds`` judge by.

Each detector keeps its own copy in its own keyed state (detectors share no state), in one
compact form: most orders are only ever delivered, so such an order is stored as the bare
int delivery time, short for ``[last_activity, None, delivered]``; the first scan or receipt
turns it into ``[last_activity_ms, first_return_ms, first_delivery_ms]``.
"""

from __future__ import annotations

from typing import Any

from vigil.detectors.base import Context
from vigil.detectors.sequences._common import file_for_sweep

RETURNED = 1
DELIVERED = 2


def record_order_fact(
    ctx: Context, namespace: str, order_id: str, time_ms: int, slot: int, retention_ms: int
) -> None:
    """Note a delivery (``DELIVERED``) or a scan/receipt (``RETURNED``) of an order."""
    orders = ctx.keyed(namespace)
    entry: Any = orders.get(order_id)
    if entry is None:
        orders[order_id] = time_ms if slot == DELIVERED else [time_ms, time_ms, None]
        file_for_sweep(ctx, (namespace, order_id), time_ms + retention_ms)
        return
    if type(entry) is int:
        entry = orders[order_id] = [entry, None, entry]
    if time_ms > entry[0]:
        entry[0] = time_ms
    first = entry[slot]
    if first is None or time_ms < first:
        entry[slot] = time_ms


def first_times(entry: Any) -> tuple[int | None, int | None]:
    """(first return ms, first delivery ms) of a stored entry (None: nothing known)."""
    if entry is None:
        return None, None
    if type(entry) is int:
        return None, entry
    return entry[RETURNED], entry[DELIVERED]

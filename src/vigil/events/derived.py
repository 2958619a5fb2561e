"""Derived events: facts a stage hands to stages keyed otherwise (docs/adr/0004-keyed-state.md).

They never come from producers and are never written to the input; a stage returns them
and the pipeline hands them on at once (``vigil.state.keyed.pipeline``).
"""

from __future__ import annotations

from typing import Final

import msgspec


class DerivedEvent(msgspec.Struct, tag_field="type", frozen=True, kw_only=True, gc=False):
    """A fact one stage hands to stages keyed otherwise (subclasses set ``tag``)."""

    event_time_ms: int


class OrderReturned(DerivedEvent, tag="order_returned", kw_only=True, frozen=True):
    """The warehouse received a return of an order whose customer the order stage knows."""

    order_id: str
    customer_id: str
    condition: str


DERIVED_TYPES: Final = frozenset({"order_returned"})

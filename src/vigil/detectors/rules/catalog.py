"""What rules may talk about: event types, their short names, their fields and field types.

Everything here is derived from the msgspec schemas in ``vigil.events.schemas``, so a new
event field is usable in rules without touching this module. A rule names an event by its
wire type (``refund_issued``) or by its short name (``refund``); both resolve to the type.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import msgspec.inspect as mi

from vigil.events.schemas import EVENT_TYPES, type_name

__all__ = [
    "ALIASES",
    "EVENT_FIELDS",
    "JOIN_KEYS",
    "FieldType",
    "join_key",
    "resolve_event",
]


@dataclass(frozen=True)
class FieldType:
    """The type of a value in a rule expression.

    ``kind`` is ``num``, ``str``, ``bool``, ``null`` (the literal), ``list`` (fields rules
    cannot use yet) or ``error`` (an expression already reported as wrong). ``values`` lists
    the allowed strings of an enumerated field (e.g. refund policies) so a misspelt literal
    is caught at load time; ``nullable`` says the value may be missing at run time.
    """

    kind: str
    values: frozenset[str] | None = None
    nullable: bool = False

    def describe(self) -> str:
        if self.values is not None:
            return "one of " + ", ".join(repr(v) for v in sorted(self.values))
        names = {"num": "a number", "str": "a string", "bool": "true/false", "null": "null"}
        return names.get(self.kind, self.kind)


NUM = FieldType("num")
STR = FieldType("str")
BOOL = FieldType("bool")
NULL = FieldType("null", nullable=True)
ERROR = FieldType("error")


def _field_type(t: mi.Type) -> FieldType:
    if isinstance(t, mi.UnionType):
        inner = [x for x in t.types if not isinstance(x, mi.NoneType)]
        if len(inner) == 1:
            base = _field_type(inner[0])
            return FieldType(base.kind, base.values, nullable=True)
        return FieldType("list")
    if isinstance(t, mi.IntType | mi.FloatType):
        return NUM
    if isinstance(t, mi.StrType):
        return STR
    if isinstance(t, mi.BoolType):
        return BOOL
    if isinstance(t, mi.LiteralType):
        return FieldType("str", frozenset(str(v) for v in t.values))
    return FieldType("list")


def _fields_of(cls: type) -> dict[str, FieldType]:
    info = mi.type_info(cls)
    assert isinstance(info, mi.StructType)
    return {f.name: _field_type(f.type) for f in info.fields}


#: event type -> field name -> type, for every event Vigil knows
EVENT_FIELDS: Mapping[str, Mapping[str, FieldType]] = MappingProxyType(
    {type_name(cls): MappingProxyType(_fields_of(cls)) for cls in EVENT_TYPES}
)

#: short names rules may use for event types (the wire names work too)
ALIASES: Mapping[str, str] = MappingProxyType(
    {
        "signup": "customer_signup",
        "login": "customer_login",
        "profile_change": "profile_changed",
        "order": "order_placed",
        "delivery": "shipment_delivered",
        "return": "return_requested",
        "return_label": "return_label_created",
        "scan": "carrier_scan",
        "receipt": "return_received",
        "refund": "refund_issued",
        "refund_request": "refund_requested",
        "roster": "agent_rostered",
        "session": "agent_session_started",
        "session_end": "agent_session_ended",
        "action": "agent_action",
        "impression": "ad_impression",
        "click": "ad_click",
        "outcome": "investigation_outcome",
        "decision": "analyst_decision",
    }
)

#: id fields that relate one event to another, most specific first (see ``join_key``)
JOIN_KEYS: tuple[str, ...] = (
    "session_id",
    "return_id",
    "refund_id",
    "order_id",
    "customer_id",
    "agent_id",
    "click_id",
    "campaign_id",
    "advertiser_id",
    "alert_id",
)


def resolve_event(name: str) -> str | None:
    """The wire type for a type name or short name, or None."""
    if name in EVENT_FIELDS:
        return name
    return ALIASES.get(name)


def join_key(from_type: str, to_type: str) -> str | None:
    """The most specific id field both event types carry: how ``order.total_cents`` in a
    rule on refunds finds the refund's order (``order_id``)."""
    a, b = EVENT_FIELDS[from_type], EVENT_FIELDS[to_type]
    for key in JOIN_KEYS:
        if key in a and key in b:
            return key
    return None

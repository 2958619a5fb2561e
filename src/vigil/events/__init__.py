"""Canonical event model: schemas and the JSON Lines codec."""

from vigil.events.codec import DecodeFailure, decode_one, encode_many, encode_one
from vigil.events.schemas import EVENT_TYPES, SCHEMA_VERSION, Event, EventBase, type_name

__all__ = [
    "EVENT_TYPES",
    "SCHEMA_VERSION",
    "DecodeFailure",
    "Event",
    "EventBase",
    "decode_one",
    "encode_many",
    "encode_one",
    "type_name",
]

"""Shared fixtures: an event factory with deterministic defaults, and hypothesis profiles.

``event_factory.make(RefundIssued, amount_cents=0)`` builds a valid event of any type. Required
fields get defaults derived from the schema (``order_id="order-1"``, ``country="US"``, the first
allowed value of an enum, one line item, ...), ids are numbered per test (``e1``, ``e2``, ...)
and event times advance one second per event from ``BASE_TIME_MS``, unless given.
"""

from __future__ import annotations

import os
from typing import Any, TypeVar

import msgspec
import msgspec.inspect as mi
import pytest
from hypothesis import settings

from vigil.events.schemas import EVENT_TYPES, EventBase

settings.register_profile("default", deadline=None)
settings.register_profile("ci", deadline=None, derandomize=True, print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "default")

E = TypeVar("E", bound=EventBase)
BASE_TIME_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def _default(name: str, t: mi.Type) -> Any:
    if isinstance(t, mi.StrType):
        if t.min_length == t.max_length == 2:
            return "US"
        return f"{name.removesuffix('_id')}-1"
    if isinstance(t, mi.IntType):
        return max(t.ge or 0, min(1_200, t.le if t.le is not None else 1_200))
    if isinstance(t, mi.BoolType):
        return True
    if isinstance(t, mi.LiteralType):
        return t.values[0]
    if isinstance(t, mi.ListType):
        return [_default(name.removesuffix("s"), t.item_type)]
    if isinstance(t, mi.StructType):
        return _build(t.cls, {})
    raise NotImplementedError(f"no default for {name}: {t!r}")


def _build(cls: type[Any], fields: dict[str, Any]) -> Any:
    info = mi.type_info(cls)
    assert isinstance(info, mi.StructType)
    for f in info.fields:
        if f.required and f.name not in fields:
            fields[f.name] = _default(f.name, f.type)
    return msgspec.convert(fields, cls, from_attributes=True)


class EventFactory:
    """Valid events with fixed defaults; ids and times are numbered in creation order."""

    def __init__(self) -> None:
        self.count = 0

    def make(self, cls: type[E], **overrides: Any) -> E:
        self.count += 1
        fields = {"event_id": f"e{self.count}", "event_time_ms": BASE_TIME_MS + 1_000 * self.count}
        event: E = _build(cls, {**fields, **overrides})
        return event

    def all_types(self) -> list[EventBase]:
        """One default event of every type, in ``EVENT_TYPES`` order."""
        return [self.make(cls) for cls in EVENT_TYPES]


@pytest.fixture
def event_factory() -> EventFactory:
    return EventFactory()

"""JSON Lines codec: every event round-trips; every failure names line, event id and field."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import msgspec
import msgspec.inspect as mi
import pytest
from hypothesis import given
from hypothesis import strategies as st

from vigil.events import (
    EVENT_TYPES,
    DecodeFailure,
    EventBase,
    decode_one,
    encode_many,
    encode_one,
    type_name,
)
from vigil.events.schemas import OrderPlaced, RefundIssued, ReturnRequested

if TYPE_CHECKING:
    from conftest import EventFactory

INT64_MAX = 2**63 - 1


def strategy_for(t: mi.Type) -> st.SearchStrategy[Any]:
    """Values of a msgspec type, honouring its constraints (lengths, bounds, literals)."""
    if isinstance(t, mi.StrType):
        alphabet = st.characters(codec="utf-8")  # no lone surrogates: they cannot be JSON
        return st.text(alphabet, min_size=t.min_length or 0, max_size=t.max_length or 24)
    if isinstance(t, mi.IntType):
        lo = t.ge if t.ge is not None else -INT64_MAX - 1
        hi = t.le if t.le is not None else INT64_MAX
        return st.integers(min_value=lo, max_value=hi)
    if isinstance(t, mi.BoolType):
        return st.booleans()
    if isinstance(t, mi.LiteralType):
        return st.sampled_from(t.values)
    if isinstance(t, mi.NoneType):
        return st.none()
    if isinstance(t, mi.UnionType):
        return st.one_of(*(strategy_for(x) for x in t.types))
    if isinstance(t, mi.ListType):
        item = strategy_for(t.item_type)
        return st.lists(item, min_size=t.min_length or 0, max_size=3)
    if isinstance(t, mi.StructType):
        return struct_strategy(t.cls)
    raise NotImplementedError(f"no strategy for {t!r}")


def struct_strategy(cls: type[msgspec.Struct]) -> st.SearchStrategy[Any]:
    info = mi.type_info(cls)
    assert isinstance(info, mi.StructType)
    fields = {f.name: strategy_for(f.type) for f in info.fields}
    return st.fixed_dictionaries(fields).map(lambda kw: cls(**kw))


# --- round trips -----------------------------------------------------------------------


@pytest.mark.parametrize("cls", EVENT_TYPES, ids=type_name)
@given(data=st.data())
def test_every_event_type_round_trips(cls: type[EventBase], data: st.DataObject) -> None:
    event = data.draw(struct_strategy(cls))
    raw = encode_one(event)
    assert b"\n" not in raw
    decoded = decode_one(raw, line_no=1)
    assert type(decoded) is cls
    assert decoded == event


@given(st.lists(st.sampled_from(EVENT_TYPES).flatmap(struct_strategy), max_size=8))
def test_encode_many_is_one_line_per_event(events: list[EventBase]) -> None:
    blob = encode_many(events)
    assert blob.count(b"\n") == len(events)
    lines = blob.split(b"\n")[:-1] if events else []
    assert [decode_one(line, n) for n, line in enumerate(lines, 1)] == events
    assert blob == b"".join(encode_one(e) + b"\n" for e in events)


def test_default_event_of_each_type_round_trips(event_factory: EventFactory) -> None:
    for event in event_factory.all_types():
        assert decode_one(encode_one(event), line_no=1) == event


# --- failures name line, event id and field ------------------------------------------------

Mutation = Callable[[dict[str, Any]], None]


def _set(path: str, value: Any) -> Mutation:
    def mutate(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = doc
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return mutate


def _delete(path: str) -> Mutation:
    def mutate(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = doc
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        del node[last]

    return mutate


FAILURES = [
    # event class, mutation, the field the failure must name
    pytest.param(RefundIssued, _set("event_time_ms", "soon"), "event_time_ms", id="wrong_type"),
    pytest.param(RefundIssued, _set("amount_cents", True), "amount_cents", id="bool_for_int"),
    pytest.param(RefundIssued, _set("amount_cents", 10.5), "amount_cents", id="float_for_int"),
    pytest.param(RefundIssued, _delete("customer_id"), "customer_id", id="missing_field"),
    pytest.param(ReturnRequested, _set("channel", "pigeon"), "channel", id="bad_enum"),
    pytest.param(RefundIssued, _set("policy", "because"), "policy", id="bad_enum_policy"),
    pytest.param(RefundIssued, _set("amount_cents", -1), "amount_cents", id="negative_amount"),
    pytest.param(OrderPlaced, _set("country", "USA"), "country", id="too_long_country"),
    pytest.param(OrderPlaced, _set("order_id", ""), "order_id", id="empty_id"),
    pytest.param(
        OrderPlaced, _set("items.0.price_cents", "12.00"), "items[0].price_cents", id="nested_item"
    ),
    pytest.param(OrderPlaced, _set("items.1.quantity", 0), "items[1].quantity", id="second_item"),
    pytest.param(OrderPlaced, _set("items.0", "sku-1"), "items[0]", id="item_not_object"),
    pytest.param(OrderPlaced, _set("items", []), "items", id="empty_items"),
    pytest.param(RefundIssued, _set("type", "refund_isued"), "type", id="unknown_type"),
    pytest.param(RefundIssued, _delete("type"), "type", id="missing_type"),
    pytest.param(OrderPlaced, _delete("items.0.sku"), "items[0].sku", id="missing_nested_field"),
]


def _doc(event_factory: EventFactory, cls: type[EventBase]) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    if cls is OrderPlaced:
        item = {"sku": "s", "category": "c", "price_cents": 1, "weight_g": 1}
        extra["items"] = [item, {**item, "sku": "s2"}]
    doc = msgspec.to_builtins(event_factory.make(cls, event_id="evt-77", **extra))
    assert isinstance(doc, dict)
    return doc


@pytest.mark.parametrize(("cls", "mutate", "field"), FAILURES)
def test_decode_failure_names_line_event_and_field(
    event_factory: EventFactory, cls: type[EventBase], mutate: Mutation, field: str
) -> None:
    doc = _doc(event_factory, cls)
    mutate(doc)
    failure = decode_one(msgspec.json.encode(doc), line_no=41)
    assert isinstance(failure, DecodeFailure)
    assert (failure.line_no, failure.event_id, failure.field) == (41, "evt-77", field)
    text = failure.describe()
    assert text.startswith("line 41, event 'evt-77', field ")
    assert f"field {field!r}" in text
    assert failure.reason and "`$" not in failure.reason  # the path moved into ``field``


def test_event_id_of_the_wrong_type_is_not_reported_as_an_id(event_factory: EventFactory) -> None:
    doc = _doc(event_factory, RefundIssued)
    doc["event_id"] = 12345
    failure = decode_one(msgspec.json.encode(doc), line_no=3)
    assert isinstance(failure, DecodeFailure)
    assert (failure.event_id, failure.field) == (None, "event_id")


@pytest.mark.parametrize(
    "raw",
    [
        b'{"type": "refund_issued", "event_id": "evt-77", "event_time_ms": 1',
        b"not json at all",
        b"{'single': 'quotes'}",
        b'{"a": 1,}',
        b"\xff\xfe\x00",
    ],
    ids=["truncated", "text", "single_quotes", "trailing_comma", "binary"],
)
def test_invalid_json_names_the_line(raw: bytes) -> None:
    failure = decode_one(raw, line_no=9)
    assert isinstance(failure, DecodeFailure)
    assert failure.line_no == 9
    assert failure.event_id is None  # not JSON: no id can be read reliably
    assert failure.describe().startswith("line 9: invalid JSON")


@pytest.mark.parametrize(
    ("raw", "field"),
    [(b"[]", None), (b'"x"', None), (b"42", None), (b"null", None), (b"{}", "type")],
)
def test_json_that_is_not_an_event_object(raw: bytes, field: str | None) -> None:
    failure = decode_one(raw, line_no=2)
    assert isinstance(failure, DecodeFailure)
    assert (failure.line_no, failure.event_id, failure.field) == (2, None, field)


def test_trailing_garbage_after_an_event_is_invalid_json(event_factory: EventFactory) -> None:
    raw = encode_one(event_factory.make(RefundIssued)) + b" x"
    failure = decode_one(raw, line_no=9)
    assert isinstance(failure, DecodeFailure)
    assert failure.describe().startswith("line 9: invalid JSON")


_EDIT = st.tuples(
    st.integers(0, 10_000), st.sampled_from(["flip", "cut", "insert", "nest"]), st.integers(0, 255)
)


@given(
    base=st.sampled_from(EVENT_TYPES).flatmap(struct_strategy),
    edits=st.lists(_EDIT, min_size=1, max_size=4),
)
def test_corrupted_lines_never_raise(base: EventBase, edits: list[tuple[int, str, int]]) -> None:
    """Flipped, inserted or cut bytes (any byte, so also invalid UTF-8 inside strings) and
    deeply nested junk give a failure that names the line, never an exception."""
    raw = bytearray(encode_one(base))
    for pos, op, byte in edits:
        if not raw:
            break
        i = pos % len(raw)
        if op == "flip":
            raw[i] = byte
        elif op == "cut":
            del raw[i:]
        elif op == "insert":
            raw.insert(i, byte)
        else:
            raw[i:i] = b"[" * (40 * byte) + b"]" * (40 * byte)
    result = decode_one(bytes(raw), line_no=5)
    if isinstance(result, DecodeFailure):
        assert result.line_no == 5
        assert result.reason
        assert result.describe().startswith("line 5")
    else:
        assert isinstance(result, EventBase)


def test_non_utf8_inside_a_string_is_a_failure() -> None:
    raw = b'{"type": "refund_issued", "event_id": "evt-77", "order_id": "o\xff1"}'
    failure = decode_one(raw, line_no=4)
    assert isinstance(failure, DecodeFailure)
    assert failure.line_no == 4
    assert "UTF-8" in failure.reason


@pytest.mark.parametrize("depth", [999, 1_000, 5_000, 100_000])
def test_deeply_nested_junk_is_a_failure(depth: int) -> None:
    deep = b"[" * depth + b"]" * depth
    raw = b'{"type": "refund_issued", "event_id": "evt-1", "junk": ' + deep + b"}"
    failure = decode_one(raw, line_no=4)
    assert isinstance(failure, DecodeFailure)
    assert failure.line_no == 4
    assert failure.event_id in (None, "evt-1")  # best effort: the id may be unreadable
    assert isinstance(decode_one(deep, line_no=4), DecodeFailure)


@pytest.mark.parametrize("value", [2**63, 2**64, 10**30])
@pytest.mark.parametrize("name", ["amount_cents", "event_time_ms", "v"])
def test_integers_beyond_int64_are_rejected(
    event_factory: EventFactory, value: int, name: str
) -> None:
    doc = _doc(event_factory, RefundIssued)
    doc[name] = value
    failure = decode_one(msgspec.json.encode(doc), line_no=6)
    assert isinstance(failure, DecodeFailure)
    assert (failure.line_no, failure.event_id, failure.field) == (6, "evt-77", name)


def test_largest_int64_is_accepted(event_factory: EventFactory) -> None:
    event = event_factory.make(RefundIssued, amount_cents=2**63 - 1)
    assert decode_one(encode_one(event), line_no=1) == event

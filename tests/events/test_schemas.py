"""The event catalogue: one struct per type, docs-style examples decode, the API does not drift."""

from __future__ import annotations

import typing
from typing import TYPE_CHECKING, Any

import msgspec
import pytest

import vigil.events
from vigil.events import EVENT_TYPES, Event, EventBase, decode_one, encode_one, type_name

if TYPE_CHECKING:
    from conftest import EventFactory

# What a producer would send, written out by hand as the docs show it (one per type).
DOCS_EXAMPLES: dict[str, bytes] = {
    "customer_signup": b"""{"type": "customer_signup", "event_id": "evt-0001",
        "event_time_ms": 1767225600000, "v": 1, "customer_id": "cus-42",
        "email_hash": "sha256:9f86d0", "country": "DE", "device_id": "dev-7",
        "ip": "203.0.113.7"}""",
    "customer_login": b"""{"type": "customer_login", "event_id": "evt-0002",
        "event_time_ms": 1767225660000, "customer_id": "cus-42", "device_id": "dev-7",
        "ip": "203.0.113.7", "country": "DE", "success": true}""",
    "profile_changed": b"""{"type": "profile_changed", "event_id": "evt-0003",
        "event_time_ms": 1767225720000, "customer_id": "cus-42", "field": "payment_method",
        "new_value_hash": "sha256:2c26b4"}""",
    "order_placed": b"""{"type": "order_placed", "event_id": "evt-0004",
        "event_time_ms": 1767225780000, "order_id": "ord-9", "customer_id": "cus-42",
        "items": [{"sku": "SKU-1", "category": "electronics", "price_cents": 89900,
                   "quantity": 1, "weight_g": 1400},
                  {"sku": "SKU-2", "category": "accessories", "price_cents": 1999,
                   "weight_g": 80}],
        "total_cents": 91899, "currency": "EUR", "shipping_address_hash": "sha256:a1b2",
        "payment_fingerprint": "pf-77", "device_id": "dev-7", "ip": "203.0.113.7",
        "country": "DE", "ad_click_id": "clk-5"}""",
    "shipment_delivered": b"""{"type": "shipment_delivered", "event_id": "evt-0005",
        "event_time_ms": 1767398580000, "order_id": "ord-9", "customer_id": "cus-42",
        "carrier": "dhl"}""",
    "return_requested": b"""{"type": "return_requested", "event_id": "evt-0006",
        "event_time_ms": 1767484980000, "return_id": "ret-3", "order_id": "ord-9",
        "customer_id": "cus-42", "skus": ["SKU-1"], "reason": "defective",
        "channel": "agent", "agent_id": "agt-11"}""",
    "return_label_created": b"""{"type": "return_label_created", "event_id": "evt-0007",
        "event_time_ms": 1767485040000, "return_id": "ret-3", "order_id": "ord-9",
        "carrier": "dhl", "tracking_id": "JD0146"}""",
    "carrier_scan": b"""{"type": "carrier_scan", "event_id": "evt-0008",
        "event_time_ms": 1767571440000, "return_id": "ret-3", "order_id": "ord-9",
        "tracking_id": "JD0146", "scan_type": "first_scan", "weight_g": 35,
        "location_country": "DE"}""",
    "return_received": b"""{"type": "return_received", "event_id": "evt-0009",
        "event_time_ms": 1767744240000, "return_id": "ret-3", "order_id": "ord-9",
        "warehouse_id": "wh-berlin", "items_matched": false, "weight_g": 35,
        "condition": "empty"}""",
    "refund_requested": b"""{"type": "refund_requested", "event_id": "evt-0009b",
        "event_time_ms": 1767571490000, "refund_id": "rf-8", "order_id": "ord-9",
        "customer_id": "cus-42", "return_id": "ret-3", "amount_cents": 89900,
        "currency": "EUR", "skus": ["LAP-15"], "reason": "defective", "channel": "agent",
        "method": "original_payment", "policy": "on_first_scan", "issued_by": "agent",
        "agent_id": "agt-11", "session_id": "ses-4"}""",
    "refund_issued": b"""{"type": "refund_issued", "event_id": "evt-0010",
        "event_time_ms": 1767571500000, "refund_id": "rf-8", "order_id": "ord-9",
        "customer_id": "cus-42", "return_id": "ret-3", "amount_cents": 89900,
        "currency": "EUR", "method": "original_payment", "issued_by": "agent",
        "agent_id": "agt-11", "session_id": "ses-4", "policy": "on_first_scan"}""",
    "agent_rostered": b"""{"type": "agent_rostered", "event_id": "evt-0011",
        "event_time_ms": 1767225600000, "agent_id": "agt-11", "team": "returns-tier2",
        "home_country": "PT", "shift_start_hour": 22, "shift_end_hour": 6}""",
    "agent_session_started": b"""{"type": "agent_session_started", "event_id": "evt-0012",
        "event_time_ms": 1767571000000, "session_id": "ses-4", "agent_id": "agt-11",
        "device_id": "adev-2", "ip": "198.51.100.4", "country": "PT", "mfa": false}""",
    "agent_session_ended": b"""{"type": "agent_session_ended", "event_id": "evt-0013",
        "event_time_ms": 1767574600000, "session_id": "ses-4", "agent_id": "agt-11"}""",
    "agent_action": b"""{"type": "agent_action", "event_id": "evt-0014",
        "event_time_ms": 1767571400000, "session_id": "ses-4", "agent_id": "agt-11",
        "action": "override_policy", "customer_id": "cus-42", "order_id": "ord-9"}""",
    "ad_impression": b"""{"type": "ad_impression", "event_id": "evt-0015",
        "event_time_ms": 1767225500000, "impression_id": "imp-1", "campaign_id": "cmp-3",
        "advertiser_id": "adv-1", "platform": "social", "device_id": "dev-7",
        "cost_micros": 1200}""",
    "ad_click": b"""{"type": "ad_click", "event_id": "evt-0016",
        "event_time_ms": 1767225510000, "click_id": "clk-5", "campaign_id": "cmp-3",
        "advertiser_id": "adv-1", "platform": "social", "device_id": "dev-7",
        "cost_micros": 310000}""",
    "chargeback": b"""{"type": "chargeback", "event_id": "evt-0017",
        "event_time_ms": 1769817600000, "order_id": "ord-9", "customer_id": "cus-42",
        "amount_cents": 91899}""",
    "investigation_outcome": b"""{"type": "investigation_outcome", "event_id": "evt-0018",
        "event_time_ms": 1769904000000, "subject_type": "agent", "subject_id": "agt-11",
        "outcome": "fraud"}""",
    "analyst_decision": b"""{"type": "analyst_decision", "event_id": "evt-0019",
        "event_time_ms": 1767580000000, "alert_id": "insider:agent:agt-11",
        "analyst_id": "ana-2", "outcome": "fraud"}""",
}


@pytest.fixture
def docs_examples() -> dict[str, bytes]:
    return DOCS_EXAMPLES


def _assert_contains(actual: Any, written: Any) -> None:
    """``actual`` holds everything ``written`` holds (defaults may add more keys)."""
    if isinstance(written, dict):
        assert isinstance(actual, dict)
        for key, value in written.items():
            _assert_contains(actual[key], value)
    elif isinstance(written, list):
        assert isinstance(actual, list) and len(actual) == len(written)
        for a, w in zip(actual, written, strict=True):
            _assert_contains(a, w)
    else:
        assert actual == written


def test_every_event_type_has_a_docs_example(docs_examples: dict[str, bytes]) -> None:
    assert set(docs_examples) == {type_name(cls) for cls in EVENT_TYPES}


@pytest.mark.parametrize("cls", EVENT_TYPES, ids=type_name)
def test_docs_example_decodes(cls: type[EventBase], docs_examples: dict[str, bytes]) -> None:
    raw = docs_examples[type_name(cls)]
    event = decode_one(raw, line_no=1)
    assert type(event) is cls
    assert isinstance(event, EventBase)
    # every field written in the example made it into the struct with the same value
    _assert_contains(msgspec.to_builtins(event), msgspec.json.decode(raw))
    assert decode_one(encode_one(event), line_no=1) == event


def test_event_types_match_the_event_union() -> None:
    assert set(typing.get_args(Event)) == set(EVENT_TYPES)
    tags = [type_name(cls) for cls in EVENT_TYPES]
    assert len(set(tags)) == len(tags)
    assert all(issubclass(cls, EventBase) for cls in EVENT_TYPES)


def test_public_api_does_not_drift() -> None:
    assert set(vigil.events.__all__) == {
        "EVENT_TYPES",
        "SCHEMA_VERSION",
        "DecodeFailure",
        "Event",
        "EventBase",
        "decode_one",
        "encode_many",
        "encode_one",
        "type_name",
    }
    for name in vigil.events.__all__:
        assert hasattr(vigil.events, name)


def test_schema_version_defaults_to_current(event_factory: EventFactory) -> None:
    for event in event_factory.all_types():
        assert event.v == vigil.events.SCHEMA_VERSION

"""Arrival disorder in isolation: every malformed twin is really broken, duplicates are exact."""

from __future__ import annotations

import random

import pytest

from vigil.events import DecodeFailure, decode_one, encode_one
from vigil.events.schemas import (
    AgentAction,
    CarrierScan,
    CustomerLogin,
    EventBase,
    ProfileChanged,
    RefundIssued,
    ReturnReceived,
    ReturnRequested,
)
from vigil.sim import SimConfig
from vigil.sim.disorder import MALFORMED_KINDS, Disorder

SAMPLES: list[EventBase] = [
    CustomerLogin(
        event_id="ev-1",
        event_time_ms=1,
        customer_id="c-1",
        device_id="d-1",
        ip="1.2.3.4",
        country="US",
        success=True,
    ),
    ProfileChanged(
        event_id="ev-2", event_time_ms=2, customer_id="c-1", field="email", new_value_hash="h:1"
    ),
    ReturnRequested(
        event_id="ev-3",
        event_time_ms=3,
        return_id="rt-1",
        order_id="o-1",
        customer_id="c-1",
        skus=["S"],
        reason="defective",
        channel="self_service",
    ),
    CarrierScan(
        event_id="ev-4",
        event_time_ms=4,
        return_id="rt-1",
        order_id="o-1",
        tracking_id="1Z",
        scan_type="first_scan",
        weight_g=100,
        location_country="US",
    ),
    ReturnReceived(
        event_id="ev-5",
        event_time_ms=5,
        return_id="rt-1",
        order_id="o-1",
        warehouse_id="wh-reno",
        items_matched=True,
        weight_g=100,
        condition="intact",
    ),
    RefundIssued(
        event_id="ev-6",
        event_time_ms=6,
        refund_id="rf-1",
        order_id="o-1",
        customer_id="c-1",
        amount_cents=100,
        method="original_payment",
        issued_by="system",
        policy="on_receipt",
    ),
    AgentAction(
        event_id="ev-7",
        event_time_ms=7,
        session_id="ss-1",
        agent_id="ag-1",
        action="view_account",
    ),
]


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: type(e).__name__)
def test_every_malformed_twin_fails_to_decode(event: EventBase) -> None:
    cfg = SimConfig(events=100_000, duplicate_rate=0.0, malformed_rate=0.2)
    disorder = Disorder(cfg, random.Random(3))
    line = encode_one(event)
    assert not isinstance(decode_one(line, 1), DecodeFailure)
    for _ in range(200):
        delay, twin = disorder.twin(0.1, line)
        assert 0 <= delay <= 2_000
        assert isinstance(decode_one(twin, 1), DecodeFailure), twin
    kinds = disorder.malformed_by_kind
    assert sum(kinds.values()) == disorder.malformed == 200
    assert all(kinds[k] > 0 for k in MALFORMED_KINDS if k != "bad_enum")


def test_duplicates_are_the_same_bytes_a_little_later() -> None:
    cfg = SimConfig(events=100_000, duplicate_rate=0.1, malformed_rate=0.0)
    disorder = Disorder(cfg, random.Random(5))
    line = encode_one(SAMPLES[0])
    for _ in range(100):
        delay, twin = disorder.twin(0.05, line)
        assert twin == line
        assert 1 <= delay <= cfg.duplicate_delay_max_s * 1000 + 1
    assert disorder.duplicates == 100


def test_late_delays_fall_in_their_configured_bands() -> None:
    cfg = SimConfig(events=100_000)
    disorder = Disorder(cfg, random.Random(7))
    for u in (0.00001, 0.00009):  # below very_late_fraction
        assert 2 * 86_400_000 < disorder.late_delay(u) <= cfg.very_late_max_s * 1000
    for u in (0.001, 0.015):  # late
        delay = disorder.late_delay(u)
        assert cfg.late_min_s * 1000 <= delay <= cfg.late_max_s * 1000
    assert disorder.late == 2 and disorder.very_late == 2

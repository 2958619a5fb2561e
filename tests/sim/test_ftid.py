"""Fake tracking ids that keep the right weight and the right country (``vigil.sim.ftid``)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from vigil.events.schemas import CarrierScan, ReturnLabelCreated
from vigil.sim import SimConfig, simulate
from vigil.sim.ftid import DELIVERED_NOT_RECEIVED, DIVERTED, DROP_LABEL, VARIANTS
from vigil.sim.world import BY_CODE, WAREHOUSES

from .conftest import Stream, load_stream


@pytest.fixture(scope="module")
def ftid(tmp_path_factory: pytest.TempPathFactory) -> Stream:
    """A small stream with 45 right-weight FTID instances (15 per variant)."""
    out = tmp_path_factory.mktemp("sim-ftid")
    return load_stream(simulate(SimConfig(seed=2, events=30_000, ftid_per_million=1_500.0), out))


def variant_of(label: ReturnLabelCreated, scans: list[CarrierScan]) -> str | None:
    """Which right-weight FTID variant a never-received parcel's label and scans show."""
    centre = WAREHOUSES.get(label.destination_id or "")
    read = {s.destination_postal_code for s in scans}
    if centre is None or read != {centre[1]}:
        return DROP_LABEL
    ordered = sorted(scans, key=lambda s: s.event_time_ms)
    at_centre = [s.postal_code == centre[1] and s.location_country == centre[0] for s in ordered]
    delivered = [s for s in ordered if s.scan_type == "delivered"]
    if delivered and all(at_centre[i] for i, s in enumerate(ordered) if s.scan_type == "delivered"):
        return DELIVERED_NOT_RECEIVED
    if delivered or (True in at_centre and not at_centre[-1]):
        return DIVERTED
    return None


def _ftid_refunds(stream: Stream) -> list[tuple[str, str]]:
    """(refund id, variant) of every empty-box refund with a right-weight FTID parcel."""
    truth = {r.id: r for r in stream.truth_by_kind("refund")}
    labels = {e.order_id: e for e in stream.events if isinstance(e, ReturnLabelCreated)}
    out = []
    for r in stream.refunds.values():
        if truth[r.refund_id].scenario != "empty_box" or stream.receipts_by_order.get(r.order_id):
            continue
        scans = stream.scans_by_order[r.order_id]
        order = stream.orders[r.order_id]
        goods_g = sum(i.weight_g * i.quantity for i in order.items)
        if min(s.weight_g for s in scans) < 0.5 * goods_g:
            continue  # the older, light variant
        variant = variant_of(labels[r.order_id], scans)
        assert variant is not None, r.refund_id
        out.append((r.refund_id, variant))
    return out


def test_every_variant_appears_with_its_truth(ftid: Stream) -> None:
    found = _ftid_refunds(ftid)
    by_variant = Counter(v for _, v in found)
    assert set(by_variant) == set(VARIANTS)
    assert all(n >= 8 for n in by_variant.values()), by_variant
    counted = {k: v["refunds"] for k, v in ftid.counts["variants"].items()}
    assert {k: counted[k] for k in VARIANTS} == dict(by_variant)
    truth = {r.id: r for r in ftid.truth}
    for refund_id, _ in found:
        rec = truth[refund_id]
        assert rec.fraud and rec.scenario == "empty_box"
        assert truth[rec.order_id].fraud and truth[rec.order_id].scenario == "empty_box"
        assert truth[rec.customer_id].fraud  # the account is recorded as a fraud account


def test_right_weight_right_country_never_received(ftid: Stream) -> None:
    policies: Counter[str] = Counter()
    aged = 0
    for refund_id, variant in _ftid_refunds(ftid):
        r = ftid.refunds[refund_id]
        policies[r.policy] += 1
        aged += r.customer_id not in ftid.signups
        order = ftid.orders[r.order_id]
        goods_g = sum(i.weight_g * i.quantity for i in order.items)
        scans = ftid.scans_by_order[r.order_id]
        centre_country = WAREHOUSES[BY_CODE[order.country].warehouse][0]
        for s in scans:
            assert goods_g <= s.weight_g <= 2 * goods_g + 800  # the goods and a box
            assert s.location_country in (order.country, centre_country)
            assert s.facility_id and s.postal_code and s.destination_postal_code
        assert not ftid.receipts_by_order.get(r.order_id)
        first = min(s.event_time_ms for s in scans)
        assert first < r.event_time_ms
        if variant == DROP_LABEL:
            # a drop address in the customer's own country, "delivered" there
            delivered = [s for s in scans if s.scan_type == "delivered"]
            assert delivered and delivered[0].location_country == order.country
            assert delivered[0].postal_code == delivered[0].destination_postal_code
            assert delivered[0].postal_code not in {p for _, p in WAREHOUSES.values()}
    assert policies["on_first_scan"] > policies["manual_override"] > 0
    assert aged >= 1


def test_drop_labels_come_in_both_forms(ftid: Stream) -> None:
    """The retailer's label record says the drop, or says the centre while the carrier reads
    the drop off the parcel."""
    labels = {e.order_id: e for e in ftid.events if isinstance(e, ReturnLabelCreated)}
    forms: Counter[bool] = Counter()
    for refund_id, variant in _ftid_refunds(ftid):
        if variant == DROP_LABEL:
            forms[labels[ftid.refunds[refund_id].order_id].destination_id is None] += 1
    assert forms[True] >= 1 and forms[False] >= 1


def test_ftid_moves_nothing_else(tmp_path: Path) -> None:
    """Drawn from its own stream, with ids of its own and its lines off the budget: every
    refund of the run without it is there, the same."""
    base = load_stream(
        simulate(SimConfig(seed=3, events=20_000, ftid_per_million=0.0), tmp_path / "a")
    )
    more = load_stream(
        simulate(SimConfig(seed=3, events=20_000, ftid_per_million=2_000.0), tmp_path / "b")
    )
    assert len(more.refunds) >= len(base.refunds) + 30
    for rid, r in base.refunds.items():
        other = more.refunds[rid]
        assert (other.order_id, other.amount_cents, other.customer_id, other.event_time_ms) == (
            r.order_id,
            r.amount_cents,
            r.customer_id,
            r.event_time_ms,
        )
    assert base.orders.keys() <= more.orders.keys()

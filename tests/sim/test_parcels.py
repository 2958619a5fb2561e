"""Return parcels: labels addressed to the centres, scans that say where they happened,
per-route transit times, and the honest parcels carriers lose (``trap_lost_return_parcel``)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

from vigil.detectors.return_centres import DEFAULT_RETURN_CENTRES
from vigil.events.schemas import ReturnLabelCreated, ShipmentDelivered
from vigil.sim import SimConfig, simulate
from vigil.sim.config import DAY_MS
from vigil.sim.parcels import (
    DOMESTIC_DAYS,
    FAR_DAYS,
    POSTAL_FORMATS,
    REGIONAL_DAYS,
    postal_code,
    transit_days,
)
from vigil.sim.world import BY_CODE, COUNTRIES, WAREHOUSES

from .conftest import Stream, load_stream

LOST = "trap_lost_return_parcel"


@pytest.fixture(scope="module")
def lossy(tmp_path_factory: pytest.TempPathFactory) -> Stream:
    """A small stream where carriers lose 5 % of return parcels (many instances to check)."""
    out = tmp_path_factory.mktemp("sim-lossy")
    cfg = SimConfig(seed=4, events=40_000, lost_return_parcel_rate=0.05)
    return load_stream(simulate(cfg, out))


def _labels(stream: Stream) -> dict[str, ReturnLabelCreated]:
    return {e.order_id: e for e in stream.events if isinstance(e, ReturnLabelCreated)}


def test_the_simulated_warehouses_are_vigils_default_return_centres() -> None:
    centres = {c.centre_id: (c.country, c.postal_code) for c in DEFAULT_RETURN_CENTRES}
    assert centres == WAREHOUSES
    assert {c.warehouse for c in COUNTRIES} == set(WAREHOUSES)


def test_postal_codes_follow_the_country_format() -> None:
    assert set(POSTAL_FORMATS) == {c.code for c in COUNTRIES}
    for country, fmt in POSTAL_FORMATS.items():
        for v in (0, 12345, 2**63 - 1):
            code = postal_code(country, v)
            assert len(code) == len(fmt)
            for ch, f in zip(code, fmt, strict=True):
                assert ch.isdigit() if f == "9" else ch.isalpha() if f == "A" else ch == f
    for country, postal in WAREHOUSES.values():
        assert len(postal) == len(POSTAL_FORMATS[country])


def test_transit_ranges_by_route() -> None:
    assert transit_days(BY_CODE["US"]) == DOMESTIC_DAYS
    assert transit_days(BY_CODE["FR"]) == REGIONAL_DAYS
    assert transit_days(BY_CODE["JP"]) == FAR_DAYS
    assert DOMESTIC_DAYS[1] < FAR_DAYS[1]


def test_honest_labels_and_scans_say_where_the_parcel_goes_and_is(stream: Stream) -> None:
    """Every honest label goes to the centre serving the customer's country; every scan
    carries a facility, a postal code and the label's destination; "delivered" happens at the
    centre's postal code, and no other scan is at it."""
    truth = {r.id: r for r in stream.truth_by_kind("refund")}
    labels = _labels(stream)
    centre_codes = {postal for _, postal in WAREHOUSES.values()}
    checked = 0
    for r in stream.refunds.values():
        rec = truth[r.refund_id]
        if rec.fraud or r.order_id not in labels:
            continue
        label = labels[r.order_id]
        assert label.destination_id in WAREHOUSES
        country, postal = WAREHOUSES[label.destination_id]
        assert (label.destination_postal_code, label.destination_country) == (postal, country)
        for scan in stream.scans_by_order[r.order_id]:
            assert scan.facility_id and scan.postal_code
            assert scan.destination_postal_code == postal
            at_centre = scan.postal_code == postal and scan.location_country == country
            assert at_centre == (scan.scan_type == "delivered")
            if not at_centre:
                assert scan.postal_code not in centre_codes or scan.location_country != country
        checked += 1
    assert checked > 500


def test_receipts_arrive_within_the_routes_normal_transit(stream: Stream) -> None:
    """First scan -> receipt stays within the route's range (domestic faster than far)."""
    by_kind: dict[tuple[float, float], list[float]] = defaultdict(list)
    labels = _labels(stream)
    for order_id, receipts in stream.receipts_by_order.items():
        scans = stream.scans_by_order[order_id]
        first = min(s.event_time_ms for s in scans)
        days = (receipts[0].event_time_ms - first) / DAY_MS
        origin = next(s.location_country for s in scans if s.scan_type == "first_scan")
        if labels[order_id].destination_id != BY_CODE[origin].warehouse:
            continue  # scanned in another country than the customer's (a fraud variant)
        lo, hi = transit_days(BY_CODE[origin])
        assert lo - 0.001 <= days <= hi + 0.001
        by_kind[(lo, hi)].append(days)
    assert len(by_kind[DOMESTIC_DAYS]) > 100 and len(by_kind[FAR_DAYS]) > 10
    mean = {k: sum(v) / len(v) for k, v in by_kind.items()}
    assert mean[DOMESTIC_DAYS] < mean[REGIONAL_DAYS] < mean[FAR_DAYS]


def test_lost_return_parcels_are_scanned_then_nothing(lossy: Stream) -> None:
    truth = {r.id: r for r in lossy.truth_by_kind("refund")}
    delivered = {e.order_id for e in lossy.events if isinstance(e, ShipmentDelivered)}
    labels = _labels(lossy)
    lost = [r for r in lossy.refunds.values() if truth[r.refund_id].scenario == LOST]
    assert len(lost) >= 20
    assert lossy.counts["lost_return_parcels"] >= len(lost)
    policies = {r.policy for r in lost}
    assert {"on_first_scan", "manual_override"} <= policies
    with_transit = 0
    for r in lost:
        assert not truth[r.refund_id].fraud
        assert r.order_id in delivered  # the outbound parcel arrived
        assert r.return_id is not None and r.order_id in labels
        scans = lossy.scans_by_order[r.order_id]
        kinds = sorted(s.scan_type for s in scans)
        assert kinds in (["first_scan"], ["first_scan", "in_transit"])
        with_transit += kinds == ["first_scan", "in_transit"]
        assert not lossy.receipts_by_order.get(r.order_id)
        returned = set(lossy.requests[r.return_id].skus)
        items = lossy.orders[r.order_id].items
        goods_g = sum(i.weight_g * i.quantity for i in items if i.sku in returned)
        first = next(s for s in scans if s.scan_type == "first_scan")
        assert first.weight_g >= 0.98 * goods_g  # the goods sent back, and a box
        assert all(s.location_country == scans[0].location_country for s in scans)
        if r.policy == "manual_override":
            # chased up by the customer about a week after the first scan, or refunded at once
            # by an override before the parcel was even sent
            assert r.issued_by == "agent"
    assert with_transit >= 1


def test_losing_parcels_moves_nothing_else(tmp_path: Path) -> None:
    """The loss is drawn from its own stream and the lines it removes are taken off the
    budget: every refund of the loss-free run is there, with the same id, money and people
    (those whose parcel was lost are relabelled, or refunded by an agent instead)."""
    base = load_stream(
        simulate(SimConfig(seed=4, events=20_000, lost_return_parcel_rate=0.0), tmp_path / "a")
    )
    lossy = load_stream(
        simulate(SimConfig(seed=4, events=20_000, lost_return_parcel_rate=0.05), tmp_path / "b")
    )
    truth_b = {r.id: r for r in lossy.truth_by_kind("refund")}
    missing = []
    for rid, r in base.refunds.items():
        other = lossy.refunds.get(rid)
        if other is None:
            missing.append(r)
            continue
        assert (other.order_id, other.amount_cents, other.customer_id, other.agent_id) == (
            r.order_id,
            r.amount_cents,
            r.customer_id,
            r.agent_id,
        )
    for r in missing:  # a refund on receipt whose parcel never came: an agent refunded it
        assert r.policy == "on_receipt"
        again = [x for x in lossy.refunds.values() if x.order_id == r.order_id]
        assert all(truth_b[x.refund_id].scenario == LOST for x in again)
    assert base.orders.keys() == lossy.orders.keys()
    assert len(missing) >= 1

"""Order and parcel facts: the learned route transit times against a brute-force recount,
and the rules for when a scanned parcel still counts as on its way."""

from __future__ import annotations

import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from vigil.detectors.order_facts import (
    TRANSIT_DECAY_PER_DAY,
    TRANSIT_MAX_MS,
    TRANSIT_MIN_MS,
    TransitHistogram,
    TransitModel,
    earliest_route,
    normal_transit_ms,
    on_its_way,
    return_status,
    route_of,
    teach_transit,
)
from vigil.detectors.settings import EmptyBoxSettings, RefundWithoutReturnSettings
from vigil.events.schemas import CarrierScan

DAY = 86_400_000
T0 = 1_767_571_200_000


class _Ctx:
    def __init__(self) -> None:
        self.state: dict[str, dict[str, Any]] = {}

    @property
    def watermark_ms(self) -> int:
        return 0

    def keyed(self, namespace: str) -> dict[str, Any]:
        return self.state.setdefault(namespace, {})

    def set_timer(self, fire_at_ms: int, key: str, payload: Any = None, phase: int = 0) -> None:
        raise AssertionError("not expected")

    def window_add(self, name: str, key: str, time_ms: int, value: Any) -> None:
        raise AssertionError("not expected")


def _brute(observed: list[tuple[int, int]], now: int, q: float) -> tuple[float, float]:
    """(decayed weight, q quantile in ms) of the parcels received strictly before ``now``."""
    masses = [0.0] * TransitHistogram.BINS
    for t, transit in observed:
        if t < now:
            b = min(TransitHistogram.BINS - 1, int(math.log(max(1, transit // 60_000)) / 0.1))
            masses[b] += TRANSIT_DECAY_PER_DAY ** ((now - t) / DAY)
    total = sum(masses)
    target, acc = q * total, 0.0
    for i, w in enumerate(masses):
        if w > 0 and acc + w >= target:
            return total, math.exp((i + (target - acc) / w) * 0.1) * 60_000
        acc += w
    return total, math.inf


observations = st.lists(
    st.tuples(st.integers(0, 200 * DAY), st.integers(60_000, 20 * DAY)), min_size=1, max_size=60
)


@settings(max_examples=60)
@given(obs=observations, q=st.sampled_from([0.5, 0.9, 0.99]))
def test_the_route_histogram_equals_a_brute_force_recount(
    obs: list[tuple[int, int]], q: float
) -> None:
    """Taught in event-time order (as timers teach it), read after every update."""
    obs = sorted(obs)
    state = TransitHistogram.new()
    seen: list[tuple[int, int]] = []
    for t, transit in obs:
        TransitHistogram.fold(state, t)
        TransitHistogram.add(state, t, transit)
        seen.append((t, transit))
        now = t + 1
        TransitHistogram.fold(state, now)
        weight, quantile = _brute(seen, now, q)
        assert math.isclose(TransitHistogram.weight(state, now), weight, rel_tol=1e-9)
        assert math.isclose(TransitHistogram.quantile_ms(state, q), quantile, rel_tol=1e-9)


def test_updates_at_the_instant_read_are_not_seen_then() -> None:
    """Two timers at one instant (a receipt teaching, a deadline reading) must not depend on
    which fires first: a read at ``t`` sees only parcels received before ``t``."""
    model = TransitModel(min_parcels=0.5)
    ctx = _Ctx()
    teach_transit(ctx, "US>89506", T0, T0 + 2 * DAY)
    before = normal_transit_ms(ctx, "US>89506", T0 + 2 * DAY, model)
    assert before == model.prior_ms
    after = normal_transit_ms(ctx, "US>89506", T0 + 2 * DAY + 1, model)
    assert 2 * DAY * 1.25 <= after <= 2 * DAY * 1.25 * 1.11


def test_prior_until_enough_parcels_then_the_quantile_with_its_margin_within_bounds() -> None:
    model = TransitModel()
    ctx = _Ctx()
    route = route_of("US", "89506")
    for n in range(19):
        teach_transit(ctx, route, T0 + n * DAY, T0 + n * DAY + 3 * DAY)
    assert normal_transit_ms(ctx, route, T0 + 30 * DAY, model) == model.prior_ms
    for n in range(19, 40):
        teach_transit(ctx, route, T0 + n * DAY, T0 + n * DAY + 3 * DAY)
    learned = normal_transit_ms(ctx, route, T0 + 45 * DAY, model)
    assert 3 * DAY * 1.25 <= learned <= 3 * DAY * 1.25 * 1.11
    assert normal_transit_ms(ctx, "JP>2170", T0 + 45 * DAY, model) == model.prior_ms
    fast, slow = _Ctx(), _Ctx()
    for n in range(40):
        teach_transit(fast, route, T0 + n * DAY, T0 + n * DAY + 10 * 60_000)
        teach_transit(slow, route, T0 + n * DAY, T0 + n * DAY + 80 * DAY)
    assert normal_transit_ms(fast, route, T0 + 50 * DAY, model) == TRANSIT_MIN_MS
    assert normal_transit_ms(slow, route, T0 + 50 * DAY, model) == TRANSIT_MAX_MS


def test_old_parcels_fade() -> None:
    """A year later, forty parcels weigh about 40 x 0.99^365 = 1: back to the prior."""
    model = TransitModel()
    ctx = _Ctx()
    for n in range(40):
        teach_transit(ctx, "US>89506", T0 + n * 3_600_000, T0 + n * 3_600_000 + 2 * DAY)
    assert normal_transit_ms(ctx, "US>89506", T0 + 10 * DAY, model) < model.prior_ms
    assert normal_transit_ms(ctx, "US>89506", T0 + 365 * DAY, model) == model.prior_ms


def _scan(t: int, country: str, read: str | None) -> CarrierScan:
    return CarrierScan(
        event_id=f"e{t}{country}",
        event_time_ms=t,
        return_id="ret1",
        order_id="o1",
        tracking_id="trk",
        scan_type="first_scan",
        weight_g=1_000,
        location_country=country,
        destination_postal_code=read,
    )


def test_routes_and_their_ties() -> None:
    assert route_of("GB", "cv3 4pe") == "GB>CV34PE"
    assert route_of("US", None) == "US>?"
    assert earliest_route(None, None, _scan(T0, "US", "89506")) == "US>89506"
    assert earliest_route(T0, "US>89506", _scan(T0 + 1, "DE", "04159")) == "US>89506"
    assert earliest_route(T0, "US>89506", _scan(T0 - 1, "DE", "04159")) == "DE>04159"
    # two scans at the same instant: the smaller route, whichever arrived first
    a, b = _scan(T0, "US", "89506"), _scan(T0, "CA", "89506")
    assert earliest_route(T0, earliest_route(None, None, a), b) == "CA>89506"
    assert earliest_route(T0, earliest_route(None, None, b), a) == "CA>89506"


def test_return_status_and_on_its_way() -> None:
    model = TransitModel()
    ctx = _Ctx()
    entry = [T0 + 5 * DAY, T0, T0 + 2 * DAY, None, "US>89506", None]
    status = return_status(entry, T0 + 9 * DAY)
    assert status.delivered and not status.received and status.first_scan_ms == T0 + 2 * DAY
    assert on_its_way(ctx, status, T0 + 9 * DAY, T0 + 9 * DAY, model)  # 2 + 10 > 9
    assert not on_its_way(ctx, status, T0 + 13 * DAY, T0 + 13 * DAY, model)
    assert return_status(entry, T0 + DAY).first_scan_ms is None  # scanned after the deadline
    assert return_status(T0, T0 + DAY) == (True, False, None, None, None)
    assert return_status(None, T0) == (False, False, None, None, None)


def test_the_detectors_read_routes_alike() -> None:
    """``agent_refunds`` uses ``TransitModel()``; the other two carry the same defaults."""
    m = TransitModel()
    for s in (RefundWithoutReturnSettings(), EmptyBoxSettings()):
        got = (s.transit_quantile, s.transit_margin, s.transit_prior_ms, s.transit_min_parcels)
        assert got == (m.quantile, m.margin, m.prior_ms, m.min_parcels)

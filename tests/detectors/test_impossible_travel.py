"""Impossible travel: the geography table, the rule, and its use in ``session_risk``."""

from __future__ import annotations

import pytest

from vigil.detectors.base import Alert
from vigil.detectors.insider.profile_settings import AgentRankingSettings
from vigil.detectors.insider.profiles import SessionFact
from vigil.detectors.insider.ranking import impossible_travel_pairs
from vigil.detectors.insider.session_risk import (
    REASON_IMPOSSIBLE_TRAVEL,
    REASON_NEW_DEVICE,
    SessionRiskDetector,
)
from vigil.detectors.settings import SessionRiskSettings
from vigil.events.schemas import EventBase
from vigil.features.geo import (
    CENTROIDS,
    NEIGHBOURS,
    are_neighbours,
    distance_km,
    implied_speed_kmh,
    is_impossible_travel,
)
from vigil.runtime.harness import run_events
from vigil.sim.agents import OFFICES
from vigil.sim.world import COUNTRIES

from ._factories import DAY, HOUR, MINUTE, T0, Events

HOUR_MS = 3_600_000
RULE = {"max_speed_kmh": 1_000.0, "min_distance_km": 800.0}


def test_every_simulated_country_and_office_has_a_centroid() -> None:
    codes = {c.code for c in COUNTRIES} | {office for office, _, _ in OFFICES}
    assert codes <= set(CENTROIDS), sorted(codes - set(CENTROIDS))


def test_centroids_are_valid_coordinates_and_neighbours_are_known_pairs() -> None:
    for code, (lat, lon) in CENTROIDS.items():
        assert len(code) == 2 and -90 <= lat <= 90 and -180 <= lon <= 180
    for pair in NEIGHBOURS:
        assert len(pair) == 2 and pair <= set(CENTROIDS)


def test_distances_match_known_figures_roughly() -> None:
    assert distance_km("US", "US") == 0.0
    assert distance_km("US", "XX") is None
    # Germany to Poland centres: a few hundred km; US to Romania: about 8,800 km
    d_de_pl = distance_km("DE", "PL")
    d_us_ro = distance_km("US", "RO")
    assert d_de_pl is not None and 500 < d_de_pl < 800
    assert d_us_ro is not None and 8_000 < d_us_ro < 9_500
    assert distance_km("JP", "US") == distance_km("US", "JP")


@pytest.mark.parametrize(
    ("a", "b", "hours", "expected"),
    [
        ("US", "RO", 1, True),  # 8,800 km in an hour
        ("GB", "IN", 1, True),
        ("PH", "US", 0, True),  # overlapping sessions on two continents
        ("US", "US", 1, False),  # same country
        ("US", "US", 0, False),
        ("DE", "PL", 1, False),  # neighbours
        ("DE", "AT", 0, False),
        ("GB", "IE", 0, False),
        ("US", "CA", 0, False),  # neighbours, although their centres are far apart
        ("US", "MX", 1, False),
        ("US", "JP", 24, False),  # a long-haul flight fits in a day
        ("IE", "IN", 12, False),
        ("US", "XX", 1, False),  # unknown country: no finding
    ],
)
def test_impossible_travel_rule(a: str, b: str, hours: int, expected: bool) -> None:
    assert is_impossible_travel(a, b, hours * HOUR_MS, **RULE) is expected
    assert is_impossible_travel(b, a, hours * HOUR_MS, **RULE) is expected
    assert are_neighbours(a, b) == are_neighbours(b, a)


def test_implied_speed() -> None:
    d = distance_km("US", "RO")
    assert d is not None
    assert implied_speed_kmh("US", "RO", 2 * HOUR_MS) == pytest.approx(d / 2)
    assert implied_speed_kmh("US", "RO", 0) == float("inf")
    assert implied_speed_kmh("US", "US", 0) == 0.0


def test_consecutive_session_pairs_for_the_ranking() -> None:
    def fact(sid: str, start_h: float, end_h: float | None, country: str) -> SessionFact:
        return SessionFact(
            session_id=sid,
            start_ms=int(start_h * HOUR_MS),
            end_ms=None if end_h is None else int(end_h * HOUR_MS),
            country=country,
            device_id="d",
            mfa=True,
        )

    settings = AgentRankingSettings()
    sessions = [
        fact("s1", 0, 8, "US"),
        fact("s2", 9, 17, "RO"),  # 1 h after s1 ended: impossible
        fact("s3", 40, 48, "RO"),
        fact("s4", 49, None, "GB"),  # 2,000 km in 1 h: impossible
        fact("s5", 49.5, 50, "IE"),  # s4 has no end: counted from its start; neighbours anyway
        fact("s6", 50.5, 51, "IN"),  # 7,000 km in 0.5 h: impossible
    ]
    pairs = impossible_travel_pairs(sessions, settings)
    assert [(p.from_session, p.to_session) for p in pairs] == [
        ("s1", "s2"),
        ("s3", "s4"),
        ("s5", "s6"),
    ]
    assert pairs[0].elapsed_ms == HOUR_MS and pairs[0].distance_km > 8_000


# --- in session_risk ----------------------------------------------------------------------


def _history(f: Events) -> list[EventBase]:
    """a1 (US, shift 08-16 UTC) works three normal days with MFA from laptop-1."""
    evs: list[EventBase] = [f.roster("a1", T0 - DAY)]
    for day in range(3):
        sid = f"s-normal-{day}"
        t = T0 + day * DAY + 8 * HOUR + 15 * MINUTE
        evs += [f.session(sid, "a1", t), f.session_end(sid, "a1", t + 7 * HOUR)]
    return evs


def _second_session(
    f: Events, country: str, device_id: str = "vm-9", refunds: int = 3
) -> list[EventBase]:
    """On day 3: a US session 08:15-09:00, then one from ``country`` at 10:00 (1 h later)."""
    day3 = T0 + 3 * DAY
    home = day3 + 8 * HOUR + 15 * MINUTE
    t = day3 + 10 * HOUR
    evs: list[EventBase] = [
        f.session("s-home", "a1", home),
        f.session_end("s-home", "a1", day3 + 9 * HOUR),
        f.session("s-far", "a1", t, device_id=device_id, ip="203.0.113.7", country=country),
    ]
    for i in range(refunds):
        evs.append(f.order(f"o{i}", T0 - DAY + i * HOUR, customer_id=f"c{i}"))
        evs.append(
            f.refund(
                f"r{i}",
                f"o{i}",
                t + (i + 1) * 5 * MINUTE,
                amount_cents=40_000,
                session_id="s-far",
                customer_id=f"c{i}",
            )
        )
    return evs


def _run(
    f: Events, evs: list[EventBase], settings: SessionRiskSettings | None = None
) -> list[Alert]:
    stream = [*sorted(evs, key=lambda e: e.event_time_ms), f.tick(T0 + 6 * DAY)]
    alerts, stats = run_events([SessionRiskDetector(settings)], stream)
    assert stats.reconciles()
    return alerts


def _alerts(f: Events, evs: list[EventBase]) -> list[str]:
    return [r for a in _run(f, evs) for r in a.reasons]


def test_two_sessions_an_hour_apart_on_two_continents_are_impossible_travel() -> None:
    f = Events()
    reasons = _alerts(f, [*_history(f), *_second_session(f, "RO")])
    assert REASON_IMPOSSIBLE_TRAVEL in reasons and REASON_NEW_DEVICE in reasons


@pytest.mark.parametrize("country", ["US", "CA", "MX"])
def test_same_or_neighbouring_country_is_not_impossible_travel(country: str) -> None:
    f = Events()
    reasons = _alerts(f, [*_history(f), *_second_session(f, country)])
    assert reasons, "the new device and the burst still alert"
    assert REASON_IMPOSSIBLE_TRAVEL not in reasons


def test_impossible_travel_weight_is_what_moves_the_score() -> None:
    f = Events()
    evs = [*_history(f), *_second_session(f, "RO", refunds=2)]
    with_w = _run(f, evs)
    without = _run(f, evs, SessionRiskSettings(impossible_travel_weight=0.0))
    assert with_w and without
    assert with_w[-1].score > without[-1].score
    assert "impossible travel US->RO" in with_w[-1].explanation
    assert REASON_IMPOSSIBLE_TRAVEL not in without[-1].reasons


def test_usual_laptop_abroad_is_not_alerted_even_when_travel_looks_impossible() -> None:
    """Corporate VPNs and coarse country centres: impossible travel alone never carries it."""
    f = Events()
    assert _alerts(f, [*_history(f), *_second_session(f, "RO", device_id="laptop-1")]) == []

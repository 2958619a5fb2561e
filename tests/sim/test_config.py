"""SimConfig: defaults, derived sizes and clear errors for bad settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from vigil.errors import ConfigError
from vigil.sim import DEFAULT_START_MS, SimConfig, simulate
from vigil.sim.config import DAY_MS, LIFECYCLE_MAX_DAYS


def test_defaults_are_the_documented_ones() -> None:
    cfg = SimConfig()
    assert cfg.seed == 1
    assert cfg.events == 1_000_000
    assert cfg.start_ms == DEFAULT_START_MS == 1_767_571_200_000  # 2026-01-05T00:00Z
    assert cfg.ads_share == pytest.approx(0.30)
    assert cfg.duplicate_rate == pytest.approx(0.005)
    assert cfg.malformed_rate == pytest.approx(0.001)
    assert cfg.very_late_fraction == pytest.approx(0.0001)
    assert cfg.very_late_min_s > 2 * 86_400
    assert cfg.insider_corrupt_agents == 2
    assert (cfg.ring_size_min, cfg.ring_size_max) == (15, 60)


def test_derived_population() -> None:
    cfg = SimConfig(events=1_000_000)
    assert cfg.n_customers == 50_000
    assert cfg.n_agents == 100  # one per 500 customers
    assert SimConfig(events=20_000).n_agents == 20  # never fewer than 20
    assert SimConfig(customers=12_345).n_customers == 12_345
    assert (
        cfg.end_ms == cfg.start_ms + (cfg.days + LIFECYCLE_MAX_DAYS + cfg.tail_margin_days) * DAY_MS
    )


def test_per_million_scales_and_never_rounds_a_scenario_away() -> None:
    assert SimConfig(events=10_000_000).per_million(2.0) == 20
    assert SimConfig(events=100_000).per_million(2.0) == 1
    assert SimConfig().per_million(0.0) == 0


def test_config_is_frozen() -> None:
    cfg = SimConfig()
    with pytest.raises(AttributeError):
        cfg.seed = 2  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "names"),
    [
        ({"events": 5}, "events"),
        ({"events": 1.5e6}, "events"),
        ({"duplicate_rate": -0.1}, "duplicate_rate"),
        ({"malformed_rate": 0.5}, "malformed_rate"),
        ({"ads_share": 1.0}, "ads_share"),
        ({"days": 3}, "days"),
        ({"tail_margin_days": 10}, "tail_margin_days"),
        ({"customers": 10}, "customers"),
        ({"min_agents": 5}, "min_agents"),
        ({"ring_size_min": 50, "ring_size_max": 20}, "ring_size_min"),
        ({"takeover_burst_min": 0}, "takeover_burst_min"),
        ({"family_size_max": 1}, "family_size_max"),
        ({"holiday_day": 60}, "holiday_day"),
        ({"holiday_factor": 0.5}, "holiday_factor"),
        ({"late_min_s": 600.0, "late_max_s": 60.0}, "late_max_s"),
        ({"late_min_s": 10.0}, "late_min_s"),
        ({"very_late_max_s": 3600.0}, "very_late_max_s"),
        ({"insider_corrupt_agents": 0}, "insider_corrupt_agents"),
        ({"insider_corrupt_agents": 30, "events": 20_000}, "insider_corrupt_agents"),
        ({"empty_box_ftid_share": 0.7, "empty_box_lookalike_share": 0.5}, "empty_box_ftid_share"),
        ({"campaigns": 5, "advertisers": 10}, "campaigns"),
        ({"rings_per_million": float("nan")}, "rings_per_million"),
        ({"seed": "one"}, "seed"),
        ({"return_rate": True}, "return_rate"),
    ],
)
def test_bad_settings_raise_config_error_naming_the_setting(
    kwargs: dict[str, object], names: str
) -> None:
    with pytest.raises(ConfigError) as info:
        SimConfig(**kwargs)  # type: ignore[arg-type]
    message = str(info.value)
    assert names in message
    assert "expected" in message


def test_simulate_refuses_a_non_config(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        simulate({"seed": 1}, tmp_path)  # type: ignore[arg-type]


def test_zero_rates_switch_scenarios_off(tmp_path: Path) -> None:
    cfg = SimConfig(
        events=20_000,
        insider_refunds_per_million=0.0,
        insider_corrupt_agents=0,
        takeover_sessions_per_million=0.0,
        empty_box_per_million=0.0,
        ftid_per_million=0.0,
        rings_per_million=0.0,
        serial_returner_share=0.0,
    )
    summary = simulate(cfg, tmp_path)
    assert summary.fraud_refunds == {
        "insider_refund": 0,
        "agent_takeover": 0,
        "empty_box": 0,
        "ring": 0,
        "serial_returner": 0,
    }
    assert summary.fraud_money_share == 0.0


def test_public_api_is_small_and_stable() -> None:
    import vigil.sim

    assert sorted(vigil.sim.__all__) == ["DEFAULT_START_MS", "SimConfig", "SimSummary", "simulate"]

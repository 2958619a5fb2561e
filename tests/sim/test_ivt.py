"""Invalid ad traffic (``vigil.sim.ivt``): off leaves the stream as it was; on, every scenario
shows up with ground truth, shaped like the people's traffic except where its scenario says."""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections import defaultdict
from pathlib import Path

import msgspec
import pytest

from vigil.cli.simulate import list_sim_params
from vigil.errors import ConfigError
from vigil.events.schemas import AdClick, AdImpression, OrderPlaced
from vigil.events.truth import IVT_SCENARIOS, TruthRecord
from vigil.sim import SimConfig, simulate
from vigil.sim.looks import BOTS, BROWSER_UAS, UNLISTED_DATACENTER, load_datacenter_sample
from vigil.sim.summary import SimSummary

from .conftest import Stream, load_stream

EVENTS = 20_000
#: sha256 of the non-ad lines (and of truth.jsonl) of seed 1 at 20,000 lines, written by the
#: simulator before ad events had an IP and a user agent (commit 812967e): switching invalid
#: traffic off must keep writing them
RETAIL_SHA256 = "a0b0428f3b326c1df6ee7c9daaf70f1ae0f23c4d2b154e656f07d73933a20b3c"
TRUTH_SHA256 = "14ec63414a43348508fb8fac52ef21a9076bce5c91bcc5895a94226654cef606"
AD_ID = re.compile(r"(imp|clk)-[0-9]+")
DEVICE_ID = re.compile(r"d-[0-9a-f]{12}")


def _run(tmp: Path, **params: object) -> SimSummary:
    return simulate(SimConfig(seed=params.pop("seed", 3), events=EVENTS, **params), tmp)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def ivt(tmp_path_factory: pytest.TempPathFactory) -> Stream:
    return load_stream(_run(tmp_path_factory.mktemp("ivt-on"), ivt_share=0.1))


@pytest.fixture(scope="module")
def ivt_off(tmp_path_factory: pytest.TempPathFactory) -> Stream:
    return load_stream(_run(tmp_path_factory.mktemp("ivt-off")))


def _ad_events(s: Stream) -> list[AdImpression | AdClick]:
    return [e for e in s.events if isinstance(e, (AdImpression, AdClick))]


def _ad_id(e: AdImpression | AdClick) -> str:
    return e.click_id if isinstance(e, AdClick) else e.impression_id


def _invalid(s: Stream) -> dict[str, TruthRecord]:
    return {r.id: r for r in s.truth if r.kind in ("ad_click", "ad_impression")}


def _in(ip: str, nets: list[ipaddress.IPv4Network]) -> bool:
    a = ipaddress.IPv4Address(ip)
    return any(a in n for n in nets)


def test_off_writes_the_stream_of_before_with_ip_and_user_agent_on_ads(tmp_path: Path) -> None:
    summary = _run(tmp_path, seed=1)
    lines = summary.events_path.read_bytes().splitlines()
    retail = [line for line in lines if b'"type":"ad_' not in line]
    assert hashlib.sha256(b"\n".join(retail)).hexdigest() == RETAIL_SHA256
    assert hashlib.sha256(summary.truth_path.read_bytes()).hexdigest() == TRUTH_SHA256
    assert "invalid_ad_traffic" not in summary.counts


def test_people_have_a_stable_browser_and_address_per_device(ivt_off: Stream) -> None:
    ads = _ad_events(ivt_off)
    assert ads and all(e.user_agent in BROWSER_UAS and e.ip for e in ads)
    looks: dict[str, set[str | None]] = defaultdict(set)
    for e in ads:
        looks[e.device_id].add(e.user_agent)
    assert all(len(uas) == 1 for uas in looks.values())
    assert len({e.user_agent for e in ads}) >= 15
    # a customer's ads come from an address their logins and orders use
    order_ips = {(o.device_id, o.ip) for o in ivt_off.orders.values()}
    clicked = [c for c in ivt_off.clicks.values() if (c.device_id, c.ip) in order_ips]
    assert len(clicked) > len(ivt_off.clicks) // 10
    assert not _invalid(ivt_off)


def test_same_seed_same_bytes_with_ivt_on(ivt: Stream, tmp_path: Path) -> None:
    again = _run(tmp_path, ivt_share=0.1)
    for a, b in (
        (ivt.summary.events_path, again.events_path),
        (ivt.summary.truth_path, again.truth_path),
        (ivt.summary.summary_path, again.summary_path),
    ):
        assert a.read_bytes() == b.read_bytes(), a.name


def test_on_leaves_every_human_line_as_it_was(ivt: Stream, ivt_off: Stream) -> None:
    """Retail events are the same (event ids and ads' renumbered click ids aside)."""

    def key(e: object) -> tuple[str, str]:
        fields = msgspec.structs.asdict(e)  # type: ignore[arg-type]
        fields.pop("event_id")
        fields.pop("ad_click_id", None)
        return (type(e).__name__, repr(sorted(fields.items())))

    def retail(s: Stream) -> list[tuple[str, str]]:
        return sorted(key(e) for e in s.events if not isinstance(e, (AdImpression, AdClick)))

    assert retail(ivt) == retail(ivt_off)
    people = [e for e in _ad_events(ivt) if _ad_id(e) not in _invalid(ivt)]
    assert len(people) >= len(_ad_events(ivt_off))
    assert {r.id for r in ivt.truth if r.kind == "refund"} == {
        r.id for r in ivt_off.truth if r.kind == "refund"
    }


def test_every_scenario_has_truth_that_names_real_events(ivt: Stream) -> None:
    invalid = _invalid(ivt)
    by_id = {_ad_id(e): e for e in _ad_events(ivt)}
    assert set(invalid) <= set(by_id)
    assert {r.scenario for r in invalid.values()} == set(IVT_SCENARIOS)
    for r in invalid.values():
        e = by_id[r.id]
        assert r.fraud
        assert r.kind == ("ad_click" if isinstance(e, AdClick) else "ad_impression")
        assert (r.campaign_id, r.advertiser_id, r.cost_micros) == (
            e.campaign_id,
            e.advertiser_id,
            e.cost_micros,
        )
    counts = ivt.counts["invalid_ad_traffic"]
    assert counts["invalid_clicks"] + counts["invalid_impressions"] == len(invalid)
    share = len(invalid) / len(by_id)
    assert 0.07 < share < 0.13


def test_invalid_events_look_like_the_peoples(ivt: Stream) -> None:
    invalid = _invalid(ivt)
    ads = _ad_events(ivt)
    valid = [e for e in ads if _ad_id(e) not in invalid]
    bad = [e for e in ads if _ad_id(e) in invalid]
    for e in ads:
        assert AD_ID.fullmatch(_ad_id(e)) and DEVICE_ID.fullmatch(e.device_id), e
    campaigns = {(e.campaign_id, e.advertiser_id, e.platform) for e in valid}
    shared = [e for e in bad if (e.campaign_id, e.advertiser_id, e.platform) in campaigns]
    assert len(shared) > 0.95 * len(bad)
    assert {e.platform for e in bad} == {e.platform for e in valid}
    bot_uas = {ua for ua, _ in BOTS}
    for e in bad:
        scenario = invalid[_ad_id(e)].scenario
        assert e.user_agent in (bot_uas if scenario == "bot_ua" else BROWSER_UAS), e
    # ids are numbered from one counter: invalid ids fall among the people's
    numbers = sorted(int(_ad_id(e)[4:]) for e in bad if isinstance(e, AdClick))
    people = sorted(int(_ad_id(e)[4:]) for e in valid if isinstance(e, AdClick))
    assert numbers[0] < people[len(people) // 2] < numbers[-1]


def test_each_scenario_is_marked_by_what_marks_it(ivt: Stream) -> None:
    invalid = _invalid(ivt)
    ads = _ad_events(ivt)
    by_scenario: dict[str, list[AdImpression | AdClick]] = defaultdict(list)
    for e in ads:
        r = invalid.get(_ad_id(e))
        by_scenario[r.scenario if r else "valid"].append(e)
    sample = [ipaddress.IPv4Network(c) for c in load_datacenter_sample()]
    unlisted = [ipaddress.IPv4Network(c) for c in UNLISTED_DATACENTER]
    # data-centre traffic: mostly in the sample's ranges, some in hosting ranges it lacks;
    # no person is in either
    dc = by_scenario["datacenter"]
    listed = sum(_in(e.ip or "", sample) for e in dc)
    assert 0.5 * len(dc) <= listed < len(dc)
    assert all(_in(e.ip or "", sample + unlisted) for e in dc)
    assert not any(_in(e.ip or "", sample + unlisted) for e in by_scenario["valid"])
    # farms: many devices on few IPs, mostly clicks
    farm = by_scenario["click_farm"]
    devices_per_ip: dict[str | None, set[str]] = defaultdict(set)
    for e in farm:
        devices_per_ip[e.ip].add(e.device_id)
    assert max(len(d) for d in devices_per_ip.values()) >= 10
    assert sum(isinstance(e, AdClick) for e in farm) > 0.7 * len(farm)
    # bursts: one device or IP clicks one campaign at least 5 times within 10 minutes
    clicks: dict[tuple[str | None, str], list[int]] = defaultdict(list)
    for e in by_scenario["click_burst"]:
        if isinstance(e, AdClick):
            clicks[(e.ip, e.campaign_id)].append(e.event_time_ms)
    assert any(len(ts) >= 5 and sorted(ts)[4] - min(ts) <= 10 * 60_000 for ts in clicks.values())
    # no impression of the campaign on that device before the click
    seen: dict[tuple[str, str], int] = {}
    for e in ads:
        if isinstance(e, AdImpression):
            k = (e.device_id, e.campaign_id)
            seen[k] = min(seen.get(k, e.event_time_ms), e.event_time_ms)
    for e in by_scenario["no_impression"]:
        assert isinstance(e, AdClick)
        assert seen.get((e.device_id, e.campaign_id), 2**63) > e.event_time_ms
    # injected clicks: the same device orders under a second later
    orders: dict[str, list[int]] = defaultdict(list)
    for o in ivt.events:
        if isinstance(o, OrderPlaced):
            orders[o.device_id].append(o.event_time_ms)
    for e in by_scenario["click_injection"]:
        assert any(80 <= t - e.event_time_ms <= 900 for t in orders[e.device_id]), e
    # people: some click twice, some buy within seconds of the click (never under 3 s)
    counts = ivt.counts["invalid_ad_traffic"]
    assert counts["human_repeat_clicks"] > 0 and counts["human_fast_clicks"] > 0
    attributed = {o.ad_click_id: o for o in ivt.orders.values() if o.ad_click_id}
    gaps = [
        attributed[e.click_id].event_time_ms - e.event_time_ms
        for e in by_scenario["valid"]
        if isinstance(e, AdClick) and e.click_id in attributed
    ]
    assert gaps and min(gaps) >= 3_000 and sum(g < 30_000 for g in gaps) >= 1


def test_patterns_vary_with_the_seed(ivt: Stream, tmp_path: Path) -> None:
    other = load_stream(_run(tmp_path, seed=4, ivt_share=0.1))
    a, b = _invalid(ivt), _invalid(other)
    ips = [{e.ip for e in _ad_events(s) if _ad_id(e) in inv} for s, inv in ((ivt, a), (other, b))]
    assert len(ips[0] & ips[1]) < 0.2 * len(ips[0])
    assert ivt.counts["invalid_ad_traffic"] != other.counts["invalid_ad_traffic"]


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"ivt_share": 0.6}, "ivt_share"),
        ({"ivt_share": -0.1}, "ivt_share"),
        ({"ivt_bot_weight": -1.0}, "ivt_bot_weight"),
        ({"ivt_datacenter_unlisted_share": 1.5}, "ivt_datacenter_unlisted_share"),
        ({"ivt_farm_devices_min": 50, "ivt_farm_devices_max": 40}, "ivt_farm_devices_min"),
        (
            {
                "ivt_share": 0.1,
                "ivt_bot_weight": 0,
                "ivt_datacenter_weight": 0,
                "ivt_click_farm_weight": 0,
                "ivt_click_burst_weight": 0,
                "ivt_no_impression_weight": 0,
                "ivt_click_injection_weight": 0,
            },
            "ivt_*_weight",
        ),
    ],
)
def test_bad_settings_are_named(kwargs: dict[str, object], name: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(name)):
        SimConfig(**kwargs)  # type: ignore[arg-type]


def test_settings_are_listed() -> None:
    listed = list_sim_params()
    assert "ivt_share = 0.0" in listed
    assert "ivt_click_farm_weight = " in listed


def test_datacenter_sample_is_a_few_dozen_valid_ranges() -> None:
    ranges = load_datacenter_sample()
    assert 30 <= len(ranges) <= 100
    nets = [ipaddress.IPv4Network(c) for c in ranges]
    for u in UNLISTED_DATACENTER:
        assert not any(ipaddress.IPv4Network(u).overlaps(n) for n in nets), u

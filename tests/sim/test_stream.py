"""The stream as a whole: size, validity, disorder, duplicates, time span, references."""

from __future__ import annotations

import itertools
from collections import Counter
from pathlib import Path

import msgspec
import pytest

from vigil.events import DecodeFailure, decode_one
from vigil.events.schemas import (
    AgentAction,
    CustomerLogin,
    RefundIssued,
)
from vigil.sim import SimConfig, simulate
from vigil.sim.config import DAY_MS

from .conftest import DEFAULT_EVENTS, Stream, load_stream


def test_line_count_hits_the_target(stream: Stream) -> None:
    assert len(stream.raw) == stream.summary.lines == stream.counts["events_written"]
    assert abs(len(stream.raw) - DEFAULT_EVENTS) <= 0.02 * DEFAULT_EVENTS


@pytest.mark.parametrize(
    "kwargs",
    [
        {"events": 5_000},
        {"events": 25_000, "ads_share": 0.0},
        {"events": 40_000, "ads_share": 0.6, "duplicate_rate": 0.05, "malformed_rate": 0.02},
        {"events": 60_000, "days": 20, "seed": 7},
    ],
)
def test_line_count_hits_other_targets(kwargs: dict[str, float], tmp_path: Path) -> None:
    summary = simulate(SimConfig(**kwargs), tmp_path)  # type: ignore[arg-type]
    lines = (tmp_path / "events.jsonl").read_bytes().count(b"\n")
    assert lines == summary.lines
    assert abs(lines - kwargs["events"]) <= 0.02 * kwargs["events"]
    counts = summary.counts
    assert counts["last_event_ms"] - counts["last_refund_ms"] >= 14 * DAY_MS


def test_every_line_decodes_except_exactly_the_malformed_ones(stream: Stream) -> None:
    failures = [d for d in stream.decoded if isinstance(d, DecodeFailure)]
    assert len(failures) == stream.counts["malformed"] == stream.summary.malformed
    assert stream.counts["malformed"] > 0
    kinds = stream.counts["malformed_by_kind"]
    assert sum(kinds.values()) == len(failures)
    assert all(kinds[k] > 0 for k in ("truncated", "wrong_type", "missing_field", "unknown_type"))


def test_malformed_lines_are_extra_copies_of_good_events(stream: Stream) -> None:
    """Whatever id a broken line still shows, the intact event with that id is there too."""
    good_ids = {e.event_id for e in stream.events}
    for d in stream.decoded:
        if isinstance(d, DecodeFailure) and d.event_id is not None:
            assert d.event_id in good_ids


def test_duplicates_are_exact_resends(stream: Stream) -> None:
    ids = Counter(e.event_id for e in stream.decoded if not isinstance(e, DecodeFailure))
    repeated = {i: n for i, n in ids.items() if n > 1}
    assert sum(n - 1 for n in repeated.values()) == stream.counts["duplicates"] > 0
    lines_by_id: dict[str, set[bytes]] = {}
    for raw, d in zip(stream.raw, stream.decoded, strict=True):
        if not isinstance(d, DecodeFailure) and d.event_id in repeated:
            lines_by_id.setdefault(d.event_id, set()).add(raw)
    assert all(len(lines) == 1 for lines in lines_by_id.values())
    assert stream.counts["unique_events"] == len(ids)


def test_arrival_is_out_of_order_and_lateness_is_bounded(stream: Stream) -> None:
    cfg = stream.config
    high = 0
    lateness = []
    for d in stream.decoded:
        if isinstance(d, DecodeFailure):
            continue
        t = d.event_time_ms
        lateness.append(max(0, high - t))
        high = max(high, t)
    bound_ms = (cfg["very_late_max_s"] + cfg["duplicate_delay_max_s"]) * 1000
    assert max(lateness) <= bound_ms
    assert sum(1 for x in lateness if x > 0) > 0.015 * len(lateness)  # plenty of reordering
    assert sum(1 for x in lateness if x > 10 * 60_000) > 0.3 * stream.counts["late"]
    assert sum(1 for x in lateness if x > 2 * DAY_MS) >= 1
    assert stream.counts["very_late"] >= 1
    assert 0.015 < stream.counts["late"] / stream.counts["unique_events"] < 0.025


def test_lateness_follows_the_configured_bounds(tmp_path: Path) -> None:
    cfg = SimConfig(
        events=20_000,
        very_late_fraction=0.0,
        late_fraction=0.05,
        late_min_s=60.0,
        late_max_s=300.0,
        duplicate_delay_max_s=30.0,
        on_time_delay_max_ms=5_000.0,
    )
    s = load_stream(simulate(cfg, tmp_path))
    high = 0
    worst = 0
    for d in s.decoded:
        if not isinstance(d, DecodeFailure):
            worst = max(worst, high - d.event_time_ms)
            high = max(high, d.event_time_ms)
    assert 60_000 <= worst <= (300 + 30) * 1000
    assert s.counts["very_late"] == 0


def test_stream_runs_on_at_least_14_days_after_the_last_refund(stream: Stream) -> None:
    last_refund = max(r.event_time_ms for r in stream.refunds.values())
    last_event = max(e.event_time_ms for e in stream.events)
    assert last_refund == stream.counts["last_refund_ms"]
    assert last_event - last_refund >= 14 * DAY_MS
    # and it is background traffic all along, not a lone final event
    tail = [e for e in stream.events if e.event_time_ms > last_refund]
    days = {e.event_time_ms // DAY_MS for e in tail}
    assert len(days) >= 14
    assert any(isinstance(e, CustomerLogin) for e in tail)


def test_agents_are_rostered_first_and_every_session_action_is_inside_its_session(
    stream: Stream,
) -> None:
    n_agents = stream.counts["agents"]
    first = [decode_one(line, 1) for line in stream.raw[:n_agents]]
    assert [type(e).__name__ for e in first] == ["AgentRostered"] * n_agents
    assert len(stream.rosters) == n_agents
    for action in stream.actions:
        _assert_in_session(stream, action)
    for refund in stream.refunds.values():
        if refund.issued_by == "agent":
            _assert_in_session(stream, refund)
        else:
            assert refund.session_id is None and refund.agent_id is None


def _assert_in_session(stream: Stream, ev: AgentAction | RefundIssued) -> None:
    assert ev.session_id is not None
    start = stream.sessions[ev.session_id]
    end = stream.session_ends[ev.session_id]
    assert start.agent_id == ev.agent_id == end.agent_id
    assert start.event_time_ms < ev.event_time_ms < end.event_time_ms


def test_refunds_returns_and_scans_refer_to_earlier_orders(stream: Stream) -> None:
    for r in stream.refunds.values():
        order = stream.orders[r.order_id]
        assert order.customer_id == r.customer_id
        assert order.event_time_ms < r.event_time_ms
        assert 0 < r.amount_cents <= order.total_cents
        if r.return_id is not None:
            req = stream.requests[r.return_id]
            assert req.order_id == r.order_id
            assert req.event_time_ms <= r.event_time_ms
    for req in stream.requests.values():
        assert req.order_id in stream.orders
        assert (req.agent_id is not None) == (req.channel == "agent")
    for scans in stream.scans_by_order.values():
        for scan in scans:
            assert scan.return_id in stream.requests


def test_orders_add_up_and_ad_clicks_come_first_from_the_same_device(stream: Stream) -> None:
    attributed = 0
    for o in stream.orders.values():
        assert o.total_cents == sum(i.price_cents * i.quantity for i in o.items)
        if o.ad_click_id is not None:
            attributed += 1
            click = stream.clicks[o.ad_click_id]
            assert click.device_id == o.device_id
            assert click.event_time_ms < o.event_time_ms
    assert 0.02 < attributed / len(stream.orders) < 0.1


def test_composition(stream: Stream) -> None:
    by_type = stream.counts["events_by_type"]
    ads = by_type["ad_impression"] + by_type["ad_click"]
    assert 0.27 < ads / stream.counts["unique_events"] < 0.33
    returned = len({r.order_id for r in stream.requests.values()})
    assert 0.10 < returned / len(stream.orders) < 0.16
    channels = Counter(r.channel for r in stream.requests.values())
    assert channels["self_service"] > 3 * channels["agent"] > 0
    policies = Counter(r.policy for r in stream.refunds.values())
    assert set(policies) == {"on_receipt", "on_first_scan", "returnless", "manual_override"}
    assert policies["on_receipt"] > policies["manual_override"]
    mfa = Counter(s.mfa for s in stream.sessions.values())
    assert 0.9 < mfa[True] / len(stream.sessions) < 0.995


def test_returnless_refunds_are_cheap_unless_an_agent_gives_them(stream: Stream) -> None:
    fraud = {r.id for r in stream.truth_by_kind("refund") if r.fraud}
    for r in stream.refunds.values():
        # a ring's returnless refunds are mid-value by design (ring_returnless_share)
        if r.policy == "returnless" and r.issued_by == "system" and r.refund_id not in fraud:
            assert r.amount_cents < 2_500
            assert not stream.scans_by_order.get(r.order_id)


def test_simulation_json_records_config_and_counts(stream: Stream) -> None:
    doc = msgspec.json.decode(stream.summary.summary_path.read_bytes())
    assert doc["config"]["seed"] == 1
    assert doc["config"]["events"] == DEFAULT_EVENTS
    counts = doc["counts"]
    for key in (
        "events_written",
        "duplicates",
        "malformed",
        "late",
        "very_late",
        "refunds",
        "fraud_refunds",
        "trap_subjects",
        "fraud_money_share",
    ):
        assert key in counts
    assert counts["refunds"] == len(stream.refunds)
    assert sum(counts["events_by_type"].values()) == counts["unique_events"]


def test_progress_is_reported_cumulatively(tmp_path: Path) -> None:
    seen: list[int] = []
    summary = simulate(
        SimConfig(events=20_000, progress_every=5_000), tmp_path, progress=seen.append
    )
    assert seen == sorted(seen)
    assert seen[-1] == summary.lines
    assert len(seen) >= 4
    assert all(b - a < 5_000 + 2_000 for a, b in itertools.pairwise(seen))


def test_new_customers_act_only_after_signing_up(stream: Stream) -> None:
    assert len(stream.signups) > 100
    for e in stream.events:
        customer = getattr(e, "customer_id", None)
        if customer is not None and customer in stream.signups:
            assert e.event_time_ms >= stream.signups[customer].event_time_ms

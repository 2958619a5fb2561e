"""Fraud scenarios and traps: present, rare, labelled, and shaped as the brief says."""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path
from statistics import mean, median

from vigil.events.schemas import CustomerLogin, OrderPlaced, RefundIssued, ShipmentDelivered
from vigil.events.truth import HEADLINE_SCENARIOS, SCENARIOS, TRAPS, TruthRecord
from vigil.sim import SimConfig, simulate
from vigil.sim.config import DAY_MS, HOUR_MS

from .conftest import Stream, load_stream


def _refund_truth(stream: Stream) -> dict[str, TruthRecord]:
    return {r.id: r for r in stream.truth_by_kind("refund")}


def _refunds_of(stream: Stream, *scenarios: str) -> list[RefundIssued]:
    truth = _refund_truth(stream)
    return [r for r in stream.refunds.values() if truth[r.refund_id].scenario in scenarios]


def _in_shift(stream: Stream, agent_id: str, t_ms: int) -> bool:
    roster = stream.rosters[agent_id]
    return (t_ms // HOUR_MS - roster.shift_start_hour) % 24 < 8


def test_every_refund_has_exactly_one_truth_record_and_vice_versa(stream: Stream) -> None:
    records = stream.truth_by_kind("refund")
    ids = Counter(r.id for r in records)
    assert all(n == 1 for n in ids.values())
    assert set(ids) == set(stream.refunds)
    for rec in records:
        ev = stream.refunds[rec.id]
        assert rec.amount_cents == ev.amount_cents
        assert rec.customer_id == ev.customer_id
        assert rec.order_id == ev.order_id
        assert rec.agent_id == ev.agent_id


def test_truth_labels_are_consistent(stream: Stream) -> None:
    for rec in stream.truth:
        if rec.scenario in SCENARIOS:
            assert rec.fraud
        elif rec.scenario in TRAPS or rec.scenario is None:
            assert not rec.fraud
        else:
            raise AssertionError(f"unknown scenario {rec.scenario!r}")
    assert all(r.kind == "refund" for r in stream.truth if r.scenario is None)


def test_every_scenario_and_trap_appears_with_defaults(stream: Stream) -> None:
    refund_scenarios = Counter(r.scenario for r in stream.truth_by_kind("refund"))
    for name in SCENARIOS:
        assert refund_scenarios[name] >= 1, name
    subjects = Counter((r.scenario, r.kind) for r in stream.truth)
    for name in TRAPS:
        assert sum(n for (s, _), n in subjects.items() if s == name) >= 1, name
    assert subjects[("insider_refund", "agent")] == 2
    assert subjects[("agent_takeover", "session")] >= 1
    assert subjects[("ring", "account")] >= 15
    assert subjects[("trap_escalation_agent", "agent")] >= 3
    assert subjects[("trap_traveller", "session")] >= 1
    assert subjects[("trap_family_device", "account")] >= 3


def test_serious_fraud_is_rare_by_count_but_large_by_money(stream: Stream) -> None:
    truth = _refund_truth(stream)
    headline = [
        r for r in stream.refunds.values() if truth[r.refund_id].scenario in HEADLINE_SCENARIOS
    ]
    share = len(headline) / len(stream.refunds)
    assert 0.001 < share < 0.01
    money = sum(r.amount_cents for r in stream.refunds.values())
    money_share = sum(r.amount_cents for r in headline) / money
    assert 0.10 < money_share < 0.45
    assert stream.counts["fraud_money_share"] == money_share
    assert stream.counts["headline_fraud_refunds"] == len(headline)
    assert sorted(r.amount_cents for r in headline)[len(headline) // 2] > 50_000  # median > $500


def test_insider_and_takeover_refunds_never_see_a_parcel(stream: Stream) -> None:
    refunds = _refunds_of(stream, "insider_refund", "agent_takeover")
    assert refunds
    for r in refunds:
        assert r.issued_by == "agent" and r.session_id is not None
        assert r.policy in ("manual_override", "returnless")
        assert not stream.scans_by_order.get(r.order_id)
        assert not stream.receipts_by_order.get(r.order_id)


def test_insider_refunds_come_from_corrupt_agents_in_their_ordinary_sessions(
    stream: Stream,
) -> None:
    corrupt = {r.id for r in stream.truth_by_kind("agent") if r.scenario == "insider_refund"}
    usual_devices: dict[str, Counter[str]] = defaultdict(Counter)
    for s in stream.sessions.values():
        usual_devices[s.agent_id][s.device_id] += 1
    for r in _refunds_of(stream, "insider_refund"):
        assert r.agent_id in corrupt
        assert r.session_id is not None
        session = stream.sessions[r.session_id]
        assert session.country == stream.rosters[session.agent_id].home_country
        assert _in_shift(stream, session.agent_id, session.event_time_ms)
        assert usual_devices[session.agent_id][session.device_id] > 5


def test_takeover_sessions_are_new_device_and_ip_bursts_in_several_variants(
    stream: Stream,
) -> None:
    taken = [r for r in stream.truth_by_kind("session") if r.scenario == "agent_takeover"]
    assert taken
    by_session = Counter(r.session_id for r in _refunds_of(stream, "agent_takeover"))
    for rec in taken:
        s = stream.sessions[rec.id]
        assert s.agent_id == rec.agent_id
        others = [
            o
            for o in stream.sessions.values()
            if o.agent_id == s.agent_id and o.session_id != rec.id
        ]
        assert others, "the victim is a real, working agent"
        assert all(o.device_id != s.device_id and o.ip != s.ip for o in others)
        assert 3 <= by_session[rec.id] <= 10
    assert sum(by_session.values()) == len(_refunds_of(stream, "agent_takeover"))


def test_empty_box_refunds_fire_on_first_scan_and_the_warehouse_finds_no_match(
    stream: Stream,
) -> None:
    refunds = _refunds_of(stream, "empty_box")
    assert refunds
    for r in refunds:
        scans = stream.scans_by_order[r.order_id]
        first = [s for s in scans if s.scan_type == "first_scan"]
        assert len(first) == 1 and first[0].event_time_ms < r.event_time_ms
        if r.policy != "on_first_scan":
            # a right-weight FTID refunded by an agent once the carrier said "delivered"
            assert r.policy == "manual_override" and r.issued_by == "agent"
            assert any(s.scan_type == "delivered" for s in scans)
            assert not stream.receipts_by_order.get(r.order_id)
            continue
        assert r.issued_by == "system"
        order = stream.orders[r.order_id]
        goods_g = sum(i.weight_g * i.quantity for i in order.items)
        receipts = stream.receipts_by_order.get(r.order_id, [])
        if receipts:
            (receipt,) = receipts
            assert not receipt.items_matched
            assert receipt.condition in ("empty", "wrong_item")
            if receipt.condition == "empty":
                assert first[0].weight_g < 0.5 * goods_g or goods_g < 1_000
        elif first[0].weight_g < 0.5 * goods_g:
            # the older fake tracking id: a light parcel scanned in another country
            assert first[0].location_country != order.country
        # else a right-weight, right-country FTID (tests/sim/test_ftid.py)


def test_legitimate_receipts_match_and_high_value_returns_arrive_intact(stream: Stream) -> None:
    truth = _refund_truth(stream)
    for r in stream.refunds.values():
        rec = truth[r.refund_id]
        if rec.fraud or r.return_id is None:
            continue
        for receipt in stream.receipts_by_order.get(r.order_id, []):
            assert receipt.items_matched
            if rec.scenario == "trap_high_value_return":
                assert receipt.condition == "intact"
    assert _refunds_of(stream, "trap_high_value_return")


def test_legitimate_manual_refunds_over_100_dollars_see_the_parcel_follow(stream: Stream) -> None:
    truth = _refund_truth(stream)
    checked = 0
    for r in stream.refunds.values():
        if r.policy != "manual_override" or truth[r.refund_id].fraud or r.amount_cents <= 10_000:
            continue
        if truth[r.refund_id].scenario in ("trap_lost_parcel", "trap_porch_theft"):
            continue  # lost or stolen: nothing to send back (see the not-received tests)
        if truth[r.refund_id].scenario == "trap_lost_return_parcel":
            continue  # the carrier lost the parcel on its way back (tests/sim/test_parcels.py)
        checked += 1
        assert r.return_id is not None
        first = [s for s in stream.scans_by_order[r.order_id] if s.scan_type == "first_scan"]
        (receipt,) = stream.receipts_by_order[r.order_id]
        assert 0.5 * DAY_MS <= first[0].event_time_ms - r.event_time_ms <= 5 * DAY_MS
        assert 2 * DAY_MS <= receipt.event_time_ms - r.event_time_ms <= 10 * DAY_MS
    assert checked >= 10


def test_legitimate_agent_refunds_without_return_are_small_unless_the_parcel_was_lost(
    stream: Stream,
) -> None:
    truth = _refund_truth(stream)
    delivered = {e.order_id for e in stream.events if isinstance(e, ShipmentDelivered)}
    for r in stream.refunds.values():
        rec = truth[r.refund_id]
        if r.issued_by == "agent" and not rec.fraud and not stream.scans_by_order.get(r.order_id):
            if rec.scenario == "trap_lost_parcel":
                assert r.order_id not in delivered
            elif rec.scenario == "trap_porch_theft":
                assert r.order_id in delivered  # reported delivered, then stolen
            else:
                assert r.amount_cents <= 10_000


def test_lost_parcels_are_high_value_never_delivered_never_returned(stream: Stream) -> None:
    refunds = _refunds_of(stream, "trap_lost_parcel")
    assert len(refunds) >= 3
    delivered = {e.order_id for e in stream.events if isinstance(e, ShipmentDelivered)}
    categories = set()
    for r in refunds:
        assert 20_000 <= r.amount_cents <= 200_000
        assert r.issued_by == "agent" and r.session_id is not None
        assert r.policy in ("manual_override", "returnless")
        assert r.order_id not in delivered
        assert not stream.scans_by_order.get(r.order_id)
        assert not stream.receipts_by_order.get(r.order_id)
        categories.update(i.category for i in stream.orders[r.order_id].items)
    assert categories & {"laptop", "console", "phone"}
    # every fraudulent order the carrier was asked about was delivered
    for rec in stream.truth_by_kind("order"):
        if rec.fraud:
            assert rec.id in delivered


def test_porch_thefts_are_delivered_dear_refunds_with_no_return(stream: Stream) -> None:
    """The trap that looks like an insider's refund: delivered, not received, refunded."""
    refunds = _refunds_of(stream, "trap_porch_theft")
    assert len(refunds) >= 2
    delivered = {e.order_id for e in stream.events if isinstance(e, ShipmentDelivered)}
    for r in refunds:
        assert 20_000 <= r.amount_cents <= 200_000
        assert r.issued_by == "agent" and r.policy in ("manual_override", "returnless")
        assert r.order_id in delivered
        assert not stream.scans_by_order.get(r.order_id)
        assert not stream.receipts_by_order.get(r.order_id)


def test_some_insider_clients_use_long_standing_accounts(tmp_path: Path) -> None:
    """Not every fraud account is new: aged accounts carry no sign-up in the stream (a
    stream with enough insiders that "some" cannot be missing by chance: the default one
    has two or three clients)."""
    cfg = SimConfig(seed=1, events=30_000, insider_refunds_per_million=600.0)
    st = load_stream(simulate(cfg, tmp_path))
    insiders = {rec.id for rec in st.truth_by_kind("account") if rec.scenario == "insider_refund"}
    assert len(insiders) >= 6
    assert any(c not in st.signups for c in insiders)
    assert any(c in st.signups for c in insiders)


def test_new_device_agent_sessions_are_legitimate_with_mfa_or_in_shift(stream: Stream) -> None:
    trap = [r for r in stream.truth_by_kind("session") if r.scenario == "trap_new_device_agent"]
    assert trap
    kinds = Counter()
    for rec in trap:
        s = stream.sessions[rec.id]
        assert s.country == stream.rosters[s.agent_id].home_country
        earlier = [
            o
            for o in stream.sessions.values()
            if o.agent_id == s.agent_id and o.event_time_ms < s.event_time_ms
        ]
        new_device = bool(earlier) and all(o.device_id != s.device_id for o in earlier)
        if not s.mfa:
            kinds["outage"] += 1  # MFA outage: usual device, in shift
            assert _in_shift(stream, s.agent_id, s.event_time_ms)
        elif new_device:
            kinds["laptop"] += 1
            assert all(o.ip != s.ip for o in earlier)
        else:
            kinds["overtime"] += 1
            assert not _in_shift(stream, s.agent_id, s.event_time_ms)
    assert kinds["laptop"] >= 1 and kinds["overtime"] >= 1 and kinds["outage"] >= 1
    refunds = _refunds_of(stream, "trap_new_device_agent")
    assert refunds
    for r in refunds:
        assert r.session_id in {rec.id for rec in trap}


def test_escalation_agents_issue_many_more_overrides_than_their_peers(stream: Stream) -> None:
    escalation = {
        r.id for r in stream.truth_by_kind("agent") if r.scenario == "trap_escalation_agent"
    }
    overrides = Counter(
        r.agent_id for r in stream.refunds.values() if r.policy == "manual_override"
    )
    esc = [overrides[a] for a in escalation]
    peers = [overrides[a] for a in stream.rosters if a not in escalation]
    assert mean(esc) > 3 * median(peers)
    assert min(esc) > 1.5 * median(peers)
    for r in _refunds_of(stream, "trap_escalation_agent"):
        assert r.agent_id in escalation
        assert stream.receipts_by_order[r.order_id]


def test_ring_accounts_share_a_few_devices_addresses_and_payments_across_countries(
    stream: Stream,
) -> None:
    ring_accounts = {r.id for r in stream.truth_by_kind("account") if r.scenario == "ring"}
    orders = [o for o in stream.orders.values() if o.customer_id in ring_accounts]
    n_rings = stream.config["rings_per_million"]  # 1 per million: one ring at 200k lines
    assert n_rings * stream.config["events"] / 1e6 < 1.5
    assert len({o.device_id for o in orders}) <= 4
    assert len({o.shipping_address_hash for o in orders}) <= 3
    assert len({o.payment_fingerprint for o in orders}) <= 3
    assert len({o.country for o in orders}) >= 3
    assert Counter(o.customer_id for o in orders).most_common(1)[0][1] <= 2  # few orders each
    assert _refunds_of(stream, "ring")


def test_family_members_share_a_device_and_an_address(stream: Stream) -> None:
    family = {r.id for r in stream.truth_by_kind("account") if r.scenario == "trap_family_device"}
    members_by_address: dict[str, set[str]] = defaultdict(set)
    for o in stream.orders.values():
        if o.customer_id in family:
            members_by_address[o.shipping_address_hash].add(o.customer_id)
    assert max(len(m) for m in members_by_address.values()) >= 3


def test_travellers_log_in_from_abroad_and_travelling_agents_keep_mfa_in_shift(
    stream: Stream,
) -> None:
    travellers = {r.id for r in stream.truth_by_kind("account") if r.scenario == "trap_traveller"}
    countries: dict[str, set[str]] = defaultdict(set)
    for e in stream.events:
        if isinstance(e, CustomerLogin | OrderPlaced) and e.customer_id in travellers:
            countries[e.customer_id].add(e.country)
    assert sum(1 for c in countries.values() if len(c) >= 2) >= 0.5 * len(travellers)
    for rec in stream.truth_by_kind("session"):
        if rec.scenario == "trap_traveller":
            s = stream.sessions[rec.id]
            assert s.mfa and s.country != stream.rosters[s.agent_id].home_country
            assert _in_shift(stream, s.agent_id, s.event_time_ms)


def test_the_holiday_spikes_orders_and_returns(stream: Stream) -> None:
    start = stream.config["start_ms"]
    holiday = int(stream.config["days"] * 0.55)
    orders = Counter((o.event_time_ms - start) // DAY_MS for o in stream.orders.values())
    returns = Counter((r.event_time_ms - start) // DAY_MS for r in stream.requests.values())
    normal_orders = median(orders[d] for d in range(7, stream.config["days"]))
    normal_returns = median(returns[d] for d in range(14, stream.config["days"]))
    assert orders[holiday] > 2.2 * normal_orders
    assert returns[holiday] > 1.8 * normal_returns
    assert _refunds_of(stream, "trap_holiday_spike")


def test_serial_returners_send_back_worn_goods_that_do_arrive(stream: Stream) -> None:
    refunds = _refunds_of(stream, "serial_returner")
    with_receipt = [r for r in refunds if stream.receipts_by_order.get(r.order_id)]
    assert len(with_receipt) > 0.5 * len(refunds)
    used = sum(
        1 for r in with_receipt if stream.receipts_by_order[r.order_id][0].condition == "used"
    )
    assert used > 0.6 * len(with_receipt)
    serial = {r.id for r in stream.truth_by_kind("account") if r.scenario == "serial_returner"}
    per_customer = Counter(r.customer_id for r in refunds)
    assert set(per_customer) <= serial
    assert median(per_customer.values()) >= 3


def test_takeover_variants_mfa_in_shift_and_home_country_all_occur(tmp_path: Path) -> None:
    """Many takeovers in a small stream: every variant shows up, and each is still a new
    device and a new IP for the victim."""
    # ~30 sessions: a variant drawn at 35% is missing by chance about once in 400,000 streams
    cfg = SimConfig(seed=3, events=30_000, takeover_sessions_per_million=1_000.0)
    st = load_stream(simulate(cfg, tmp_path))
    taken = [r for r in st.truth_by_kind("session") if r.scenario == "agent_takeover"]
    assert len(taken) >= 20
    seen: Counter[str] = Counter()
    for rec in taken:
        s = st.sessions[rec.id]
        home = st.rosters[s.agent_id].home_country
        seen["mfa"] += s.mfa
        seen["in_shift"] += _in_shift(st, s.agent_id, s.event_time_ms)
        seen["home"] += s.country == home
        seen["classic"] += not s.mfa and s.country != home
        others = [o for o in st.sessions.values() if o.agent_id == s.agent_id and o is not s]
        assert all(o.device_id != s.device_id and o.ip != s.ip for o in others)
    assert all(seen[k] >= 1 for k in ("mfa", "in_shift", "home", "classic")), seen


def test_ring_returnless_refunds_are_system_issued_on_mid_value_orders(stream: Stream) -> None:
    ring = _refunds_of(stream, "ring")
    for r in ring:
        if r.policy == "returnless" and r.issued_by == "system":
            assert 6_000 <= r.amount_cents <= 30_000
            assert not stream.scans_by_order.get(r.order_id)

"""Agent profiles vs peers, the ranking and its calibration (``vigil.detectors.insider``)."""

from __future__ import annotations

import math
import pickle
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from vigil.detectors.base import Alert
from vigil.detectors.graph.entity_graph import EntityGraph
from vigil.detectors.graph.rings import GLOBAL_KEY, FraudRingDetector
from vigil.detectors.insider.calibration import (
    agent_labels,
    brier_score,
    calibration_report,
    fit_platt,
)
from vigil.detectors.insider.profile_settings import (
    AgentProfileSettings,
    AgentRankingSettings,
    MetricSpec,
)
from vigil.detectors.insider.profiles import (
    AgentActivity,
    AgentProfileCollector,
    activities_from_state,
    profile_agents,
    robust_z,
)
from vigil.detectors.insider.ranking import calibrate, rank_agents, session_findings
from vigil.detectors.insider.ring_links import RING_GRAPH
from vigil.events.codec import encode_one
from vigil.events.schemas import (
    AgentAction,
    CustomerLogin,
    CustomerSignup,
    EventBase,
    OrderPlaced,
    ProfileChanged,
)
from vigil.events.truth import TruthRecord
from vigil.ingest.sources import FileSource
from vigil.runtime.embedded import EmbeddedRuntime, RuntimeSettings

from ._factories import DAY, HOUR, MINUTE, T0, Events, mixed_stream, shuffled_within

# --- peer deviation math against hand computation -----------------------------------------


def test_robust_z_by_hand() -> None:
    spec = MetricSpec("high_value_share", weight=1.0, abs_floor=0.01)
    # median 0.3; |x - 0.3| = 0.2 0.1 0 0.1 0.2 -> MAD 0.1; scale 1.4826 * 0.1
    z, med, scale = robust_z(0.9, [0.1, 0.2, 0.3, 0.4, 0.5], spec)
    assert med == pytest.approx(0.3)
    assert scale == pytest.approx(0.14826)
    assert z == pytest.approx(0.6 / 0.14826)


def test_robust_z_floors_the_scale_when_peers_agree() -> None:
    spec = MetricSpec("high_value_share", weight=1.0, abs_floor=0.05, rel_floor=0.25)
    z, med, scale = robust_z(0.5, [0.1, 0.1, 0.1], spec)  # MAD 0: floor max(0.025, 0.05)
    assert med == pytest.approx(0.1) and scale == pytest.approx(0.05)
    assert z == pytest.approx(8.0)
    _, _, scale = robust_z(0.5, [0.4, 0.4, 0.4], spec)  # relative floor 0.25 * 0.4 wins
    assert scale == pytest.approx(0.1)


def _activity(agent_id: str, team: str, refunds: int, high: int, **kw: Any) -> AgentActivity:
    fields: dict[str, Any] = {
        "agent_id": agent_id,
        "team": team,
        "home_country": "US",
        "shift_start_hour": 8,
        "contacts": 100,
        "return_requests": 0,
        "refunds": refunds,
        "refund_cents": 10_000 * refunds,
        "manual_refunds": 0,
        "high_value_refunds": high,
        "new_account_refunds": 0,
        "linked_refunds": 0,
        "judged_refunds": refunds,
        "judged_cents": 10_000 * refunds,
        "unreturned_refunds": 0,
        "unreturned_cents": 0,
    }
    fields.update(kw)
    return AgentActivity(**fields)


def test_shrinkage_and_peer_deviation_by_hand() -> None:
    settings = AgentRankingSettings(
        metrics=(MetricSpec("high_value_share", weight=1.0, abs_floor=0.05),),
        prior_refunds=2.0,
        min_peers=3,
    )
    acts = [
        _activity("a1", "t", 10, 1),
        _activity("a2", "t", 10, 2),
        _activity("a3", "t", 10, 3),
        _activity("a4", "t", 10, 8),
    ]
    profiles = {p.agent_id: p for p in profile_agents(acts, settings)}
    # team median rate of 0.1 0.2 0.3 0.8 = 0.25; prior = 2 refunds: (k + 0.5) / 12
    shrunk = {"a1": 1.5 / 12, "a2": 2.5 / 12, "a3": 3.5 / 12, "a4": 8.5 / 12}
    for agent, value in shrunk.items():
        assert profiles[agent].deviation("high_value_share").value == pytest.approx(value)
    d = profiles["a4"].deviation("high_value_share")
    # peers a1..a3: median 2.5/12; MAD = 1/12; scale = 1.4826 / 12
    assert d.peer_median == pytest.approx(2.5 / 12)
    assert d.peer_scale == pytest.approx(1.4826 / 12)
    assert d.z == pytest.approx((8.5 / 12 - 2.5 / 12) / (1.4826 / 12))
    assert d.z == pytest.approx(4.0469, abs=1e-4)
    assert d.percentile == 1.0 and d.raw == pytest.approx(0.8)
    assert profiles["a4"].peer_group == "team t" and profiles["a4"].n_peers == 3


def test_small_teams_are_compared_with_everyone() -> None:
    acts = [_activity(f"g{i}", "general", 10, 1) for i in range(4)]
    acts.append(_activity("v1", "vip", 10, 5))
    profiles = {p.agent_id: p for p in profile_agents(acts)}
    assert profiles["v1"].peer_group == "all agents" and profiles["v1"].n_peers == 4
    assert profiles["g0"].peer_group == "team general" and profiles["g0"].n_peers == 3


def test_team_and_shift_peer_groups_fall_back_to_the_team() -> None:
    acts = [_activity(f"g{i}", "general", 10, 1, shift_start_hour=8) for i in range(4)]
    acts.append(_activity("n1", "general", 10, 1, shift_start_hour=22))
    s = AgentRankingSettings(peer_group="team_and_shift")
    profiles = {p.agent_id: p for p in profile_agents(acts, s)}
    assert profiles["g0"].peer_group == "team general, shift 08-16h UTC"
    assert profiles["n1"].peer_group == "team general"


# --- the collector through the runtime ----------------------------------------------------


def _collect(
    events: list[EventBase], settings: AgentProfileSettings | None = None
) -> Callable[[str], Mapping[str, Any]]:
    collector = AgentProfileCollector(settings)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "in.jsonl"
        path.write_bytes(b"".join(encode_one(e) + b"\n" for e in events))
        rt = EmbeddedRuntime([collector], Path(tmp) / "out", RuntimeSettings(analytics=False))
        stats = rt.run(FileSource(path))
        assert stats.reconciles() and stats.alerts == 0
    prefix = f"{collector.name}@{collector.version}/"
    state = {k[len(prefix) :]: v for k, v in rt.keyed_state.items() if k.startswith(prefix)}
    pickle.dumps(state)  # checkpointable plain data
    return lambda ns: state.get(ns, {})


def _view(f: Events, agent: str, t: int) -> AgentAction:
    return AgentAction(
        event_id=f"view-{agent}-{t}",
        event_time_ms=t,
        session_id=f"s-{agent}",
        agent_id=agent,
        action="view_account",
        customer_id="c",
    )


def _signup(customer: str, t: int) -> CustomerSignup:
    return CustomerSignup(
        event_id=f"signup-{customer}",
        event_time_ms=t,
        customer_id=customer,
        email_hash="h",
        country="US",
        device_id=customer,
        ip="10.0.0.1",
    )


def _refund_case(
    f: Events,
    agent: str,
    n: int,
    t: int,
    amount: int,
    *,
    returned: bool,
    delivered: bool = True,
    customer: str | None = None,
) -> list[EventBase]:
    """An order delivered a day before ``t``, refunded by ``agent`` at ``t``; the parcel is
    scanned 3 days later when ``returned``."""
    oid = f"o-{agent}-{n}"
    cid = customer or f"c-{agent}-{n}"
    evs: list[EventBase] = [
        f.order(oid, t - 3 * DAY, customer_id=cid, items=(("sku", amount, 900),), device_id=cid)
    ]
    if delivered:
        evs.append(f.delivered(oid, t - DAY, customer_id=cid))
    evs.append(
        f.refund(
            f"r-{agent}-{n}",
            oid,
            t,
            amount_cents=amount,
            agent_id=agent,
            customer_id=cid,
            policy="manual_override",
        )
    )
    if returned:
        evs.append(f.scan(f"ret-{agent}-{n}", oid, t + 3 * DAY))
    return evs


def _world(f: Events) -> list[EventBase]:
    """Four honest general agents, one corrupt general agent (g5), three escalation agents
    and one escalation agent (e4) with three times their legitimate, returned overrides."""
    evs: list[EventBase] = []
    day = T0 + 2 * DAY
    for i, team in [(1, "general"), (2, "general"), (3, "general"), (4, "general")]:
        evs.append(f.roster(f"g{i}", T0 - DAY, team=team))
    evs.append(f.roster("g5", T0 - DAY, team="general"))
    for i in range(1, 5):
        evs.append(f.roster(f"e{i}", T0 - DAY, team="escalations"))
    for agent in [f"g{i}" for i in range(1, 6)] + [f"e{i}" for i in range(1, 5)]:
        evs += [_view(f, agent, day + k * MINUTE) for k in range(40)]
    for i in range(1, 6):
        agent = f"g{i}"
        for n in range(4):  # goodwill gestures, nothing to return
            evs += _refund_case(f, agent, n, day + (n + 1) * HOUR, 2_000, returned=False)
        evs += _refund_case(f, agent, 4, day + 6 * HOUR, 15_000, returned=True)
    for n in range(5, 9):  # g5's clients: fresh accounts, dear items, never returned
        cid = f"fresh-{n}"
        evs.append(_signup(cid, day - 2 * DAY))
        evs += _refund_case(f, "g5", n, day + (n + 2) * HOUR, 90_000, returned=False, customer=cid)
    for i in range(1, 5):
        agent = f"e{i}"
        for n in range(30 if i == 4 else 10):
            evs += _refund_case(f, agent, n, day + HOUR + n * 10 * MINUTE, 60_000, returned=True)
    return evs


def _close(f: Events, evs: list[EventBase]) -> list[EventBase]:
    return [*sorted(evs, key=lambda e: e.event_time_ms), f.tick(T0 + 40 * DAY)]


def test_refunds_are_judged_returned_unreturned_or_undelivered() -> None:
    f = Events()
    t = T0 + 2 * DAY
    evs = [
        *_refund_case(f, "a1", 0, t, 50_000, returned=True),
        *_refund_case(f, "a1", 1, t, 50_000, returned=False),
        *_refund_case(f, "a1", 2, t, 50_000, returned=False, delivered=False),
        # scanned, but 20 days later: after the 14-day grace
        *_refund_case(f, "a1", 3, t, 50_000, returned=False),
        f.scan("ret-late", "o-a1-3", t + 20 * DAY),
    ]
    acts = activities_from_state(_collect(_close(f, evs)))
    (a,) = acts
    assert (a.refunds, a.judged_refunds, a.unreturned_refunds) == (4, 4, 2)
    assert a.unreturned_cents == 100_000 and a.high_value_refunds == 4
    # a refund still inside its grace period at the end of input is not judged
    g = Events()
    open_case = _refund_case(g, "a1", 0, t, 50_000, returned=False)
    pending = activities_from_state(_collect([*open_case, g.tick(t + 10 * DAY)]))[0]
    assert (pending.refunds, pending.judged_refunds) == (1, 0)


def test_activity_does_not_depend_on_arrival_order_within_the_bound() -> None:
    f = Events()
    evs = _close(f, _world(f))
    base = activities_from_state(_collect(evs))
    shuffled = [*shuffled_within(evs[:-1], 5 * MINUTE, seed=3), evs[-1]]
    assert activities_from_state(_collect(shuffled)) == base


def test_new_and_linked_accounts_builtin_and_pluggable() -> None:
    f = Events()
    t = T0 + 40 * DAY
    evs: list[EventBase] = [
        _signup("new1", t - 5 * DAY),
        _signup("old1", t - 90 * DAY),
        *_refund_case(f, "a1", 0, t, 5_000, returned=True, customer="new1"),
        *_refund_case(f, "a1", 1, t, 5_000, returned=True, customer="old1"),
        *_refund_case(f, "a1", 2, t, 5_000, returned=True, customer="never-signed-up"),
        # 'twin' orders from old1's device: the two accounts share it
        f.order("o-twin", t - 2 * DAY, customer_id="twin", device_id="old1"),
    ]
    state = _collect(_close(f, evs))
    (a,) = activities_from_state(state)
    assert a.new_account_refunds == 1
    # the factory orders all come from IP 10.0.0.1, and twin also uses old1's device: the
    # four accounts are one component of the ring graph when the refunds are issued
    assert a.linked_refunds == 3
    (b,) = activities_from_state(state, linked=lambda c: c.startswith(("new", "never")))
    assert b.linked_refunds == 2


# --- linked accounts: the collector's own ring graph, point-in-time ------------------------


def _own_order(
    f: Events, oid: str, cid: str, t: int, *, device: str = "", payment: str = ""
) -> OrderPlaced:
    """An order from the customer's own IP, address and card, unless told otherwise."""
    return msgspec.structs.replace(
        f.order(oid, t, customer_id=cid, device_id=device or "dev-" + cid),
        ip="ip-" + cid,
        payment_fingerprint=payment or "pay-" + cid,
    )


def _refund_to(f: Events, agent: str, n: int, cid: str, t: int) -> list[EventBase]:
    """``cid`` orders 3 days before ``t`` (own entities), is delivered, and ``agent``
    refunds it at ``t``."""
    oid = f"o-{agent}-{n}"
    return [
        _own_order(f, oid, cid, t - 3 * DAY),
        f.delivered(oid, t - DAY, customer_id=cid),
        f.refund(f"r-{agent}-{n}", oid, t, amount_cents=5_000, agent_id=agent, customer_id=cid),
    ]


def _linked_by_agent(f: Events, evs: list[EventBase], end_ms: int) -> dict[str, int]:
    evs = [*sorted(evs, key=lambda e: e.event_time_ms), f.tick(end_ms)]
    return {a.agent_id: a.linked_refunds for a in activities_from_state(_collect(evs))}


def test_a_link_made_after_the_refund_does_not_make_it_linked() -> None:
    f = Events()
    t = T0 + 10 * DAY
    evs: list[EventBase] = [
        *_refund_to(f, "a1", 0, "x1", t),  # x1 is on its own when a1 refunds it ...
        # ... a day later two new accounts order from x1's device: a ring of 3
        _own_order(f, "o-x2", "x2", t + DAY, device="dev-x1"),
        _own_order(f, "o-x3", "x3", t + DAY, device="dev-x1"),
        *_refund_to(f, "a2", 0, "x1", t + 3 * DAY),  # a2 refunds x1 once the ring exists
    ]
    assert _linked_by_agent(f, evs, t + 30 * DAY) == {"a1": 0, "a2": 1}


def test_refunds_to_ring_accounts_count_as_linked_pairs_and_expired_links_do_not() -> None:
    f = Events()
    t = T0 + 70 * DAY
    evs: list[EventBase] = [
        # r2 and r3 pay with r1's card before a1 refunds r1: a ring of 3
        _own_order(f, "o-r2", "r2", t - 5 * DAY, payment="pay-r1"),
        _own_order(f, "o-r3", "r3", t - 5 * DAY, payment="pay-r1"),
        *_refund_to(f, "a1", 0, "r1", t),
        # p2 orders from p1's device: two accounts are not a ring (min_accounts = 3)
        _own_order(f, "o-p2", "p2", t - 5 * DAY, device="dev-p1"),
        *_refund_to(f, "a2", 0, "p1", t),
        # q1..q3 shared a card 60 days before a3 refunds q1, never since: the links
        # expired (45-day TTL, daily expiry), the ring is gone
        _own_order(f, "o-q1", "q1", t - 61 * DAY),
        _own_order(f, "o-q2", "q2", t - 60 * DAY, payment="pay-q1"),
        _own_order(f, "o-q3", "q3", t - 60 * DAY, payment="pay-q1"),
        *_refund_to(f, "a3", 0, "q1", t),
        # ... while the same ring refunded 50 days earlier was linked then
        *_refund_to(f, "a4", 0, "q1", t - 50 * DAY),
    ]
    assert _linked_by_agent(f, evs, t + 30 * DAY) == {"a1": 1, "a2": 0, "a3": 0, "a4": 1}


def test_the_collector_graph_matches_fraud_rings_graph() -> None:
    """The collector feeds its own graph like ``fraud_ring`` does: same components."""
    f = Events()
    t = T0 + 10 * DAY
    mine: list[EventBase] = [
        _own_order(f, "o-r2", "r2", t - 5 * DAY, payment="pay-r1"),
        _own_order(f, "o-r3", "r3", t - 5 * DAY, payment="pay-r1"),
        *_refund_to(f, "a1", 0, "r1", t),
        CustomerLogin(
            event_id="login-r4",
            event_time_ms=t,
            customer_id="r4",
            device_id="dev-r1",
            ip="ip-r4",
            country="DE",
            success=True,
        ),
        CustomerLogin(
            event_id="login-r5-failed",
            event_time_ms=t,
            customer_id="r5",
            device_id="dev-r1",
            ip="ip-r5",
            country="DE",
            success=False,
        ),
        ProfileChanged(
            event_id="change-r6",
            event_time_ms=t + HOUR,
            customer_id="r6",
            field="phone",
            new_value_hash="phone-r6",
        ),
        ProfileChanged(
            event_id="change-r7",
            event_time_ms=t + 2 * HOUR,
            customer_id="r7",
            field="phone",
            new_value_hash="phone-r6",
        ),
    ]
    mine.append(f.tick(T0 + 120 * DAY))
    # the mixed stream has its own ``Events`` ids: keep ours apart (dedup)
    evs = sorted(
        [
            *mixed_stream()[:-1],
            *(msgspec.structs.replace(e, event_id="r-" + e.event_id) for e in mine),
        ],
        key=lambda e: e.event_time_ms,
    )
    collector, rings = AgentProfileCollector(), FraudRingDetector()
    own_key = f"{collector.name}@{collector.version}/{RING_GRAPH}"
    # fraud_ring's graph: the resident value of its one stage, keyed "global"
    (ring_stage,) = rings.stages
    ring_ns = f"{ring_stage.name}@{ring_stage.version}/graph"

    def components(stream: list[EventBase]) -> tuple[set[frozenset[str]], ...]:
        """Components (node names) of the collector's graph and of fraud_ring's."""
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "in.jsonl"
            path.write_bytes(b"".join(encode_one(e) + b"\n" for e in stream))
            rt = EmbeddedRuntime(
                [AgentProfileCollector(), FraudRingDetector()],
                Path(tmp) / "out",
                RuntimeSettings(analytics=False),
            )
            rt.run(FileSource(path))
        found = rt.state.get_resident(ring_ns, GLOBAL_KEY)
        assert found is not None
        ring_graph = found[1]
        assert rt.keyed_state[own_key]["rebuilds"] == ring_graph["rebuilds"] > 0
        graphs = (EntityGraph(g, {}, 45) for g in (rt.keyed_state[own_key], ring_graph))
        return tuple({frozenset(g.name(n) for n in c) for c in g.components()} for g in graphs)

    own, theirs = components(evs)
    assert own == theirs
    # stop early, while the ring of r1..r4 and the pair r6, r7 are still live
    own, theirs = components([e for e in evs if e.event_time_ms <= t + DAY])
    assert own == theirs
    linked = set().union(*own)
    assert {"c:r1", "c:r2", "c:r3", "c:r4", "c:r6", "c:r7"} <= linked
    assert "c:r5" not in linked  # a failed login links nothing


def test_escalation_agent_with_many_legit_overrides_ranks_below_a_corrupt_general_agent() -> None:
    f = Events()
    acts = activities_from_state(_collect(_close(f, _world(f))))
    ranked = rank_agents(profile_agents(acts))
    order = [r.agent_id for r in ranked]
    assert order[0] == "g5"
    assert order.index("g5") < order.index("e4")
    g5 = ranked[0]
    e4 = next(r for r in ranked if r.agent_id == "e4")
    assert g5.probability > e4.probability
    # the busy escalation agent does override far more than the team ...
    assert e4.metrics[1].metric == "override_rate" and e4.metrics[1].z > 2
    # ... and the corrupt agent's reasons say why, in words
    text = " | ".join(g5.reasons)
    assert "never came back" in text and "new accounts" in text
    # compared with everyone instead of the team, e4 would look far worse
    assert e4.profile_score < g5.profile_score


def test_session_findings_keep_the_riskiest_alert_per_agent() -> None:
    def alert(sid: str, k: int, score: float) -> Alert:
        return Alert(
            alert_id=f"session_risk:session:{sid}#{k}",
            detector="session_risk",
            version=2,
            subject_type="session",
            subject_id=f"{sid}#{k}",
            score=score,
            reasons=("new_device_for_agent",),
            explanation="x",
            event_time_ms=T0,
            refund_ids=tuple(f"r{i}" for i in range(k)),
            amount_cents=1_000 * k,
            agent_id="a1",
            session_id=sid,
        )

    found = session_findings([alert("s1", 1, 0.6), alert("s1", 2, 0.9), alert("s2", 1, 0.7)])
    assert found["a1"].session_id == "s1" and found["a1"].refunds == 2


# --- calibration -------------------------------------------------------------------------


@given(st.lists(st.floats(min_value=-1e6, max_value=1e6), min_size=2, max_size=50))
def test_calibration_maps_into_unit_interval_monotonically(raws: list[float]) -> None:
    s = AgentRankingSettings()
    assert s.platt_slope > 0
    probs = [calibrate(x, s) for x in sorted(raws)]
    assert all(0.0 <= p <= 1.0 for p in probs)
    assert probs == sorted(probs)


def test_fit_platt_recovers_known_coefficients() -> None:
    import random

    rng = random.Random(7)
    xs = [rng.gauss(0.0, 2.0) for _ in range(4_000)]
    ys = [rng.random() < 1.0 / (1.0 + math.exp(-(1.5 * x - 2.0))) for x in xs]
    a, b = fit_platt(xs, ys)
    assert a == pytest.approx(1.5, abs=0.15) and b == pytest.approx(-2.0, abs=0.2)


def test_fit_platt_converges_on_separable_scores() -> None:
    xs = [float(i) for i in range(100)]
    ys = [i >= 94 for i in range(100)]
    a, b = fit_platt(xs, ys)
    assert a > 0 and math.isfinite(b)
    # Platt's soft targets (7/8 and 1/96) keep a finite slope: no blow-up to a step
    assert a < 10
    p = [1.0 / (1.0 + math.exp(-(a * x + b))) for x in xs]
    assert p[99] > 0.4 > 0.01 > p[50]
    # at the optimum the log loss gradient vanishes: mean prediction = mean soft target
    targets = [7 / 8 if y else 1 / 96 for y in ys]
    assert sum(p) == pytest.approx(sum(targets), rel=1e-6)
    with pytest.raises(ValueError):
        fit_platt([1.0, 2.0], [True, True])


def test_labels_brier_and_report() -> None:
    truth = [
        TruthRecord(kind="agent", id="a1", fraud=True, scenario="insider_refund"),
        TruthRecord(kind="session", id="s9", fraud=True, scenario="agent_takeover", agent_id="a2"),
        TruthRecord(kind="agent", id="a3", fraud=False, scenario="trap_escalation_agent"),
        TruthRecord(kind="session", id="s8", fraud=False, scenario="trap_traveller", agent_id="a4"),
    ]
    labels = agent_labels(truth)
    assert labels == {"a1": "insider_refund", "a2": "agent_takeover", "a3": "trap_escalation_agent"}
    assert brier_score([1.0, 0.0], [True, False]) == 0.0
    assert brier_score([0.5, 0.5], [True, False]) == 0.25
    acts = [_activity(f"a{i}", "t", 10, i) for i in range(1, 6)]
    ranked = rank_agents(profile_agents(acts))
    report = calibration_report(ranked, labels)
    assert (report.agents, report.positives, report.corrupt, report.taken_over) == (5, 2, 1, 1)
    assert report.positives_in_top_10 == 2
    assert [t.agent_id for t in report.trap_ranks] == ["a3"]
    assert sum(b.agents for b in report.reliability) == 5

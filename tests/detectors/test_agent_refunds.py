"""AgentRefundsDetector through the in-process runtime."""

from __future__ import annotations

from vigil.detectors.insider.agent_refunds import REASON_PEER_OUTLIER, AgentRefundsDetector
from vigil.detectors.settings import AgentRefundsSettings
from vigil.events.schemas import EventBase, RefundIssued
from vigil.runtime.harness import run_events

from ._factories import DAY, HOUR, MINUTE, T0, Events, shuffled_within

WEEK = 7 * DAY
W0 = T0 - T0 % WEEK + WEEK  # start of a tumbling window after T0
JUDGED = W0 + 2 * WEEK  # window end + the 7-day return grace


def _run(events: list[EventBase], settings: AgentRefundsSettings | None = None):  # type: ignore[no-untyped-def]
    alerts, stats = run_events([AgentRefundsDetector(settings)], events)
    assert stats.reconciles()
    return alerts


def _time(e: EventBase) -> int:
    return e.event_time_ms


def _week(f: Events, start: int, *, corrupt: bool, tag: str = "") -> list[EventBase]:
    """tier1 agents a1-a5 refund a little by hand; escalations e1-e4 override a lot."""
    evs: list[EventBase] = []
    n = 0

    def refund(agent: str, t: int, cents: int, policy: str = "manual_override") -> None:
        nonlocal n
        n += 1
        rid = f"r{tag}{agent}-{n}"
        evs.append(f.order("o" + rid, t - DAY))
        evs.append(f.delivered("o" + rid, t - DAY // 2))
        evs.append(
            f.refund(rid, "o" + rid, t, amount_cents=cents, agent_id=agent, policy=policy)  # type: ignore[arg-type]
        )

    for day in range(6):
        t = start + day * DAY + 9 * HOUR
        for i, agent in enumerate(("a1", "a2", "a3", "a4", "a5")):
            refund(agent, t + i * MINUTE, 4_000 + 500 * i, "returnless")
            refund(agent, t + HOUR + i * MINUTE, 30_000, "on_first_scan")  # not manual
        for i, agent in enumerate(("e1", "e2", "e3", "e4")):
            refund(agent, t + i * MINUTE, 60_000 + 5_000 * i)
            refund(agent, t + 2 * HOUR + i * MINUTE, 55_000)
        if corrupt and day % 2 == 0:
            refund("a6", t + 3 * HOUR, 85_000)
            refund("a6", t + 4 * HOUR, 4_000, "returnless")
    if not corrupt:
        for day in range(6):
            refund("a6", start + day * DAY + 10 * HOUR, 4_500, "returnless")
    evs.sort(key=lambda e: e.event_time_ms)
    return evs


def _roster(f: Events) -> list[EventBase]:
    tier1 = [f.roster(a, T0, team="tier1") for a in ("a1", "a2", "a3", "a4", "a5", "a6")]
    esc = [f.roster(a, T0, team="escalations") for a in ("e1", "e2", "e3", "e4")]
    return tier1 + esc


def test_agent_far_above_team_peers_is_alerted_once_the_window_closes() -> None:
    f = Events()
    evs = [*_roster(f), *_week(f, W0, corrupt=True), f.tick(JUDGED + HOUR)]
    alerts = _run(evs)
    assert [a.alert_id for a in alerts] == ["agent_refunds:agent:a6@2026-01-08T00:00Z"]
    a = alerts[0]
    assert a.subject_type == "agent" and a.agent_id == "a6"
    assert a.score >= 0.6  # $2,670 against peers at about $300 a week
    assert a.reasons[0] == REASON_PEER_OUTLIER
    assert a.event_time_ms == JUDGED
    # the suspicious (large) manual refunds only, not the small returnless ones
    assert len(a.refund_ids) == 3 and all(r.startswith("ra6-") for r in a.refund_ids)
    assert a.amount_cents == 3 * 85_000
    assert "a6" in a.explanation and "tier1" in a.explanation and "$2,550.00" in a.explanation


def test_escalation_agents_overriding_a_lot_like_their_peers_are_not_alerted() -> None:
    f = Events()
    evs = [*_roster(f), *_week(f, W0, corrupt=False), f.tick(JUDGED + HOUR)]
    assert _run(evs) == []


def test_nothing_before_the_window_is_judged() -> None:
    f = Events()
    evs = [*_roster(f), *_week(f, W0, corrupt=True), f.tick(JUDGED - HOUR)]
    assert _run(evs) == []


def test_manual_refunds_whose_parcels_come_back_do_not_count() -> None:
    f = Events()
    week = _week(f, W0, corrupt=True)
    scans = [
        f.scan("ret-" + e.refund_id, e.order_id, e.event_time_ms + 3 * DAY)
        for e in week
        if isinstance(e, RefundIssued) and e.agent_id == "a6"
    ]
    assert _run([*_roster(f), *sorted([*week, *scans], key=_time), f.tick(JUDGED + HOUR)]) == []


def test_a_parcel_scanned_after_the_grace_does_not_count() -> None:
    f = Events()
    week = _week(f, W0, corrupt=True)
    scans = [
        f.scan("ret-" + e.refund_id, e.order_id, e.event_time_ms + 8 * DAY)
        for e in week
        if isinstance(e, RefundIssued) and e.agent_id == "a6"
    ]
    evs = [*_roster(f), *sorted([*week, *scans], key=_time), f.tick(JUDGED + WEEK)]
    assert [a.agent_id for a in _run(evs)] == ["a6"]


def test_a_later_window_gives_a_distinct_alert() -> None:
    f = Events()
    evs = [
        *_roster(f),
        *_week(f, W0, corrupt=True),
        *_week(f, W0 + WEEK, corrupt=True, tag="w2"),
        f.tick(JUDGED + WEEK + HOUR),
    ]
    ids = [a.alert_id for a in _run(evs)]
    assert ids == [
        "agent_refunds:agent:a6@2026-01-08T00:00Z",
        "agent_refunds:agent:a6@2026-01-15T00:00Z",
    ]


def test_roster_arriving_after_the_refunds_still_groups_by_team() -> None:
    f = Events()
    week = _week(f, W0, corrupt=True)
    late = W0 + WEEK + 3 * DAY
    late_roster = [f.roster(a, late, team="escalations") for a in ("e1", "e2", "e3", "e4")] + [
        f.roster(a, late) for a in ("a1", "a2", "a3", "a4", "a5", "a6")
    ]
    alerts = _run([*week, *late_roster, f.tick(JUDGED + HOUR)])
    assert [a.agent_id for a in alerts] == ["a6"]


def test_out_of_order_arrival_within_the_bound_gives_the_same_alerts() -> None:
    f = Events()
    evs = [*_roster(f), *_week(f, W0, corrupt=True), f.tick(JUDGED + HOUR)]
    expected = [(a.alert_id, a.score, a.refund_ids) for a in _run(evs)]
    for seed in range(3):
        got = [
            (a.alert_id, a.score, a.refund_ids)
            for a in _run(shuffled_within(evs, 10 * MINUTE, seed))
        ]
        assert got == expected


def test_only_refunds_that_fit_the_pattern_are_put_at_risk() -> None:
    """A flagged agent's dear refund to an established one-off customer is what an honest
    "not received" claim looks like (porch theft): it counts in the score but is not listed;
    refunds to a young account or to a customer the agent refunded before are."""
    f = Events()
    evs: list[EventBase] = [*_roster(f), *_week(f, W0, corrupt=False)]
    evs.append(f.signup("c-new", W0 - 5 * DAY))
    for n, (customer, day) in enumerate(
        [("c-new", 0), ("c-old", 1), ("c-rep", 2), ("c-rep", 4), ("c-new", 5)]
    ):
        t = W0 + day * DAY + 15 * HOUR
        o = f"o-x{n}"
        evs += [
            f.order(o, t - DAY, customer_id=customer),
            f.delivered(o, t - DAY // 2, customer_id=customer),
            f.refund(f"rx{n}", o, t, amount_cents=90_000, agent_id="a6", customer_id=customer),
        ]
    evs.sort(key=_time)
    (a,) = _run([*evs, f.tick(JUDGED + HOUR)])
    assert a.agent_id == "a6" and a.score >= 0.8
    assert a.refund_ids == ("rx0", "rx2", "rx3", "rx4")  # not rx1 (c-old, once)
    assert "1 more to established one-off customers not listed" in a.explanation
    everything = _run(
        [*evs, f.tick(JUDGED + HOUR)], AgentRefundsSettings(list_pattern_refunds_only=False)
    )
    assert everything[0].refund_ids == ("rx0", "rx1", "rx2", "rx3", "rx4")
    # ... unless it is dear enough: a laptop refunded to a long-standing account by an agent
    # whose unreturned refunds stand out is listed too
    dear = _run(
        [*evs, f.tick(JUDGED + HOUR)], AgentRefundsSettings(list_dear_refunds_min_cents=90_000)
    )
    assert dear[0].refund_ids == ("rx0", "rx1", "rx2", "rx3", "rx4")
    assert "(to new or repeat customers, or of $2,500.00 or more; 1 more" in a.explanation

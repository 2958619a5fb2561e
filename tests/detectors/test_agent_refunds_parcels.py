"""``agent_refunds`` with return parcels: a scan alone is not a return. A manual refund whose
parcel was scanned but never received counts as unreturned once its route's normal transit
time has passed (learned from the stream); one still within it, or received, does not."""

from __future__ import annotations

from vigil.detectors.base import Alert
from vigil.detectors.insider.agent_refunds import AgentRefundsDetector
from vigil.events.schemas import EventBase
from vigil.runtime.harness import run_events

from ._factories import DAY, HOUR, MINUTE, T0, shuffled_within
from .sequences._parcels import HONEST, LOST, ParcelEvents, by_time, return_flow

WEEK = 7 * DAY
W0 = T0 - T0 % WEEK + 4 * WEEK  # the judged window starts four weeks in
JUDGED = W0 + 2 * WEEK  # window end + the 7-day return grace


def _run(events: list[EventBase]) -> list[Alert]:
    alerts, stats = run_events([AgentRefundsDetector()], events)
    assert stats.reconciles()
    return alerts


def _world(f: ParcelEvents, *, received_after_days: float | None, learn: bool) -> list[EventBase]:
    """Agent a1 refunds three $900 orders of young accounts by override, each parcel scanned
    the next day; peers a2-a5 refund small amounts. Before that, 30 parcels of the route
    arrive two days after their first scan (``learn``)."""
    evs: list[EventBase] = [f.roster(a, T0, team="tier1") for a in ("a1", "a2", "a3", "a4", "a5")]
    if learn:
        for n in range(30):
            evs += return_flow(f, 100 + n, T0 + n * DAY // 2, HONEST, received_after_days=2.0)
    for k in range(3):
        t = W0 + (k + 1) * DAY + 9 * HOUR
        cid = f"young{k}"
        evs.append(f.signup(cid, t - 20 * DAY))
        o, r = f"o-a1-{k}", f"ret-a1-{k}"
        evs += [
            f.order(o, t - 4 * DAY, items=(("tv", 90_000, 1_000),), customer_id=cid),
            f.delivered(o, t - 2 * DAY, cid),
            f.refund(f"r-a1-{k}", o, t, agent_id="a1", return_id=r, customer_id=cid),
        ]
        for days, kind, postal, read in LOST:
            evs.append(f.scan_at(r, o, t + DAY + int(days * DAY), kind, postal, read=read))
        if received_after_days is not None:
            evs.append(f.receipt(r, o, t + DAY + int(received_after_days * DAY)))
        for i, agent in enumerate(("a2", "a3", "a4", "a5")):
            po = f"o-{agent}-{k}"
            evs += [
                f.order(po, t - 4 * DAY, customer_id=f"p{agent}{k}"),
                f.delivered(po, t - 2 * DAY, f"p{agent}{k}"),
                f.refund(
                    f"r-{agent}-{k}",
                    po,
                    t + i * MINUTE,
                    amount_cents=3_000,
                    agent_id=agent,
                    policy="returnless",
                    customer_id=f"p{agent}{k}",
                ),
            ]
    return [*by_time(evs), f.tick(JUDGED + HOUR)]


def test_parcels_scanned_and_never_received_count_once_their_route_time_passed() -> None:
    alerts = _run(_world(ParcelEvents(), received_after_days=None, learn=True))
    (a,) = alerts
    assert a.agent_id == "a1" and a.score >= 0.5
    assert sorted(a.refund_ids) == ["r-a1-0", "r-a1-1", "r-a1-2"]


def test_received_parcels_are_returns() -> None:
    assert _run(_world(ParcelEvents(), received_after_days=2.0, learn=True)) == []


def test_parcels_still_within_the_prior_route_time_get_the_benefit_of_the_doubt() -> None:
    """Nothing learned: the prior (10 days) still covers the parcels at the judgement."""
    assert _run(_world(ParcelEvents(), received_after_days=None, learn=False)) == []


def test_arrival_order_within_the_bound_does_not_matter() -> None:
    evs = _world(ParcelEvents(), received_after_days=None, learn=True)
    expected = sorted((a.alert_id, a.score, a.refund_ids) for a in _run(evs))
    for seed in range(3):
        shuffled = shuffled_within(evs, 10 * MINUTE, seed)
        assert sorted((a.alert_id, a.score, a.refund_ids) for a in _run(shuffled)) == expected

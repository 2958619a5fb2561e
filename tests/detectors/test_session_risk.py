"""SessionRiskDetector through the in-process runtime."""

from __future__ import annotations

from vigil.detectors.insider.session_risk import (
    REASON_NEW_COUNTRY,
    REASON_NEW_DEVICE,
    REASON_NO_MFA,
    REASON_OFF_SHIFT,
    SessionRiskDetector,
)
from vigil.events.schemas import AgentSessionEnded, EventBase
from vigil.features.shifts import in_shift
from vigil.runtime.harness import run_events

from ._factories import DAY, HOUR, MINUTE, T0, Events, shuffled_within


def _run(events: list[EventBase]):  # type: ignore[no-untyped-def]
    alerts, stats = run_events([SessionRiskDetector()], events)
    assert stats.reconciles()
    return alerts


def _history(f: Events) -> list[EventBase]:
    """Agent a1 (US, shift 08-16 UTC) works three normal days with MFA from laptop-1."""
    evs: list[EventBase] = [f.roster("a1", T0 - DAY)]
    for day in range(3):
        sid = f"s-normal-{day}"
        t = T0 + day * DAY + 8 * HOUR + 15 * MINUTE
        evs += [
            f.session(sid, "a1", t),
            f.action(sid, "a1", t + MINUTE),
            f.session_end(sid, "a1", t + 7 * HOUR),
        ]
    return evs


def _takeover(f: Events, *, refunds: int = 3, with_session_ids: bool = True) -> list[EventBase]:
    t = T0 + 3 * DAY + 2 * HOUR  # 02:00 UTC, outside the shift
    evs: list[EventBase] = [
        f.session("s-evil", "a1", t, device_id="evil-pc", ip="203.0.113.9", country="RO", mfa=False)
    ]
    for i in range(refunds):
        oid = f"o{i}"
        evs.append(f.order(oid, T0 + i * HOUR, customer_id=f"mule{i}"))
        evs.append(
            f.refund(
                f"r{i}",
                oid,
                t + (i + 1) * 3 * MINUTE,
                amount_cents=40_000 + 1_000 * i,
                agent_id="a1",
                session_id="s-evil" if with_session_ids else None,
                customer_id=f"mule{i}",
            )
        )
    evs.append(f.session_end("s-evil", "a1", t + HOUR))
    return evs


def _sorted(evs: list[EventBase]) -> list[EventBase]:
    return sorted(evs, key=lambda e: e.event_time_ms)


def test_takeover_session_alerts_on_every_refund_with_a_growing_alert() -> None:
    f = Events()
    evs = [*_sorted([*_history(f), *_takeover(f)]), f.tick(T0 + 5 * DAY)]
    alerts = _run(evs)
    assert [a.alert_id for a in alerts] == [
        "session_risk:session:s-evil#1",
        "session_risk:session:s-evil#2",
        "session_risk:session:s-evil#3",
    ]
    assert [a.refund_ids for a in alerts] == [("r0",), ("r0", "r1"), ("r0", "r1", "r2")]
    scores = [a.score for a in alerts]
    assert scores == sorted(scores) and scores[0] >= 0.5
    last = alerts[-1]
    assert {REASON_NEW_DEVICE, REASON_NEW_COUNTRY, REASON_NO_MFA, REASON_OFF_SHIFT} <= set(
        last.reasons
    )
    assert (last.session_id, last.agent_id, last.amount_cents) == ("s-evil", "a1", 123_000)
    assert "RO" in last.explanation and "$1,230.00" in last.explanation


def test_alert_waits_for_the_watermark_to_pass_the_refund() -> None:
    f = Events()
    takeover = [e for e in _takeover(f, refunds=1) if not isinstance(e, AgentSessionEnded)]
    evs = _sorted([*_history(f), *takeover])
    refund_time = max(e.event_time_ms for e in evs)
    assert _run([*evs, f.tick(refund_time + 9 * MINUTE)]) == []
    assert len(_run([*evs, f.tick(refund_time + 10 * MINUTE)])) == 1


def test_refunds_without_session_id_are_attributed_to_the_open_session() -> None:
    f = Events()
    evs = [*_sorted([*_history(f), *_takeover(f, with_session_ids=False)]), f.tick(T0 + 5 * DAY)]
    assert [a.alert_id for a in _run(evs)][-1] == "session_risk:session:s-evil#3"


def test_travelling_agent_with_mfa_in_shift_is_not_alerted() -> None:
    f = Events()
    t = T0 + 3 * DAY + 9 * HOUR
    trip: list[EventBase] = [
        f.session("s-trip", "a1", t, device_id="laptop-1", ip="81.2.69.1", country="FR", mfa=True),
        f.order("o1", T0),
        f.refund("r1", "o1", t + 10 * MINUTE, amount_cents=60_000, session_id="s-trip"),
        f.refund("r2", "o1", t + 20 * MINUTE, amount_cents=60_000, session_id="s-trip"),
    ]
    evs = [*_sorted([*_history(f), *trip]), f.tick(T0 + 5 * DAY)]
    assert _run(evs) == []


def test_travelling_agent_on_a_new_phone_with_mfa_in_shift_is_not_alerted() -> None:
    f = Events()
    t = T0 + 3 * DAY + 10 * HOUR
    trip: list[EventBase] = [
        f.session("s-trip", "a1", t, device_id="phone-2", ip="81.2.69.1", country="FR", mfa=True),
        f.order("o1", T0),
        f.refund("r1", "o1", t + 10 * MINUTE, amount_cents=60_000, session_id="s-trip"),
    ]
    evs = [*_sorted([*_history(f), *trip]), f.tick(T0 + 5 * DAY)]
    assert _run(evs) == []


def test_risky_session_without_refunds_is_not_alerted() -> None:
    f = Events()
    evs = [*_sorted([*_history(f), *_takeover(f, refunds=0)]), f.tick(T0 + 5 * DAY)]
    assert _run(evs) == []


def test_intruder_device_is_not_learned_as_normal() -> None:
    f = Events()
    first = _takeover(f, refunds=1)
    t2 = T0 + 4 * DAY + 2 * HOUR
    again: list[EventBase] = [
        f.session(
            "s-evil2", "a1", t2, device_id="evil-pc", ip="203.0.113.9", country="RO", mfa=False
        ),
        f.order("o9", T0),
        f.refund("r9", "o9", t2 + 5 * MINUTE, agent_id="a1", session_id="s-evil2"),
    ]
    evs = [*_sorted([*_history(f), *first, *again]), f.tick(T0 + 6 * DAY)]
    ids = [a.alert_id for a in _run(evs)]
    assert "session_risk:session:s-evil2#1" in ids


def test_in_shift_wraps_midnight() -> None:
    assert in_shift(T0 + 23 * HOUR, 22, 6, 0)
    assert in_shift(T0 + 2 * HOUR, 22, 6, 0)
    assert not in_shift(T0 + 12 * HOUR, 22, 6, 0)
    assert in_shift(T0 + 7 * HOUR + 45 * MINUTE, 8, 16, 30)
    assert not in_shift(T0 + 7 * HOUR, 8, 16, 30)


def test_out_of_order_arrival_within_the_bound_gives_the_same_alerts() -> None:
    f = Events()
    evs = [*_sorted([*_history(f), *_takeover(f, refunds=5)]), f.tick(T0 + 5 * DAY)]
    expected = [(a.alert_id, a.score, a.refund_ids) for a in _run(evs)]
    assert len(expected) == 5
    for seed in range(5):
        shuffled = shuffled_within(evs, 10 * MINUTE, seed)
        got = [(a.alert_id, a.score, a.refund_ids) for a in _run(shuffled)]
        assert sorted(got) == sorted(expected)


def _session_with_refunds(
    f: Events, sid: str, t: int, amounts: list[int], **session: object
) -> list[EventBase]:
    evs: list[EventBase] = [f.session(sid, "a1", t, **session)]  # type: ignore[arg-type]
    for i, cents in enumerate(amounts):
        evs.append(f.order(f"o-{sid}{i}", T0 + i, customer_id=f"m{sid}{i}"))
        evs.append(
            f.refund(
                f"r-{sid}{i}",
                f"o-{sid}{i}",
                t + (i + 1) * 4 * MINUTE,
                amount_cents=cents,
                agent_id="a1",
                session_id=sid,
                customer_id=f"m{sid}{i}",
            )
        )
    evs.append(f.session_end(sid, "a1", t + 2 * HOUR))
    return evs


def test_mfa_takeover_in_shift_from_home_with_new_device_and_ip_burst_is_alerted() -> None:
    """Stolen session / MFA fatigue through a home-country proxy: only device and IP are new,
    but a burst of dear overrides follows."""
    f = Events()
    evs = _history(f)
    t = T0 + 3 * DAY + 9 * HOUR  # inside the 08-16 shift
    evs += _session_with_refunds(
        f, "s-mfa", t, [70_000, 90_000, 120_000], device_id="stolen", ip="198.51.100.7"
    )
    evs.append(f.tick(T0 + 6 * DAY))
    alerts = _run(sorted(evs, key=lambda e: e.event_time_ms))
    assert alerts and max(a.score for a in alerts) >= 0.5
    top = max(alerts, key=lambda a: a.score)
    assert REASON_NEW_DEVICE in top.reasons and REASON_NO_MFA not in top.reasons
    assert set(top.refund_ids) == {"r-s-mfa0", "r-s-mfa1", "r-s-mfa2"}


def test_new_laptop_with_mfa_and_ordinary_refunds_is_not_alerted() -> None:
    """Trap ``trap_new_device_agent``: a new laptop and IP, MFA, in shift, ordinary work."""
    f = Events()
    evs = _history(f)
    t = T0 + 3 * DAY + 9 * HOUR
    evs += _session_with_refunds(
        f, "s-new", t, [2_500, 8_000, 19_000], device_id="laptop-2", ip="198.51.100.8"
    )
    evs.append(f.tick(T0 + 6 * DAY))
    alerts = _run(sorted(evs, key=lambda e: e.event_time_ms))
    assert all(a.score < 0.5 for a in alerts)


def test_mfa_outage_and_overtime_alone_never_alert_even_with_dear_refunds() -> None:
    f = Events()
    evs = _history(f)
    t = T0 + 3 * DAY + 9 * HOUR
    evs += _session_with_refunds(f, "s-out", t, [60_000, 80_000], mfa=False)
    t2 = T0 + 4 * DAY + 18 * HOUR  # after the 08-16 shift, MFA on, usual laptop
    evs += _session_with_refunds(f, "s-ot", t2, [60_000, 80_000])
    evs.append(f.tick(T0 + 7 * DAY))
    alerts = _run(sorted(evs, key=lambda e: e.event_time_ms))
    assert all(a.score < 0.5 for a in alerts)


def _escalations_history(f: Events) -> list[EventBase]:
    """Agent a1's usual three days, each with ten overrides of $120-$190 (an escalations
    agent's ordinary work, from the usual laptop)."""
    evs = _history(f)
    for day in range(3):
        t = T0 + day * DAY + 9 * HOUR
        amounts = [12_000 + 700 * ((day * 10 + i) % 10) for i in range(10)]
        evs += [
            e
            for e in _session_with_refunds(f, f"s-esc-{day}", t, amounts)
            if not isinstance(e, AgentSessionEnded)
        ]
    return evs


def test_an_escalations_agents_usual_overrides_from_a_new_laptop_are_not_a_burst() -> None:
    """Trap ``trap_new_device_agent`` for an escalations agent: four $130-$165 overrides in
    a quarter of an hour are a burst by the flat rule, but ordinary for this agent."""
    f = Events()
    evs = _escalations_history(f)
    t = T0 + 3 * DAY + 9 * HOUR
    evs += _session_with_refunds(
        f, "s-new", t, [13_100, 16_400, 14_800, 14_100], device_id="laptop-2", ip="198.51.100.8"
    )
    evs.append(f.tick(T0 + 6 * DAY))
    alerts = _run(sorted(evs, key=lambda e: e.event_time_ms))
    assert all(a.score < 0.5 for a in alerts if a.session_id == "s-new")
    # the same session from a new laptop, with overrides dear for this agent: a takeover
    f = Events()
    evs = _escalations_history(f)
    evs += _session_with_refunds(
        f, "s-evil", t, [48_000, 61_000, 75_000], device_id="stolen", ip="198.51.100.7"
    )
    evs.append(f.tick(T0 + 6 * DAY))
    alerts = _run(sorted(evs, key=lambda e: e.event_time_ms))
    top = max((a for a in alerts if a.session_id == "s-evil"), key=lambda a: a.score)
    assert top.score >= 0.5
    # the explanation says what made the burst, against this agent's floor
    assert "burst: 3 of at least $" in top.explanation
    assert "(dear for this agent)" in top.explanation

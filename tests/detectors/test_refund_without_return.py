"""RefundWithoutReturnDetector through the in-process runtime."""

from __future__ import annotations

from vigil.detectors.sequences.refund_without_return import (
    REASON_MANUAL_OVERRIDE,
    REASON_NO_RETURN,
    REASON_REPEAT_CUSTOMER,
    REASON_YOUNG_ACCOUNT,
    RefundWithoutReturnDetector,
)
from vigil.detectors.settings import RefundWithoutReturnSettings
from vigil.runtime.harness import run_events

from ._factories import DAY, HOUR, MINUTE, T0, Events, shuffled_within

WAIT = 7 * DAY


def _run(events, settings=None):  # type: ignore[no-untyped-def]
    alerts, stats = run_events([RefundWithoutReturnDetector(settings)], events)
    assert stats.reconciles()
    return alerts


def _override_no_return(f: Events, *, scan_at: int | None = None, young: bool = True):  # type: ignore[no-untyped-def]
    evs = [f.signup("c1", T0 - 5 * DAY)] if young else []
    evs += [
        f.order("o1", T0),
        f.delivered("o1", T0 + 2 * DAY),
        f.refund("r1", "o1", T0 + 3 * DAY, amount_cents=80_000, policy="manual_override"),
    ]
    if scan_at is not None:
        evs.append(f.scan("ret1", "o1", scan_at))
    evs.append(f.tick(T0 + 3 * DAY + WAIT + HOUR))
    return evs


def test_high_value_override_without_return_alerts_at_the_deadline() -> None:
    alerts = _run(_override_no_return(Events()))
    assert [a.alert_id for a in alerts] == ["refund_without_return:refund:r1"]
    a = alerts[0]
    assert a.score >= 0.9
    assert a.reasons[0] == REASON_NO_RETURN
    assert REASON_MANUAL_OVERRIDE in a.reasons
    assert a.event_time_ms == T0 + 3 * DAY + WAIT
    assert a.refund_ids == ("r1",)
    assert (a.amount_cents, a.customer_id, a.agent_id, a.order_id) == (80_000, "c1", "a1", "o1")
    assert "$800.00" in a.explanation and "a1" in a.explanation


def test_an_established_customers_first_dear_refund_is_not_enough_alone() -> None:
    # porch theft: a parcel reported delivered, "item not received", an agent's override;
    # from an account older than the stream it scores under 0.5 here (agent evidence adds)
    alerts = _run(_override_no_return(Events(), young=False))
    assert len(alerts) == 1 and 0.2 <= alerts[0].score < 0.5
    assert REASON_YOUNG_ACCOUNT not in alerts[0].reasons


def test_the_same_agent_refunding_the_same_customer_again_adds_risk() -> None:
    f = Events()
    evs = [
        f.order("o1", T0),
        f.delivered("o1", T0 + DAY),
        f.order("o2", T0 + 10 * DAY),
        f.delivered("o2", T0 + 11 * DAY),
        # the later refund arrives first (within the out-of-orderness bound): the result
        # must not depend on arrival order
        f.refund("r2", "o2", T0 + 12 * DAY, amount_cents=80_000),
        f.refund("r1", "o1", T0 + 12 * DAY - 5 * MINUTE, amount_cents=80_000),
        f.tick(T0 + 30 * DAY),
    ]
    scores = {a.subject_id: a for a in _run(evs)}
    assert scores["r2"].score > 0.5 > scores["r1"].score
    assert REASON_REPEAT_CUSTOMER in scores["r2"].reasons
    assert REASON_REPEAT_CUSTOMER not in scores["r1"].reasons
    # one pattern, one finding: the alert on the repeat covers the earlier unreturned refund
    assert scores["r2"].refund_ids == ("r2", "r1")
    assert scores["r2"].amount_cents == 80_000  # its own: a case adds each refund once
    assert "(r1 of $800.00: never returned either)" in scores["r2"].explanation
    assert scores["r1"].refund_ids == ("r1",)


def test_an_earlier_refund_whose_parcel_the_carrier_lost_is_not_covered() -> None:
    """A return parcel scanned and then lost by the carrier is an honest return: the repeat
    still adds risk to the later refund, but its alert does not cover the earlier one."""
    f = Events()
    evs = [
        f.order("o1", T0),
        f.delivered("o1", T0 + DAY),
        f.refund("r1", "o1", T0 + 2 * DAY, amount_cents=80_000),
        f.scan("ret1", "o1", T0 + 3 * DAY),
        f.order("o2", T0 + 10 * DAY),
        f.delivered("o2", T0 + 11 * DAY),
        f.refund("r2", "o2", T0 + 12 * DAY, amount_cents=80_000),
        f.tick(T0 + 40 * DAY),
    ]
    alerts = {a.subject_id: a for a in _run(evs)}
    assert REASON_REPEAT_CUSTOMER in alerts["r2"].reasons
    assert alerts["r2"].refund_ids == ("r2",)


def test_return_scanned_in_time_does_not_alert() -> None:
    assert _run(_override_no_return(Events(), scan_at=T0 + 5 * DAY)) == []


def test_scan_before_the_refund_counts() -> None:
    f = Events()
    evs = [
        f.order("o1", T0),
        f.scan("ret1", "o1", T0 + DAY),
        f.refund("r1", "o1", T0 + DAY + HOUR, policy="on_first_scan", issued_by="system"),
        f.tick(T0 + 20 * DAY),
    ]
    assert _run(evs) == []


def test_scan_dated_after_the_deadline_does_not_count_even_if_it_arrives_first() -> None:
    # The scan is 5 minutes past the deadline, so it arrives while the watermark (10 min
    # behind) is still before the deadline; it must not rescue the refund.
    late_scan = T0 + 3 * DAY + WAIT + 5 * MINUTE
    alerts = _run(_override_no_return(Events(), scan_at=late_scan))
    assert [a.alert_id for a in alerts] == ["refund_without_return:refund:r1"]


def test_cheap_returnless_refunds_score_low() -> None:
    f = Events()
    evs = [f.order(f"o{i}", T0 + i * HOUR) for i in range(4)]
    evs += [
        f.refund("r0", "o0", T0 + DAY, amount_cents=2_500, policy="returnless", issued_by="system"),
        f.refund("r1", "o1", T0 + DAY, amount_cents=4_000, policy="returnless", issued_by="system"),
        f.refund("r2", "o2", T0 + DAY, amount_cents=3_000, policy="returnless", issued_by="agent"),
        f.refund("r3", "o3", T0 + DAY, amount_cents=1_500, policy="manual_override"),
        f.tick(T0 + 10 * DAY),
    ]
    assert all(a.score < 0.5 for a in _run(evs))


def test_score_grows_with_money_and_manual_policy() -> None:
    f = Events()
    evs = [f.order(f"o{i}", T0) for i in range(3)]
    evs += [
        f.refund("small", "o0", T0 + DAY, amount_cents=9_000, policy="returnless"),
        f.refund("big", "o1", T0 + DAY, amount_cents=90_000, policy="returnless"),
        f.refund("big_override", "o2", T0 + DAY, amount_cents=90_000, policy="manual_override"),
        f.tick(T0 + 10 * DAY),
    ]
    settings = RefundWithoutReturnSettings(min_emit_score=0.0)
    scores = {a.subject_id: a.score for a in _run(evs, settings)}
    assert scores["small"] < scores["big"] < scores["big_override"]


def test_refunds_on_receipt_are_never_alerted() -> None:
    f = Events()
    evs = [
        f.order("o1", T0),
        f.refund(
            "r1", "o1", T0 + DAY, amount_cents=90_000, policy="on_receipt", issued_by="system"
        ),
        f.tick(T0 + 20 * DAY),
    ]
    assert _run(evs) == []


def test_no_alert_before_the_watermark_passes_the_deadline() -> None:
    evs = _override_no_return(Events())[:-1]
    assert _run(evs) == []


def test_out_of_order_arrival_within_the_bound_gives_the_same_alerts() -> None:
    f = Events()
    evs = []
    for i in range(6):
        evs.append(f.order(f"o{i}", T0 + i * MINUTE))
        evs.append(f.delivered(f"o{i}", T0 + DAY // 2 + i * MINUTE))
        evs.append(f.refund(f"r{i}", f"o{i}", T0 + DAY + i * MINUTE, amount_cents=60_000 + i))
        if i % 2:
            # scans right at the deadline, one just before and one just after
            edge = T0 + DAY + i * MINUTE + WAIT + (-1 if i % 4 == 1 else 1) * MINUTE
            evs.append(f.scan(f"ret{i}", f"o{i}", edge))
    evs.append(f.tick(T0 + 20 * DAY))
    evs.sort(key=lambda e: e.event_time_ms)
    expected = [(a.alert_id, a.score) for a in _run(evs)]
    assert len(expected) == 4  # r0, r2, r4 (no scan) and r3 (scan just after the deadline)
    for seed in range(5):
        got = [(a.alert_id, a.score) for a in _run(shuffled_within(evs, 10 * MINUTE, seed))]
        assert sorted(got) == sorted(expected)


def test_a_lost_parcel_refund_does_not_alert_but_the_same_claim_on_a_delivered_order_does() -> None:
    """Trap ``trap_lost_parcel``: a $1,500 laptop refunded by an agent, no return, never
    delivered, is honest; the same refund to a new account on an order the carrier delivered
    is not."""
    f = Events()
    evs = [
        f.signup("c1", T0 - DAY),
        f.order("o-lost", T0, items=(("LAP-1", 150_000, 2_500),)),
        f.refund("r-lost", "o-lost", T0 + 9 * DAY, amount_cents=150_000, agent_id="a1"),
        f.order("o-inr", T0, items=(("LAP-2", 150_000, 2_500),)),
        f.delivered("o-inr", T0 + 2 * DAY),
        f.refund("r-inr", "o-inr", T0 + 9 * DAY, amount_cents=150_000, agent_id="a1"),
        f.tick(T0 + 30 * DAY),
    ]
    alerts = {a.subject_id: a.score for a in _run(sorted(evs, key=lambda e: e.event_time_ms))}
    assert alerts.get("r-lost", 0.0) < 0.5
    assert alerts["r-inr"] >= 0.5

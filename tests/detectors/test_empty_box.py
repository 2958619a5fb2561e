"""EmptyBoxDetector through the in-process runtime."""

from __future__ import annotations

from vigil.detectors.sequences.empty_box import (
    REASON_BAD_CONDITION,
    REASON_FOREIGN_SCAN,
    REASON_FTID,
    REASON_ITEMS_MISMATCH,
    REASON_LIGHT_SCAN,
    REASON_RECEIPT_MISMATCH,
    REASON_WEIGHT_MISMATCH,
    EmptyBoxDetector,
)
from vigil.events.schemas import EventBase
from vigil.runtime.harness import run_events

from ._factories import DAY, HOUR, MINUTE, T0, Events, shuffled_within

WAIT = 10 * DAY


def _run(events: list[EventBase]):  # type: ignore[no-untyped-def]
    alerts, stats = run_events([EmptyBoxDetector()], events)
    assert stats.reconciles()
    return alerts


def _return_flow(
    f: Events,
    *,
    scan_weight: int = 1_300,
    scan_country: str = "US",
    receipt: dict[str, object] | None = None,
    policy: str = "on_first_scan",
) -> list[EventBase]:
    evs: list[EventBase] = [
        f.order("o1", T0, items=(("tv", 90_000, 1_000), ("cable", 2_000, 100))),
        f.delivered("o1", T0 + 2 * DAY),
        f.return_requested("ret1", "o1", T0 + 5 * DAY, skus=("tv",)),
        f.label("ret1", "o1", T0 + 5 * DAY + HOUR),
        f.scan("ret1", "o1", T0 + 6 * DAY, weight_g=scan_weight, country=scan_country),
        f.refund(
            "r1",
            "o1",
            T0 + 6 * DAY + HOUR,
            amount_cents=90_000,
            policy=policy,  # type: ignore[arg-type]
            issued_by="system",
            return_id="ret1",
        ),
    ]
    if receipt is not None:
        evs.append(f.receipt("ret1", "o1", T0 + 9 * DAY, **receipt))  # type: ignore[arg-type]
    return evs


def test_empty_box_alerts_as_soon_as_the_receipt_is_seen() -> None:
    f = Events()
    evs = _return_flow(f, receipt={"weight_g": 150, "items_matched": False, "condition": "empty"})
    alerts = _run(evs)  # no tick: the alert must not wait for a timer
    assert [a.alert_id for a in alerts] == ["empty_box:refund:r1"]
    a = alerts[0]
    assert a.event_time_ms == T0 + 9 * DAY
    assert a.score >= 0.9
    assert a.reasons[0] == REASON_RECEIPT_MISMATCH
    assert {REASON_ITEMS_MISMATCH, REASON_BAD_CONDITION, REASON_WEIGHT_MISMATCH} <= set(a.reasons)
    assert (a.amount_cents, a.order_id, a.customer_id) == (90_000, "o1", "c1")
    assert "$900.00" in a.explanation and "150 g" in a.explanation


def test_swapped_item_of_the_right_weight_alerts_on_items() -> None:
    evs = _return_flow(Events(), receipt={"weight_g": 1_250, "items_matched": False})
    alerts = _run(evs)
    assert [a.alert_id for a in alerts] == ["empty_box:refund:r1"]
    assert REASON_WEIGHT_MISMATCH not in alerts[0].reasons
    assert alerts[0].score >= 0.5


def test_matching_receipt_does_not_alert() -> None:
    f = Events()
    evs = _return_flow(f, receipt={"weight_g": 1_250})
    evs.append(f.tick(T0 + 40 * DAY))
    assert _run(evs) == []


def test_used_but_matching_items_do_not_alert() -> None:
    f = Events()
    evs = _return_flow(f, receipt={"weight_g": 1_100, "condition": "used"})
    evs.append(f.tick(T0 + 40 * DAY))
    assert _run(evs) == []


def test_refunds_on_receipt_are_not_blamed() -> None:
    f = Events()
    evs = _return_flow(f, policy="on_receipt", receipt={"weight_g": 100, "items_matched": False})
    evs.append(f.tick(T0 + 40 * DAY))
    assert _run(evs) == []


def test_receipt_arriving_before_the_refund_gives_the_same_alert() -> None:
    f = Events()
    evs = _return_flow(f)
    refund = evs[-1]
    receipt = f.receipt(
        "ret1", "o1", refund.event_time_ms + 5 * MINUTE, weight_g=150, items_matched=False
    )
    in_order = [*evs, receipt]
    swapped = [*evs[:-1], receipt, refund]
    a, b = _run(in_order), _run(swapped)
    assert [x.alert_id for x in a] == ["empty_box:refund:r1"]
    assert [(x.alert_id, x.score, x.reasons) for x in a] == [
        (x.alert_id, x.score, x.reasons) for x in b
    ]


def test_ftid_light_scan_and_no_receipt_alerts_after_the_wait() -> None:
    f = Events()
    evs = _return_flow(f, scan_weight=120)
    evs.append(f.tick(T0 + 6 * DAY + WAIT + HOUR))
    alerts = _run(evs)
    assert [a.alert_id for a in alerts] == ["empty_box:refund:r1"]
    assert alerts[0].reasons[:2] == (REASON_FTID, REASON_LIGHT_SCAN)
    assert alerts[0].event_time_ms == T0 + 6 * DAY + WAIT
    assert alerts[0].score >= 0.5


def test_ftid_foreign_scan_and_no_receipt_alerts() -> None:
    f = Events()
    evs = _return_flow(f, scan_country="RO")
    evs.append(f.tick(T0 + 6 * DAY + WAIT + HOUR))
    alerts = _run(evs)
    assert [a.alert_id for a in alerts] == ["empty_box:refund:r1"]
    assert REASON_FOREIGN_SCAN in alerts[0].reasons


def test_ftid_suspect_scan_but_received_in_time_does_not_alert() -> None:
    f = Events()
    evs = _return_flow(f, scan_country="FR", receipt={"weight_g": 1_250})  # traveller
    evs.append(f.tick(T0 + 40 * DAY))
    assert _run(evs) == []


def test_normal_scan_and_no_receipt_is_not_ftid() -> None:
    f = Events()
    evs = _return_flow(f)  # parcel lost after a normal scan: not this detector's business
    evs.append(f.tick(T0 + 40 * DAY))
    assert _run(evs) == []


def test_no_ftid_alert_before_the_deadline_and_receipt_after_it_does_not_count() -> None:
    f = Events()
    deadline = T0 + 6 * DAY + WAIT
    evs = _return_flow(f, scan_weight=120)
    assert _run([*evs, f.tick(deadline)]) == []
    late_receipt = f.receipt("ret1", "o1", deadline + 5 * MINUTE, weight_g=1_250)
    alerts = _run([*evs, late_receipt, f.tick(deadline + HOUR)])
    assert [a.alert_id for a in alerts] == ["empty_box:refund:r1"]


def test_out_of_order_arrival_within_the_bound_gives_the_same_alerts() -> None:
    f = Events()
    evs: list[EventBase] = []
    for i in range(4):
        o, ret = f"o{i}", f"ret{i}"
        t = T0 + i * MINUTE
        evs += [
            f.order(o, t),
            f.scan(ret, o, t + DAY, weight_g=100 if i == 2 else 1_200),
            f.refund(f"r{i}", o, t + DAY + 2 * MINUTE, policy="on_first_scan", issued_by="system"),
        ]
        if i in (0, 1):
            evs.append(f.receipt(ret, o, t + DAY + 4 * MINUTE, items_matched=i == 1, weight_g=900))
    evs.append(f.tick(T0 + 30 * DAY))
    evs.sort(key=lambda e: e.event_time_ms)
    expected = sorted((a.alert_id, a.score) for a in _run(evs))
    assert [x[0] for x in expected] == ["empty_box:refund:r0", "empty_box:refund:r2"]
    for seed in range(5):
        got = sorted((a.alert_id, a.score) for a in _run(shuffled_within(evs, 10 * MINUTE, seed)))
        assert got == expected

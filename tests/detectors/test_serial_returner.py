"""SerialReturnerDetector: scored, never blocked."""

from __future__ import annotations

from vigil.decisions import DecisionBook
from vigil.detectors.customers.serial_returner import (
    REASON_WORN_RETURNS,
    SerialReturnerDetector,
)
from vigil.events.schemas import EventBase
from vigil.runtime.harness import run_events

from ._factories import DAY, HOUR, T0, Events


def _shopper(f: Events, customer: str, orders: int, returned: int, condition: str):  # type: ignore[no-untyped-def]
    evs: list[EventBase] = []
    for i in range(orders):
        t = T0 + i * 2 * DAY
        o = f"o-{customer}{i}"
        evs.append(f.order(o, t, customer_id=customer))
        if i < returned:
            evs.append(f.receipt(f"ret-{customer}{i}", o, t + 4 * DAY, condition=condition))
            evs.append(
                f.refund(
                    f"r-{customer}{i}",
                    o,
                    t + 4 * DAY + HOUR,
                    amount_cents=5_000,
                    policy="on_receipt",
                    issued_by="system",
                    customer_id=customer,
                )
            )
    return evs


def _run(evs: list[EventBase]):  # type: ignore[no-untyped-def]
    evs = sorted(evs, key=lambda e: e.event_time_ms)
    alerts, stats = run_events([SerialReturnerDetector()], evs)
    assert stats.reconciles()
    return alerts


def test_worn_returns_of_most_orders_alert_and_alert_again_as_it_goes_on() -> None:
    f = Events()
    alerts = _run(_shopper(f, "c-sr", orders=10, returned=9, condition="used"))
    assert [a.subject_id for a in alerts] == ["c-sr#2", "c-sr#4", "c-sr#8"]
    first, last = alerts[0], alerts[-1]
    assert first.subject_type == "account" and first.customer_id == "c-sr"
    assert REASON_WORN_RETURNS in first.reasons
    assert last.score > first.score >= 0.2
    # the 8th worn return: 8 of the 9 orders placed by then, refunds 1-7 issued so far
    assert "returned 8 of 9 orders" in last.explanation
    assert set(last.refund_ids) == {f"r-c-sr{i}" for i in range(7)}


def test_an_ordinary_customer_with_intact_returns_is_never_scored() -> None:
    f = Events()
    assert _run(_shopper(f, "c-ok", orders=10, returned=4, condition="intact")) == []
    assert _run(_shopper(f, "c-few", orders=2, returned=2, condition="used")) == []


def test_the_finding_is_a_reason_on_the_decision_but_never_raises_its_score() -> None:
    f = Events()
    alerts = _run(_shopper(f, "c-sr", orders=6, returned=5, condition="used"))
    book = DecisionBook()
    for a in alerts:
        book.update(a)
    d = book.current("r-c-sr0")
    assert d is not None
    assert (d.decision, d.score) == ("approve", 0.0)
    assert any(r.startswith("serial_returner:") for r in d.reasons)

"""The index forgets what is older than its retention, and keeps cursors and evidence right."""

from __future__ import annotations

from tests.api.conftest import make_alert

from vigil.api.index import SWEEP_EVERY, AlertFilter, RiskIndex
from vigil.decisions.book import DecisionBook

DAY = 86_400_000
T0 = 1_767_600_000_000


def _alert(day: int, n: int, **kw: object) -> object:
    return make_alert(
        detector="refund_without_return",
        subject_type="refund",
        subject_id=f"rf-{day}-{n}",
        refund_ids=(f"rf-{day}-{n}",),
        agent_id="ag-1",
        event_time_ms=T0 + day * DAY,
        **kw,
    )


def test_alerts_and_decisions_older_than_the_retention_are_dropped() -> None:
    index = RiskIndex(retention_ms=10 * DAY)
    book = DecisionBook()
    per_day = 60
    for day in range(40):  # 2,440 alerts: sweeps run as they come in
        for n in range(per_day):
            alert = _alert(day, n)
            index.add_alert(alert)  # type: ignore[arg-type]
            for decision in book.update(alert):  # type: ignore[arg-type]
                index.add_decision(decision)
        index.add_alert(  # one finding a day about the agent
            make_alert(subject_id=f"ag-1@day{day}", event_time_ms=T0 + day * DAY)
        )
    index.sweep()
    kept_days = range(29, 40)  # newest day 39, cutoff day 29 (kept: event time >= cutoff)
    assert index.alert_count == len(kept_days) * (per_day + 1)
    assert index.dropped_alerts == 40 * (per_day + 1) - index.alert_count
    assert len(index.decisions) == len(kept_days) * per_day
    assert sum(index.decisions_by_level.values()) == len(index.decisions)
    assert index.get("refund_without_return:refund:rf-3-0") is None
    assert index.get("refund_without_return:refund:rf-35-0") is not None
    assert "rf-3-0" not in index.decisions
    # evidence about the agent counts only what is kept
    evidence = index.evidence(
        "rf-new", agent_id="ag-1", session_id=None, customer_id=None, order_id=None
    )
    assert len(evidence.alerts) == len(kept_days) and evidence.agent
    assert min(a.event_time_ms for a in evidence.alerts) == T0 + 29 * DAY
    # paging skips the holes, and a cursor taken before a sweep still works after it
    page, cursor = index.page(AlertFilter(), cursor=None, limit=100, newest_first=True)
    assert len(page) == 100 and cursor is not None
    rest, _ = index.page(AlertFilter(), cursor=cursor, limit=10_000, newest_first=True)
    assert len(page) + len(rest) == index.alert_count
    assert len({seq for seq, _ in page + rest}) == index.alert_count


def test_a_revised_decision_is_kept_by_its_newest_time() -> None:
    index = RiskIndex(retention_ms=10 * DAY)
    book = DecisionBook()
    old = _alert(0, 0)
    for decision in book.update(old):  # type: ignore[arg-type]
        index.add_decision(decision)
    # on day 30 another detector speaks about the same refund: its decision is revised
    later = make_alert(
        detector="agent_refunds", subject_type="refund", subject_id="rf-0-0",
        refund_ids=("rf-0-0",), event_time_ms=T0 + 30 * DAY, score=0.9,
    )  # fmt: skip
    for decision in book.update(later):
        index.add_decision(decision)
    for n in range(SWEEP_EVERY):  # enough additions for a sweep, all on day 31
        index.add_alert(_alert(31, n))  # type: ignore[arg-type]
    assert index.dropped_decisions == 0
    assert index.decisions["rf-0-0"].revision == 2


def test_without_retention_nothing_is_dropped() -> None:
    index = RiskIndex()
    for day in (0, 400):
        for n in range(SWEEP_EVERY):
            index.add_alert(_alert(day, n))  # type: ignore[arg-type]
    index.sweep()
    assert index.alert_count == 2 * SWEEP_EVERY and index.dropped_alerts == 0

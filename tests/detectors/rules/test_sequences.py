"""Sequence conditions on event-time timers: exact at the edges, arrival order irrelevant."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vigil.events.schemas import EventBase

from .._factories import DAY, MINUTE, T0, Events, shuffled_within
from ._helpers import fired, rule_yaml, ruleset, run

NO_RETURN = rule_yaml("no_return", "no return_received for order_id within 7d after refund_issued")
ANY_SCAN_BEFORE = rule_yaml(
    "scanned_before", "any carrier_scan where weight_g < 100 for order_id within 1d before refund"
)


def _stream() -> list[EventBase]:
    f = Events()
    events = [
        f.refund("r_none", "o1", T0),  # never returned
        f.refund("r_edge", "o2", T0),
        f.receipt("ret2", "o2", T0 + 7 * DAY),  # exactly at the deadline: counts
        f.refund("r_late", "o3", T0),
        f.receipt("ret3", "o3", T0 + 7 * DAY + 1),  # one ms after: does not count
        f.refund("r_ok", "o4", T0 + MINUTE),
        f.receipt("ret4", "o4", T0 + 2 * DAY),
        f.scan("ret5", "o5", T0 - 2 * 60 * MINUTE, weight_g=40),
        f.refund("r_light", "o5", T0),  # a light scan 2 hours before
        f.scan("ret6", "o6", T0 - 2 * DAY, weight_g=40),
        f.refund("r_old_scan", "o6", T0),  # the scan is more than 1 day before
        f.tick(T0 + 20 * DAY),
    ]
    return sorted(events, key=lambda e: e.event_time_ms)


def test_no_and_any_with_exact_window_edges(tmp_path: Path) -> None:
    alerts, _, stats = run(ruleset(NO_RETURN, ANY_SCAN_BEFORE), _stream(), tmp_path)
    assert fired(alerts) == {
        ("rule:no_return", "r_none"),
        ("rule:no_return", "r_late"),
        ("rule:no_return", "r_light"),
        ("rule:no_return", "r_old_scan"),
        ("rule:scanned_before", "r_light"),
    }
    by_id = {a.subject_id: a for a in alerts if a.detector == "rule:no_return"}
    assert by_id["r_none"].event_time_ms == T0 + 7 * DAY  # raised when the wait is over
    assert stats.reconciles()


def test_a_receipt_after_the_deadline_does_not_count_even_if_it_arrives_first(
    tmp_path: Path,
) -> None:
    f = Events()
    events: list[EventBase] = [
        f.receipt("ret1", "o1", T0 + 8 * DAY),  # arrives before the refund; event time late
        f.refund("r1", "o1", T0 + 8 * DAY - 7 * DAY - 1),
        f.tick(T0 + 30 * DAY),
    ]
    # the refund is late relative to the receipt's watermark but within allowed lateness?
    # no: 7 days is beyond the 2-day lateness, so give the runtime a larger lateness
    from vigil.runtime.embedded import RuntimeSettings

    alerts, _, stats = run(
        ruleset(NO_RETURN),
        events,
        tmp_path,
        RuntimeSettings(analytics=False, allowed_lateness_ms=10 * DAY),
    )
    assert stats.too_late == 0
    assert fired(alerts) == {("rule:no_return", "r1")}


_EXPECTED: list[set[tuple[str, str]]] = []


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), bound_min=st.integers(1, 10))
def test_results_do_not_depend_on_arrival_order_within_the_bound(seed: int, bound_min: int) -> None:
    rules = ruleset(NO_RETURN, ANY_SCAN_BEFORE)
    stream = _stream()
    with tempfile.TemporaryDirectory() as tmp:
        if not _EXPECTED:
            _EXPECTED.append(fired(run(rules, stream, Path(tmp) / "ref")[0]))
        shuffled = shuffled_within(stream, bound_min * MINUTE, seed)
        assert fired(run(rules, shuffled, Path(tmp) / "s")[0]) == _EXPECTED[0]

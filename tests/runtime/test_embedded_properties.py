"""Property tests of the embedded runtime against the brute-force oracle in ``_oracle``.

Streams are small (times 0..300, a handful of orders and customers) so windows, timers,
lateness and duplicates interact often. Every run also checks that the stats reconcile.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from vigil.detectors.base import Alert
from vigil.events.codec import encode_one
from vigil.runtime.harness import run_events, run_lines
from vigil.runtime.stats import RunStats

from ._oracle import Expected, Item, classify
from ._scenarios import MALFORMED, Scenario, scenarios
from ._streams import run_to_dir


def _key(alerts: list[Alert]) -> set[Alert]:
    keys = {a.alert_id for a in alerts}
    assert len(keys) == len(alerts), "alert ids are unique"
    return set(alerts)


def _assert_time_ordered(alerts: list[Alert]) -> None:
    times = [a.event_time_ms for a in alerts]
    assert times == sorted(times), "alerts are emitted in event-time order of firing"


def _assert_matches(stats: RunStats, exp: Expected, alerts: list[Alert]) -> None:
    assert _key(alerts) == exp.alerts
    assert stats.reconciles()
    assert stats.events_read == stats.processed + stats.dead_lettered + stats.duplicates
    assert stats.processed == exp.counts["on_time"] + exp.counts["late"]
    assert stats.late_accepted == exp.counts["late"]
    assert stats.too_late == exp.counts["too_late"]
    assert stats.duplicates == exp.counts["duplicate"]
    assert stats.malformed == exp.counts["malformed"]
    assert stats.blank_lines == exp.counts["blank"]
    assert stats.timers_fired == exp.timers_fired
    assert stats.pending_timers == exp.pending_timers
    assert stats.windows_fired == exp.windows_fired
    assert stats.window_late_drops == exp.window_late_drops
    assert stats.alerts == len(alerts)


# (a) results equal the brute-force oracle


@given(scenarios(in_bound=True))
def test_alerts_equal_brute_force_oracle(sc: Scenario) -> None:
    alerts, stats = run_events(sc.detectors(), sc.arrival, sc.settings())
    _assert_matches(stats, sc.expected([Item.of(e) for e in sc.arrival]), alerts)
    assert stats.late_accepted == stats.too_late == stats.window_late_drops == 0
    _assert_time_ordered(alerts)


# (b) arrival order within the out-of-orderness bound does not matter


@given(scenarios(in_bound=True))
def test_shuffling_within_the_bound_does_not_change_alerts(sc: Scenario) -> None:
    in_order, _ = run_events(sc.detectors(), sc.events, sc.settings())
    shuffled, _ = run_events(sc.detectors(), sc.arrival, sc.settings())
    assert _key(shuffled) == _key(in_order)
    _assert_time_ordered(in_order)
    _assert_time_ordered(shuffled)


# (c) re-sent lines change nothing and are counted


@given(scenarios(in_bound=True, lateness=10_000), st.data())
def test_resent_lines_change_nothing(sc: Scenario, data: st.DataObject) -> None:
    lines = [encode_one(e) for e in sc.arrival]
    resent = list(lines)
    copies = data.draw(
        st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 10**6)), max_size=10)
    )
    if lines:
        for src, dst in copies:
            i = src % len(lines)
            pos = resent.index(lines[i]) + 1
            resent.insert(pos + dst % (len(resent) - pos + 1), lines[i])
    plain_alerts, plain = run_lines(sc.detectors(), lines, sc.settings())
    alerts, stats = run_lines(sc.detectors(), resent, sc.settings())
    assert alerts == plain_alerts
    assert stats.duplicates == len(resent) - len(lines)
    assert stats.processed == plain.processed == len(lines)
    assert stats.reconciles()


# (d) late and too-late events, re-sends, malformed and blank lines, in any arrival order


@given(scenarios(in_bound=False), st.data())
def test_any_arrival_order_matches_the_oracle(sc: Scenario, data: st.DataObject) -> None:
    items = [Item.of(e) for e in sc.arrival]
    junk = data.draw(st.lists(st.sampled_from([*MALFORMED, b"", b"  "]), max_size=4))
    for raw in junk:
        items.insert(data.draw(st.integers(0, len(items))), Item(raw))
    for e in data.draw(st.lists(st.sampled_from(sc.arrival), max_size=4)):  # re-sends
        items.insert(data.draw(st.integers(0, len(items))), Item.of(e))
    result = run_to_dir(list(sc.detectors()), [i.raw for i in items], sc.settings())
    exp = sc.expected(items)
    _assert_matches(result.stats, exp, result.alerts)

    arrivals = classify(items, sc.bound, sc.lateness)
    dead = [a for a in arrivals if a.status in ("too_late", "malformed")]
    assert [(d.line_no, d.reason_code, d.raw) for d in result.dead_letters] == [
        (a.line_no, a.status, a.item.raw.decode()) for a in dead
    ]
    too_late_ids = [a.item.event.event_id for a in dead if a.item.event is not None]
    assert [d.event_id for d in result.dead_letters if d.reason_code == "too_late"] == too_late_ids
    for letter in result.dead_letters:
        assert letter.reason.startswith(f"line {letter.line_no}")
        if letter.reason_code == "too_late":
            assert letter.field == "event_time_ms"
            assert f"event {letter.event_id!r}" in letter.reason

"""The embedded runtime's semantics, one worked example each (ADR 0001)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from vigil.detectors.base import BaseDetector, Context, Signal
from vigil.events.codec import encode_one
from vigil.events.schemas import CustomerLogin, EventBase
from vigil.ingest.dead_letter import dead_letter_decoder
from vigil.ingest.sources import FileSource
from vigil.runtime.embedded import EmbeddedRuntime, RuntimeSettings
from vigil.runtime.harness import run_events, run_lines
from vigil.state.windows import Aggregator, Window, WindowSpec

from ._detectors import NoReturnDetector, RefundWindowsDetector
from ._streams import login, receipt, refund

COUNT: Aggregator[Any, int, int] = Aggregator(lambda: 0, lambda a, _v: a + 1, lambda a: a)


class TraceDetector(BaseDetector):
    """Logs every call; a login whose id starts with ``t`` sets a timer 50 ms later."""

    name = "trace"
    version = 1
    subscribes = frozenset({"customer_login"})

    def __init__(self) -> None:
        self.log: list[tuple[Any, ...]] = []

    def windows(self) -> Sequence[WindowSpec[Any, Any, Any]]:
        return (WindowSpec.tumbling("w", 100, COUNT),)

    def on_event(self, event: EventBase, ctx: Context) -> Sequence[Signal]:
        self.log.append(("event", event.event_id, ctx.watermark_ms))
        if event.event_id.startswith("t"):
            ctx.set_timer(event.event_time_ms + 50, "k", event.event_id)
        ctx.window_add("w", "k", event.event_time_ms, 1)
        return ()

    def on_timer(self, key: str, payload: Any, fired_at_ms: int, ctx: Context) -> Sequence[Signal]:
        self.log.append(("timer", fired_at_ms, payload))
        return ()

    def on_window(self, name: str, window: Window, ctx: Context) -> Sequence[Signal]:
        self.log.append(("window", window.end_ms, window.result))
        return ()


def _login(event_id: str, t: int) -> CustomerLogin:
    return CustomerLogin(
        event_id=event_id,
        event_time_ms=t,
        customer_id="c1",
        device_id="d1",
        ip="10.0.0.1",
        country="US",
        success=True,
    )


def test_due_windows_and_timers_fire_in_event_time_order_before_the_event() -> None:
    trace = TraceDetector()
    events = [
        _login("t1", 10),  # timer at 60
        _login("t2", 5),  # timer at 55, set after t1's
        _login("x3", 30),
        _login("t4", 150),  # watermark 150: timers 55, 60 then window [0,100), then t4
        _login("x5", 200),  # watermark 200: window [100,200) and timer 200 tie: window first
    ]
    settings = RuntimeSettings(max_out_of_orderness_ms=0, analytics=False)
    run_events([trace], events, settings)
    assert trace.log == [
        ("event", "t1", 10),
        ("event", "t2", 10),
        ("event", "x3", 30),
        ("timer", 55, "t2"),
        ("timer", 60, "t1"),
        ("window", 100, 3),
        ("event", "t4", 150),
        ("window", 200, 1),
        ("timer", 200, "t4"),
        ("event", "x5", 200),
    ]


def test_timers_at_the_same_time_fire_in_the_order_they_were_set() -> None:
    trace = TraceDetector()
    events = [_login("tb", 50), _login("ta", 50), _login("tc", 50), _login("x", 1_000)]
    run_events([trace], events, RuntimeSettings(max_out_of_orderness_ms=0, analytics=False))
    timers = [entry[2] for entry in trace.log if entry[0] == "timer"]
    assert timers == ["tb", "ta", "tc"]


def test_out_of_orderness_delays_firing() -> None:
    trace = TraceDetector()
    events = [_login("t1", 0), _login("x2", 60), _login("x3", 80)]
    run_events([trace], events, RuntimeSettings(max_out_of_orderness_ms=20, analytics=False))
    # watermark 40 after x2 (timer at 50 not due), 60 after x3: fires before x3
    assert trace.log == [
        ("event", "t1", -20),
        ("event", "x2", 40),
        ("timer", 50, "t1"),
        ("event", "x3", 60),
    ]


def _run_with_outputs(
    tmp_path: Path, detectors: list[Any], lines: list[bytes], settings: RuntimeSettings
) -> tuple[Any, list[Any], list[Any]]:
    inp = tmp_path / "events.jsonl"
    inp.write_bytes(b"".join(line + b"\n" for line in lines))
    out = tmp_path / "out"
    stats = EmbeddedRuntime(detectors, out, settings).run(FileSource(inp))
    dead = [
        dead_letter_decoder.decode(x) for x in (out / "dead_letter.jsonl").read_bytes().splitlines()
    ]
    summary = json.loads((out / "stats.json").read_bytes())
    return stats, dead, summary


def test_late_events_are_processed_but_closed_windows_miss_them(tmp_path: Path) -> None:
    windows = RefundWindowsDetector(tumbling_ms=100, sliding_ms=200, slide_ms=100)
    events = [
        refund(1, 100, "o1", "c1", 10),
        refund(2, 250, "o2", "c1", 20),  # watermark 250: [100,200) and [0,200) close
        refund(3, 160, "o3", "c1", 40),  # late (160 < 250) but within lateness 100
        refund(4, 149, "o4", "c1", 80),  # too late (149 < 250 - 100)
        refund(5, 500, "o5", "c2", 1),  # watermark 500
    ]
    lines = [encode_one(e) for e in events]
    settings = RuntimeSettings(max_out_of_orderness_ms=0, allowed_lateness_ms=100, analytics=False)
    stats, dead, summary = _run_with_outputs(tmp_path, [windows], lines, settings)

    assert (stats.processed, stats.late_accepted, stats.too_late) == (4, 1, 1)
    # refund 3 at 160: misses tumbling [100,200) and sliding [0,200); joins sliding [100,300)
    assert stats.window_late_drops == 2
    assert [(d.line_no, d.event_id, d.reason_code, d.field) for d in dead] == [
        (4, "e4", "too_late", "event_time_ms")
    ]
    assert dead[0].raw == lines[3].decode()
    assert dead[0].source == str(tmp_path / "events.jsonl")
    assert dead[0].reason.startswith("line 4, event 'e4': event time 149")
    assert summary["reconciles"] is True
    assert summary["dead_letter_reasons"] == {
        "malformed": 0,
        "too_late": 1,
        "too_early": 0,
        "conflicting_duplicate": 0,
    }

    alerts, _ = run_events([windows], events, settings)
    explained = {a.subject_id: a.explanation for a in alerts}
    assert explained["c1/tumbling/100"] == "count=1 sum=10"  # refund 3 missed it
    assert explained["c1/sliding/100"] == "count=3 sum=70"  # open when refund 3 came
    assert explained["c1/tumbling/200"] == "count=1 sum=20"


def test_a_late_event_exactly_at_the_lateness_limit_is_accepted() -> None:
    events = [login(1, 1_000, "c"), login(2, 900, "c"), login(3, 899, "c")]
    settings = RuntimeSettings(max_out_of_orderness_ms=0, allowed_lateness_ms=100, analytics=False)
    _, stats = run_events([], events, settings)
    assert (stats.processed, stats.late_accepted, stats.too_late) == (2, 1, 1)


def test_an_event_at_the_watermark_is_on_time() -> None:
    events = [login(1, 1_000, "c"), login(2, 990, "c")]
    settings = RuntimeSettings(max_out_of_orderness_ms=10, allowed_lateness_ms=0, analytics=False)
    _, stats = run_events([], events, settings)
    assert (stats.processed, stats.late_accepted, stats.too_late) == (2, 0, 0)


def test_a_late_receipt_does_not_cancel_a_fired_timer() -> None:
    """Alerts are never retracted: a receipt that arrives after the timer fired is too late."""
    det = NoReturnDetector(within_ms=100)
    events = [
        refund(1, 0, "o1", "c1", 500),
        login(2, 300, "c9"),  # watermark 300: the refund's timer (100) fires, no receipt
        receipt(3, 50, "o1"),  # late but allowed: would have cancelled it
    ]
    settings = RuntimeSettings(
        max_out_of_orderness_ms=0, allowed_lateness_ms=1_000, analytics=False
    )
    alerts, stats = run_events([det], events, settings)
    assert [a.subject_id for a in alerts] == ["r1"]
    assert stats.late_accepted == 1


def test_a_duplicate_is_dropped_and_an_id_with_another_body_is_kept_apart(
    tmp_path: Path,
) -> None:
    det = NoReturnDetector(within_ms=100)
    first = refund(1, 0, "o1", "c1", 500)
    changed = refund(1, 10, "o2", "c2", 999)  # same event id, different content
    lines = [encode_one(e) for e in (first, changed, first, login(2, 1_000, "c1"))]
    settings = RuntimeSettings(max_out_of_orderness_ms=0, analytics=False)
    stats, dead, summary = _run_with_outputs(tmp_path, [det], lines, settings)
    assert (stats.processed, stats.duplicates, stats.conflicting_duplicates) == (2, 1, 1)
    assert [(d.line_no, d.event_id, d.reason_code, d.field) for d in dead] == [
        (2, "e1", "conflicting_duplicate", "event_id")
    ]
    assert summary["reconciles"] is True
    alerts, _ = run_events([det], [first, changed, first, login(2, 1_000, "c1")], settings)
    assert [(a.order_id, a.amount_cents) for a in alerts] == [("o1", 500)]


def test_a_resend_older_than_the_lateness_is_too_late_not_a_duplicate(tmp_path: Path) -> None:
    first = encode_one(login(1, 0, "c"))
    lines = [first, encode_one(login(2, 100, "c")), first, encode_one(login(3, 1_000, "c")), first]
    settings = RuntimeSettings(max_out_of_orderness_ms=0, allowed_lateness_ms=500, analytics=False)
    stats, dead, _ = _run_with_outputs(tmp_path, [], lines, settings)
    # line 3: a duplicate (watermark 100); line 5: too late (watermark 1000), so dead-lettered
    assert (stats.duplicates, stats.too_late) == (1, 1)
    assert [(d.line_no, d.reason_code) for d in dead] == [(5, "too_late")]


def test_blank_lines_are_counted_but_are_not_events() -> None:
    lines = [b"", encode_one(login(1, 0, "c")), b"   ", b"\t", encode_one(login(2, 1, "c"))]
    _, stats = run_lines([], lines)
    assert (stats.lines, stats.blank_lines, stats.events_read, stats.processed) == (5, 3, 2, 2)
    assert stats.reconciles()


class RepeatingDetector(BaseDetector):
    """Raises the same finding on every login: the runtime emits it once."""

    name = "repeat"
    version = 3
    subscribes = frozenset({"customer_login"})

    def on_event(self, event: EventBase, ctx: Context) -> Sequence[Signal]:
        sig = Signal(
            detector=self.name,
            version=self.version,
            subject_type="account",
            subject_id="c1",
            score=0.5,
            reasons=("again",),
            explanation=event.event_id,
            event_time_ms=event.event_time_ms,
        )
        return (sig,)


def test_an_alert_is_emitted_once_per_detector_and_subject() -> None:
    alerts, stats = run_events([RepeatingDetector()], [login(n, n, "c1") for n in range(4)])
    assert [(a.alert_id, a.explanation) for a in alerts] == [("repeat:account:c1", "e0")]
    assert (stats.alerts, stats.alerts_suppressed) == (1, 3)
    assert stats.alerts_by_detector == {"repeat": 1}


def test_pending_timers_are_not_fired_at_the_end_of_input() -> None:
    det = NoReturnDetector(within_ms=1_000)
    alerts, stats = run_events([det], [refund(1, 0, "o1", "c1", 5), login(2, 999, "c")])
    assert alerts == []
    assert (stats.timers_fired, stats.pending_timers) == (0, 1)


def test_stats_file_reports_the_run(tmp_path: Path) -> None:
    lines = [encode_one(login(1, 5, "c")), b"{broken", b"", encode_one(login(1, 5, "c"))]
    stats, dead, summary = _run_with_outputs(tmp_path, [], lines, RuntimeSettings(analytics=False))
    assert summary["events_read"] == 3
    assert (summary["processed"], summary["dead_lettered"], summary["duplicates"]) == (1, 1, 1)
    assert summary["reconciles"] is True
    assert summary["final_watermark_ms"] == 5 - RuntimeSettings().max_out_of_orderness_ms
    assert [d.line_no for d in dead] == [2]
    assert stats.checkpoints == 0  # no checkpoint directory: nothing saved


def test_detectors_must_be_distinct_and_subscribe_to_known_types() -> None:
    with pytest.raises(ValueError, match="given twice"):
        EmbeddedRuntime([NoReturnDetector(), NoReturnDetector()], Path("unused"))

    class Typo(BaseDetector):
        name = "typo"
        subscribes = frozenset({"refund_isued"})

    with pytest.raises(ValueError, match="refund_isued"):
        EmbeddedRuntime([Typo()], Path("unused"))

"""Hypothesis strategies for runtime scenarios: small streams plus the settings to run them."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import strategies as st

from vigil.events.schemas import EventBase
from vigil.runtime.embedded import RuntimeSettings

from ._detectors import NoReturnDetector, RefundWindowsDetector
from ._oracle import Expected, Item, classify, expect
from ._streams import make_event

KINDS = ("refund", "refund", "receipt", "login")
MALFORMED = (b'{"type": "refund_issued"', b"garbage", b'{"type": "nope", "event_id": "x"}')


@dataclass(frozen=True)
class Scenario:
    bound: int
    lateness: int
    within: int
    tumbling: int
    slide: int
    sliding: int
    events: list[EventBase]  # in event-time order
    arrival: list[EventBase]  # in the order they reach the runtime

    def settings(self) -> RuntimeSettings:
        return RuntimeSettings(
            max_out_of_orderness_ms=self.bound, allowed_lateness_ms=self.lateness, analytics=False
        )

    def detectors(self) -> tuple[NoReturnDetector, RefundWindowsDetector]:
        return (
            NoReturnDetector(self.within),
            RefundWindowsDetector(self.tumbling, self.sliding, self.slide),
        )

    def expected(self, items: list[Item]) -> Expected:
        arrivals = classify(items, self.bound, self.lateness)
        return expect(arrivals, *self.detectors())


@st.composite
def scenarios(draw: st.DrawFn, in_bound: bool, lateness: int | None = None) -> Scenario:
    """Events with random times; ``in_bound``: each arrives at most ``bound`` behind the max.

    Times and durations are drawn in ticks of 1 or 10 ms: with 10 ms ticks, boundaries
    (a receipt exactly at a deadline, a value exactly at a window end) coincide often.
    """
    tick = draw(st.sampled_from([1, 10]))
    bound = tick * draw(st.integers(0, 40 // tick))
    slide = tick * draw(st.integers(1, 30 // tick))
    specs = draw(
        st.lists(
            st.tuples(
                st.sampled_from(KINDS),
                st.integers(0, 300 // tick).map(lambda t: t * tick),
                st.integers(0, 4),
                st.integers(0, 300_000),
            ),
            min_size=3,
            max_size=30,
        )
    )
    events = [make_event(n, *spec) for n, spec in enumerate(specs)]
    by_time = sorted(events, key=lambda e: (e.event_time_ms, int(e.event_id[1:])))
    if in_bound:
        # arrival at t + delay, delay <= bound, keeps every event at or after the watermark
        delays = draw(st.lists(st.integers(0, bound), min_size=len(events), max_size=len(events)))
        ties = draw(st.permutations(range(len(events))))
        keyed = zip(events, delays, ties, strict=True)
        arrival = [
            e for e, d, tie in sorted(keyed, key=lambda x: (x[0].event_time_ms + x[1], x[2]))
        ]
    else:
        arrival = draw(st.permutations(events))
    return Scenario(
        bound=bound,
        lateness=tick * draw(st.integers(0, 80 // tick)) if lateness is None else lateness,
        within=tick * draw(st.integers(1, 80 // tick)),
        tumbling=tick * draw(st.integers(1, 60 // tick)),
        slide=slide,
        sliding=slide * draw(st.integers(1, 4)),
        events=by_time,
        arrival=arrival,
    )

"""WindowStore against a brute-force oracle; WindowSpec geometry and validation."""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vigil.errors import ConfigError
from vigil.state.windows import Aggregator, Window, WindowSpec, WindowStore

SUM: Aggregator[int, int, int] = Aggregator(lambda: 0, lambda a, v: a + v, lambda a: a)
COUNT: Aggregator[Any, int, int] = Aggregator(lambda: 0, lambda a, _v: a + 1, lambda a: a)
# order-sensitive: the values in the order they were added
COLLECT: Aggregator[int, tuple[int, ...], tuple[int, ...]] = Aggregator(
    lambda: (), lambda a, v: (*a, v), lambda a: a
)
MAX: Aggregator[int, int | None, int | None] = Aggregator(
    lambda: None, lambda a, v: v if a is None else max(a, v), lambda a: a
)
# the latest non-negative value: the accumulator stays None until one arrives
LATEST_NON_NEGATIVE: Aggregator[int, int | None, int | None] = Aggregator(
    lambda: None, lambda a, v: a if v < 0 else v, lambda a: a
)
AGGREGATORS = {
    "sum": SUM,
    "count": COUNT,
    "collect": COLLECT,
    "max": MAX,
    "latest": LATEST_NON_NEGATIVE,
}


def _reference(name: str, values: list[int]) -> Any:
    if name == "sum":
        return sum(values)
    if name == "count":
        return len(values)
    if name == "collect":
        return tuple(values)
    if name == "latest":
        return next((v for v in reversed(values) if v >= 0), None)
    return max(values)


@st.composite
def specs(draw: st.DrawFn) -> WindowSpec[Any, Any, Any]:
    slide = draw(st.integers(1, 30))
    size = slide * draw(st.integers(1, 5))
    agg = draw(st.sampled_from(sorted(AGGREGATORS)))
    return WindowSpec(agg, size, slide, AGGREGATORS[agg])


# ("add", key, time, value) or ("close", watermark step, _, _)
_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.sampled_from("xyz"), st.integers(0, 300), st.integers(-9, 99)),
        st.tuples(st.just("close"), st.just(""), st.integers(0, 80), st.just(0)),
    ),
    max_size=80,
)


@dataclass
class Oracle:
    """Keeps every add with the watermark it met; recomputes each window from scratch."""

    spec: WindowSpec[Any, Any, Any]
    adds: list[tuple[str, int, int, int]] = field(default_factory=list)  # key, t, value, wm
    closed: set[tuple[str, int]] = field(default_factory=set)

    def contains(self, start: int, t: int) -> bool:
        return start <= t < start + self.spec.size_ms and start % self.spec.slide_ms == 0

    def starts(self, t: int) -> list[int]:
        return [s for s in range(t - self.spec.size_ms + 1, t + 1) if self.contains(s, t)]

    def missed(self, t: int, wm: int) -> int:
        return sum(1 for s in self.starts(t) if s + self.spec.size_ms <= wm)

    def close(self, wm: int) -> list[Window]:
        size = self.spec.size_ms
        opened = {
            (k, s) for k, t, _, w in self.adds for s in self.starts(t) if s + size > w
        } - self.closed
        due = sorted((s + size, k, s) for k, s in opened if s + size <= wm)
        out = []
        for end, key, start in due:
            values = [
                v for k, t, v, w in self.adds if k == key and self.contains(start, t) and w < end
            ]
            out.append(Window(key, start, end, _reference(self.spec.name, values)))
            self.closed.add((key, start))
        return out


@given(specs(), _OPS)
def test_window_store_matches_brute_force(
    spec: WindowSpec[Any, Any, Any], ops: list[tuple[str, str, int, int]]
) -> None:
    store = WindowStore(spec)
    oracle = Oracle(spec)
    wm = -1
    for op, key, t, value in ops:
        if op == "add":
            missed = store.add(key, t, value, closed_before_ms=wm)
            assert missed == oracle.missed(t, wm)
            oracle.adds.append((key, t, value, wm))
        else:
            wm += t  # watermarks only move forward (by 0..80)
            assert store.close_until(wm) == oracle.close(wm)
        assert len(store) == len(
            {
                (k, s)
                for k, tt, _, w in oracle.adds
                for s in oracle.starts(tt)
                if s + spec.size_ms > w
            }
            - oracle.closed
        )
    assert store.close_until(10**9) == oracle.close(10**9)
    assert len(store) == 0
    assert store.next_end_ms() is None


@given(specs(), _OPS, st.integers(0, 80))
def test_restored_snapshot_continues_identically(
    spec: WindowSpec[Any, Any, Any], ops: list[tuple[str, str, int, int]], cut: int
) -> None:
    """Checkpoints pickle ``snapshot()``; a store restored from it behaves like the original."""
    original = WindowStore(spec)
    restored: WindowStore | None = None
    wm = -1
    for i, (op, key, t, value) in enumerate(ops):
        if i == cut:
            restored = WindowStore(spec)
            restored.restore(pickle.loads(pickle.dumps(original.snapshot())))
        stores = [original] if restored is None else [original, restored]
        if op == "add":
            assert len({s.add(key, t, value, wm) for s in stores}) == 1
        else:
            wm += t
            results = [s.close_until(wm) for s in stores]
            assert all(r == results[0] for r in results)
    if restored is not None:
        assert restored.close_until(10**9) == original.close_until(10**9)


def test_tumbling_windows_by_hand() -> None:
    store = WindowStore(WindowSpec.tumbling("sum", 10, SUM))
    for key, t, v in [("a", 0, 1), ("a", 9, 2), ("a", 10, 4), ("b", 3, 8)]:
        assert store.add(key, t, v, closed_before_ms=-1) == 0
    assert store.next_end_ms() == 10
    assert store.close_until(9) == []
    assert store.close_until(10) == [Window("a", 0, 10, 3), Window("b", 0, 10, 8)]
    # the window [0, 10) is closed: a late value misses it and is counted as missed
    assert store.add("a", 5, 100, closed_before_ms=10) == 1
    assert store.close_until(20) == [Window("a", 10, 20, 4)]


def test_sliding_windows_by_hand() -> None:
    store = WindowStore(WindowSpec("count", 30, 10, COUNT))
    store.add("k", 25, None, closed_before_ms=0)
    assert store.close_until(100) == [
        Window("k", 0, 30, 1),
        Window("k", 10, 40, 1),
        Window("k", 20, 50, 1),
    ]


# --- WindowSpec ----------------------------------------------------------------------------


@given(st.integers(1, 50), st.integers(1, 6), st.integers(-1_000, 10_000))
def test_starts_for_lists_exactly_the_windows_containing_a_time(
    slide: int, multiple: int, t: int
) -> None:
    spec = WindowSpec("w", slide * multiple, slide, SUM)
    starts = list(spec.starts_for(t))
    brute = [s for s in range(t - spec.size_ms + 1, t + 1) if s % slide == 0]
    assert starts == brute
    assert len(starts) == multiple
    assert all(s <= t < s + spec.size_ms for s in starts)


def test_tumbling_is_sliding_with_slide_equal_to_size() -> None:
    spec = WindowSpec.tumbling("t", 60_000, SUM)
    assert (spec.size_ms, spec.slide_ms) == (60_000, 60_000)
    assert list(spec.starts_for(119_999)) == [60_000]
    assert list(spec.starts_for(120_000)) == [120_000]


@pytest.mark.parametrize(
    ("size", "slide", "message"),
    [
        (0, 1, "must be > 0"),
        (10, 0, "must be > 0"),
        (-10, 5, "must be > 0"),
        (10, -5, "must be > 0"),
        (10, 3, "size_ms (10) must be a multiple of slide_ms (3)"),
        (5, 10, "size_ms (5) must be a multiple of slide_ms (10)"),
    ],
)
def test_window_spec_validation(size: int, slide: int, message: str) -> None:
    with pytest.raises(ConfigError, match="window 'refunds_per_customer'") as err:
        WindowSpec("refunds_per_customer", size, slide, SUM)
    assert message in str(err.value)


# "latest non-null value": its accumulator is None until a non-null value arrives
LATEST: Aggregator[int | None, int | None, int | None] = Aggregator(
    lambda: None, lambda a, v: a if v is None else v, lambda a: a
)


def test_accumulator_that_is_none_is_still_an_open_window() -> None:
    store = WindowStore(WindowSpec.tumbling("latest", 10, LATEST))
    store.add("k", 1, None, closed_before_ms=-1)
    store.add("k", 2, None, closed_before_ms=-1)
    assert len(store) == 1
    assert store.close_until(10) == [Window("k", 0, 10, None)]

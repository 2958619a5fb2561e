"""Oracle tests for the running amount baseline and the retention sweep helpers."""

from __future__ import annotations

import math
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from vigil.detectors.sequences._common import (
    AmountBaseline,
    log_bin,
    new_histogram,
    quantile,
    retain,
    sweep,
)

DAY = 86_400_000


@given(st.lists(st.tuples(st.integers(0, 30), st.integers(1, 10_000_000)), min_size=1, max_size=60))
def test_baseline_equals_a_full_recomputation_after_every_update(
    obs: list[tuple[int, int]],
) -> None:
    """With no decay, the folded histogram is the histogram of every earlier observation."""
    obs = sorted(obs)
    state = AmountBaseline.new()
    seen: list[int] = []
    for day, amount in obs:
        t = day * DAY
        AmountBaseline.fold(state, t, 1.0)
        oracle = new_histogram()
        for a in (a for d, a in obs if d < day):
            oracle[log_bin(a)] += 1
        assert state[1] == oracle
        assert state[0] == sum(oracle)
        AmountBaseline.add(state, t, amount)
        seen.append(amount)
    AmountBaseline.fold(state, 10**15, 1.0)
    assert state[0] == len(seen)


@given(st.lists(st.integers(1, 10_000_000), min_size=2, max_size=30), st.randoms())
def test_updates_at_the_same_time_do_not_depend_on_their_order(
    amounts: list[int], rnd: Any
) -> None:
    def run(order: list[int]) -> tuple[float, float, bool]:
        state = AmountBaseline.new()
        for a in order:
            AmountBaseline.fold(state, 5 * DAY, 1.0)
            assert AmountBaseline.typical(state, 0.5, 100, 1.0)[2] is False  # nothing folded
            AmountBaseline.add(state, 5 * DAY, a)
        AmountBaseline.fold(state, 6 * DAY, 1.0)
        return AmountBaseline.typical(state, 1, 100, 1.0)

    shuffled = list(amounts)
    rnd.shuffle(shuffled)
    assert run(amounts) == run(shuffled)


def test_quantiles_of_a_known_population() -> None:
    hist = new_histogram()
    for cents in (1_000, 2_000, 4_000, 8_000):
        hist[log_bin(cents)] += 1
    assert math.log(1_000) - 0.1 <= quantile(hist, 0.25) <= math.log(2_000) + 0.1
    assert math.log(2_000) - 0.1 <= quantile(hist, 0.5) <= math.log(4_000) + 0.1


def test_decay_forgets_old_days() -> None:
    state = AmountBaseline.new()
    AmountBaseline.add(state, 0, 1_000)
    AmountBaseline.fold(state, 1, 0.5)
    AmountBaseline.add(state, 2 * DAY, 1_000)
    AmountBaseline.fold(state, 2 * DAY + 1, 0.5)
    assert state[0] == 1.0 * 0.25 + 1.0


def test_typical_uses_the_prior_until_enough_is_seen() -> None:
    mean, sd, learned = AmountBaseline.typical(None, 10, 2_000, 0.8)
    assert (round(math.exp(mean)), sd, learned) == (2_000, 0.8, False)


class _Ctx:
    def __init__(self) -> None:
        self.state: dict[str, dict[str, Any]] = {}
        self.timers: list[tuple[int, str]] = []

    @property
    def watermark_ms(self) -> int:
        return 0

    def keyed(self, namespace: str) -> dict[str, Any]:
        return self.state.setdefault(namespace, {})

    def set_timer(self, fire_at_ms: int, key: str, payload: Any = None, phase: int = 0) -> None:
        self.timers.append((fire_at_ms, key))

    def window_add(self, name: str, key: str, time_ms: int, value: Any) -> None:
        raise AssertionError("not used")


def test_retention_deletes_idle_entries_and_keeps_active_ones() -> None:
    ctx = _Ctx()
    store = ctx.keyed("orders")
    store["idle"] = [0]
    store["busy"] = [0]
    retain(ctx, "orders", "idle", 0, 10 * DAY)
    retain(ctx, "orders", "busy", 0, 10 * DAY)
    assert len(ctx.timers) == 1  # one timer per day bucket, not per entry
    store["busy"][0] = 5 * DAY  # activity after creation
    fire_at, key = ctx.timers.pop()
    assert fire_at >= 10 * DAY
    sweep(ctx, key, fire_at, 10 * DAY)
    assert "idle" not in store and "busy" in store
    fire_at, key = ctx.timers.pop()
    assert fire_at >= 15 * DAY
    sweep(ctx, key, fire_at, 10 * DAY)
    assert store == {}

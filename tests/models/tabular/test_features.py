"""Velocity features against a brute-force oracle: no look-ahead, ties do not see each other."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from vigil.models.tabular.features import velocity, velocity_oracle

rows = st.lists(
    st.tuples(st.integers(-1, 4), st.integers(0, 30)),  # entity code (-1 missing), time
    min_size=0,
    max_size=60,
)
windows = st.lists(st.integers(1, 20), min_size=1, max_size=3)


def _same(a: list[float], b: np.ndarray) -> bool:
    return all(
        (math.isnan(x) and math.isnan(y)) or x == y for x, y in zip(a, b.tolist(), strict=True)
    )


@given(rows, windows)
def test_velocity_equals_brute_force(data: list[tuple[int, int]], ws: list[int]) -> None:
    codes = [c for c, _ in data]
    times = [t for _, t in data]
    prior, counts, since = velocity(
        np.asarray(codes, dtype=np.int64), np.asarray(times, dtype=np.int64), ws
    )
    o_prior, o_counts, o_since = velocity_oracle(codes, times, ws)
    assert _same(o_prior, prior)
    for o, c in zip(o_counts, counts, strict=True):
        assert _same(o, c)
    assert _same(o_since, since)


@given(rows, st.integers(0, 59))
def test_no_look_ahead(data: list[tuple[int, int]], cut: int) -> None:
    """A row's features do not change when rows at or after its time are altered or removed."""
    codes = np.asarray([c for c, _ in data], dtype=np.int64)
    times = np.asarray([t for _, t in data], dtype=np.int64)
    if codes.size == 0:
        return
    i = cut % codes.size
    prior, counts, since = velocity(codes, times, [5])
    keep = times < times[i]
    keep[i] = True
    sub_codes, sub_times = codes[keep], times[keep]
    j = int(np.flatnonzero(keep).tolist().index(i))
    p2, c2, s2 = velocity(sub_codes, sub_times, [5])
    for a, b in ((prior[i], p2[j]), (counts[0][i], c2[0][j]), (since[i], s2[j])):
        assert (math.isnan(a) and math.isnan(b)) or a == b


def test_ties_at_one_timestamp_do_not_count_each_other() -> None:
    codes = np.asarray([7, 7, 7], dtype=np.int64)
    times = np.asarray([100, 100, 160], dtype=np.int64)
    prior, counts, since = velocity(codes, times, [60, 61])
    assert prior.tolist() == [0.0, 0.0, 2.0]
    assert counts[0].tolist() == [0.0, 0.0, 0.0]  # (t - 60, t) excludes t - 60
    assert counts[1].tolist() == [0.0, 0.0, 2.0]
    assert math.isnan(since[0]) and since[2] == 60.0

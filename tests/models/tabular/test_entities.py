"""Entity combinations and their point-in-time aggregates against brute-force oracles.

Every aggregate is checked two ways (hypothesis): equal to a recomputation over all pairs of
rows, and unchanged when rows at or after a row's time are altered or removed (it never reads
the future). Ties at one timestamp do not see each other, as in velocity.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from vigil.errors import ConfigError
from vigil.models.tabular.entities import (
    entity_columns,
    entity_key,
    new_for,
    prior_distinct,
    prior_distinct_oracle,
    prior_stats,
    prior_stats_oracle,
)
from vigil.models.tabular.features import FeatureConfig, derive_features
from vigil.models.tabular.pipeline import FeatureWords, describe, prepare

values = st.one_of(
    st.just(float("nan")),
    st.floats(-1e4, 1e4, allow_nan=False).map(lambda v: round(v, 2)),
)
rows = st.lists(
    # entity code (-1 missing), time, a number (maybe missing), another column's code
    st.tuples(st.integers(-1, 3), st.integers(0, 20), values, st.integers(-1, 3)),
    min_size=0,
    max_size=50,
)


def _columns(data: list[tuple[int, int, float, int]]) -> tuple[np.ndarray, ...]:
    codes = np.asarray([r[0] for r in data], dtype=np.int64)
    times = np.asarray([r[1] for r in data], dtype=np.int64)
    numbers = np.asarray([r[2] for r in data], dtype=np.float64)
    other = np.asarray([r[3] for r in data], dtype=np.int64)
    return codes, times, numbers, other


def _close(expected: list[float], got: np.ndarray) -> bool:
    return all(
        (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)
        for a, b in zip(expected, got.tolist(), strict=True)
    )


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


@given(rows)
def test_prior_mean_and_std_equal_brute_force(data: list[tuple[int, int, float, int]]) -> None:
    codes, times, numbers, _ = _columns(data)
    mean, std = prior_stats(codes, times, numbers)
    o_mean, o_std = prior_stats_oracle(codes.tolist(), times.tolist(), numbers.tolist())
    assert _close(o_mean, mean)
    assert _close(o_std, std)


@given(rows)
def test_prior_distinct_and_new_equal_brute_force(data: list[tuple[int, int, float, int]]) -> None:
    codes, times, _, other = _columns(data)
    o_distinct, o_new = prior_distinct_oracle(codes.tolist(), times.tolist(), other.tolist())
    assert _close(o_distinct, prior_distinct(codes, times, other))
    assert _close(o_new, new_for(codes, times, other))


@given(rows, st.integers(0, 49))
def test_aggregates_never_read_the_future(
    data: list[tuple[int, int, float, int]], cut: int
) -> None:
    """Rows at or after row i's time are removed, or their values changed: row i's mean,
    std, distinct count and new flag stay exactly the same."""
    codes, times, numbers, other = _columns(data)
    if codes.size == 0:
        return
    i = cut % codes.size
    before = _all(codes, times, numbers, other)
    future = times >= times[i]
    future[i] = False
    # 1. the future removed
    keep = ~future
    j = int(np.flatnonzero(keep).tolist().index(i))
    after_removal = _all(codes[keep], times[keep], numbers[keep], other[keep])
    # 2. the future rewritten: other entities, values and later times
    rng = np.random.default_rng(cut)
    codes2, times2, numbers2, other2 = codes.copy(), times.copy(), numbers.copy(), other.copy()
    k = int(future.sum())
    codes2[future] = rng.integers(-1, 4, k)
    numbers2[future] = rng.normal(0, 1e3, k)
    other2[future] = rng.integers(-1, 4, k)
    times2[future] = times[i] + rng.integers(0, 5, k)
    after_change = _all(codes2, times2, numbers2, other2)
    for feature in range(4):
        assert _same(before[feature][i], after_removal[feature][j])
        assert _same(before[feature][i], after_change[feature][i])


def _all(codes: np.ndarray, times: np.ndarray, numbers: np.ndarray, other: np.ndarray) -> list:  # type: ignore[type-arg]
    mean, std = prior_stats(codes, times, numbers)
    return [mean, std, prior_distinct(codes, times, other), new_for(codes, times, other)]


def test_ties_at_one_timestamp_do_not_see_each_other() -> None:
    codes = np.asarray([1, 1, 1, 1], dtype=np.int64)
    times = np.asarray([10, 10, 20, 30], dtype=np.int64)
    amounts = np.asarray([100.0, 300.0, 50.0, 80.0])
    other = np.asarray([0, 1, 1, 2], dtype=np.int64)
    mean, std = prior_stats(codes, times, amounts)
    assert math.isnan(mean[0]) and math.isnan(mean[1])  # the other one is not "earlier"
    assert mean[2] == 200.0 and std[2] == 100.0
    assert mean[3] == 150.0
    assert prior_distinct(codes, times, other).tolist() == [0.0, 0.0, 2.0, 2.0]
    assert new_for(codes, times, other).tolist() == [1.0, 1.0, 0.0, 1.0]


def test_a_combination_is_missing_only_when_every_part_is() -> None:
    frame = pl.DataFrame(
        {
            "card1": [1001.0, 1001.0, 1001.0, None, None],
            "addr1": [299.0, 299.0, None, 299.0, None],
            "P_emaildomain": ["gmail.com", "gmail.com", "gmail.com", None, None],
        }
    )
    codes = entity_key(frame, ["card1", "addr1", "P_emaildomain"]).tolist()
    assert codes[0] == codes[1]  # the same card, address and domain
    assert len({codes[0], codes[2], codes[3]}) == 3  # a missing part is a value of its own
    assert codes[4] == -1  # nothing known: no entity
    # a numeric part and the text "1001.0" of another file give the same key
    as_text = frame.with_columns(pl.col("card1").cast(pl.String))
    assert entity_key(as_text, ["card1", "addr1", "P_emaildomain"]).tolist() == codes


def test_entity_names_a_column_or_a_combination() -> None:
    columns = ["card1", "addr1", "a+b"]
    assert entity_columns("card1", columns) == ["card1"]
    assert entity_columns("card1+addr1", columns) == ["card1", "addr1"]
    assert entity_columns("a+b", columns) == ["a+b"]  # a column whose name has a +
    with pytest.raises(ConfigError, match=r"--entity 'card1\+adr1': no column 'adr1'"):
        entity_columns("card1+adr1", columns)
    with pytest.raises(ConfigError, match="no such column"):
        entity_columns("card9", columns)


table_rows = st.lists(
    # card (maybe missing), address (maybe missing), amount, second e-mail domain, time (s)
    st.tuples(
        st.one_of(st.none(), st.sampled_from([1001, 1002])),
        st.one_of(st.none(), st.sampled_from([87, 299])),
        st.floats(1, 500).map(lambda v: round(v, 2)),
        st.one_of(st.none(), st.sampled_from(["gmail.com", "mail.com", "aol.com"])),
        st.integers(86_400, 86_400 + 3 * 86_400),
    ),
    min_size=1,
    max_size=40,
)
CONFIG = FeatureConfig(
    label="isFraud",
    time="TransactionDT",
    time_unit="offset-s",
    entities=["card1+addr1"],
    entity_stats=["TransactionAmt"],
    entity_distinct=["R_emaildomain"],
    windows_s=[3_600, 86_400],
)


def _derived(data: list[tuple[object, ...]]) -> dict[str, np.ndarray]:
    frame = pl.DataFrame(
        data,
        schema=["card1", "addr1", "TransactionAmt", "R_emaildomain", "TransactionDT"],
        orient="row",
    ).with_columns(pl.col("card1", "addr1", "TransactionAmt").cast(pl.Float64))
    times = frame.get_column("TransactionDT").to_numpy().astype(np.int64) * 1_000
    return {d.name: d.values for d in derive_features(frame, CONFIG, times, 0.001)}  # type: ignore[misc]


@given(table_rows, st.integers(0, 39))
def test_every_entity_feature_never_reads_the_future(
    data: list[tuple[object, ...]], cut: int
) -> None:
    """All the features `vigil model train` derives for a combination entity (velocity,
    mean, spread, ratio, distinct, new) are the same for row i whether the rows at or after
    its time are there, removed or rewritten."""
    i = cut % len(data)
    t_i = data[i][4]
    before = _derived(data)
    past = [r for k, r in enumerate(data) if k == i or r[4] < t_i]
    j = past.index(data[i]) if data.count(data[i]) == 1 else None
    removed = _derived(past)
    rewritten = _derived(
        [
            r if (k == i or r[4] < t_i) else (1001, 87, 999.0, "mail.com", r[4])
            for k, r in enumerate(data)
        ]
    )
    assert set(before) == set(removed) == set(rewritten)
    assert {
        "card1+addr1_prior_count",
        "card1+addr1_count_1h",
        "TransactionAmt_to_card1+addr1_prior_mean",
        "card1+addr1_TransactionAmt_prior_std",
        "card1+addr1_R_emaildomain_new",
    } <= set(before)
    for name, values in before.items():
        assert _same(float(values[i]), float(rewritten[name][i])), name
        if j is not None:
            assert _same(float(values[i]), float(removed[name][j])), name


@given(table_rows)
def test_the_amount_ratio_equals_brute_force(data: list[tuple[object, ...]]) -> None:
    derived = _derived(data)
    key = {(r[0], r[1]) for r in data if r[0] is not None or r[1] is not None}
    index = {k: n for n, k in enumerate(sorted(key, key=repr))}
    codes = [index.get((r[0], r[1]), -1) for r in data]
    means, _ = prior_stats_oracle(codes, [int(r[4]) for r in data], [float(r[2]) for r in data])  # type: ignore[arg-type]
    expected = [
        float(r[2]) / m if not math.isnan(m) else float("nan")
        for r, m in zip(data, means, strict=True)
    ]  # type: ignore[arg-type]
    assert _close(expected, derived["TransactionAmt_to_card1+addr1_prior_mean"])


def test_the_new_features_are_said_in_words() -> None:
    ratio = FeatureWords(
        "TransactionAmt_to_card1+addr1_prior_mean",
        "ratio",
        "TransactionAmt at {v}x its mean over the earlier rows with the same card1+addr1",
    )
    new = FeatureWords(
        "card1+addr1_R_emaildomain_new",
        "flag",
        "R_emaildomain never seen before with the same card1+addr1: {v}",
    )
    assert describe(ratio, 3.14159, None).startswith("TransactionAmt at 3.14x its mean")
    assert describe(new, 1.0, None).endswith(": yes")
    assert describe(new, 0.0, None).endswith(": no")


def test_scoring_a_file_without_a_part_of_a_combination_names_it(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    pl.DataFrame(
        {"TransactionDT": [86_400 + 60 * i for i in range(40)],
         "card1": [1001 + i % 3 for i in range(40)], "addr1": [299] * 40,
         "TransactionAmt": [10.0 + i for i in range(40)], "isFraud": [0, 1] * 20}
    ).write_csv(path)  # fmt: skip
    config = FeatureConfig(label="isFraud", time="TransactionDT", entities=["card1+addr1"])
    trained = prepare(path, config)
    pl.read_csv(path).drop("addr1").write_csv(path)
    with pytest.raises(
        ConfigError,
        match=r"the model was trained with --entity 'card1\+addr1' \(column 'addr1'\), and "
        "this file has no such column",
    ):
        prepare(path, trained.config, types=trained.types, need_label=False)

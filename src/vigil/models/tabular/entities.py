"""Entities and their point-in-time aggregates: what a card, a user or an address did before.

An **entity** is one column (``device_id``) or a combination of columns
(``card1+addr1+P_emaildomain``, the way the best published IEEE-CIS models identify a card
holder). A combination's value is missing only when all its columns are missing: a card with
no billing address is still that card, and rows without an address are one group of it.

Besides velocity (``features.velocity``) an entity gets, for a row at time ``t`` and from its
rows *strictly earlier* than ``t`` only (ties never see each other, as in velocity):

- ``prior_stats``: the mean and standard deviation of a numeric column over them (missing
  values skipped; the standard deviation needs two values), from which the row's value
  relative to the mean is derived (``amount / mean``);
- ``prior_distinct``: how many distinct values of another column they had, and whether the
  row's value is new for the entity (``new_for``).

The property tests in ``tests/models/tabular/test_entities.py`` check each against a
brute-force oracle, and that changing or removing rows at or after a row's time never changes
its values. Sums are accumulated per entity, so other entities' rows (future ones included)
cannot even change the rounding.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import polars as pl

from vigil.errors import ConfigError

__all__ = [
    "entity_codes",
    "entity_columns",
    "entity_key",
    "new_for",
    "prior_distinct",
    "prior_distinct_oracle",
    "prior_stats",
    "prior_stats_oracle",
]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
_SEP = "\x1f"  # joins a combination's values (a unit separator never appears in a cell)
_NULL = "\x00"


def entity_columns(spec: str, columns: Sequence[str], option: str = "--entity") -> list[str]:
    """The columns of an entity: ``spec`` itself if a column has that name, else its
    ``+``-separated parts, each of which must be a column."""
    if spec in columns:
        return [spec]
    parts = [p.strip() for p in spec.split("+")]
    unknown = [p for p in parts if p not in columns]
    if len(parts) < 2 or unknown:
        shown = ", ".join(c for c in columns if not c.startswith("__"))
        what = f"no column {unknown[0]!r}" if unknown and len(parts) > 1 else "no such column"
        raise ConfigError(f"{option} {spec!r}: {what}; the file has: {shown}")
    if len(set(parts)) < len(parts):
        raise ConfigError(f"{option} {spec!r}: a column appears twice in the combination")
    return parts


def entity_codes(column: pl.Series) -> I64:
    """A dense integer per distinct value; -1 for missing."""
    ranked = column.rank("dense")
    return ranked.fill_null(0).cast(pl.Int64).to_numpy().astype(np.int64) - 1


def entity_key(frame: pl.DataFrame, parts: Sequence[str]) -> I64:
    """Codes of the entity named by ``parts`` (-1 where every part is missing)."""
    if len(parts) == 1:
        return entity_codes(frame.get_column(parts[0]))
    text = [pl.col(p).cast(pl.String) for p in parts]
    joined = pl.concat_str([t.fill_null(_NULL) for t in text], separator=_SEP)
    all_missing = pl.all_horizontal([t.is_null() for t in text])
    key = frame.select(pl.when(all_missing).then(None).otherwise(joined).alias("key"))
    return entity_codes(key.to_series())


def _layout(codes: I64, times: I64) -> tuple[I64, I64, I64, I64, I64]:
    """Rows sorted by (entity, time); per row: the sorted position of the entity's first row
    (``start``) and of its first row at the row's time or later (``hi``): the entity's
    strictly earlier rows are sorted positions ``start .. hi - 1``."""
    uniq = np.unique(times)
    rank = np.searchsorted(uniq, times, side="left").astype(np.int64)
    m = np.int64(uniq.size + 1)
    c = np.where(codes >= 0, codes, int(codes.max(initial=0)) + 1).astype(np.int64)
    key = c * m + rank
    order = np.argsort(key, kind="stable").astype(np.int64)
    sorted_key = key[order]
    base = c * m
    hi = np.searchsorted(sorted_key, base + rank, side="left").astype(np.int64)
    start = np.searchsorted(sorted_key, base, side="left").astype(np.int64)
    return order, c, start, hi, rank


def _grouped_cumsum(group: I64, values: F64) -> F64:
    """Cumulative sums that restart at each group (``group`` sorted): exact per group."""
    frame = pl.DataFrame({"g": group, "v": values})
    return frame.select(pl.col("v").cum_sum().over("g")).to_series().to_numpy().astype(np.float64)


def prior_stats(codes: I64, times: I64, values: F64) -> tuple[F64, F64]:
    """Mean and standard deviation (population) of ``values`` over each row's entity's
    strictly earlier rows with a value. Mean is NaN with no such row, std with fewer than two;
    both NaN where the entity is missing."""
    n = codes.size
    mean = np.full(n, np.nan)
    std = np.full(n, np.nan)
    if n == 0:
        return mean, std
    order, c, start, hi, _ = _layout(codes, times)
    v = values[order].astype(np.float64)
    g = c[order]
    present = ~np.isnan(v)
    # shift by the entity's first present value (a past value for every row that has any),
    # so the sum of squares keeps its precision; equal values give exactly 0
    first_present = (
        pl.DataFrame({"g": g, "v": np.where(present, v, np.nan)})
        .with_columns(pl.col("v").fill_nan(None))
        .select(pl.col("v").drop_nulls().first().over("g"))
        .to_series()
        .fill_null(0.0)
        .to_numpy()
        .astype(np.float64)
    )
    d = np.where(present, v - first_present, 0.0)
    cs_n = _grouped_cumsum(g, present.astype(np.float64))
    cs_1 = _grouped_cumsum(g, d)
    cs_2 = _grouped_cumsum(g, d * d)
    has = (hi > start) & (codes >= 0)
    last = hi[has] - 1  # the sorted position of the latest strictly earlier row
    count = cs_n[last]
    s1 = cs_1[last]
    s2 = cs_2[last]
    ref = first_present[last]
    with np.errstate(invalid="ignore", divide="ignore"):
        m = np.where(count > 0, s1 / count, np.nan)
        var = np.where(count > 1, np.maximum(s2 / count - m * m, 0.0), np.nan)
    mean[has] = m + ref
    std[has] = np.sqrt(var)
    return mean, std


def prior_stats_oracle(
    codes: Sequence[int], times: Sequence[int], values: Sequence[float]
) -> tuple[list[float], list[float]]:
    """``prior_stats`` by brute force over all pairs (for tests)."""
    nan = float("nan")
    means: list[float] = []
    stds: list[float] = []
    for i, (ci, ti) in enumerate(zip(codes, times, strict=True)):
        earlier = [
            values[j]
            for j, (cj, tj) in enumerate(zip(codes, times, strict=True))
            if j != i and ci >= 0 and cj == ci and tj < ti and not math.isnan(values[j])
        ]
        if not earlier:
            means.append(nan)
            stds.append(nan)
            continue
        mu = sum(earlier) / len(earlier)
        means.append(mu)
        if len(earlier) < 2:
            stds.append(nan)
        else:
            stds.append(math.sqrt(sum((x - mu) ** 2 for x in earlier) / len(earlier)))
    return means, stds


def prior_distinct(codes: I64, times: I64, other: I64) -> F64:
    """Distinct values of ``other`` (codes, -1 missing) among each row's entity's strictly
    earlier rows; NaN where the entity is missing."""
    n = codes.size
    out = np.full(n, np.nan)
    if n == 0:
        return out
    _, c, _, _, rank = _layout(codes, times)
    ok = other >= 0
    # the first time (as a rank) each (entity, value) pair occurs
    pair = c[ok] * np.int64(int(other.max(initial=0)) + 1) + other[ok]
    pair_rank = rank[ok]
    order = np.lexsort((pair_rank, pair))
    sorted_pair = pair[order]
    first = np.ones(sorted_pair.size, dtype=bool)
    first[1:] = sorted_pair[1:] != sorted_pair[:-1]
    first_entity = c[ok][order][first]
    first_rank = pair_rank[order][first]
    m = np.int64(rank.max(initial=0) + 2)
    keys = np.sort(first_entity * m + first_rank)
    lo = np.searchsorted(keys, c * m, side="left")
    hi = np.searchsorted(keys, c * m + rank, side="left")
    counted = (hi - lo).astype(np.float64)
    present = codes >= 0
    out[present] = counted[present]
    return out


def new_for(codes: I64, times: I64, other: I64) -> F64:
    """1 if the row's ``other`` value is not among its entity's strictly earlier rows, else
    0; NaN where the entity or the value is missing."""
    n = codes.size
    out = np.full(n, np.nan)
    if n == 0:
        return out
    both = (codes >= 0) & (other >= 0)
    pair = np.full(n, -1, dtype=np.int64)
    wide = codes[both] * np.int64(int(other.max(initial=0)) + 1) + other[both]
    pair[both] = np.unique(wide, return_inverse=True)[1].astype(np.int64)
    _, _, start, hi, _ = _layout(pair, times)
    seen = hi > start
    out[both] = np.where(seen[both], 0.0, 1.0)
    return out


def prior_distinct_oracle(
    codes: Sequence[int], times: Sequence[int], other: Sequence[int]
) -> tuple[list[float], list[float]]:
    """``prior_distinct`` and ``new_for`` by brute force (for tests)."""
    nan = float("nan")
    distinct: list[float] = []
    new: list[float] = []
    for i, (ci, ti) in enumerate(zip(codes, times, strict=True)):
        if ci < 0:
            distinct.append(nan)
            new.append(nan)
            continue
        earlier = {
            other[j]
            for j, (cj, tj) in enumerate(zip(codes, times, strict=True))
            if j != i and cj == ci and tj < ti and other[j] >= 0
        }
        distinct.append(float(len(earlier)))
        new.append(nan if other[i] < 0 else float(other[i] not in earlier))
    return distinct, new

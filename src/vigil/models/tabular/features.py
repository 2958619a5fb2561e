"""Model inputs from a typed table: time, durations, per-entity velocity and aggregates,
IP country.

**Point in time.** Every derived feature of a row uses only that row and rows *strictly
earlier* in event time. Rows that share a timestamp do not see each other: in the source
their order within one timestamp is arbitrary, and at decision time they were concurrent,
so counting one of them for the other would depend on file order (and, at ``H:MM``
resolution, would let a row see a purchase made up to a minute later). The property test in
``tests/models/tabular/test_features.py`` checks the counts against a brute-force oracle.

Velocity of entity ``e`` (a device, an IP, a user) for a row at time ``t``:

- ``e_prior_count``: rows with the same ``e`` before ``t`` (all history in the file);
- ``e_count_<w>``: rows with the same ``e`` in ``(t - w, t)``, for each window ``w``;
- ``e_seconds_since_prev``: ``t`` minus the time of the latest earlier row with the same
  ``e`` (missing for the first one).

Rows with a missing entity value get missing velocity (they are not one big entity).
Computed with sorts and binary searches (``O(n log n)``, no Python loop over rows).

An entity may be a combination of columns (``card1+addr1+P_emaildomain``); per entity,
``--entity-stats`` and ``--entity-distinct`` add the point-in-time aggregates of
``entities.py`` (the mean and spread of a number over the entity's earlier rows, the row's
value relative to that mean, the distinct values of another column it had, and whether the
row's value is new for it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import msgspec
import numpy as np
import numpy.typing as npt
import polars as pl

from vigil.models.tabular.entities import (
    entity_codes,
    entity_columns,
    entity_key,
    new_for,
    prior_distinct,
    prior_stats,
)
from vigil.models.tabular.timecol import is_offset

__all__ = [
    "DEFAULT_WINDOWS_S",
    "DerivedFeature",
    "FeatureConfig",
    "derive_features",
    "entity_codes",
    "ip_country",
    "velocity",
    "velocity_oracle",
    "window_label",
]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

#: 1 hour, 1 day, 7 days, 30 days
DEFAULT_WINDOWS_S = (3_600, 86_400, 604_800, 2_592_000)
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


class FeatureConfig(msgspec.Struct, frozen=True, omit_defaults=True):
    """How a table becomes model inputs; stored with the model so scoring repeats it."""

    label: str
    time: str | None = None
    #: how --time is read (``timecol.TimeUnit``); a trained model stores the unit it found
    time_unit: str = "auto"
    #: one column (``device_id``) or a combination (``card1+addr1+P_emaildomain``) each
    entities: list[str] = []
    #: numeric columns whose mean and spread over each entity's earlier rows are features
    entity_stats: list[str] = []
    #: columns whose distinct values among each entity's earlier rows are counted
    entity_distinct: list[str] = []
    windows_s: list[int] = msgspec.field(default_factory=lambda: list(DEFAULT_WINDOWS_S))
    #: datetime columns turned into "seconds from COL to the time column"
    duration_from: list[str] = []
    ip_column: str | None = None
    #: columns never used as inputs (given with --drop)
    drop: list[str] = []


@dataclass(frozen=True)
class DerivedFeature:
    name: str
    values: F64 | None  # numeric values, or None when ``text`` holds a categorical
    text: pl.Series | None = None
    #: template for the words of an explanation; ``{v}`` is the formatted value
    words: str = "{v}"
    kind: str = "numeric"  # "numeric" | "duration" | "count" | "hour" | "weekday" | "categorical"


def window_label(seconds: int) -> str:
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def velocity(codes: I64, times: I64, windows: Sequence[int]) -> tuple[F64, list[F64], F64]:
    """Point-in-time velocity of one entity column.

    ``codes``: an integer per row naming the entity value (``-1`` = missing); ``times``:
    integer event times (any unit; ``windows`` in the same unit). Returns the prior count,
    one count per window (rows in ``(t - w, t)``) and the time since the previous row of the
    same entity (NaN for a first row), each as float64 with NaN where the entity is missing.
    """
    n = codes.size
    if n == 0:
        return np.zeros(0), [np.zeros(0) for _ in windows], np.zeros(0)
    uniq = np.unique(times)
    rank = np.searchsorted(uniq, times, side="left").astype(np.int64)
    m = np.int64(uniq.size + 1)
    # missing values form a group of their own that no present value ever looks into
    c = np.where(codes >= 0, codes, int(codes.max(initial=0)) + 1).astype(np.int64)
    key = c * m + rank
    sorted_key = np.sort(key, kind="stable")
    base = c * m
    hi = np.searchsorted(sorted_key, base + rank, side="left")  # first same-time-or-later row
    start = np.searchsorted(sorted_key, base, side="left")
    missing = codes < 0
    prior = (hi - start).astype(np.float64)
    prior[missing] = np.nan
    counts: list[F64] = []
    for w in windows:
        lower = np.searchsorted(uniq, times - np.int64(w), side="right").astype(np.int64)
        lo = np.searchsorted(sorted_key, base + lower, side="left")
        count = (hi - np.maximum(lo, start)).astype(np.float64)
        count[missing] = np.nan
        counts.append(count)
    since = np.full(n, np.nan)
    has_prev = (~missing) & (hi > start)
    prev_rank = sorted_key[hi[has_prev] - 1] - base[has_prev]
    since[has_prev] = (times[has_prev] - uniq[prev_rank]).astype(np.float64)
    return prior, counts, since


def velocity_oracle(
    codes: Sequence[int], times: Sequence[int], windows: Sequence[int]
) -> tuple[list[float], list[list[float]], list[float]]:
    """The same as ``velocity`` by brute force over all pairs (for tests)."""
    nan = float("nan")
    prior: list[float] = []
    counts: list[list[float]] = [[] for _ in windows]
    since: list[float] = []
    for i, (ci, ti) in enumerate(zip(codes, times, strict=True)):
        if ci < 0:
            prior.append(nan)
            for lst in counts:
                lst.append(nan)
            since.append(nan)
            continue
        earlier = [
            tj
            for j, (cj, tj) in enumerate(zip(codes, times, strict=True))
            if j != i and cj == ci and tj < ti
        ]
        prior.append(float(len(earlier)))
        for lst, w in zip(counts, windows, strict=True):
            lst.append(float(sum(1 for tj in earlier if ti - w < tj)))
        since.append(float(ti - max(earlier)) if earlier else nan)
    return prior, counts, since


def ip_country(ips: F64, lower: F64, upper: F64, country: Sequence[str | None]) -> pl.Series:
    """Country of each IPv4 integer from sorted, non-overlapping ranges (missing if none)."""
    order = np.argsort(lower, kind="stable")
    lo, hi = lower[order], upper[order]
    names = np.asarray(country, dtype=object)[order]
    if lo.size == 0:
        return pl.Series([None] * ips.size, dtype=pl.String)
    idx = np.searchsorted(lo, ips, side="right") - 1
    idx_c = np.clip(idx, 0, lo.size - 1)
    ok = (idx >= 0) & ~np.isnan(ips) & (ips <= hi[idx_c])
    out: list[str | None] = [
        name if good else None for name, good in zip(names[idx_c], ok.tolist(), strict=True)
    ]
    return pl.Series(out, dtype=pl.String)


def derive_features(
    frame: pl.DataFrame,
    config: FeatureConfig,
    times: I64 | None,
    time_unit_s: float,
) -> list[DerivedFeature]:
    """Time, duration, velocity and entity features of ``frame`` (typed, any row order).

    ``times`` are the integer event times of the rows (milliseconds when a time column is
    given; the row position otherwise, then ``time_unit_s`` is 0 and windows are skipped).
    ``config.time_unit`` is the unit the time column was read in (an offset from an unknown
    reference gets its hour and day counted from that reference, ``timecol.py``).
    """
    out: list[DerivedFeature] = []
    if config.time is not None and times is not None and time_unit_s > 0:
        out.extend(_time_features(frame, config, times))
    if times is not None:
        for entity in config.entities:
            parts = entity_columns(entity, frame.columns)
            codes = entity_key(frame, parts)
            out.extend(_velocity_features(entity, codes, times, config.windows_s, time_unit_s))
            out.extend(_aggregate_features(frame, config, entity, parts, codes, times))
    return out


def _time_features(frame: pl.DataFrame, config: FeatureConfig, times: I64) -> list[DerivedFeature]:
    assert config.time is not None
    name = config.time
    if is_offset(config.time_unit):
        # the reference's time of day is unknown: the hour and the weekday rotated by a
        # constant, which keeps the daily and weekly cycles (timecol.py says why)
        hour = (times // 3_600_000) % 24
        day = (times // 86_400_000) % 7
        return [
            DerivedFeature(
                f"{name}_hour_offset",
                hour.astype(np.float64),
                words=f"{name} in hour {{v}} of the day counted from its reference",
                kind="hour",
            ),
            DerivedFeature(
                f"{name}_day_offset",
                day.astype(np.float64),
                words=f"{name} on day {{v}} of the week counted from its reference",
                kind="hour",
            ),
        ]
    ts = frame.get_column(name)
    out = [
        DerivedFeature(
            f"{name}_hour",
            ts.dt.hour().cast(pl.Float64).to_numpy(),
            words=f"{name} at hour {{v}} (UTC)",
            kind="hour",
        ),
        DerivedFeature(
            f"{name}_weekday",
            (ts.dt.weekday() - 1).cast(pl.Float64).to_numpy(),
            words=f"{name} on a {{v}}",
            kind="weekday",
        ),
    ]
    for col in config.duration_from:
        start = frame.get_column(col)
        seconds = (ts - start).dt.total_milliseconds().cast(pl.Float64) / 1000.0
        out.append(
            DerivedFeature(
                f"{col}_to_{name}_s",
                seconds.to_numpy(),
                words=f"{{v}} from {col} to {name}",
                kind="duration",
            )
        )
    return out


def _velocity_features(
    entity: str, codes: I64, times: I64, windows_s: Sequence[int], time_unit_s: float
) -> list[DerivedFeature]:
    windows = [round(w / time_unit_s) for w in windows_s] if time_unit_s > 0 else []
    prior, counts, since = velocity(codes, times, windows)
    out = [
        DerivedFeature(
            f"{entity}_prior_count",
            prior,
            words=f"{{v}} earlier rows with the same {entity}",
            kind="count",
        )
    ]
    for w, count in zip(windows_s, counts, strict=False):
        label = window_label(w)
        out.append(
            DerivedFeature(
                f"{entity}_count_{label}",
                count,
                words=f"{{v}} earlier rows with the same {entity} in the last {label}",
                kind="count",
            )
        )
    if time_unit_s > 0:
        out.append(
            DerivedFeature(
                f"{entity}_seconds_since_prev",
                since * time_unit_s,
                words=f"{{v}} since the previous row with the same {entity}",
                kind="duration",
            )
        )
    else:
        out.append(
            DerivedFeature(
                f"{entity}_rows_since_prev",
                since,
                words=f"{{v}} rows since the previous row with the same {entity}",
                kind="count",
            )
        )
    return out


def _aggregate_features(
    frame: pl.DataFrame,
    config: FeatureConfig,
    entity: str,
    parts: Sequence[str],
    codes: I64,
    times: I64,
) -> list[DerivedFeature]:
    out: list[DerivedFeature] = []
    for col in config.entity_stats:
        values = frame.get_column(col).cast(pl.Float64).fill_nan(None).to_numpy()
        values = values.astype(np.float64)
        mean, std = prior_stats(codes, times, values)
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = np.where(mean != 0, values / mean, np.nan)
        ratio[~np.isfinite(ratio)] = np.nan
        earlier = f"earlier rows with the same {entity}"
        out.append(
            DerivedFeature(
                f"{entity}_{col}_prior_mean", mean, words=f"mean {col} {{v}} over the {earlier}"
            )
        )
        out.append(
            DerivedFeature(
                f"{entity}_{col}_prior_std",
                std,
                words=f"{col} spread (std) {{v}} over the {earlier}",
            )
        )
        out.append(
            DerivedFeature(
                f"{col}_to_{entity}_prior_mean",
                ratio,
                words=f"{col} at {{v}}x its mean over the {earlier}",
                kind="ratio",
            )
        )
    for col in config.entity_distinct:
        if col in parts:  # a part of the entity has one value per entity
            continue
        other = entity_codes(frame.get_column(col))
        out.append(
            DerivedFeature(
                f"{entity}_{col}_prior_distinct",
                prior_distinct(codes, times, other),
                words=f"{{v}} distinct {col} among the earlier rows with the same {entity}",
                kind="count",
            )
        )
        out.append(
            DerivedFeature(
                f"{entity}_{col}_new",
                new_for(codes, times, other),
                words=f"{col} never seen before with the same {entity}: {{v}}",
                kind="flag",
            )
        )
    return out


def human_duration(seconds: float) -> str:
    s = abs(seconds)
    sign = "-" if seconds < 0 else ""
    if s < 60:
        return f"{sign}{s:.0f} s"
    if s < 3_600:
        return f"{sign}{s / 60:.1f} min"
    if s < 86_400:
        return f"{sign}{s / 3_600:.1f} h"
    return f"{sign}{s / 86_400:.1f} days"


def weekday_name(index: float) -> str:
    return _DAYS[int(index) % 7]

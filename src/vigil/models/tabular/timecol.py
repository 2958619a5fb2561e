"""The event-time column: datetimes, or numbers in one of four units.

``--time COL`` may hold datetimes (text in one of ``typing.DATETIME_FORMATS``, or a Parquet
datetime) or numbers:

- ``epoch-s`` / ``epoch-ms``: seconds or milliseconds since 1970-01-01 UTC;
- ``offset-s`` / ``offset-ms``: seconds or milliseconds from an *unknown* reference, such as
  the IEEE-CIS fraud data's ``TransactionDT`` (86,400 to 15,811,131: six months of seconds
  counted from a day before the first row). Order, windows and durations between rows are
  exact; the calendar is not known.

``auto`` (the default) reads text that parses as dates as datetimes, and numbers by their
magnitude: every value between 1990 and 2100 as epoch seconds (631,152,000 to 4,102,444,800)
or as epoch milliseconds (1,000 times that) is read so; any other numbers are seconds from an
unknown reference (``offset-s``). The unit found is said in a note and stored with the model,
so scoring reads a new file the same way.

**Hour of day and day of week** come from the UTC calendar for datetimes and epochs. For an
offset, ``t mod 1 day`` and ``t mod 7 days`` are derived instead: the reference's time of day
is unknown, so these are the hour of day and the weekday *rotated by an unknown constant*.
A tree model loses nothing by the rotation (it splits on ranges of the hour wherever the
fraud rate changes), so the daily and weekly cycles of human activity stay usable; only
their names are unknown, and the explanation says so ("hour 7 of the day counted from
TransactionDT's reference"). This needs the unit to be right (seconds or milliseconds) and
the reference fixed, which is what an offset unit declares.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, get_args

import numpy as np
import numpy.typing as npt
import polars as pl

from vigil.errors import ConfigError

__all__ = [
    "NUMERIC_TIME_UNITS",
    "TIME_UNITS",
    "EventTimes",
    "TimeUnit",
    "detect_unit",
    "is_offset",
    "read_times",
]

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]

TimeUnit = Literal["auto", "datetime", "epoch-s", "epoch-ms", "offset-s", "offset-ms"]
TIME_UNITS: tuple[str, ...] = get_args(TimeUnit)
NUMERIC_TIME_UNITS = ("epoch-s", "epoch-ms", "offset-s", "offset-ms")
#: 1990-01-01 and 2100-01-01 in epoch seconds: the range read as epoch seconds by ``auto``
EPOCH_S_RANGE = (631_152_000.0, 4_102_444_800.0)
_MS_PER = {"epoch-s": 1_000.0, "epoch-ms": 1.0, "offset-s": 1_000.0, "offset-ms": 1.0}


def is_offset(unit: str) -> bool:
    return unit in ("offset-s", "offset-ms")


@dataclass(frozen=True)
class EventTimes:
    """A time column read in one unit."""

    unit: TimeUnit  # never "auto"
    #: integer event times in milliseconds (from 1970 UTC, or from the unknown reference)
    ms: I64
    #: what the typed frame keeps: UTC datetimes, or the numbers themselves for an offset
    column: pl.Series
    note: str = ""


def detect_unit(values: F64) -> TimeUnit:
    """``epoch-s``, ``epoch-ms`` or ``offset-s`` from the magnitude of the (finite) values."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return "offset-s"
    lo, hi = float(finite.min()), float(finite.max())
    first, last = EPOCH_S_RANGE
    if first <= lo and hi <= last:
        return "epoch-s"
    if first * 1_000 <= lo and hi <= last * 1_000:
        return "epoch-ms"
    return "offset-s"


def _shown(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.3f}"


def read_times(column: pl.Series, kind: str, unit: TimeUnit, *, legacy: bool = False) -> EventTimes:
    """Event times of a typed time column (``kind`` is its ``ColumnType.kind``).

    ``legacy``: a model stored before the unit was recorded (scoring only): numbers over
    1e11 are epoch milliseconds, others epoch seconds, as such models were trained.
    """
    name = column.name
    if kind == "datetime":
        if unit not in ("auto", "datetime"):
            raise ConfigError(
                f"--time-unit {unit}: column {name!r} holds dates "
                f"(e.g. {_first(column)}), not numbers; leave --time-unit at auto"
            )
        ms = column.dt.epoch("ms").to_numpy().astype(np.int64)
        return EventTimes("datetime", ms, column)
    if kind not in ("numeric",):
        raise ConfigError(
            f"--time {name!r} is not a time: its values (e.g. {_first(column)}) are neither "
            "dates in a known format nor numbers (epoch seconds or milliseconds, or seconds "
            "from a reference; see --time-unit)"
        )
    if unit == "datetime":
        raise ConfigError(
            f"--time-unit datetime: column {name!r} holds numbers (e.g. {_first(column)}), "
            f"not dates; use --time-unit auto or one of {', '.join(NUMERIC_TIME_UNITS)}"
        )
    values = column.cast(pl.Float64).fill_nan(None).to_numpy().astype(np.float64)
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        raise ConfigError(f"--time {name!r}: every value is missing")
    span = f"{_shown(finite.min())} to {_shown(finite.max())}"
    note = ""
    if legacy and unit == "auto":
        resolved: TimeUnit = "epoch-ms" if float(np.abs(finite).max()) > 1e11 else "epoch-s"
    elif unit == "auto":
        resolved = detect_unit(values)
        if is_offset(resolved):
            note = (
                f"time {name}: numbers from {span} read as seconds from an unknown reference "
                "(too small or too large for epoch seconds or milliseconds between 1990 and "
                "2100); ordering and windows use them as they are, hour of day and day of week "
                "are counted from the reference; say --time-unit offset-ms if they are "
                "milliseconds"
            )
        else:
            what = "seconds" if resolved == "epoch-s" else "milliseconds"
            note = f"time {name}: numbers from {span} read as epoch {what} (UTC)"
    else:
        resolved = unit
    scale = _MS_PER[resolved]
    ms_float = np.where(np.isfinite(values), values * scale, np.nan)
    ms = np.zeros(values.size, dtype=np.int64)
    ok = np.isfinite(ms_float)
    ms[ok] = np.round(ms_float[ok]).astype(np.int64)
    if is_offset(resolved):
        kept = column.cast(pl.Float64).fill_nan(None)
        if bool(np.all(finite == np.round(finite))):  # whole numbers stay whole in the output
            kept = kept.cast(pl.Int64)
    else:
        kept = (
            pl.Series(name, ms, dtype=pl.Int64)
            .cast(pl.Datetime("ms"))
            .dt.replace_time_zone("UTC")
            .cast(pl.Datetime("us", "UTC"))
        )
        kept = pl.select(pl.when(pl.lit(pl.Series(ok))).then(kept).otherwise(None)).to_series()
    return EventTimes(resolved, ms, kept.alias(name), note)


def _first(column: pl.Series) -> str:
    """The first value, as the file wrote it: ``'2024-01-01T10:00:00+00:00'``, ``86400``."""
    present = column.drop_nulls()
    if present.len() == 0:
        return "nothing"
    value = present[0]
    if isinstance(value, datetime):
        return repr(value.isoformat())
    if isinstance(value, float):
        return _shown(value)
    return repr(str(value))

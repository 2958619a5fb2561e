"""Automatic typing of a text table: numbers, datetimes, booleans, categories, identifiers.

The decision for each column is a ``ColumnType`` kept in the model's metadata, so scoring a
new file applies exactly the same conversion (same datetime format, same kind) instead of
guessing again. Rules, in order, on the non-missing values of a text column:

- **datetime** if at least 95% parse with one of ``DATETIME_FORMATS`` (the format that
  parses most wins; month-first beats day-first on a tie, as in ``M/D/YYYY H:MM``).
  Naive times are taken as UTC; times with an offset are converted to UTC.
- **boolean** if every value is one of true/false, yes/no, t/f, y/n (any case).
- **numeric** if at least 98% parse as numbers; the others become missing (and are counted).
- **identifier** (not a model input) if the name looks like an id (``id``, ``user_id``,
  ``orderId``) and values are nearly unique, or text is unique for over half the rows;
  such columns are kept for the output of ``vigil model score``, never learned from.
- **constant** (not a model input) if it has a single value.
- otherwise **categorical**.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import msgspec
import polars as pl

from vigil.errors import ConfigError

__all__ = [
    "DATETIME_FORMATS",
    "ColumnType",
    "apply_types",
    "best_datetime_format",
    "infer_types",
    "looks_numeric",
    "parse_datetime",
]

Kind = Literal["numeric", "datetime", "boolean", "categorical", "identifier", "constant"]

#: tried in this order; ``%.f`` accepts optional fractional seconds
DATETIME_FORMATS = (
    "%Y-%m-%dT%H:%M:%S%.f%z",
    "%Y-%m-%dT%H:%M:%S%.fZ",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f%z",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y/%m/%d",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y",
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
    "%d/%m/%Y",
    "%d.%m.%Y %H:%M:%S",
    "%d.%m.%Y %H:%M",
    "%d.%m.%Y",
)
_TRUE = {"true", "yes", "t", "y"}
_FALSE = {"false", "no", "f", "n"}
_ID_NAME = re.compile(r"(^id$|_id$|^id_|Id$|ID$|_key$|^uuid$|_uuid$)")
_SAMPLE = 2_000
_NUMERIC_SHARE = 0.98


class ColumnType(msgspec.Struct, frozen=True, omit_defaults=True):
    name: str
    kind: Kind
    #: the datetime format that parsed it (datetime columns)
    format: str | None = None
    #: why the kind was chosen, in words (shown by `vigil model train`)
    why: str = ""


@dataclass
class TypingResult:
    frame: pl.DataFrame
    types: list[ColumnType]
    notes: list[str]


def parse_datetime(column: pl.Series, fmt: str) -> pl.Series:
    """Text to UTC datetimes (microseconds) with ``fmt``; unparseable values become null."""
    text = column.cast(pl.String).str.strip_chars()
    if fmt.endswith("%z"):
        parsed = text.str.to_datetime(fmt, strict=False, time_unit="us", time_zone="UTC")
    else:
        parsed = text.str.to_datetime(fmt, strict=False, time_unit="us").dt.replace_time_zone("UTC")
    return parsed.alias(column.name)


def best_datetime_format(sample: pl.Series) -> tuple[str | None, float]:
    best: tuple[str | None, float] = (None, 0.0)
    n = sample.len()
    if n == 0:
        return best
    # cheap gate: a datetime starts with digits and a - / or . separator
    if int(sample.str.contains(r"^\d{1,4}[-/.]\d{1,2}").sum()) < 0.5 * n:
        return best
    for fmt in DATETIME_FORMATS:
        ok = int(parse_datetime(sample, fmt).is_not_null().sum()) / n
        if ok > best[1] + 1e-12:
            best = (fmt, ok)
        if ok == 1.0:
            break
    return best


def looks_numeric(column: pl.Series) -> bool:
    """Whether a text column is read as numbers (98% of a sample of its values parse)."""
    text = column.drop_nulls().cast(pl.String)
    if text.len() == 0:
        return False
    sample = text.sample(min(_SAMPLE, text.len()), seed=0) if text.len() > _SAMPLE else text
    numbers = sample.str.strip_chars().cast(pl.Float64, strict=False)
    return int(numbers.is_not_null().sum()) / sample.len() >= _NUMERIC_SHARE


def _is_id_name(name: str) -> bool:
    return bool(_ID_NAME.search(name)) or name.lower() in {"id", "uuid", "index", "row"}


def infer_types(
    frame: pl.DataFrame,
    *,
    keep: set[str],
    force_datetime: set[str] | None = None,
) -> TypingResult:
    """Decide and apply a kind per column. ``keep`` columns (label, time, entities) are never
    dropped as identifiers or constants."""
    types: list[ColumnType] = []
    notes: list[str] = []
    out: dict[str, pl.Series] = {}
    force_datetime = force_datetime or set()
    for name in frame.columns:
        col = frame.get_column(name)
        ctype, converted, note = _infer_one(col, keep=name in keep, force_dt=name in force_datetime)
        types.append(ctype)
        out[name] = converted
        if note:
            notes.append(note)
    return TypingResult(pl.DataFrame(out), types, notes)


def _infer_one(col: pl.Series, *, keep: bool, force_dt: bool) -> tuple[ColumnType, pl.Series, str]:
    name = col.name
    n = col.len()
    non_null = col.drop_nulls()
    nn = non_null.len()
    if col.dtype.is_temporal():
        conv = col.cast(pl.Datetime("us")).dt.replace_time_zone(None).dt.replace_time_zone("UTC")
        return ColumnType(name, "datetime", None, "already a datetime"), conv, ""
    if col.dtype == pl.Boolean:
        return ColumnType(name, "boolean", why="true/false"), col.cast(pl.Float64), ""
    if col.dtype.is_numeric():
        return _numeric_or_id(name, col.cast(pl.Float64), n, nn, keep, "numbers")
    text = non_null.cast(pl.String)
    if nn == 0:
        kind: Kind = "categorical" if keep else "constant"
        return ColumnType(name, kind, why="every value is missing"), col.cast(pl.String), ""
    sample = text.sample(min(_SAMPLE, nn), seed=0) if nn > _SAMPLE else text
    lowered = sample.str.strip_chars().str.to_lowercase()
    if lowered.is_in(list(_TRUE | _FALSE)).all():
        conv = (
            col.cast(pl.String)
            .str.strip_chars()
            .str.to_lowercase()
            .is_in(list(_TRUE))
            .cast(pl.Float64)
        )
        conv = pl.select(pl.when(col.is_null()).then(None).otherwise(conv)).to_series()
        return ColumnType(name, "boolean", why="true/false values"), conv, ""
    numbers = sample.str.strip_chars().cast(pl.Float64, strict=False)
    numeric_share = int(numbers.is_not_null().sum()) / sample.len()
    if numeric_share >= _NUMERIC_SHARE and not force_dt:
        conv = col.cast(pl.String).str.strip_chars().cast(pl.Float64, strict=False)
        lost = int(conv.is_null().sum()) - int(col.is_null().sum())
        ctype, conv, note = _numeric_or_id(name, conv, n, nn, keep, "numbers")
        if lost:
            note = (note + " " if note else "") + (
                f"{name}: {lost:,} value(s) that are not numbers were read as missing"
            )
        return ctype, conv, note
    fmt, share = best_datetime_format(sample.str.strip_chars())
    if fmt is not None and (share >= 0.95 or (force_dt and share > 0.5)):
        conv = parse_datetime(col, fmt)
        lost = int(conv.is_null().sum()) - int(col.is_null().sum())
        note = f"{name}: {lost:,} value(s) not in format {fmt} were read as missing" if lost else ""
        return ColumnType(name, "datetime", fmt, f"dates in format {fmt}"), conv, note
    if force_dt:
        raise ConfigError(
            f"column {name!r} was named as a datetime but its values ({sample[0]!r}, ...) "
            f"match no known format ({', '.join(DATETIME_FORMATS[:4])}, ...)"
        )
    n_unique = text.n_unique()
    if not keep and n_unique <= 1:
        return ColumnType(name, "constant", why="a single value"), col.cast(pl.String), ""
    if (
        not keep
        and n_unique > 100
        and (n_unique / nn > 0.5 or (_is_id_name(name) and n_unique / nn > 0.9))
    ):
        why = f"{n_unique:,} distinct values in {nn:,} rows (an identifier?)"
        return ColumnType(name, "identifier", why=why), col.cast(pl.String), ""
    why = f"text with {n_unique:,} distinct values"
    return ColumnType(name, "categorical", why=why), col.cast(pl.String), ""


def _numeric_or_id(
    name: str, conv: pl.Series, n: int, nn: int, keep: bool, what: str
) -> tuple[ColumnType, pl.Series, str]:
    if not keep and nn > 0:
        n_unique = conv.drop_nulls().n_unique()
        if n_unique <= 1:
            return ColumnType(name, "constant", why="a single value"), conv, ""
        if _is_id_name(name) and n_unique / nn > 0.9 and n_unique > 100:
            integral = bool((conv.drop_nulls() % 1 == 0).all())
            if integral:
                why = f"id-like name and {n_unique:,} distinct whole numbers in {nn:,} rows"
                return ColumnType(name, "identifier", why=why), conv, ""
    return ColumnType(name, "numeric", why=what), conv, ""


def apply_types(frame: pl.DataFrame, types: list[ColumnType]) -> tuple[pl.DataFrame, list[str]]:
    """Convert a new file's columns exactly as the model's training data was converted."""
    notes: list[str] = []
    out: dict[str, pl.Series] = {}
    for ct in types:
        if ct.name not in frame.columns:
            continue
        col = frame.get_column(ct.name)
        if ct.kind == "datetime":
            if col.dtype.is_temporal():
                conv = col.cast(pl.Datetime("us"))
                if getattr(col.dtype, "time_zone", None) is None:
                    conv = conv.dt.replace_time_zone("UTC")
                else:
                    conv = conv.dt.convert_time_zone("UTC")
            elif ct.format is not None:
                conv = parse_datetime(col, ct.format)
                misses = int(conv.is_null().sum()) - int(col.is_null().sum())
                if misses * 2 > col.len() - int(col.is_null().sum()):
                    # most values are written another way than in the training file: read
                    # them as ISO-like text rather than lose the rows
                    auto = _any_datetime(col.cast(pl.String).str.strip_chars())
                    if int(auto.is_null().sum()) < int(conv.is_null().sum()):
                        notes.append(
                            f"{ct.name}: values are not in the training file's format "
                            f"{ct.format!r} (e.g. {_first_unread(col, conv)!r}); read them as "
                            "dates in their own format"
                        )
                        conv = auto.alias(ct.name)
            else:
                conv = _any_datetime(col.cast(pl.String))
        elif ct.kind in ("numeric", "boolean"):
            if col.dtype == pl.Boolean or col.dtype.is_numeric():
                conv = col.cast(pl.Float64)
            elif ct.kind == "boolean":
                low = col.cast(pl.String).str.strip_chars().str.to_lowercase()
                conv = low.is_in(list(_TRUE)).cast(pl.Float64).alias(ct.name)
                conv = pl.select(pl.when(col.is_null()).then(None).otherwise(conv)).to_series()
            else:
                conv = col.cast(pl.String).str.strip_chars().cast(pl.Float64, strict=False)
        else:
            conv = col.cast(pl.String)
        lost = int(conv.is_null().sum()) - int(col.is_null().sum())
        if lost:
            expected = f" in the format {ct.format!r}" if ct.format else ""
            notes.append(
                f"{ct.name}: {lost:,} value(s) could not be read as {ct.kind}{expected} "
                f"(e.g. {_first_unread(col, conv)!r}); missing"
            )
        out[ct.name] = conv.alias(ct.name)
    for name in frame.columns:
        if name not in out:
            out[name] = frame.get_column(name)
    return pl.DataFrame(out), notes


def _any_datetime(text: pl.Series) -> pl.Series:
    """Text in whatever format polars recognises, as UTC (naive times are taken as UTC)."""
    parsed = text.str.to_datetime(strict=False, time_unit="us")
    if getattr(parsed.dtype, "time_zone", None) is None:
        return parsed.dt.replace_time_zone("UTC")
    return parsed.dt.convert_time_zone("UTC")


def _first_unread(col: pl.Series, conv: pl.Series) -> str:
    """The first value that was there but could not be converted."""
    lost = col.filter(conv.is_null() & col.is_not_null())
    return str(lost[0]) if lost.len() else ""

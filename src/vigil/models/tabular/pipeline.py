"""The feature pipeline shared by training and scoring: text table -> typed -> matrix.

``prepare`` types a loaded table (or re-applies the stored types when scoring), drops the
rows that cannot be used (missing label or time: each reported with its line number),
enriches IP addresses with a country, and derives the time and velocity features.
``Encoding`` turns the prepared columns into a float32 matrix for LightGBM: numbers as they
are (missing stays NaN), categories as codes of the levels seen in the *training* part
(rare and unseen levels share one "other" code). Both are stored in the model's metadata,
so ``vigil model score`` repeats exactly what training did.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import msgspec
import numpy as np
import numpy.typing as npt
import polars as pl

from vigil.errors import ConfigError, InputError
from vigil.models.tabular.entities import entity_columns
from vigil.models.tabular.features import (
    FeatureConfig,
    derive_features,
    human_duration,
    ip_country,
    weekday_name,
)
from vigil.models.tabular.loader import LINE_COLUMN, LoadReport, load_table
from vigil.models.tabular.timecol import TIME_UNITS, TimeUnit, is_offset, read_times
from vigil.models.tabular.typing import (
    DATETIME_FORMATS,
    ColumnType,
    apply_types,
    best_datetime_format,
    infer_types,
    looks_numeric,
)

__all__ = [
    "Encoding",
    "FeatureWords",
    "IpRanges",
    "Prepared",
    "describe",
    "load_ip_ranges",
    "prepare",
]

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

_MAX_LEVELS = 200
_MIN_LEVEL_ROWS = 10
_POSITIVE = {"1", "1.0", "true", "yes", "y", "t", "fraud", "positive", "bad"}
_NEGATIVE = {"0", "0.0", "false", "no", "n", "f", "legit", "negative", "good", "ok"}


class FeatureWords(msgspec.Struct, frozen=True):
    """How to say a feature's value in an explanation."""

    name: str
    kind: str  # numeric | categorical | duration | count | hour | weekday | ratio | flag
    words: str  # template with {v}


@dataclass
class IpRanges:
    lower: F64
    upper: F64
    country: list[str | None]

    def to_csv_bytes(self) -> bytes:
        frame = pl.DataFrame({"lower": self.lower, "upper": self.upper, "country": self.country})
        return frame.write_csv().encode("utf-8")


def load_ip_ranges(path: Path) -> IpRanges:
    """Ranges ``lower, upper, country`` (the first two numeric columns and the next text one)."""
    table = load_table(path)
    frame = table.frame.drop(LINE_COLUMN)
    if frame.width < 3:
        raise InputError(f"{path}: an IP range file needs lower, upper and country columns")
    lower = frame.get_column(frame.columns[0]).cast(pl.Float64, strict=False).to_numpy()
    upper = frame.get_column(frame.columns[1]).cast(pl.Float64, strict=False).to_numpy()
    country = frame.get_column(frame.columns[2]).cast(pl.String).to_list()
    ok = ~(np.isnan(lower) | np.isnan(upper))
    return IpRanges(
        lower[ok].astype(np.float64),
        upper[ok].astype(np.float64),
        [c for c, k in zip(country, ok.tolist(), strict=True) if k],
    )


@dataclass
class Prepared:
    """A table ready to encode: typed base columns, derived features, labels, times."""

    frame: pl.DataFrame  # typed columns (label/time/entities included), usable rows only
    #: the configuration as applied: ``time_unit`` is the unit found (never "auto")
    config: FeatureConfig
    types: list[ColumnType]
    numeric: dict[str, F64]  # model inputs that are numbers, in input order
    categorical: dict[str, pl.Series]  # model inputs that are text
    words: list[FeatureWords]
    labels: F64 | None
    times: I64  # event time in ms, or the row position when there is no time column
    lines: I64
    has_time: bool
    notes: list[str] = field(default_factory=list)
    load: LoadReport | None = None
    #: rows read but not used: no label (training) or no readable time
    rows_dropped: int = 0

    @property
    def n_rows(self) -> int:
        return int(self.lines.size)

    def time_order(self) -> I64:
        return np.argsort(self.times, kind="stable").astype(np.int64)


def _check_columns(
    frame: pl.DataFrame, config: FeatureConfig, need_label: bool, scoring: bool = False
) -> None:
    present = set(frame.columns)
    wanted: dict[str, list[tuple[str, str]]] = {
        "--time": [(config.time, config.time)] if config.time else []
    }
    # an entity is a column, or a combination whose parts are each checked
    wanted["--entity"] = [
        (spec, part)
        for spec in config.entities
        for part in ([spec] if spec in present else spec.split("+"))
    ]
    for option, cols in (
        ("--entity-stats", config.entity_stats),
        ("--entity-distinct", config.entity_distinct),
        ("--duration-from", config.duration_from),
        ("--ip-column", [config.ip_column] if config.ip_column else []),
        ("--drop", config.drop),
        ("--label", [config.label] if need_label else []),
    ):
        wanted[option] = [(col, col) for col in cols]
    for option, pairs in wanted.items():
        for given, col in pairs:
            if col in present:
                continue
            shown = ", ".join(c for c in frame.columns if c != LINE_COLUMN)
            part = f" (column {col!r})" if given != col else ""
            if scoring:
                raise ConfigError(
                    f"the model was trained with {option} {given!r}{part}, and this file has "
                    f"no such column; it has: {shown}"
                )
            what = f"no column {col!r}" if given != col else "no such column"
            raise ConfigError(f"{option} {given!r}: {what}; the file has: {shown}")
    if config.time and config.time in {c for spec in config.entities for c in spec.split("+")}:
        raise ConfigError(f"--time {config.time!r} cannot also be an --entity column")


def _labels(col: pl.Series) -> tuple[F64, str]:
    """0/1 labels (NaN where missing) and a sentence on how they were read."""
    if col.dtype.is_numeric() or col.dtype == pl.Boolean:
        values = col.cast(pl.Float64)
        distinct = sorted(v for v in values.drop_nulls().unique().to_list())
        if len(distinct) > 2:
            raise ConfigError(
                f"label {col.name!r} has {len(distinct)} distinct values; it must be binary "
                "(0/1, true/false, yes/no)"
            )
        # 1 (or the larger of two values) is the positive; a label of only 0s has none
        positive = 1.0 if not distinct or distinct == [0.0] else distinct[-1]
        arr = values.to_numpy().astype(np.float64)
        out = np.where(np.isnan(arr), np.nan, (arr == positive).astype(np.float64))
        return out, f"label {col.name}: {positive:g} = positive"
    text = col.cast(pl.String).str.strip_chars().str.to_lowercase()
    distinct_text = set(text.drop_nulls().unique().to_list())
    pos = distinct_text & _POSITIVE
    if len(distinct_text) > 2 or len(pos) != 1 or not (distinct_text - pos) <= _NEGATIVE:
        raise ConfigError(
            f"label {col.name!r} values {sorted(distinct_text)[:5]} are not a binary label "
            "such as 0/1, true/false, yes/no, fraud/legit"
        )
    (positive_text,) = pos
    arr = np.asarray(
        [np.nan if v is None else float(v == positive_text) for v in text.to_list()],
        dtype=np.float64,
    )
    return arr, f"label {col.name}: {positive_text!r} = positive"


def _unit(text: str) -> TimeUnit:
    if text not in TIME_UNITS:
        raise ConfigError(f"--time-unit {text!r}: use one of {', '.join(TIME_UNITS)}")
    return cast(TimeUnit, text)


def _time_needs_datetime(column: pl.Series, unit: str) -> bool:
    """Whether a text time column is to be typed as a datetime (else as numbers). With
    ``auto``, text that is numbers stays numbers; other text must parse as dates, and a
    column that does neither is refused here, naming what it holds."""
    if column.dtype.is_numeric() or column.dtype.is_temporal():
        return False
    unit = _unit(unit)
    if unit not in ("auto", "datetime"):
        return False
    numbers = looks_numeric(column)
    if unit == "auto" and numbers:
        return False
    sample = column.drop_nulls().cast(pl.String).str.strip_chars()
    sample = sample.sample(min(2_000, sample.len()), seed=0) if sample.len() else sample
    fmt, share = best_datetime_format(sample)
    if numbers and (fmt is None or share <= 0.5):
        raise ConfigError(
            f"--time-unit datetime: column {column.name!r} holds numbers (e.g. {sample[0]}), "
            "not dates; use --time-unit auto or one of epoch-s, epoch-ms, offset-s, offset-ms"
        )
    if unit == "auto" and (fmt is None or share <= 0.5):
        shown = ", ".join(repr(v) for v in sample.head(3).to_list())
        raise ConfigError(
            f"--time {column.name!r}: its values ({shown}, ...) are neither dates in a known "
            f"format ({', '.join(DATETIME_FORMATS[:4])}, ...) nor numbers (epoch seconds or "
            "milliseconds, or seconds from a reference: see --time-unit)"
        )
    return True


def _check_kinds(config: FeatureConfig, kinds: Mapping[str, str]) -> None:
    for col in config.duration_from:
        if kinds.get(col) != "datetime":
            raise ConfigError(f"--duration-from {col!r}: not a datetime column ({kinds.get(col)})")
    for col in config.entity_stats:
        if kinds.get(col) not in ("numeric", "boolean"):
            raise ConfigError(
                f"--entity-stats {col!r}: not a numeric column ({kinds.get(col)}); its mean "
                "over an entity's earlier rows needs numbers"
            )
    if config.time and config.time in {*config.entity_stats, *config.entity_distinct}:
        raise ConfigError(
            f"--time {config.time!r} is never a model input, not even through --entity-stats "
            "or --entity-distinct"
        )


def prepare(
    path: Path,
    config: FeatureConfig,
    *,
    separator: str | None = None,
    types: list[ColumnType] | None = None,
    ip_ranges: IpRanges | None = None,
    need_label: bool = True,
) -> Prepared:
    """Load, type and derive features (``types`` given: scoring, re-apply them)."""
    types_given = types is not None
    loaded = load_table(path, separator)
    raw = loaded.frame
    notes = list(loaded.report.notes)
    _check_columns(raw, config, need_label, scoring=types is not None)
    lines_col = raw.get_column(LINE_COLUMN)
    body = raw.drop(LINE_COLUMN)
    parts = {c for spec in config.entities for c in entity_columns(spec, body.columns)}
    keep = {config.label, *parts, *config.entity_stats, *config.entity_distinct}
    if config.time:
        keep.add(config.time)
    if config.ip_column:
        keep.add(config.ip_column)
    if types is None:
        force = set(config.duration_from)
        if config.time and _time_needs_datetime(body.get_column(config.time), config.time_unit):
            force.add(config.time)
        force = {c for c in force if not body.get_column(c).dtype.is_numeric()}
        typed = infer_types(body, keep=keep, force_datetime=force)
        frame, types, notes_t = typed.frame, typed.types, typed.notes
    else:
        frame, notes_t = apply_types(body, types)
    notes.extend(notes_t)
    frame = frame.with_columns(lines_col)
    # rows that cannot be used: no label (to train on) or no readable time; scoring keeps
    # the unlabelled rows (they are what it is for) and uses a label only for its figures
    labels: F64 | None = None
    label_note = ""
    if need_label or config.label in frame.columns:
        try:
            labels_all, label_note = _labels(frame.get_column(config.label))
        except ConfigError as exc:
            if need_label:
                raise
            notes.append(f"{exc}: no figures against it")
        else:
            frame = frame.with_columns(pl.Series("__label", labels_all))
    reasons: list[tuple[str, pl.Expr]] = []
    if need_label and "__label" in frame.columns:
        reasons.append(("no label", pl.col("__label").is_nan()))
    if config.time:
        unreadable = pl.col(config.time).is_null()
        if frame.schema[config.time].is_float():
            unreadable = unreadable | ~pl.col(config.time).is_finite()
        reasons.append(("no readable time", unreadable))
    dropped = 0
    if reasons:
        unusable = pl.any_horizontal([expr for _, expr in reasons])
        bad = frame.filter(unusable)
        dropped = bad.height
        if dropped:
            shown = ", ".join(str(n) for n in bad.get_column(LINE_COLUMN).head(5).to_list())
            counts = ", ".join(
                f"{int(bad.select(expr.sum()).item()):,} with {what}" for what, expr in reasons
            )
            notes.append(
                f"{path.name}: skipped {dropped:,} row(s) ({counts}; line {shown}"
                f"{', ...' if dropped > 5 else ''})"
            )
            frame = frame.filter(~unusable)
    if frame.height == 0:
        raise InputError(
            f"{path}: no usable rows: every row was skipped (see the notes above for why)"
        )
    if "__label" in frame.columns:
        labels = frame.get_column("__label").to_numpy().astype(np.float64)
        frame = frame.drop("__label")
    if label_note:
        notes.append(label_note)
    has_time = False
    time_unit_s = 0.0
    kinds = {t.name: t.kind for t in types}
    if config.time:
        event = read_times(
            frame.get_column(config.time),
            kinds.get(config.time, ""),
            _unit(config.time_unit),
            legacy=types_given,
        )
        frame = frame.with_columns(event.column)
        times = event.ms
        has_time, time_unit_s = True, 0.001
        config = msgspec.structs.replace(config, time_unit=event.unit)
        if event.note:
            notes.append(event.note)
    else:
        times = np.arange(frame.height, dtype=np.int64)
        notes.append(
            "no --time column: the file's row order is used as time (earlier rows first); "
            "velocity counts use earlier rows only, with no time windows"
        )
    _check_kinds(config, kinds)
    duration_cols = list(config.duration_from)
    if config.time:
        others = [t.name for t in types if t.kind == "datetime" and t.name != config.time]
        if is_offset(config.time_unit):
            if duration_cols:
                raise ConfigError(
                    f"--duration-from {duration_cols[0]!r}: the time column {config.time!r} "
                    "counts from an unknown reference, so the time from a date to it is unknown"
                )
            if others:
                notes.append(
                    f"no durations from {', '.join(others)} to {config.time}: it counts from an "
                    "unknown reference"
                )
        else:  # every other datetime column counts as a duration too
            duration_cols += [c for c in others if c not in duration_cols]
    run_config = msgspec.structs.replace(config, duration_from=duration_cols)
    derived = derive_features(frame, run_config, times, time_unit_s)
    # a single-column entity (a device id) is not an input, only its velocity; the columns
    # of a combination stay inputs (card1 alone carries over, card1+addr1 is the user)
    single = {spec for spec in config.entities if spec in frame.columns}
    excluded = {config.label, config.time, config.ip_column, *single, *config.drop}
    numeric: dict[str, F64] = {}
    categorical: dict[str, pl.Series] = {}
    words: list[FeatureWords] = []
    for t in types:
        if t.name in excluded or t.kind in ("identifier", "constant", "datetime"):
            continue
        if t.name not in frame.columns:  # scoring a file without it: scored as missing
            continue
        if t.kind in ("numeric", "boolean"):
            numeric[t.name] = frame.get_column(t.name).cast(pl.Float64).to_numpy()
            words.append(FeatureWords(t.name, "numeric", f"{t.name} = {{v}}"))
        else:
            categorical[t.name] = frame.get_column(t.name).cast(pl.String)
            words.append(FeatureWords(t.name, "categorical", f"{t.name} = {{v}}"))
    if config.ip_column and ip_ranges is not None:
        ips = frame.get_column(config.ip_column).cast(pl.Float64, strict=False).to_numpy()
        name = f"{config.ip_column}_country"
        country = ip_country(ips, ip_ranges.lower, ip_ranges.upper, ip_ranges.country)
        categorical[name] = country.alias(name)
        words.append(FeatureWords(name, "categorical", f"country from {config.ip_column} = {{v}}"))
    for d in derived:
        if d.values is not None:
            numeric[d.name] = d.values
            words.append(FeatureWords(d.name, d.kind, d.words))
    return Prepared(
        frame=frame,
        config=config,
        types=types,
        numeric=numeric,
        categorical=categorical,
        words=words,
        labels=labels,
        times=times,
        lines=frame.get_column(LINE_COLUMN).to_numpy().astype(np.int64),
        has_time=has_time,
        notes=notes,
        load=loaded.report,
        rows_dropped=dropped,
    )


class Encoding(msgspec.Struct, frozen=True):
    """Feature order and categorical levels, fitted on a training part."""

    names: list[str]
    categorical: list[str]
    levels: dict[str, list[str]]
    words: list[FeatureWords]

    @classmethod
    def fit(cls, prepared: Prepared, train_rows: I64) -> Encoding:
        levels: dict[str, list[str]] = {}
        for name, col in prepared.categorical.items():
            counts = (
                col.gather(train_rows)
                .drop_nulls()
                .value_counts(sort=True, name="__n")
                .filter(pl.col("__n") >= _MIN_LEVEL_ROWS)
                .head(_MAX_LEVELS)
            )
            levels[name] = [str(v) for v in counts.get_column(col.name).to_list()]
        names = list(prepared.numeric) + list(prepared.categorical)
        by_name = {w.name: w for w in prepared.words}
        return cls(names, list(prepared.categorical), levels, [by_name[n] for n in names])

    @property
    def categorical_index(self) -> list[int]:
        return [self.names.index(c) for c in self.categorical]

    def matrix(self, prepared: Prepared) -> F32:
        x = np.empty((prepared.n_rows, len(self.names)), dtype=np.float32)
        for j, name in enumerate(self.names):
            if name in self.levels:
                col = prepared.categorical.get(name)
                if col is None:
                    x[:, j] = np.nan
                    continue
                lv = self.levels[name]
                codes = col.replace_strict(
                    lv, list(range(len(lv))), default=len(lv), return_dtype=pl.Float32
                )
                codes = pl.select(pl.when(col.is_null()).then(None).otherwise(codes)).to_series()
                x[:, j] = codes.fill_null(np.nan).to_numpy()
            else:
                values = prepared.numeric.get(name)
                x[:, j] = np.nan if values is None else values
        return x


def describe(word: FeatureWords, value: float, levels: list[str] | None) -> str:
    """A feature's value in words: ``2 earlier rows with the same device_id in the last 1d``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        if word.kind == "duration" and "previous" in word.words:
            return word.words.replace("{v} since the previous", "no previous")
        return f"{word.name} is missing"
    if word.kind == "categorical":
        code = int(value)
        text = levels[code] if levels is not None and code < len(levels) else "a rare value"
    elif word.kind == "duration":
        text = human_duration(value)
    elif word.kind in ("count", "hour"):
        text = f"{value:.0f}"
    elif word.kind == "ratio":
        text = f"{value:.2f}"
    elif word.kind == "flag":
        text = "yes" if value else "no"
    elif word.kind == "weekday":
        text = weekday_name(value)
    else:
        text = f"{value:.6g}"
    words = word.words
    if word.kind == "count" and text == "1":
        words = words.replace("{v} earlier rows", "{v} earlier row")
    return words.format(v=text)

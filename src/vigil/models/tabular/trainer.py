"""`vigil model train`: prepare, split, fit, measure, explain the gap, register.

Two views of quality, both on a 20% hold-out never used for fitting, stopping or choosing a
threshold:

- **time-ordered** (the honest one): train on the earlier 80% by event time, score the
  later 20%. Without a time column the file's row order stands in for time (said aloud).
- **random** (the optimistic one): a seeded stratified 80/20 split. Rows from the same
  weeks are on both sides, so whatever was true only for a while still looks predictive.

The drift report (``drift.py``) compares the time-ordered parts and says why the two views
differ. The registered model is the time-ordered one (or the random one with
``--split random``): its figures are the ones reported, so its metadata never overstates it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import msgspec
import numpy as np
import numpy.typing as npt

from vigil.models import registry
from vigil.models.tabular.drift import DriftReport, drift_report
from vigil.models.tabular.features import FeatureConfig
from vigil.models.tabular.metrics import (
    Payoffs,
    auc_pr,
    auc_roc,
    auc_roc_interval,
    choose_threshold_for_money,
    money_at_threshold,
    recall_at_fpr,
)
from vigil.models.tabular.pipeline import Encoding, IpRanges, Prepared, prepare
from vigil.models.tabular.timecol import is_offset
from vigil.models.tabular.train import (
    FitResult,
    TrainSettings,
    fit_booster,
    random_split,
    time_split,
)

__all__ = [
    "IP_RANGES_FILE",
    "MODEL_NAME",
    "TrainOutcome",
    "TrainRequest",
    "train_and_report",
    "train_prepared",
]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
Split = Literal["time", "random", "both"]
MODEL_NAME = "tabular"
IP_RANGES_FILE = "ip_ranges.csv"


@dataclass(frozen=True)
class TrainRequest:
    data: Path
    config: FeatureConfig
    split: Split = "both"
    payoffs: Payoffs | None = None
    test_fraction: float = 0.2
    seed: int = 1
    separator: str | None = None
    ip_ranges: IpRanges | None = None
    ip_ranges_path: Path | None = None
    settings: TrainSettings = field(default_factory=TrainSettings)
    registry_dir: Path | None = None
    #: register the same recipe fitted on every row (the hold-out included) instead of the
    #: measured view's model; the figures stay that model's, an estimate for this one
    register_all_rows: bool = False


@dataclass
class ViewResult:
    name: str
    metrics: dict[str, Any]
    fit: FitResult
    encoding: Encoding
    train_rows: I64
    test_rows: I64
    matrix: npt.NDArray[np.float32] | None = None


@dataclass
class TrainOutcome:
    metrics: dict[str, Any]
    notes: list[str]
    summary: list[str]
    version: str | None = None
    drift: DriftReport | None = None
    views: dict[str, ViewResult] = field(default_factory=dict)


Progress = Callable[[str, int, int], None]


_DRIFT_ROWS = 200_000


def _thin(rows: I64, at_most: int) -> I64:
    if rows.size <= at_most:
        return rows
    return rows[np.linspace(0, rows.size - 1, at_most).astype(np.int64)]


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


def _evaluate(
    name: str,
    prepared: Prepared,
    train_rows: I64,
    test_rows: I64,
    valid_pos: I64,
    request: TrainRequest,
    progress: Progress | None,
) -> ViewResult:
    assert prepared.labels is not None
    y = prepared.labels
    encoding = Encoding.fit(prepared, train_rows)
    x = encoding.matrix(prepared)
    x_train, y_train = x[train_rows], y[train_rows]
    started = time.perf_counter()
    report: Callable[[int], None] | None = None
    if progress is not None:
        cb = progress

        def report(i: int) -> None:
            cb(f"train ({name} split)", i, request.settings.max_rounds)

    fit = fit_booster(
        x_train,
        y_train,
        encoding.names,
        encoding.categorical_index,
        request.settings,
        valid_index=valid_pos,
        progress=report,
    )
    fit_s = time.perf_counter() - started
    scores = np.asarray(
        fit.booster.predict(x[test_rows], num_iteration=fit.best_iteration), dtype=np.float64
    )
    y_test = y[test_rows]
    metrics: dict[str, Any] = {
        "auc_roc": auc_roc(scores, y_test),
        "auc_pr": auc_pr(scores, y_test),
        "recall_at_1pct_fpr": recall_at_fpr(scores, y_test, 0.01),
        "auc_roc_ci95": list(auc_roc_interval(scores, y_test, resamples=100)),
        "rows_train": int(train_rows.size),
        "rows_test": int(test_rows.size),
        "positive_rate_train": float(y_train.mean()),
        "positive_rate_test": float(y_test.mean()),
        "best_iteration": fit.best_iteration,
        "valid_auc_roc": auc_roc(fit.valid_scores, fit.valid_labels),
        "fit_seconds": round(fit_s, 2),
    }
    if request.payoffs is not None:
        p = request.payoffs
        chosen = choose_threshold_for_money(fit.valid_scores, fit.valid_labels, p)
        on_test = money_at_threshold(scores, y_test, chosen.threshold, p)
        metrics["money"] = {
            "payoffs": {"tp": p.tp, "fp": p.fp, "fn": p.fn},
            "threshold": chosen.threshold,
            "threshold_chosen_on": "validation slice of the training part",
            "money_test": on_test.money,
            "flagged_test": on_test.flagged,
            "true_positives_test": on_test.true_positives,
            "false_positives_test": on_test.false_positives,
            "false_negatives_test": on_test.false_negatives,
            "money_test_flag_nothing": on_test.money_flag_nothing,
            "money_test_best_in_hindsight": on_test.money_best_possible,
        }
    return ViewResult(name, metrics, fit, encoding, train_rows, test_rows, x)


def _valid_slice(prepared: Prepared, train_rows: I64, view: str, fraction: float, seed: int) -> I64:
    """Positions, within ``train_rows``, of the slice used for early stopping."""
    if view == "time":
        # train_rows are in time order: the latest part of them
        n_valid = max(1, round(train_rows.size * fraction))
        return np.arange(train_rows.size - n_valid, train_rows.size, dtype=np.int64)
    assert prepared.labels is not None
    _, valid = random_split(prepared.labels[train_rows], fraction, seed + 1)
    return valid


def train_and_report(request: TrainRequest, progress: Progress | None = None) -> TrainOutcome:
    started = time.perf_counter()
    prepared = prepare(
        request.data, request.config, separator=request.separator, ip_ranges=request.ip_ranges
    )
    return train_prepared(request, prepared, progress, started=started)


def train_prepared(
    request: TrainRequest,
    prepared: Prepared,
    progress: Progress | None = None,
    *,
    started: float | None = None,
) -> TrainOutcome:
    """``train_and_report`` on a table already prepared from ``request`` (a benchmark
    prepares once and compares other models on the same rows and splits)."""
    started = time.perf_counter() if started is None else started
    assert prepared.labels is not None
    y = prepared.labels
    n_pos = int(y.sum())
    if n_pos < 2 or n_pos > y.size - 2:
        raise_msg = f"label {request.config.label!r} has {n_pos} positives in {y.size} rows"
        from vigil.errors import InputError

        raise InputError(raise_msg + "; need at least two of each class")
    prep_s = time.perf_counter() - started
    views: dict[str, ViewResult] = {}
    order = prepared.time_order()
    if request.split in ("time", "both"):
        train_rows, test_rows = time_split(order, request.test_fraction)
        valid = _valid_slice(prepared, train_rows, "time", request.settings.valid_fraction, 0)
        views["time"] = _evaluate("time", prepared, train_rows, test_rows, valid, request, progress)
    if request.split in ("random", "both"):
        train_rows, test_rows = random_split(y, request.test_fraction, request.seed)
        valid = _valid_slice(
            prepared, train_rows, "random", request.settings.valid_fraction, request.seed
        )
        views["random"] = _evaluate(
            "random", prepared, train_rows, test_rows, valid, request, progress
        )
    main = views.get("time") or views["random"]
    for view in views.values():
        if view is not main:
            view.matrix = None  # one matrix in memory is enough
    # drift between the earlier and the later part (time-ordered, even for --split random)
    d_train, d_test = time_split(order, request.test_fraction)
    x = main.matrix if main.matrix is not None else main.encoding.matrix(prepared)
    # PSI and per-bin rates need no million rows: an evenly spaced sample of each part
    d_train, d_test = _thin(d_train, _DRIFT_ROWS), _thin(d_test, _DRIFT_ROWS)
    importance = np.asarray(main.fit.booster.feature_importance("gain"), dtype=np.float64)
    ordering = _ordering(prepared)
    drift = drift_report(
        x[d_train],
        x[d_test],
        y[d_train],
        y[d_test],
        main.encoding.names,
        set(main.encoding.categorical_index),
        importance,
        train_label=f"the earlier {1 - request.test_fraction:.0%}",
        test_label=f"the later {request.test_fraction:.0%}",
    )
    metrics: dict[str, Any] = {
        key: main.metrics[key]
        for key in ("auc_roc", "auc_pr", "recall_at_1pct_fpr", "rows_train", "rows_test")
    }
    metrics["view"] = main.name
    metrics["ordering"] = ordering
    for name, view in views.items():
        metrics[f"{name}_split"] = view.metrics
    if "money" in main.metrics:
        metrics["money"] = main.metrics["money"]
    metrics["drift"] = msgspec.to_builtins(drift)
    unreadable = len(prepared.load.skipped) if prepared.load is not None else 0
    metrics["rows_skipped"] = unreadable + prepared.rows_dropped
    summary = _summary(views, drift, ordering)
    metrics["why_views_differ"] = summary[-1] if len(views) == 2 else ""
    outcome = TrainOutcome(metrics, prepared.notes, summary, drift=drift, views=views)
    if request.registry_dir is not None:
        outcome.version = _register(request, prepared, main, metrics, ordering)
        metrics["model_version"] = outcome.version
    metrics["seconds_total"] = round(time.perf_counter() - started, 2)
    metrics["seconds_prepare"] = round(prep_s, 2)
    return outcome


def _ordering(prepared: Prepared) -> str:
    config = prepared.config
    if not prepared.has_time:
        return "file row order"
    if is_offset(config.time_unit):
        unit = "seconds" if config.time_unit == "offset-s" else "milliseconds"
        scale = 1_000 if config.time_unit == "offset-s" else 1
        lo, hi = int(prepared.times.min()) // scale, int(prepared.times.max()) // scale
        return f"time-ordered by {config.time} ({unit} from an unknown reference, {lo:,} to {hi:,})"
    return f"time-ordered by {config.time}"


def _summary(views: dict[str, ViewResult], drift: DriftReport, ordering: str) -> list[str]:
    lines: list[str] = []
    for name, view in views.items():
        m = view.metrics
        label = (
            f"time-ordered hold-out ({ordering}: earlier {m['rows_train']:,} rows -> "
            f"later {m['rows_test']:,})"
            if name == "time"
            else f"random stratified hold-out ({m['rows_train']:,} -> {m['rows_test']:,} rows)"
        )
        lo, hi = m["auc_roc_ci95"]
        lines.append(
            f"{label}: AUC-ROC {m['auc_roc']:.3f} (95% bootstrap {lo:.3f}-{hi:.3f}), "
            f"AUC-PR {m['auc_pr']:.3f}, recall at 1% FPR {m['recall_at_1pct_fpr']:.1%}"
        )
        if "money" in m:
            mo = m["money"]
            lines.append(
                f"  money on the {name} hold-out at the threshold chosen on validation "
                f"({mo['threshold']:.4f}): {mo['money_test']:+,.0f} "
                f"({mo['flagged_test']} flagged: {mo['true_positives_test']} frauds, "
                f"{mo['false_positives_test']} false alarm"
                f"{'' if mo['false_positives_test'] == 1 else 's'}; flagging nothing "
                f"{mo['money_test_flag_nothing']:+,.0f}, best in hindsight "
                f"{mo['money_test_best_in_hindsight']:+,.0f})"
            )
    lines.extend(drift.sentences)
    if len(views) == 2:
        t, r = views["time"].metrics["auc_roc"], views["random"].metrics["auc_roc"]
        gap = r - t
        if gap > 0.03:
            why = (
                f"Why the views differ: the random split scores {gap:.3f} AUC higher because "
                "its test rows come from the same periods as its training rows; the "
                "time-ordered hold-out asks the model to predict a later period, where "
                + (
                    "the label rate and the features above have moved."
                    if len(drift.sentences) > 2
                    else "the data has changed."
                )
            )
        elif gap < -0.03:
            why = (
                f"Why the views differ: the later period is easier ({-gap:.3f} AUC higher "
                "time-ordered than random)."
            )
        else:
            why = (
                "The two views agree (within 0.03 AUC): no sign that the relationship "
                "between features and label changed over time."
            )
        lines.append(why)
    return lines


def _register(
    request: TrainRequest,
    prepared: Prepared,
    main: ViewResult,
    metrics: dict[str, Any],
    ordering: str,
) -> str:
    assert request.registry_dir is not None
    kinds = {t.name: t.kind for t in prepared.types}
    rows, enc, fit = main.train_rows, main.encoding, main.fit
    extra_all: dict[str, Any] = {}
    if request.register_all_rows:
        rows, enc, fit = _fit_all_rows(request, prepared, main)
        extra_all = {
            "fitted_on": "all rows: the measured view's recipe fitted again on every row, "
            f"the hold-out included; its figures are the {main.name} view's model's, fitted "
            f"on {main.train_rows.size:,} rows, an estimate for this one"
        }
    features = [
        registry.FeatureSpec(
            name,
            "categorical" if name in enc.levels else "numeric",
            levels=enc.levels.get(name),
            description=next((w.words for w in enc.words if w.name == name), None),
        )
        for name in enc.names
    ]
    # an offset from an unknown reference has no calendar: the window is said in its numbers
    dated = prepared.has_time and not is_offset(prepared.config.time_unit)
    window = registry.TrainingWindow(
        start=_iso(int(prepared.times[rows].min())) if dated else None,
        end=_iso(int(prepared.times[rows].max())) if dated else None,
        rows=int(rows.size),
        ordering=f"all rows; {ordering}"
        if request.register_all_rows
        else f"{main.name} split; {ordering}",
    )
    fingerprints = [request.data]
    if request.ip_ranges_path is not None:
        fingerprints.append(request.ip_ranges_path)
    compact = {k: v for k, v in metrics.items() if k != "drift"}
    meta = registry.ModelMeta(
        name=MODEL_NAME,
        features=features,
        training_window=window,
        params={**fit.params, "settings": request.settings.as_dict()},
        metrics=compact,
        data_fingerprint=registry.fingerprint_files(fingerprints),
        extra={
            "config": msgspec.to_builtins(prepared.config),
            "types": msgspec.to_builtins(prepared.types),
            "encoding": msgspec.to_builtins(enc),
            "data_file": str(request.data),
            "data_file_fingerprint": registry.fingerprint_files([request.data]),
            "column_kinds": kinds,
            **extra_all,
        },
    )
    files = {}
    if request.ip_ranges is not None:
        files[IP_RANGES_FILE] = request.ip_ranges.to_csv_bytes()
    model_text = fit.booster.model_to_string(num_iteration=fit.best_iteration)
    return registry.save(request.registry_dir, model_text, meta, files=files)


def _fit_all_rows(
    request: TrainRequest, prepared: Prepared, main: ViewResult
) -> tuple[I64, Encoding, FitResult]:
    """The measured view's recipe on every row: levels, early stopping on the latest (or a
    random) slice, then the refit, exactly as the view was fitted on its training part."""
    assert prepared.labels is not None
    rows = prepared.time_order() if main.name == "time" else np.arange(prepared.n_rows)
    rows = rows.astype(np.int64)
    encoding = Encoding.fit(prepared, rows)
    x = encoding.matrix(prepared)[rows]
    valid = _valid_slice(prepared, rows, main.name, request.settings.valid_fraction, request.seed)
    fit = fit_booster(
        x,
        prepared.labels[rows],
        encoding.names,
        encoding.categorical_index,
        request.settings,
        valid_index=valid,
    )
    return rows, encoding, fit

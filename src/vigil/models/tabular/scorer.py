"""`vigil model score`: apply a registered tabular model to a new file, with reasons.

The new file goes through the same pipeline as the training data (the stored column types,
categorical levels and feature settings); velocity features are computed over the new file
itself, in time order, point in time. Each row gets a score and its top contributing
features in words (LightGBM's own per-row contributions, ``pred_contrib``, in log-odds):
``"3 earlier rows with the same device_id in the last 1d (raises risk +1.21)"``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightgbm as lgb
import msgspec
import numpy as np
import polars as pl

from vigil.errors import ConfigError, InputError
from vigil.models import registry
from vigil.models.tabular.features import FeatureConfig
from vigil.models.tabular.metrics import auc_pr, auc_roc, recall_at_fpr
from vigil.models.tabular.pipeline import Encoding, describe, load_ip_ranges, prepare
from vigil.models.tabular.trainer import IP_RANGES_FILE, MODEL_NAME
from vigil.models.tabular.typing import ColumnType

__all__ = ["ScoreOutcome", "resolve_model", "score_file"]

_CHUNK = 50_000


@dataclass
class ScoreOutcome:
    rows: int
    out: Path
    notes: list[str]
    metrics: dict[str, Any] | None


def resolve_model(model: str, registry_dir: Path) -> tuple[lgb.Booster, registry.ModelMeta, Path]:
    """``model`` is an artifact folder, a registry folder (its latest) or a version/name."""
    path = Path(model)
    if (path / registry.META_FILE).is_file():
        booster, meta = registry.load_dir(path)
        return booster, meta, path
    if path.is_dir():
        version = registry.resolve(path, MODEL_NAME)
        booster, meta = registry.load(path, version)
        return booster, meta, path / version
    version = registry.resolve(registry_dir, model)
    booster, meta = registry.load(registry_dir, version)
    return booster, meta, registry_dir / version


def score_file(
    model: str,
    registry_dir: Path,
    data: Path,
    out: Path,
    *,
    top: int = 3,
    explain_share: float = 1.0,
    separator: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ScoreOutcome:
    _out_format(out)  # a wrong --out fails before the work, not after it
    booster, meta, folder = resolve_model(model, registry_dir)
    if "encoding" not in meta.extra:
        raise ConfigError(
            f"model {meta.version} ({meta.name}) was not trained by `vigil model train`"
        )
    config = msgspec.convert(meta.extra["config"], FeatureConfig)
    types = msgspec.convert(meta.extra["types"], list[ColumnType])
    encoding = msgspec.convert(meta.extra["encoding"], Encoding)
    ip_file = folder / IP_RANGES_FILE
    ip_ranges = load_ip_ranges(ip_file) if ip_file.is_file() else None
    prepared = prepare(
        data, config, separator=separator, types=types, ip_ranges=ip_ranges, need_label=False
    )
    have = set(prepared.numeric) | set(prepared.categorical)
    absent = [name for name in encoding.names if name not in have]
    if absent:
        prepared.notes.append(
            f"{data.name}: {len(absent)} model input(s) not in this file, scored as missing: "
            + ", ".join(absent[:8])
            + (", ..." if len(absent) > 8 else "")
        )
    x = encoding.matrix(prepared)
    n = x.shape[0]
    scores = np.empty(n, dtype=np.float64)
    for start in range(0, n, _CHUNK):
        scores[start : start + _CHUNK] = booster.predict(x[start : start + _CHUNK])
    # explanations (TreeSHAP via pred_contrib) cost far more than scores: optionally only
    # for the highest-scored share of rows, the ones an analyst will look at
    n_explain = n if explain_share >= 1.0 else int(np.ceil(n * max(explain_share, 0.0)))
    explain_rows = (
        np.arange(n) if n_explain >= n else np.sort(np.argsort(-scores, kind="stable")[:n_explain])
    )
    reasons: list[list[str]] = [[""] * n for _ in range(top)]
    words = encoding.words
    for start in range(0, explain_rows.size, _CHUNK):
        rows = explain_rows[start : start + _CHUNK]
        chunk = x[rows]
        contrib = np.asarray(booster.predict(chunk, pred_contrib=True), dtype=np.float64)[:, :-1]
        best = np.argsort(-np.abs(contrib), axis=1)[:, :top]
        for r, row in enumerate(rows.tolist()):
            for k in range(best.shape[1]):
                j = int(best[r, k])
                c = contrib[r, j]
                if c == 0.0:
                    continue
                w = words[j]
                text = describe(w, float(chunk[r, j]), encoding.levels.get(w.name))
                reasons[k][row] = f"{text} ({'raises' if c > 0 else 'lowers'} risk {c:+.2f})"
        if progress is not None:
            progress(min(start + _CHUNK, explain_rows.size), max(explain_rows.size, 1))
    columns: dict[str, Any] = {"line": prepared.lines}
    for t in types:
        if t.kind == "identifier" and t.name in prepared.frame.columns:
            columns[t.name] = prepared.frame.get_column(t.name)
    if config.time and config.time in prepared.frame.columns:
        columns[config.time] = prepared.frame.get_column(config.time)
    columns["score"] = scores
    for k in range(top):
        columns[f"reason_{k + 1}"] = reasons[k]
    result = pl.DataFrame(columns)
    _write(result, out)
    metrics = None
    labelled = (
        np.flatnonzero(~np.isnan(prepared.labels))
        if prepared.labels is not None
        else np.empty(0, dtype=np.int64)
    )
    if labelled.size:
        assert prepared.labels is not None
        y, s = prepared.labels[labelled], scores[labelled]
        if 0 < y.sum() < y.size:  # figures need both classes among the labelled rows
            metrics = {
                "auc_roc": auc_roc(s, y),
                "auc_pr": auc_pr(s, y),
                "recall_at_1pct_fpr": recall_at_fpr(s, y, 0.01),
                "rows": int(y.size),
            }
        if labelled.size < n:
            prepared.notes.append(
                f"{n - labelled.size:,} of {n:,} rows have no label: scored, and left out of "
                "the figures"
            )
    trained_on = meta.extra.get("data_file_fingerprint") == registry.fingerprint_files([data])
    if metrics is not None and trained_on:
        prepared.notes.append(
            f"{data.name} is the file the model was trained on: its figures here are "
            "in-sample and optimistic (the hold-out figures are in the model's metrics)"
        )
    return ScoreOutcome(n, out, prepared.notes, metrics)


def _out_format(out: Path) -> str:
    name = out.name.lower()
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    if name.endswith(".csv") or "." not in name:
        return "csv"
    raise InputError(f"--out {out}: use a .csv, .jsonl or .parquet file name")


def _write(frame: pl.DataFrame, out: Path) -> None:
    kind = _out_format(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if kind == "parquet":  # keeps the datetime type
        frame.write_parquet(out)
        return
    # text outputs: one spelling of a time in both, ISO 8601 in UTC (polars would write
    # "+0000" in CSV and "+00:00" in JSON)
    frame = frame.with_columns(
        pl.col(name).dt.convert_time_zone("UTC").dt.strftime("%Y-%m-%dT%H:%M:%SZ")
        for name, dtype in frame.schema.items()
        if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None
    )
    if kind == "jsonl":
        frame.write_ndjson(out)
    else:
        frame.write_csv(out)

"""Validation-only search of 14 `vigil model train` variants on the e-commerce fraud data.

    python bench/ecommerce_folds.py [--data PATH] [--ip-ranges PATH] [--seeds 1,2,3]

Reproduces the 14-variant table in docs/models.md ("E-commerce fraud", issue 4): an attempt
to beat the time-ordered 0.53 AUC with training settings, recency weights and extra
point-in-time features, chosen without touching the hold-out. The file is loaded and typed
exactly as `vigil model train` does it (the project's loader, typing and feature code, same
options as the documented command); then the hold-out, the latest 20% of rows by
``purchase_time``, is dropped and never read again: no label, feature or score of it is used.

Inside the remaining training part (its earliest 80%, in time order), each fold trains on
its first 50/60/70/80/90%, stops early on the latest ``valid_fraction`` of that and refits
on all of it (``fit_booster``, the trainer's own step; a copy of it that takes row weights
for the two recency rows), then scores the next 10%. Each cell
is the mean AUC-ROC over the seeds; the first row (current defaults) is the in-run baseline
every other row is compared with. Extra features only look at strictly earlier rows (the
entity's fraud history only at labels older than the stated delay).

Prints progress to stderr, the table (variant, AUC per fold, mean) to stdout, and writes
bench/results/ecommerce_folds.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import lightgbm as lgb
import numpy as np
import numpy.typing as npt

from vigil.models.tabular.features import FeatureConfig, entity_codes, velocity
from vigil.models.tabular.metrics import auc_roc
from vigil.models.tabular.pipeline import (
    Encoding,
    FeatureWords,
    Prepared,
    load_ip_ranges,
    prepare,
)
from vigil.models.tabular.train import TrainSettings, fit_booster, time_split

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

HERE = Path(__file__).resolve().parent
DATA_DIR = HERE.parent.parent / "shared" / "data" / "ecommerce-fraud"
DAY_MS = 86_400_000
HOLD_OUT = 0.2  # the latest 20% by purchase_time: dropped, never read
FOLD_CUTS = (0.5, 0.6, 0.7, 0.8, 0.9)  # train on the training part's first cut...
FOLD_WIDTH = 0.1  # ...score the next 10%
DURATION = "signup_time_to_purchase_time_s"
CONFIG = FeatureConfig(
    label="class",
    time="purchase_time",
    entities=["device_id", "ip_address"],
    duration_from=["signup_time"],
    ip_column="ip_address",
)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- point-in-time features over the training part (rows in time order) ----------------------


def pair_codes(a: I64, b: I64) -> I64:
    """One code per (a, b) pair; -1 where either is missing."""
    key = a * (int(b.max()) + 2) + b
    key = np.where((a < 0) | (b < 0), -1, key)
    _, inverse = np.unique(key, return_inverse=True)
    return np.where(key < 0, -1, inverse.reshape(-1)).astype(np.int64)


def distinct_prior(a: I64, b: I64, times: I64) -> F64:
    """Distinct ``b`` values seen with the same ``a`` strictly before each row."""
    pairs = pair_codes(a, b)
    n = int(pairs.max()) + 1
    first = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    ok = pairs >= 0
    np.minimum.at(first, pairs[ok], times[ok])
    pair_a = np.full(n, -1, dtype=np.int64)
    pair_a[pairs[ok]] = a[ok]
    m = int(times.max()) + 2
    keys = np.sort(pair_a * m + first)
    hi = np.searchsorted(keys, a * m + times, side="left")
    lo = np.searchsorted(keys, a * m, side="left")
    out = (hi - lo).astype(np.float64)
    out[a < 0] = np.nan
    return out


def since_first_seen(codes: I64, times: I64) -> F64:
    """Seconds since the entity's first row (NaN on that first row or when missing)."""
    n = int(codes.max()) + 1
    first = np.full(n + 1, np.iinfo(np.int64).max, dtype=np.int64)
    c = np.where(codes < 0, n, codes)
    np.minimum.at(first, c, times)
    out = (times - first[c]).astype(np.float64) / 1000
    out[(codes < 0) | (out <= 0)] = np.nan
    return out


def fraud_history(codes: I64, times: I64, labels: F64, delay_ms: int) -> F64:
    """Earlier frauds of the same entity whose label was known ``delay_ms`` before the row."""
    known = (labels == 1) & (codes >= 0)
    m = int(times.max()) + delay_ms + 2
    keys = np.sort(codes[known] * m + times[known])
    hi = np.searchsorted(keys, codes * m + (times - delay_ms), side="right")
    lo = np.searchsorted(keys, codes * m, side="left")
    out = (hi - lo).astype(np.float64)
    out[codes < 0] = np.nan
    return out


def rolling_rank(values: F64, times: I64, days: int = 7) -> F64:
    """Mid-rank of each value among the previous ``days`` whole days' rows (>= 20 of them)."""
    day = times // DAY_MS
    out = np.full(values.size, np.nan)
    order = np.argsort(times, kind="stable")
    day_sorted = day[order]
    for d in np.unique(day):
        ref_lo = np.searchsorted(day_sorted, d - days)
        ref_hi = np.searchsorted(day_sorted, d)
        ref = np.sort(values[order[ref_lo:ref_hi]])
        ref = ref[~np.isnan(ref)]
        rows = order[ref_hi : np.searchsorted(day_sorted, d, side="right")]
        if ref.size >= 20:
            left = np.searchsorted(ref, values[rows], side="left")
            right = np.searchsorted(ref, values[rows], side="right")
            out[rows] = (left + right) / (2 * ref.size)
    return out


def extra_features(part: Prepared, labels: F64) -> dict[str, F64]:
    times = part.times
    dev = entity_codes(part.frame.get_column("device_id"))
    ip = entity_codes(part.frame.get_column("ip_address"))
    pair = velocity(pair_codes(dev, ip), times, [])[0]
    feats = {
        "dev_ip_pair_prior": pair,
        "dev_other_ip_prior": part.numeric["device_id_prior_count"] - pair,
        "ip_other_dev_prior": part.numeric["ip_address_prior_count"] - pair,
        "dev_distinct_ip": distinct_prior(dev, ip, times),
        "ip_distinct_dev": distinct_prior(ip, dev, times),
        "dev_since_first": since_first_seen(dev, times),
        "ip_since_first": since_first_seen(ip, times),
        "dur_rank7": rolling_rank(part.numeric[DURATION], times),
    }
    for d in (7, 30):
        feats[f"dev_pos_hist_{d}d"] = fraud_history(dev, times, labels, d * DAY_MS)
        feats[f"ip_pos_hist_{d}d"] = fraud_history(ip, times, labels, d * DAY_MS)
    return feats


# -- variants -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    name: str
    numeric: dict[str, F64]
    settings: TrainSettings
    half_life_days: float | None = None


def variants(part: Prepared, extra: dict[str, F64]) -> list[Variant]:
    base = dict(part.numeric)
    s = TrainSettings()
    no_dur = {k: v for k, v in base.items() if k != DURATION}

    def plus(*names: str) -> dict[str, F64]:
        return {**base, **{n: extra[n] for n in names}}

    return [
        Variant("current defaults", base, s),
        Variant("recency weights, half-life 30 days", base, s, 30),
        Variant("recency weights, half-life 60 days", base, s, 60),
        Variant(
            "7 leaves, min leaf 100",
            base,
            dataclasses.replace(s, num_leaves=7, min_data_in_leaf=100),
        ),
        Variant(
            "4 leaves, min leaf 200, L2 10",
            base,
            dataclasses.replace(s, num_leaves=4, min_data_in_leaf=200, lambda_l2=10),
        ),
        Variant(
            "feature fraction 0.5, learning rate 0.02",
            base,
            dataclasses.replace(s, feature_fraction=0.5, learning_rate=0.02),
        ),
        Variant("without the duration (the signal that faded)", no_dur, s),
        Variant(
            "duration replaced by its rank among the previous 7 days' rows",
            {**no_dur, "dur_rank7": extra["dur_rank7"]},
            s,
        ),
        Variant("+ that rank, duration kept", plus("dur_rank7"), s),
        Variant(
            "+ time since the device / IP was first seen",
            plus("dev_since_first", "ip_since_first"),
            s,
        ),
        Variant(
            "+ distinct IPs per device and devices per IP so far",
            plus("dev_distinct_ip", "ip_distinct_dev"),
            s,
        ),
        Variant(
            "+ device-IP pair count, rows of the device with another IP",
            plus("dev_ip_pair_prior", "dev_other_ip_prior", "ip_other_dev_prior"),
            s,
        ),
        Variant(
            "+ the entity's earlier frauds, label known after 7 days",
            plus("dev_pos_hist_7d", "ip_pos_hist_7d"),
            s,
        ),
        Variant(
            "+ the entity's earlier frauds, label known after 30 days",
            plus("dev_pos_hist_30d", "ip_pos_hist_30d"),
            s,
        ),
    ]


# -- fitting --------------------------------------------------------------------------------


def fit_weighted(
    x: F32,
    y: F64,
    names: list[str],
    categorical: list[int],
    settings: TrainSettings,
    valid_index: I64,
    weights: F64,
) -> lgb.Booster:
    """``fit_booster`` (early stopping, then refit on all rows) with per-row weights."""
    mask = np.ones(y.size, dtype=bool)
    mask[valid_index] = False
    fit_idx = np.flatnonzero(mask)
    pos = float(y[fit_idx].sum())
    params = settings.lgb_params(int(fit_idx.size), math.sqrt((fit_idx.size - pos) / pos))
    params["metric"] = "auc"
    patience = settings.early_stopping_rounds or max(10, round(2.5 / params["learning_rate"]))
    train_set = lgb.Dataset(
        x[fit_idx],
        label=y[fit_idx],
        weight=weights[fit_idx],
        feature_name=names,
        categorical_feature=categorical,
    )
    valid_set = lgb.Dataset(x[valid_index], label=y[valid_index], reference=train_set)
    booster = lgb.train(
        params,
        train_set,
        num_boost_round=settings.max_rounds,
        valid_sets=[valid_set],
        callbacks=[lgb.early_stopping(patience, verbose=False)],
    )
    best = int(booster.best_iteration or booster.current_iteration())
    params.pop("metric")
    rounds = max(1, round(best * y.size / fit_idx.size))
    pos_all = float(y.sum())
    params["scale_pos_weight"] = math.sqrt((y.size - pos_all) / pos_all)
    params["min_data_in_leaf"] = settings.lgb_params(int(y.size), 1.0)["min_data_in_leaf"]
    full = lgb.Dataset(
        x, label=y, weight=weights, feature_name=names, categorical_feature=categorical
    )
    return lgb.train(params, full, num_boost_round=rounds)


def fold_bounds(n: int) -> list[tuple[int, int]]:
    return [(int(n * cut), min(n, int(n * cut) + int(n * FOLD_WIDTH))) for cut in FOLD_CUTS]


def run_variant(
    part: Prepared, labels: F64, variant: Variant, seeds: list[int]
) -> list[list[float]]:
    """AUC per fold and seed."""
    words = {w.name: w for w in part.words}
    for name in variant.numeric:
        words.setdefault(name, FeatureWords(name, "numeric", f"{name} = {{v}}"))
    view = dataclasses.replace(part, numeric=variant.numeric, words=list(words.values()))
    out: list[list[float]] = []
    for a, b in fold_bounds(part.n_rows):
        fit_rows = np.arange(a, dtype=np.int64)
        test_rows = np.arange(a, b, dtype=np.int64)
        encoding = Encoding.fit(view, fit_rows)  # category levels from the fold's rows only
        x = encoding.matrix(view)
        n_valid = max(1, round(a * variant.settings.valid_fraction))
        valid = np.arange(a - n_valid, a, dtype=np.int64)
        weights: F64 | None = None
        if variant.half_life_days:
            age_days = (part.times[:a].max() - part.times[:a]) / DAY_MS
            weights = 0.5 ** (age_days / variant.half_life_days)
        per_seed: list[float] = []
        for seed in seeds:
            settings = dataclasses.replace(variant.settings, seed=seed)
            if weights is None:
                booster = fit_booster(
                    x[:a],
                    labels[:a],
                    encoding.names,
                    encoding.categorical_index,
                    settings,
                    valid_index=valid,
                ).booster
            else:
                booster = fit_weighted(
                    x[:a],
                    labels[:a],
                    encoding.names,
                    encoding.categorical_index,
                    settings,
                    valid,
                    weights,
                )
            scores = np.asarray(booster.predict(x[test_rows]), dtype=np.float64)
            per_seed.append(auc_roc(scores, labels[test_rows]))
        out.append(per_seed)
    return out


def training_part(data: Path, ip_ranges: Path) -> tuple[Prepared, F64, int]:
    """The prepared table restricted to its earliest 80% (time order); the rest is dropped."""
    prepared = prepare(data, CONFIG, ip_ranges=load_ip_ranges(ip_ranges))
    for note in prepared.notes:
        log(f"  {note}")
    assert prepared.labels is not None
    train, hold_out = time_split(prepared.time_order(), HOLD_OUT)
    n_hold_out = int(hold_out.size)
    del hold_out
    part = dataclasses.replace(
        prepared,
        frame=prepared.frame[train],
        numeric={k: v[train] for k, v in prepared.numeric.items()},
        categorical={k: v.gather(train) for k, v in prepared.categorical.items()},
        labels=prepared.labels[train],
        times=prepared.times[train],
        lines=prepared.lines[train],
    )
    assert part.labels is not None
    return part, part.labels, n_hold_out


def data_arguments(parser: argparse.ArgumentParser, out_name: str) -> None:
    """``--data``, ``--ip-ranges`` (the shared e-commerce set by default) and ``--out``."""
    parser.add_argument("--data", type=Path, default=DATA_DIR / "fraud_data.csv")
    parser.add_argument("--ip-ranges", type=Path, default=DATA_DIR / "ip_to_country.csv")
    parser.add_argument("--out", type=Path, default=HERE / "results" / out_name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    data_arguments(parser, "ecommerce_folds.json")
    parser.add_argument("--seeds", default="1,2,3", help="comma-separated LightGBM seeds")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]

    t0 = time.perf_counter()
    log(f"loading {args.data}")
    part, labels, n_hold_out = training_part(args.data, args.ip_ranges)
    log(f"training part: {part.n_rows:,} rows; hold-out dropped unread: {n_hold_out:,} rows")
    folds = fold_bounds(part.n_rows)
    for cut, (a, b) in zip(FOLD_CUTS, folds, strict=True):
        log(
            f"  fold {cut:.0%}: train {a:,} rows, score {b - a:,} ({int(labels[a:b].sum())} frauds)"
        )
    extra = extra_features(part, labels)
    todo = variants(part, extra)
    measured: list[tuple[str, list[list[float]]]] = []
    for i, variant in enumerate(todo, start=1):
        t1 = time.perf_counter()
        per_fold = run_variant(part, labels, variant, seeds)
        measured.append((variant.name, per_fold))
        mean = float(np.mean([np.mean(s) for s in per_fold]))
        log(f"[{i}/{len(todo)}] {variant.name}: mean {mean:.3f} ({time.perf_counter() - t1:.0f}s)")
    wall = time.perf_counter() - t0

    rows: list[dict[str, object]] = []
    title = "variant (validation AUC-ROC, mean of the seeds)"
    width = max(len(title), *(len(name) for name, _ in measured))
    print(f"{title:<{width}}  " + " ".join(f"{c:>5.0%}" for c in FOLD_CUTS) + " | mean")
    for name, per_fold in measured:
        fold_auc = [float(np.mean(s)) for s in per_fold]
        mean = float(np.mean(fold_auc))
        print(f"{name:<{width}}  " + " ".join(f"{v:.3f}" for v in fold_auc) + f" | {mean:.3f}")
        rows.append(
            {
                "variant": name,
                "fold_auc": [round(v, 6) for v in fold_auc],
                "mean_auc": round(mean, 6),
                "auc_per_fold_and_seed": [[round(v, 6) for v in s] for s in per_fold],
            }
        )
    print(
        f"(folds: train on the training part's first share, score the next 10%; seeds {args.seeds})"
    )

    result = {
        "data": str(args.data),
        "ip_ranges": str(args.ip_ranges),
        "rows_training_part": part.n_rows,
        "rows_hold_out_unread": n_hold_out,
        "folds": [
            {
                "train_share": c,
                "train_rows": a,
                "test_rows": b - a,
                "test_frauds": int(labels[a:b].sum()),
            }
            for c, (a, b) in zip(FOLD_CUTS, folds, strict=True)
        ],
        "seeds": seeds,
        "variants": rows,
        "wall_s": round(wall, 1),
        "cpus": os.cpu_count(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    log(f"wrote {args.out}")


if __name__ == "__main__":
    main()

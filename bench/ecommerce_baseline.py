"""The e-commerce yardstick measured in the same run: a plain LightGBM against `vigil model train`.

    python bench/ecommerce_baseline.py [--data PATH] [--ip-ranges PATH] [--seeds 1-10]

The data README (``../shared/data/README.md``) quotes "a plain LightGBM on the raw columns +
sign-up-to-purchase seconds, hours, country from IP, prior device/IP counts" at 0.78 AUC-ROC
on a random 80/20 split and 0.53 on a time-ordered one, without its exact recipe. This bench
builds that baseline from the same prepared table `vigil model train` uses (so the columns,
the IP-to-country join and the point-in-time device/IP counts are identical) in the plain
readings of that sentence, scores each on the same two hold-outs as `vigil model train`
(the latest 20% by ``purchase_time``; the stratified random 20% of split seed 1), and puts
Vigil's own model next to them: ``train_and_report`` as the documented command runs it, once
per LightGBM seed, so the seed's share of the difference is visible.

Nothing here chooses anything: no setting of Vigil's model depends on these figures (they
were fixed before, see docs/models.md). It only measures the yardstick, with the figure a
reader should compare: Vigil at its default seed (1) and over the seeds, against the best
plain reading. Prints the table with the differences to stdout and writes
bench/results/ecommerce_baseline.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, replace

import lightgbm as lgb
import numpy as np
import numpy.typing as npt
import polars as pl

from ecommerce_folds import CONFIG, data_arguments  # bench/ is the script's directory
from vigil.models.tabular.metrics import auc_roc
from vigil.models.tabular.pipeline import Encoding, Prepared, load_ip_ranges, prepare
from vigil.models.tabular.train import TrainSettings, random_split, time_split
from vigil.models.tabular.trainer import TrainRequest, train_and_report

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

TEST_FRACTION = 0.2
#: the training part's January holds the "purchase within seconds of sign-up" burst (78%
#: fraud); from February the fraud rate is a flat 4-5% a month, the regime of the later 20%
AFTER_BURST_MS = 1_422_748_800_000  # 2015-02-01T00:00:00Z
SPLIT_SEED = 1  # the random view's split, as `vigil model train` draws it by default
NUMERIC = [
    "purchase_value",
    "age",
    "signup_time_to_purchase_time_s",
    "purchase_time_hour",
    "device_id_prior_count",
    "ip_address_prior_count",
]
CATEGORICAL = ["source", "browser", "sex", "ip_address_country"]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Plain:
    """One reading of "a plain LightGBM": LightGBM's defaults, these columns."""

    name: str
    signup_hour: bool
    categories_as_codes: bool  # integer codes split as numbers, not LightGBM categoricals


PLAIN = [
    Plain("plain LightGBM, categorical columns", signup_hour=False, categories_as_codes=False),
    Plain(
        "plain LightGBM, categories as integer codes", signup_hour=False, categories_as_codes=True
    ),
    Plain(
        "plain LightGBM + sign-up hour, categorical", signup_hour=True, categories_as_codes=False
    ),
    Plain(
        "plain LightGBM + sign-up hour, integer codes", signup_hour=True, categories_as_codes=True
    ),
]


def plain_matrix(prepared: Prepared, recipe: Plain) -> tuple[npt.NDArray[np.float64], list[int]]:
    cols = [prepared.numeric[c] for c in NUMERIC]
    if recipe.signup_hour:
        signup_ms = prepared.times - prepared.numeric["signup_time_to_purchase_time_s"] * 1000
        cols.append((signup_ms // 3_600_000) % 24)
    first_cat = len(cols)
    for c in (c for c in CATEGORICAL if c in prepared.categorical):  # constant ones are dropped
        codes = prepared.categorical[c].cast(pl.Categorical).to_physical()
        cols.append(codes.cast(pl.Float64).fill_null(np.nan).to_numpy())
    x = np.column_stack(cols).astype(np.float64)
    cats = [] if recipe.categories_as_codes else list(range(first_cat, x.shape[1]))
    return x, cats


def plain_auc(x: npt.NDArray[np.float64], y: F64, cats: list[int], train: I64, test: I64) -> float:
    model = lgb.LGBMClassifier(verbose=-1, n_jobs=2)
    model.fit(x[train], y[train], categorical_feature=cats or "auto")
    proba = np.asarray(model.predict_proba(x[test]), dtype=np.float64)
    return auc_roc(proba[:, 1], y[test])


def in_period_ceiling(prepared: Prepared, train: I64, rows: I64, repeats: int = 10) -> list[float]:
    """Cross-validation *inside* ``rows``: what one period's own labels can teach about it.

    A model scoring those weeks never has their labels, so this is a ceiling for the
    time-ordered view, not a competitor: if it is barely above 0.5, the period holds little
    signal any model could learn. Stratified 5-fold, ``repeats`` shuffles, Vigil's features
    (category levels from ``train``), a small fixed LightGBM (7 leaves, 100 rounds at 0.05).
    One AUC per shuffle.
    """
    assert prepared.labels is not None
    encoding = Encoding.fit(prepared, train)
    x = encoding.matrix(prepared)[rows]
    y = prepared.labels[rows]
    params = {
        "objective": "binary",
        "learning_rate": 0.05,
        "num_leaves": 7,
        "min_data_in_leaf": 50,
        "feature_fraction": 0.8,
        "bagging_fraction": 0.8,
        "bagging_freq": 1,
        "num_threads": 2,
        "verbosity": -1,
    }
    aucs = []
    for r in range(repeats):
        rng = np.random.default_rng(r)
        fold = np.empty(y.size, dtype=np.int64)
        for value in (0.0, 1.0):
            idx = np.flatnonzero(y == value)
            fold[rng.permutation(idx)] = np.arange(idx.size) % 5
        out_of_fold = np.empty(y.size)
        for k in range(5):
            fit, held = fold != k, fold == k
            data = lgb.Dataset(x[fit], y[fit], categorical_feature=encoding.categorical_index)
            booster = lgb.train({**params, "seed": r}, data, num_boost_round=100)
            out_of_fold[held] = np.asarray(booster.predict(x[held]), dtype=np.float64)
        aucs.append(auc_roc(out_of_fold, y))
    return aucs


def parse_seeds(text: str) -> list[int]:
    if "-" in text:
        lo, hi = text.split("-")
        return list(range(int(lo), int(hi) + 1))
    return [int(s) for s in text.split(",") if s.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    data_arguments(parser, "ecommerce_baseline.json")
    parser.add_argument("--seeds", default="1-10", help="Vigil's LightGBM seeds: 1-10 or 1,2,3")
    args = parser.parse_args()
    for path in (args.data, args.ip_ranges):
        if not path.exists():
            parser.error(f"{path} does not exist (the data sets live in ../shared/data)")
    seeds = parse_seeds(args.seeds)
    first = 1 if 1 in seeds else seeds[0]  # the documented figure is seed 1's
    t0 = time.perf_counter()

    ip_ranges = load_ip_ranges(args.ip_ranges)
    prepared = prepare(args.data, CONFIG, ip_ranges=ip_ranges)
    assert prepared.labels is not None
    y = prepared.labels
    splits = {
        "time": time_split(prepared.time_order(), TEST_FRACTION),
        "random": random_split(y, TEST_FRACTION, SPLIT_SEED),
    }
    test_frauds = {k: int(y[te].sum()) for k, (_, te) in splits.items()}
    log(f"{prepared.n_rows:,} rows; hold-out frauds: {test_frauds}")

    plain: dict[str, dict[str, float]] = {}
    for recipe in PLAIN:
        x, cats = plain_matrix(prepared, recipe)
        plain[recipe.name] = {k: plain_auc(x, y, cats, tr, te) for k, (tr, te) in splits.items()}
        log(f"  {recipe.name}: {plain[recipe.name]}")

    train_part, later = splits["time"]
    after_burst = train_part[prepared.times[train_part] >= AFTER_BURST_MS]
    ceilings = {
        "later 20%": in_period_ceiling(prepared, train_part, later),
        "training part after January": in_period_ceiling(prepared, train_part, after_burst),
    }
    rows_of = {"later 20%": int(later.size), "training part after January": int(after_burst.size)}
    for name, aucs in ceilings.items():
        log(
            f"  ceiling, CV inside the {name}: {np.mean(aucs):.3f} "
            f"({min(aucs):.3f}-{max(aucs):.3f})"
        )

    vigil: dict[int, dict[str, float]] = {}
    interval: dict[str, tuple[float, ...]] = {}
    for seed in seeds:
        request = TrainRequest(
            data=args.data,
            config=CONFIG,
            ip_ranges=ip_ranges,
            seed=SPLIT_SEED,
            settings=replace(TrainSettings(), seed=seed),
        )
        outcome = train_and_report(request)
        views = {"time": outcome.views["time"], "random": outcome.views["random"]}
        vigil[seed] = {k: float(v.metrics["auc_roc"]) for k, v in views.items()}
        if seed == first:
            interval = {k: tuple(v.metrics["auc_roc_ci95"]) for k, v in views.items()}
        log(f"  vigil seed {seed}: {vigil[seed]}")

    rows: list[tuple[str, float, float]] = [
        (name, f["time"], f["random"]) for name, f in plain.items()
    ]
    best_plain = {k: max(f[k] for f in plain.values()) for k in ("time", "random")}
    mean = {k: float(np.mean([v[k] for v in vigil.values()])) for k in ("time", "random")}
    low = {k: float(np.min([v[k] for v in vigil.values()])) for k in ("time", "random")}
    high = {k: float(np.max([v[k] for v in vigil.values()])) for k in ("time", "random")}
    default = vigil[first]
    d_time, d_random = default["time"], default["random"]
    rows.append(("best plain reading (the baseline)", best_plain["time"], best_plain["random"]))
    rows.append((f"vigil model train, seed {first} (1: the documented figure)", d_time, d_random))
    rows.append((f"vigil model train, mean of seeds {args.seeds}", mean["time"], mean["random"]))

    ceiling_label = {
        name: f"ceiling: 5-fold CV inside the {name} ({rows_of[name]:,} rows)" for name in ceilings
    }
    width = max(len(label) for label in [r[0] for r in rows] + list(ceiling_label.values()))
    print(f"{'AUC-ROC on the hold-out':<{width}}  time-ordered  random 80/20")
    for name, t, r in rows:
        print(f"{name:<{width}}  {t:12.3f}  {r:12.3f}")
    gain = {k: default[k] - best_plain[k] for k in ("time", "random")}
    print(
        f"{f'vigil seed {first} minus the best plain reading':<{width}}  "
        f"{gain['time']:+12.3f}  {gain['random']:+12.3f}"
    )
    print(
        f"{'vigil over the seeds: lowest - highest':<{width}}  "
        f"{low['time']:.3f}-{high['time']:.3f}   {low['random']:.3f}-{high['random']:.3f}"
    )
    if interval:
        print(
            f"{f'vigil seed {first}, 95% bootstrap interval':<{width}}  "
            + "   ".join(f"{interval[k][0]:.3f}-{interval[k][1]:.3f}" for k in ("time", "random"))
        )
    for name, aucs in ceilings.items():
        label = ceiling_label[name]
        print(
            f"{label:<{width}}  {np.mean(aucs):12.3f}  (shuffles {min(aucs):.3f}-{max(aucs):.3f})"
        )
    print(
        f"(quoted in the data README: 0.53 time-ordered, 0.78 random; hold-out frauds: "
        f"{test_frauds['time']} time-ordered, {test_frauds['random']} random)"
    )

    result = {
        "data": str(args.data),
        "rows": prepared.n_rows,
        "hold_out_frauds": test_frauds,
        "plain": plain,
        "best_plain": best_plain,
        "vigil_by_seed": {str(k): v for k, v in vigil.items()},
        "vigil_default_seed": first,
        "vigil_at_default_seed": default,
        "vigil_mean": mean,
        "vigil_default_seed_interval": {k: list(v) for k, v in interval.items()},
        "in_period_ceiling": {
            k: {"rows": rows_of[k], "auc_by_shuffle": v} for k, v in ceilings.items()
        },
        "quoted": {"time": 0.53, "random": 0.78},
        "wall_s": round(time.perf_counter() - t0, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    log(f"wrote {args.out} ({result['wall_s']} s)")


if __name__ == "__main__":
    main()

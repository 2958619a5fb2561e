"""`vigil model train` against a plain LightGBM on the raw columns, in the same run.

    python bench/tabular_baseline.py [--data-dir ../shared/data] [--rows 590540]
                                     [--sets ecommerce,dmc2019,ieee-like] [--inner]

Three tables: (a) the shared e-commerce set (``ecommerce-fraud/fraud_data.csv``, time
``purchase_time``), (b) the DMC 2019 self-checkout set (``dmc2019-selfcheckout/train.csv``,
no time column: the file's row order stands in) and (c) a card-fraud table shaped like the
public IEEE-CIS data, ``--rows`` rows by 121 columns, generated here by ``ieee_like.py`` and
written as CSV to a temporary folder (``TransactionDT`` is seconds from an unknown reference).
The data files are read where they are, never copied into the repository.

For each table, on the same rows and the same two hold-outs `vigil model train` reports (the
latest 20% by time or row order; a stratified random 20%, split seed 1):

- **plain LightGBM**: ``lightgbm.LGBMClassifier`` with its defaults (100 rounds, learning
  rate 0.1, 31 leaves) on the table's raw columns: numbers as they are, text columns as
  LightGBM categoricals (integer codes with ``categorical_feature``, which is what a pandas
  ``category`` dtype becomes), other datetime columns as epoch seconds. Left out: the label,
  and the columns Vigil's typing calls identifiers (nearly one value per row: ``user_id``,
  ``device_id``, ``TransactionID``) or constants. Shown twice: **without the time column**
  (the baseline) and with it as a raw number (epoch seconds, or the offset itself).
- **`vigil model train`** with the options the docs give for that table (docs/models.md,
  "Bring your own data"), at LightGBM seed ``--seed`` (1, the default); with
  ``--also-no-options``, also with no options beyond ``--label`` and ``--time``.

``--inner`` runs the same comparison on the *training part only* (each table's earlier 80%
by time or row order, written to a temporary file; the hold-out rows are never read), for
every candidate set of options listed under ``CANDIDATES``: that is how the documented
options were chosen. Prints a table per data set and writes ``bench/results/
tabular_baseline.json`` (``tabular_baseline_inner.json`` with ``--inner``).

LightGBM's OpenMP threads busy-wait by default, which on a two-core machine shared with other
work made a 100-round fit ten times slower with two threads than with one; the bench sets
``OMP_WAIT_POLICY=PASSIVE`` (unless set) for both models alike.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before LightGBM loads OpenMP

import argparse
import json
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import lightgbm as lgb
import numpy as np
import numpy.typing as npt
import polars as pl

from ieee_like import make_ieee_like  # bench/ is the script's directory
from vigil.models.tabular.features import FeatureConfig
from vigil.models.tabular.metrics import auc_roc
from vigil.models.tabular.pipeline import Prepared, load_ip_ranges, prepare
from vigil.models.tabular.train import TrainSettings, random_split, time_split
from vigil.models.tabular.trainer import TrainRequest, train_prepared

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
HERE = Path(__file__).resolve().parent
TEST_FRACTION = 0.2
SPLIT_SEED = 1  # `vigil model train`'s default --seed: the random view's split
VIEWS = ("time", "random")

ECOMMERCE = FeatureConfig(
    label="class",
    time="purchase_time",
    entities=["device_id", "ip_address"],
    duration_from=["signup_time"],
    ip_column="ip_address",
)
DMC = FeatureConfig(label="fraud")
IEEE_USER = "card1+addr1+P_emaildomain"
IEEE = FeatureConfig(
    label="isFraud",
    time="TransactionDT",
    entities=[IEEE_USER],
    entity_stats=["TransactionAmt"],
    entity_distinct=["R_emaildomain"],
)
#: the options compared on the training part (``--inner``); the first is the documented one
CANDIDATES: dict[str, dict[str, FeatureConfig]] = {
    "ecommerce": {"documented (issue 4)": ECOMMERCE},
    "dmc2019": {"documented": DMC},
    "ieee-like": {
        "documented": IEEE,
        "time only": FeatureConfig(label="isFraud", time="TransactionDT"),
        "card1+addr1+P_emaildomain velocity": FeatureConfig(
            label="isFraud", time="TransactionDT", entities=[IEEE_USER]
        ),
        "+ TransactionAmt stats": FeatureConfig(
            label="isFraud",
            time="TransactionDT",
            entities=[IEEE_USER],
            entity_stats=["TransactionAmt"],
        ),
        "two combinations + stats + distinct": FeatureConfig(
            label="isFraud",
            time="TransactionDT",
            entities=[IEEE_USER, "card1+addr1"],
            entity_stats=["TransactionAmt"],
            entity_distinct=["R_emaildomain"],
        ),
    },
}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass
class Case:
    name: str
    path: Path
    config: FeatureConfig
    candidates: dict[str, FeatureConfig]
    ip_ranges: Path | None = None
    results: dict[str, dict[str, float]] = field(default_factory=dict)
    #: the 95% bootstrap interval of each `vigil model train` figure (100 resamples)
    intervals: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    #: rows and frauds of each view's scored part
    scored: dict[str, dict[str, int]] = field(default_factory=dict)


def plain_matrix(prepared: Prepared, with_time: bool) -> tuple[F64, list[int], list[str]]:
    """The raw columns as LightGBM reads them (see the module's docstring)."""
    cols: list[F64] = []
    cats: list[int] = []
    names: list[str] = []
    config = prepared.config
    for t in prepared.types:
        if t.name == config.label or t.kind in ("identifier", "constant"):
            continue
        if t.name == config.time and not with_time:
            continue
        col = prepared.frame.get_column(t.name)
        if col.dtype.is_temporal():
            values = col.dt.epoch("ms").cast(pl.Float64) / 1000.0
        elif t.kind == "categorical":
            cats.append(len(cols))
            values = col.cast(pl.String).rank("dense").cast(pl.Float64) - 1.0
        else:
            values = col.cast(pl.Float64)
        cols.append(values.fill_null(np.nan).to_numpy().astype(np.float64))
        names.append(t.name)
    return np.column_stack(cols), cats, names


def plain_auc(x: F64, y: F64, cats: list[int], train: I64, test: I64, threads: int) -> float:
    model = lgb.LGBMClassifier(verbose=-1, n_jobs=threads)
    model.fit(x[train], y[train], categorical_feature=cats or "auto")
    proba = np.asarray(model.predict_proba(x[test]), dtype=np.float64)
    return auc_roc(proba[:, 1], y[test])


def compare(case: Case, seed: int, threads: int, inner: bool, no_options: bool = False) -> None:
    """Plain LightGBM and `vigil model train` on ``case``: AUC per view into ``case.results``."""
    ip_ranges = load_ip_ranges(case.ip_ranges) if case.ip_ranges else None
    neutral = FeatureConfig(label=case.config.label, time=case.config.time)
    started = time.perf_counter()
    raw = prepare(case.path, neutral)
    assert raw.labels is not None
    y = raw.labels
    splits = {
        "time": time_split(raw.time_order(), TEST_FRACTION),
        "random": random_split(y, TEST_FRACTION, SPLIT_SEED),
    }
    views = ("time",) if inner else VIEWS  # choosing options looks at the time-ordered view
    splits = {v: splits[v] for v in views}
    case.scored = {
        v: {"rows": int(te.size), "frauds": int(y[te].sum())} for v, (_, te) in splits.items()
    }
    took = time.perf_counter() - started
    log(f"  {case.name}: {raw.n_rows:,} rows read and typed in {took:.1f} s")
    with_time = [False, True] if raw.has_time else [False]
    for include in with_time:
        x, cats, names = plain_matrix(raw, include)
        label = "plain LightGBM" + (", time as a raw number" if include else "")
        t0 = time.perf_counter()
        case.results[label] = {
            v: plain_auc(x, y, cats, tr, te, threads) for v, (tr, te) in splits.items()
        }
        log(f"  {label} ({len(names)} columns): {_fmt(case.results[label])} "
            f"({time.perf_counter() - t0:.0f} s)")  # fmt: skip
    configs = case.candidates if inner else {"documented": case.config}
    if not inner and no_options:
        configs["no options (--label, --time)"] = neutral
    for name, config in configs.items():
        t0 = time.perf_counter()
        prepared = prepare(case.path, config, ip_ranges=ip_ranges)
        assert np.array_equal(prepared.lines, raw.lines)  # the same rows, in the same order
        request = TrainRequest(
            data=case.path,
            config=config,
            split="time" if inner else "both",
            ip_ranges=ip_ranges,
            seed=SPLIT_SEED,
            settings=TrainSettings(seed=seed, threads=threads),
        )
        outcome = train_prepared(request, prepared)
        label = f"vigil model train, {name}"
        case.results[label] = {v: float(outcome.views[v].metrics["auc_roc"]) for v in views}
        case.intervals[label] = {v: outcome.views[v].metrics["auc_roc_ci95"] for v in views}
        rounds = {v: outcome.views[v].metrics["best_iteration"] for v in views}
        log(f"  {label}: {_fmt(case.results[label])} (rounds {rounds}; "
            f"{time.perf_counter() - t0:.0f} s)")  # fmt: skip


def _fmt(aucs: dict[str, float]) -> str:
    return ", ".join(f"{v} {auc:.4f}" for v, auc in aucs.items())


def training_part(case: Case, folder: Path) -> Case:
    """The same case on its earlier 80% (by time, or row order) only, as a new file: the
    hold-out's lines are not copied, so nothing downstream can read them."""
    raw = prepare(case.path, FeatureConfig(label=case.config.label, time=case.config.time))
    train, _ = time_split(raw.time_order(), TEST_FRACTION)
    keep = np.sort(raw.lines[train])
    lines = case.path.read_bytes().split(b"\n")
    body = [lines[int(k) - 1] for k in keep.tolist()]  # line numbers count the header as 1
    out = folder / f"train-part-{case.path.name}"
    out.write_bytes(b"\n".join([lines[0], *body]) + b"\n")
    return Case(case.name, out, case.config, case.candidates, case.ip_ranges)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=HERE.parent.parent / "shared" / "data")
    parser.add_argument("--rows", type=int, default=590_540, help="rows of the IEEE-like table")
    parser.add_argument("--sets", default="ecommerce,dmc2019,ieee-like")
    parser.add_argument("--seed", type=int, default=1, help="LightGBM seed of vigil's model")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--inner", action="store_true", help="training parts only (see above)")
    parser.add_argument(
        "--also-no-options",
        action="store_true",
        help="also run `vigil model train` with no options beyond --label and --time",
    )
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    wanted = [s.strip() for s in args.sets.split(",") if s.strip()]
    out = args.out or HERE / "results" / (
        "tabular_baseline_inner.json" if args.inner else "tabular_baseline.json"
    )
    t_all = time.perf_counter()
    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        cases: list[Case] = []
        if "ecommerce" in wanted:
            folder = args.data_dir / "ecommerce-fraud"
            cases.append(
                Case(
                    "ecommerce",
                    folder / "fraud_data.csv",
                    ECOMMERCE,
                    CANDIDATES["ecommerce"],
                    ip_ranges=folder / "ip_to_country.csv",
                )
            )
        if "dmc2019" in wanted:
            path = args.data_dir / "dmc2019-selfcheckout" / "train.csv"
            cases.append(Case("dmc2019", path, DMC, CANDIDATES["dmc2019"]))
        for case in cases:
            if not case.path.exists():
                parser.error(f"{case.path} does not exist (the data sets live in ../shared/data)")
        if "ieee-like" in wanted:
            t0 = time.perf_counter()
            path = tmp / "ieee_like.csv"
            make_ieee_like(args.rows).write_csv(path)
            log(f"generated {path.name}: {args.rows:,} rows in {time.perf_counter() - t0:.0f} s")
            cases.append(Case("ieee-like", path, IEEE, CANDIDATES["ieee-like"]))
        results: dict[str, object] = {}
        walls: dict[str, float] = {}
        for case in cases:
            t_case = time.perf_counter()
            log(f"{case.name}{' (training part only)' if args.inner else ''}:")
            run = training_part(case, tmp) if args.inner else case
            compare(run, args.seed, args.threads, args.inner, args.also_no_options)
            case.results, case.intervals, case.scored = run.results, run.intervals, run.scored
            results[case.name] = {
                "auc_roc": case.results,
                "vigil_auc_roc_ci95": case.intervals,
                "scored": case.scored,
            }
            walls[case.name] = round(time.perf_counter() - t_case, 1)
    print_tables(cases, args.inner)
    record = {
        "inner": args.inner,
        "rows_ieee_like": args.rows,
        "seed": args.seed,
        "threads": args.threads,
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "tables": results,
        "wall_s": round(time.perf_counter() - t_all, 1),
        "wall_s_per_table": walls,
        "load_average_1min": [round(load_start, 2), round(os.getloadavg()[0], 2)],
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n")
    log(f"wrote {out} ({record['wall_s']} s)")


def print_tables(cases: list[Case], inner: bool) -> None:
    where = "training part's latest 20% (--inner)" if inner else "hold-out"
    for case in cases:
        rows = case.results
        margin_label = "first vigil row minus the best plain row"
        width = max(len(k) for k in [*rows, margin_label]) + 2
        scored = ", ".join(
            f"{v} {n['rows']:,} rows, {n['frauds']:,} frauds" for v, n in case.scored.items()
        )
        print(f"\n{case.name}: AUC-ROC on the {where} ({scored})")
        print(f"{'':<{width}}{'time-ordered':>14}{'random':>10}")
        for name, aucs in rows.items():
            print(f"{name:<{width}}" + "".join(_cell(aucs.get(v), w) for v, w in _WIDTHS))
            for v, (lo, hi) in case.intervals.get(name, {}).items():
                print(f"{'':<{width}}  {v}: 95% bootstrap interval {lo:.4f}-{hi:.4f}")
        plain = [v for k, v in rows.items() if k.startswith("plain")]
        vigil = next((v for k, v in rows.items() if k.startswith("vigil")), None)
        if plain and vigil:
            margin = {v: vigil[v] - max(p[v] for p in plain) for v in vigil}
            print(f"{margin_label:<{width}}"
                  + "".join(_cell(margin.get(v), w, "+") for v, w in _WIDTHS))  # fmt: skip


_WIDTHS = (("time", 14), ("random", 10))


def _cell(value: float | None, width: int, sign: str = "") -> str:
    return f"{'-':>{width}}" if value is None else f"{value:>{sign}{width}.4f}"


if __name__ == "__main__":
    main()

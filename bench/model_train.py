"""Benchmark of `vigil model train` and `vigil model score` on a synthetic wide table.

    python bench/model_train.py [--rows 1000000] [--columns 100] [--format parquet|csv]

Generates (seeded) a labelled table with ``--columns`` feature columns (80% numbers, 20%
text categories; 5-30% missing per column), an event-time column spanning 90 days, two
entity columns (device, IP) and a 3% fraud label that depends on a few columns and on
device reuse, writes it to a temporary file, then times:

* ``train``: the whole `vigil model train --split time` path (read, type, velocity,
  LightGBM with early stopping and refit, metrics, drift report, registry save);
* ``score``: `vigil model score` on the same file (features, predictions, and the top three
  reasons from ``pred_contrib`` for the highest-scored 5% of rows, ``--explain-share 0.05``);
* ``explain``: reasons for every row of a 20,000-row slice, to show what TreeSHAP costs
  per row (explaining all 1M rows would take minutes on its own).

Prints and writes bench/results/model_train.json (wall seconds, rows/s, peak RSS, AUC).
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

HERE = Path(__file__).resolve().parent


def make_table(rows: int, columns: int, seed: int = 7) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    n_cat = columns // 5
    n_num = columns - n_cat
    data: dict[str, object] = {}
    start_ms = 1_735_689_600_000  # 2025-01-01
    t = np.sort(rng.integers(0, 90 * 86_400_000, rows)) + start_ms
    data["event_time"] = pl.Series(t).cast(pl.Datetime("ms"))
    devices = rng.integers(0, rows // 3, rows)
    data["device_id"] = devices
    data["ip"] = rng.integers(0, rows // 2, rows)
    logit = np.full(rows, -4.0)
    for j in range(n_num):
        x = rng.normal(size=rows)
        if j < 5:
            logit += 0.6 * x
        x[rng.random(rows) < rng.uniform(0.05, 0.3)] = np.nan
        data[f"num_{j:03d}"] = x.astype(np.float32)
    for j in range(n_cat):
        codes = rng.integers(0, 20 + 5 * j, rows)
        if j < 2:
            logit += np.where(codes % 7 == 0, 0.8, 0.0)
        text = pl.Series([f"c{j}_{c}" for c in range(20 + 5 * j)]).gather(codes)
        mask = rng.random(rows) < rng.uniform(0.05, 0.3)
        data[f"cat_{j:03d}"] = text.set(pl.Series(mask), None)  # type: ignore[arg-type]
    # device reuse within the file raises risk
    _, inverse, counts = np.unique(devices, return_inverse=True, return_counts=True)
    logit += 0.7 * (counts[inverse] > 4)
    data["fraud"] = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(np.int8)
    return pl.DataFrame(data)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--columns", type=int, default=100)
    parser.add_argument("--format", choices=["parquet", "csv"], default="parquet")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "model_train.json")
    args = parser.parse_args()

    from vigil.models.tabular.features import FeatureConfig
    from vigil.models.tabular.scorer import score_file
    from vigil.models.tabular.trainer import TrainRequest, train_and_report

    t0 = time.perf_counter()
    table = make_table(args.rows, args.columns)
    gen_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"bench.{args.format}"
        if args.format == "parquet":
            table.write_parquet(path)
        else:
            table.write_csv(path)
        del table
        config = FeatureConfig(label="fraud", time="event_time", entities=["device_id", "ip"])
        request = TrainRequest(
            data=path, config=config, split="time", registry_dir=Path(tmp) / "registry"
        )
        t1 = time.perf_counter()
        outcome = train_and_report(request)
        train_s = time.perf_counter() - t1
        print(f"train: {train_s:.1f}s", flush=True)
        reg = Path(tmp) / "registry"
        version = outcome.version or "latest"
        t2 = time.perf_counter()
        scored = score_file(version, reg, path, Path(tmp) / "scores.parquet", explain_share=0.05)
        score_s = time.perf_counter() - t2
        print(f"score: {score_s:.1f}s", flush=True)
        small = Path(tmp) / "small.parquet"
        pl.read_parquet(path).head(20_000).write_parquet(small)
        t3 = time.perf_counter()
        score_file(version, reg, small, Path(tmp) / "small_scores.parquet", explain_share=1.0)
        explain_s = time.perf_counter() - t3
    m = outcome.metrics
    result = {
        "rows": args.rows,
        "columns": args.columns,
        "format": args.format,
        "generate_s": round(gen_s, 1),
        "train_s": round(train_s, 1),
        "train_prepare_s": m["seconds_prepare"],
        "train_fit_s": m["time_split"]["fit_seconds"],
        "best_iteration": m["time_split"]["best_iteration"],
        "score_s": round(score_s, 1),
        "score_rows_per_s": round(scored.rows / score_s),
        "score_explained_share": 0.05,
        "explain_all_20k_rows_s": round(explain_s, 1),
        "explain_rows_per_s": round(20_000 / explain_s),
        "auc_roc_time_split": round(m["auc_roc"], 4),
        "peak_rss_mb": round(peak_rss_mb()),
        "cpus": __import__("os").cpu_count(),
    }
    print(json.dumps(result, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()

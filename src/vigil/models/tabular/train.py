"""Fitting LightGBM on a training part, with early stopping on its latest slice.

- **Validation.** The training part is split once more: its latest ``valid_fraction``
  (in time order; a seeded stratified slice when the split is random) is used only to stop
  boosting and to choose the money threshold. The test part is never seen here.
- **Refit.** The number of rounds found by early stopping (scaled by the row ratio) is then
  used to fit the whole training part again, validation slice included: under drift the
  latest weeks are the most valuable ones, and leaving them out of the final model would
  waste them. The money threshold stays the one chosen on the validation slice's scores.
- **Class imbalance.** Positives are weighted by ``sqrt(negatives / positives)``: enough to
  make rare fraud matter to the trees, mild enough that scores still rank well and stay
  usable as relative risk (full inverse-frequency weighting inflates every score).
- **Size.** ``min_data_in_leaf`` and the learning rate grow with the row count so a million
  rows train in well under two minutes on two cores (docs/models.md has the benchmark).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
import numpy.typing as npt

__all__ = ["FitResult", "TrainSettings", "fit_booster", "random_split", "time_split"]

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class TrainSettings:
    learning_rate: float | None = None  # None: 0.05 up to 200k training rows, 0.1 above
    num_leaves: int = 31
    min_data_in_leaf: int | None = None  # None: about 0.1% of the rows, between 20 and 500
    feature_fraction: float = 0.8
    bagging_fraction: float = 0.8
    lambda_l2: float = 1.0
    max_bin: int = 255
    max_rounds: int = 1_000
    early_stopping_rounds: int | None = None  # None: 2.5 / learning rate (50 at 0.05)
    valid_fraction: float = 0.2
    #: after early stopping, refit on the whole training part (validation slice included)
    refit: bool = True
    seed: int = 1
    threads: int = 2

    def lgb_params(self, n_rows: int, pos_weight: float) -> dict[str, Any]:
        lr = self.learning_rate or (0.05 if n_rows <= 200_000 else 0.1)
        leaf = self.min_data_in_leaf or int(min(500, max(20, n_rows // 1000)))
        return {
            "objective": "binary",
            "learning_rate": lr,
            "num_leaves": self.num_leaves,
            "min_data_in_leaf": leaf,
            "feature_fraction": self.feature_fraction,
            "bagging_fraction": self.bagging_fraction,
            "bagging_freq": 1,
            "lambda_l2": self.lambda_l2,
            "max_bin": self.max_bin,
            "scale_pos_weight": pos_weight,
            "cat_smooth": 10.0,
            "min_data_per_group": 50,
            "max_cat_threshold": 32,
            "seed": self.seed,
            "deterministic": True,
            "force_col_wise": True,
            "num_threads": self.threads,
            "verbosity": -1,
        }

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class FitResult:
    booster: lgb.Booster
    best_iteration: int
    params: dict[str, Any]
    #: positions (into the training part) of the validation slice, and its scores
    valid_index: I64
    valid_scores: F64
    valid_labels: F64


def time_split(order: I64, test_fraction: float) -> tuple[I64, I64]:
    """Row positions of the earlier and the later part; ``order`` lists rows in time order."""
    n_test = round(order.size * test_fraction)
    return order[: order.size - n_test], order[order.size - n_test :]


def random_split(labels: F64, test_fraction: float, seed: int) -> tuple[I64, I64]:
    """A seeded split that keeps the positive rate the same in both parts (stratified)."""
    rng = np.random.default_rng(seed)
    train: list[I64] = []
    test: list[I64] = []
    for value in (0.0, 1.0):
        idx = np.flatnonzero(labels == value).astype(np.int64)
        rng.shuffle(idx)
        n_test = round(idx.size * test_fraction)
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def fit_booster(
    x: F32,
    y: F64,
    feature_names: list[str],
    categorical: list[int],
    settings: TrainSettings,
    *,
    valid_index: I64,
    progress: Callable[[int], None] | None = None,
) -> FitResult:
    """Fit on ``x`` minus ``valid_index``; stop when the validation AUC stops improving."""
    mask = np.ones(y.size, dtype=bool)
    mask[valid_index] = False
    fit_idx = np.flatnonzero(mask)
    y_fit = y[fit_idx]
    pos = float(y_fit.sum())
    neg = float(y_fit.size - pos)
    pos_weight = math.sqrt(neg / pos) if pos > 0 else 1.0
    params = settings.lgb_params(int(fit_idx.size), pos_weight)
    params["metric"] = "auc"
    patience = settings.early_stopping_rounds or max(10, round(2.5 / params["learning_rate"]))
    train_set = lgb.Dataset(
        x[fit_idx],
        label=y_fit,
        feature_name=feature_names,
        categorical_feature=categorical,
        free_raw_data=True,
    )
    valid_set = lgb.Dataset(x[valid_index], label=y[valid_index], reference=train_set)
    callbacks: list[Callable[..., None]] = [lgb.early_stopping(patience, verbose=False)]
    if progress is not None:
        report = progress

        def _progress(env: Any) -> None:
            report(int(env.iteration) + 1)

        callbacks.append(_progress)
    booster = lgb.train(
        params,
        train_set,
        num_boost_round=settings.max_rounds,
        valid_sets=[valid_set],
        valid_names=["valid"],
        callbacks=callbacks,
    )
    best = int(booster.best_iteration or booster.current_iteration())
    valid_scores = np.asarray(booster.predict(x[valid_index], num_iteration=best), dtype=np.float64)
    params.pop("metric", None)
    if settings.refit:
        # the validation slice is the most recent data: under drift it matters most, so the
        # final model sees it too, with rounds scaled to the larger training set
        rounds = max(1, round(best * y.size / max(fit_idx.size, 1)))
        pos_all = float(y.sum())
        params["scale_pos_weight"] = math.sqrt((y.size - pos_all) / pos_all) if pos_all else 1.0
        params["min_data_in_leaf"] = settings.lgb_params(int(y.size), 1.0)["min_data_in_leaf"]
        full = lgb.Dataset(x, label=y, feature_name=feature_names, categorical_feature=categorical)
        booster = lgb.train(params, full, num_boost_round=rounds)
        best = rounds
    params["num_boost_round"] = best
    return FitResult(booster, best, params, valid_index, valid_scores, y[valid_index])

"""The refund model: LightGBM on point-in-time rows, calibrated, with thresholds and reasons.

Training (``train``) on a labelled rows frame (``dataset.py``), ordered by decision time:

1. **Time-ordered split**: the earliest ``train_share`` of the labelled rows fit the trees,
   the next ``valid_share`` choose the number of trees (early stopping on average
   precision), the latest rows (the rest) are never seen by the trees.
2. The trees are refitted on train + validation with that number of trees.
3. **Imbalance**: fraud is about 0.5% of refunds; positives are weighted by
   ``min(negatives / positives, max_pos_weight)`` so the trees split on them at all.
4. **Calibration** (Platt scaling) on the latest slice: ``p = 1 / (1 + exp(-(a m + b)))`` of
   the trees' raw margin ``m``, fitted by logistic regression. Weighting distorts the raw
   scores; this maps them back to probabilities of *this* later period. Platt rather than
   isotonic: a later slice of a million-event stream holds a handful of fraud cases, too few
   for a step function; two parameters (and ``a > 0``) keep the map monotone.
5. **Thresholds** on the calibration slice with ``vigil.decisions.thresholds``: by alert
   budget and by money (review cost vs missed fraud money). Metrics there too (AUC-ROC,
   average precision, Brier score, money recall at the budget).

Explanations come from LightGBM's own per-feature contributions (``pred_contrib``: the
raw-margin terms that add up to the prediction), in the words of ``features.FEATURES``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import polars as pl
from numpy.typing import NDArray

from vigil.decisions.thresholds import ScoredRefund, choose_for_budget, choose_for_money
from vigil.errors import ConfigError
from vigil.models import registry
from vigil.models.refund.features import FEATURE_BY_NAME, FEATURES
from vigil.models.words import Value

MODEL_NAME = "refund"
CHALLENGER_NAME = "refund-challenger"
Matrix = NDArray[np.float64]

DEFAULT_PARAMS: dict[str, Any] = {
    "objective": "binary",
    "learning_rate": 0.05,
    "num_leaves": 15,
    "max_depth": 6,
    "min_data_in_leaf": 10,
    "min_sum_hessian_in_leaf": 1e-3,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "max_cat_to_onehot": 8,
    "min_data_per_group": 20,
    "deterministic": True,
    "force_row_wise": True,
    "num_threads": 2,
    "verbose": -1,
}


@dataclass(frozen=True)
class TrainSettings:
    """How the refund model is trained; defaults explained in the module docstring."""

    train_share: float = 0.6
    valid_share: float = 0.2
    max_rounds: int = 600
    early_stopping_rounds: int = 60
    min_rounds: int = 30
    max_pos_weight: float = 100.0
    budget: float = 0.01
    review_cost_cents: int = 2_500
    seed: int = 1
    params: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_PARAMS))

    def __post_init__(self) -> None:
        if not (
            self.train_share > 0
            and self.valid_share > 0
            and self.train_share + self.valid_share < 1
        ):
            raise ConfigError(
                f"train_share {self.train_share} and valid_share {self.valid_share} must be "
                "positive and leave a later slice for calibration (sum < 1)"
            )


@dataclass(frozen=True)
class Contribution:
    """One feature's push on a decision, in raw-margin (log-odds) units."""

    feature: str
    value: Value
    contribution: float

    def words(self) -> str:
        return f"{FEATURE_BY_NAME[self.feature].words(self.value)} ({self.contribution:+.1f})"


class FeatureEncoder:
    """Rows to the float matrix LightGBM reads: categoricals as codes of known levels.

    ``features``: the model's inputs in order (the refund model's ``FEATURES`` by default;
    the request model passes its own)."""

    def __init__(self, levels: dict[str, list[str]], features: Sequence[Any] = FEATURES) -> None:
        self.levels = levels
        #: (name, kind) of each input, in order (plain data: the encoder pickles)
        self.spec = tuple((str(f.name), str(f.kind)) for f in features)
        self._codes = {name: {v: float(i) for i, v in enumerate(lv)} for name, lv in levels.items()}

    def encode(self, df: pl.DataFrame) -> Matrix:
        """Features of a rows frame (categoricals as codes; missing or unseen = NaN)."""
        cols: list[Matrix] = []
        for name, kind in self.spec:
            if kind == "categorical":
                codes = self._codes.get(name, {})
                cols.append(
                    np.array(
                        [math.nan if v is None else codes.get(v, math.nan) for v in df[name]],
                        dtype=np.float64,
                    )
                )
            else:
                cols.append(df[name].cast(pl.Float64).fill_null(math.nan).to_numpy())
        return np.column_stack(cols)

    def encode_one(self, features: Sequence[Value]) -> Matrix:
        """One row's features (in ``spec`` order) as a 1 x F matrix."""
        x = np.empty((1, len(self.spec)), dtype=np.float64)
        for i, ((name, kind), v) in enumerate(zip(self.spec, features, strict=True)):
            if kind == "categorical":
                codes = self._codes.get(name, {})
                x[0, i] = codes.get(v, math.nan) if isinstance(v, str) else math.nan
            else:
                x[0, i] = math.nan if v is None else float(v)
        return x


class RefundModel:
    """A trained booster with its vocabulary, calibration and thresholds."""

    def __init__(
        self,
        booster: lgb.Booster,
        levels: dict[str, list[str]],
        platt: tuple[float, float],
        extra: dict[str, Any] | None = None,
        meta: registry.ModelMeta | None = None,
    ) -> None:
        self.booster = booster
        self.levels = levels
        self.platt = platt
        self.extra = extra or {}
        self.meta = meta
        self.encoder = FeatureEncoder(levels)

    @property
    def version(self) -> str:
        return self.meta.version if self.meta is not None else "unsaved"

    @property
    def horizon_ms(self) -> int:
        return int(self.extra.get("horizon_ms", 7 * 86_400_000))

    @property
    def metrics(self) -> dict[str, Any]:
        found: dict[str, Any] = self.extra.get("metrics", {})
        return found

    def encode(self, df: pl.DataFrame) -> Matrix:
        return self.encoder.encode(df)

    def encode_one(self, features: Sequence[Value]) -> Matrix:
        return self.encoder.encode_one(features)

    # --- scoring ------------------------------------------------------------------------

    def margin(self, x: Matrix) -> Matrix:
        out: Matrix = np.asarray(
            self.booster.predict(
                x, raw_score=True, num_threads=1, predict_disable_shape_check=True
            ),
            dtype=np.float64,
        )
        return out

    def calibrate(self, margin: Matrix) -> Matrix:
        a, b = self.platt
        z = np.clip(a * margin + b, -50.0, 50.0)
        out: Matrix = 1.0 / (1.0 + np.exp(-z))
        return out

    def proba(self, x: Matrix) -> Matrix:
        """Calibrated probability of headline fraud, one per row."""
        return self.calibrate(self.margin(x))

    def proba_frame(self, df: pl.DataFrame) -> Matrix:
        return self.proba(self.encode(df))

    def contributions(self, x: Matrix) -> Matrix:
        """Per-feature raw-margin contributions (last column: the base value)."""
        out: Matrix = np.asarray(
            self.booster.predict(
                x, pred_contrib=True, num_threads=1, predict_disable_shape_check=True
            ),
            dtype=np.float64,
        )
        return out

    def explain_one(self, features: Sequence[Value], top: int = 3) -> list[Contribution]:
        """The ``top`` features that pushed this refund's score up the most (if any did)."""
        contrib = self.contributions(self.encode_one(features))[0, :-1]
        order = np.argsort(-contrib, kind="stable")
        out = []
        for i in order[:top]:
            if contrib[i] <= 0.0:
                break
            out.append(Contribution(FEATURES[i].name, features[i], float(contrib[i])))
        return out


def explanation_text(score: float, parts: Sequence[Contribution]) -> str:
    """One line for an analyst: the score, then the features behind it."""
    if not parts:
        return f"refund model {score:.2f}: nothing stands out"
    return f"refund model {score:.2f}: " + ", ".join(p.words() for p in parts)


# --- training ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Split:
    train: pl.DataFrame
    valid: pl.DataFrame
    calib: pl.DataFrame


def time_split(labelled: pl.DataFrame, settings: TrainSettings) -> Split:
    """Earliest rows train, the next validate, the latest calibrate (by decision time)."""
    df = labelled.sort("decision_time_ms", "refund_id")
    n = len(df)
    a = int(n * settings.train_share)
    b = int(n * (settings.train_share + settings.valid_share))
    return Split(df[:a], df[a:b], df[b:])


def _levels(df: pl.DataFrame) -> dict[str, list[str]]:
    return {
        f.name: sorted(v for v in df[f.name].unique().to_list() if v is not None)
        for f in FEATURES
        if f.kind == "categorical"
    }


def _average_precision(y: Matrix, s: Matrix) -> float:
    from sklearn.metrics import average_precision_score  # type: ignore[import-untyped]

    return float(average_precision_score(y, s)) if 0 < y.sum() < len(y) else math.nan


def _auc(y: Matrix, s: Matrix) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, s)) if 0 < y.sum() < len(y) else math.nan


def fit_platt(margin: Matrix, y: Matrix) -> tuple[float, float]:
    """Platt scaling of raw margins on a later slice; identity-like if it cannot be fitted."""
    if not 0 < y.sum() < len(y):
        return 1.0, 0.0
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]

    lr = LogisticRegression(C=1e4, max_iter=1000)
    lr.fit(margin.reshape(-1, 1), y.astype(int))
    a, b = float(lr.coef_[0, 0]), float(lr.intercept_[0])
    if not a > 0 or not math.isfinite(a) or not math.isfinite(b):
        return 1.0, 0.0  # a flat or reversed map would destroy the ranking: keep the raw one
    return a, b


def money_at_budget(
    scores: Matrix, df: pl.DataFrame, budget: float
) -> tuple[float, int, int, float | None]:
    """(threshold, raised, fraud raised, money recall) when raising the budget's top refunds."""
    y = df["label"].to_numpy()
    amounts = df["amount_cents"].to_numpy()
    choice = choose_for_budget(scores.tolist(), len(df), budget)
    raised = scores >= choice.threshold
    raised &= scores > 0
    money = float(amounts[y == 1].sum())
    caught = float(amounts[(y == 1) & raised].sum())
    return (
        choice.threshold,
        int(raised.sum()),
        int(((y == 1) & raised).sum()),
        caught / money if money else None,
    )


def evaluate_frame(model: RefundModel, df: pl.DataFrame, budget: float) -> dict[str, Any]:
    """Figures of a model on labelled rows: ranking, calibration and money at the budget."""
    s = model.proba_frame(df)
    y = df["label"].to_numpy().astype(np.float64)
    thr, raised, fraud, recall = money_at_budget(s, df, budget)
    return {
        "rows": len(df),
        "positives": int(y.sum()),
        "auc_roc": _auc(y, s),
        "auc_pr": _average_precision(y, s),
        "brier": float(np.mean((s - y) ** 2)) if len(y) else math.nan,
        "mean_score": float(s.mean()) if len(s) else math.nan,
        "label_rate": float(y.mean()) if len(y) else math.nan,
        "budget": budget,
        "budget_threshold": thr,
        "raised_at_budget": raised,
        "fraud_raised_at_budget": fraud,
        "money_recall_at_budget": recall,
    }


def train(labelled: pl.DataFrame, settings: TrainSettings | None = None) -> RefundModel:
    """Train, calibrate and choose thresholds on rows with a known label (see module doc)."""
    settings = settings or TrainSettings()
    df = labelled.filter(pl.col("label").is_not_null())
    split = time_split(df, settings)
    for part, name in ((split.train, "training"), (split.calib, "calibration")):
        if int(part["label"].sum() or 0) == 0:
            raise ConfigError(
                f"the {name} slice ({len(part)} rows) holds no fraud label: the model cannot "
                "learn or be calibrated; use a longer period or a later label cut-off"
            )
    levels = _levels(split.train.vstack(split.valid))
    probe = FeatureEncoder(levels)
    cat_index = [i for i, f in enumerate(FEATURES) if f.kind == "categorical"]
    names = [f.name for f in FEATURES]

    def dataset(part: pl.DataFrame, pos_weight: float) -> lgb.Dataset:
        y = part["label"].to_numpy().astype(np.float64)
        w = np.where(y > 0, pos_weight, 1.0)
        return lgb.Dataset(
            probe.encode(part),
            label=y,
            weight=w,
            feature_name=names,
            categorical_feature=cat_index,
            free_raw_data=False,
        )

    def weight_of(part: pl.DataFrame) -> float:
        pos = int(part["label"].sum() or 0)
        return min(settings.max_pos_weight, max(1.0, (len(part) - pos) / max(pos, 1)))

    params = dict(settings.params)
    params["seed"] = settings.seed
    params["metric"] = "average_precision"
    w_train = weight_of(split.train)
    d_train = dataset(split.train, w_train)
    rounds = settings.max_rounds
    if len(split.valid) and int(split.valid["label"].sum() or 0) > 0:
        d_valid = dataset(split.valid, 1.0)
        first = lgb.train(
            params,
            d_train,
            num_boost_round=settings.max_rounds,
            valid_sets=[d_valid],
            callbacks=[lgb.early_stopping(settings.early_stopping_rounds, verbose=False)],
        )
        rounds = max(settings.min_rounds, int(first.best_iteration or settings.max_rounds))
    fit_part = split.train.vstack(split.valid)
    booster = lgb.train(params, dataset(fit_part, weight_of(fit_part)), num_boost_round=rounds)
    model = RefundModel(booster, levels, (1.0, 0.0))
    calib_margin = model.margin(model.encode(split.calib))
    platt = fit_platt(calib_margin, split.calib["label"].to_numpy().astype(np.float64))
    model = RefundModel(booster, levels, platt)

    calib_scores = model.calibrate(calib_margin)
    scored = [
        ScoredRefund(rid, float(s), bool(lab), int(amt))
        for rid, s, lab, amt in zip(
            split.calib["refund_id"],
            calib_scores,
            split.calib["label"],
            split.calib["amount_cents"],
            strict=True,
        )
    ]
    fraud_money = int(split.calib.filter(pl.col("label") == 1)["amount_cents"].sum() or 0)
    budget_choice = choose_for_budget(calib_scores.tolist(), len(split.calib), settings.budget)
    money_choice = choose_for_money(scored, fraud_money, settings.review_cost_cents)
    metrics = evaluate_frame(model, split.calib, settings.budget)
    importance = dict(
        zip(names, (float(x) for x in booster.feature_importance("gain")), strict=True)
    )
    from vigil.models.refund.drift import reference_profile

    extra: dict[str, Any] = {
        "calibration": {"method": "platt", "a": platt[0], "b": platt[1], "rows": len(split.calib)},
        "thresholds": {
            "budget": {
                "budget": settings.budget,
                "threshold": budget_choice.threshold,
                "raised": budget_choice.raised,
            },
            "money": {
                "review_cost_cents": settings.review_cost_cents,
                "threshold": money_choice.threshold,
                "raised": money_choice.raised,
                "cost_cents": money_choice.cost_cents,
                "cost_without_review_cents": money_choice.cost_without_review_cents,
            },
        },
        "levels": levels,
        "rounds": rounds,
        "pos_weight": weight_of(fit_part),
        "split": {
            "train_rows": len(split.train),
            "valid_rows": len(split.valid),
            "calib_rows": len(split.calib),
            "train_positives": int(split.train["label"].sum() or 0),
            "valid_positives": int(split.valid["label"].sum() or 0),
            "calib_positives": int(split.calib["label"].sum() or 0),
        },
        "importance_gain": importance,
        "reference": reference_profile(fit_part, model.proba_frame(fit_part)),
        "metrics": metrics,
        "window_ms": [
            int(df["decision_time_ms"].to_numpy().min()),
            int(df["decision_time_ms"].to_numpy().max()),
        ],
    }
    return RefundModel(booster, levels, platt, extra)


# --- registry --------------------------------------------------------------------------------


def iso_ms(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


def save(
    model: RefundModel,
    registry_dir: Path | str,
    *,
    name: str = MODEL_NAME,
    horizon_ms: int,
    label_source: str,
    label_cutoff_ms: int,
    settings: TrainSettings | None = None,
    data_fingerprint: str = "",
) -> str:
    """Store the model in the registry; return its version."""
    settings = settings or TrainSettings()
    extra = dict(model.extra)
    metrics = extra.pop("metrics", {})
    extra.update(
        horizon_ms=horizon_ms,
        label_source=label_source,
        label_cutoff_ms=label_cutoff_ms,
        label_cutoff=iso_ms(label_cutoff_ms),
        target="headline fraud (scenarios 1-4)",
    )
    window = extra.get("window_ms", [0, 0])
    split = extra.get("split", {})
    meta = registry.ModelMeta(
        name=name,
        features=feature_specs(FEATURES, model.levels),
        training_window=registry.TrainingWindow(
            start=iso_ms(window[0]),
            end=iso_ms(window[1]),
            rows=sum(int(v) for k, v in split.items() if k.endswith("_rows")),
            ordering="time-ordered by decision time: train, validation (early stopping), "
            "calibration (latest)",
        ),
        params={**settings.params, "seed": settings.seed, "rounds": extra.get("rounds")},
        metrics=json_safe(metrics),
        data_fingerprint=data_fingerprint,
        extra=json_safe(extra),
    )
    return registry.save(registry_dir, model.booster, meta)


def feature_specs(
    features: Sequence[Any], levels: dict[str, list[str]]
) -> list[registry.FeatureSpec]:
    """The registry's description of a model's inputs (categoricals with their levels)."""
    return [
        registry.FeatureSpec(
            f.name,
            f.kind,
            levels=levels.get(f.name) if f.kind == "categorical" else None,
            description=f.description,
        )
        for f in features
    ]


def json_safe(x: Any) -> Any:
    """``x`` as JSON can hold it: string keys, lists, no NaN or infinity, no numpy scalars."""
    if isinstance(x, dict):
        return {str(k): json_safe(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [json_safe(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, np.floating | np.integer):
        return json_safe(x.item())
    return x


def load(registry_dir: Path | str, ref: str = MODEL_NAME) -> RefundModel:
    """A refund model from the registry (``refund`` = the current champion)."""
    booster, meta = registry.load(registry_dir, ref)
    return from_registry(booster, meta)


def from_registry(booster: lgb.Booster, meta: registry.ModelMeta) -> RefundModel:
    extra = dict(meta.extra)
    extra["metrics"] = dict(meta.metrics)
    cal = extra.get("calibration", {})
    levels = {k: list(v) for k, v in extra.get("levels", {}).items()}
    names = [f.name for f in FEATURES]
    if [f.name for f in meta.features] != names:
        raise ConfigError(
            f"model {meta.version} was trained on other features than this Vigil's refund "
            "features; retrain it (`vigil model retrain`)"
        )
    return RefundModel(
        booster, levels, (float(cal.get("a", 1.0)), float(cal.get("b", 0.0))), extra, meta
    )

"""The request model: LightGBM on request-time rows, calibrated, judging a request's profile.

With a request model loaded (``vigil run --request-model DIR``, the same for ``vigil serve``)
the request-time decision asks it, not ``request_risk``'s hand-set weights, what the
request's own profile says (``vigil.detectors.request.scoring``): the finding is named
``request_model``, scores the calibrated probability that the request is headline fraud and
names the features that pushed it up, in words. The session, parcel and label findings and
the alerts so far are combined with it as before (noisy-OR), so a flagged session is still
held whatever the model says.

Training (``train``), on the rows of ``dataset.py`` pooled from one or more streams:

1. **Time-ordered split** by request time: the earliest ``train_share`` fit the trees, the
   next ``valid_share`` choose how many (early stopping on average precision), the latest
   calibrate. The trees are then refitted on train + validation with that many trees.
2. **No class weights**: fraud is about 0.6% of requests, and small trees (``num_leaves``
   7, at least 20 rows a leaf) split on it unweighted. Weighting look-alikes (traps) up
   changed nothing measurable on the training seeds (docs/models.md), so it is not done.
3. **Calibration**: Platt scaling of the raw margin on the latest slice (two parameters
   for a slice that holds a few dozen fraud cases; ``vigil.models.refund.model.fit_platt``).
4. **Operating point**: the model speaks (emits a finding) only from the lowest calibrated
   score at which look-alikes stay under ``max_lookalike_share`` (1%) of the requests it
   would hold, measured on rows it never saw (leave one stream out; with one stream, its
   latest slice). A look-alike is an honest request that looks like fraud: a trap in the
   simulator's truth, a request a person found legitimate in a retailer's labels. An honest
   customer held at request time is the costliest mistake this model can make, and the
   calibrated probability alone held too many of them (docs/models.md, "Request model").

Explanations are LightGBM's per-feature contributions (``pred_contrib``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import lightgbm as lgb
import numpy as np
import polars as pl
from numpy.typing import NDArray

from vigil.detectors.base import Signal
from vigil.detectors.request._signal import money, request_signal
from vigil.detectors.settings import DetectorSettings
from vigil.errors import ConfigError, InputError
from vigil.events.schemas import RefundRequested
from vigil.features.facts import RequestFacts
from vigil.models import registry
from vigil.models.refund.model import (
    FeatureEncoder,
    _auc,
    _average_precision,
    feature_specs,
    fit_platt,
    iso_ms,
    json_safe,
)
from vigil.models.request.features import REQUEST_FEATURES, request_features

__all__ = ["DETECTOR", "MODEL_NAME", "RequestModel", "TrainSettings", "load", "save", "train"]

MODEL_NAME: Final = "request"
#: the finding's detector name
DETECTOR: Final = "request_model"
Matrix = NDArray[np.float64]
_NAMES: Final = [f.name for f in REQUEST_FEATURES]
_CATEGORICAL: Final = [i for i, f in enumerate(REQUEST_FEATURES) if f.kind == "categorical"]

DEFAULT_PARAMS: Final[dict[str, Any]] = {
    "objective": "binary",
    "learning_rate": 0.05,
    "num_leaves": 7,
    "min_data_in_leaf": 20,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "max_cat_to_onehot": 8,
    "deterministic": True,
    "force_row_wise": True,
    "num_threads": 2,
    "verbose": -1,
}


@dataclass(frozen=True)
class TrainSettings:
    train_share: float = 0.6
    valid_share: float = 0.2
    max_rounds: int = 600
    early_stopping_rounds: int = 60
    min_rounds: int = 30
    #: the operating point: look-alikes (honest requests a person found legitimate; in the
    #: simulator's truth, traps) under this share of what the model holds, on unseen rows
    max_lookalike_share: float = 0.01
    #: the lowest operating point (a finding below it would not matter to the decision)
    min_score: float = 0.05
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


class RequestModel:
    """A trained booster with its vocabulary and calibration; a ``ProfileScorer``."""

    def __init__(
        self,
        booster: lgb.Booster,
        levels: dict[str, list[str]],
        platt: tuple[float, float],
        extra: dict[str, Any] | None = None,
        meta: registry.ModelMeta | None = None,
        *,
        min_score: float = 0.05,
        top_features: int = 3,
    ) -> None:
        self.booster = booster
        self.levels = levels
        self.platt = platt
        self.extra = extra or {}
        self.meta = meta
        self.min_score = min_score
        self.top_features = top_features
        self.encoder = FeatureEncoder(levels, REQUEST_FEATURES)

    @property
    def version(self) -> str:
        return self.meta.version if self.meta is not None else "unsaved"

    # --- scoring -------------------------------------------------------------------------

    def encode(self, df: pl.DataFrame) -> Matrix:
        return self.encoder.encode(df)

    def margin(self, x: Matrix) -> Matrix:
        out: Matrix = np.asarray(
            self.booster.predict(x, raw_score=True, num_threads=1), dtype=np.float64
        )
        return out

    def calibrate(self, margin: Matrix) -> Matrix:
        a, b = self.platt
        out: Matrix = 1.0 / (1.0 + np.exp(-np.clip(a * margin + b, -50.0, 50.0)))
        return out

    def proba(self, x: Matrix) -> Matrix:
        """Calibrated probability that each request is headline fraud."""
        return self.calibrate(self.margin(x))

    def finding(
        self,
        req: RefundRequested,
        facts: RequestFacts,
        settings: DetectorSettings,
        agent_flag: float,
    ) -> Signal | None:
        """The model's finding about ``req`` (``ProfileScorer``), or None below ``min_score``."""
        if req.amount_cents < settings.request_risk.min_amount_cents:
            return None
        row = request_features(req, facts, settings.request_risk, agent_flag)
        x = self.encoder.encode_one(row)
        score = float(self.proba(x)[0])
        if score < self.min_score:
            return None
        contrib = np.asarray(
            self.booster.predict(x, pred_contrib=True, num_threads=1), dtype=np.float64
        )[0, :-1]
        top = [int(i) for i in np.argsort(-contrib, kind="stable")[: self.top_features]]
        top = [i for i in top if contrib[i] > 0.0]
        words = [f"{REQUEST_FEATURES[i].say(row[i])} ({contrib[i]:+.1f})" for i in top]
        explanation = (
            f"refund {req.refund_id} on order {req.order_id} for customer {req.customer_id} "
            f"({req.policy} by {req.agent_id or 'the system'}, {money(req.amount_cents)}): "
            f"request model {self.version} {score:.2f}: "
            + (", ".join(words) if words else "nothing stands out")
        )
        reasons = [REQUEST_FEATURES[i].name for i in top]
        return request_signal(DETECTOR, req, score, reasons, explanation)


# --- training ------------------------------------------------------------------------------


def _levels(df: pl.DataFrame) -> dict[str, list[str]]:
    return {
        f.name: sorted(v for v in df[f.name].unique().to_list() if v is not None)
        for f in REQUEST_FEATURES
        if f.kind == "categorical"
    }


def metrics_of(model: RequestModel, df: pl.DataFrame) -> dict[str, Any]:
    """Ranking and calibration of ``model`` on labelled rows."""
    y = df["label"].to_numpy().astype(np.float64)
    s = model.proba(model.encode(df)) if len(df) else np.zeros(0)
    held = s >= 0.5
    return {
        "rows": len(df),
        "positives": int(y.sum()),
        "auc_roc": _auc(y, s),
        "auc_pr": _average_precision(y, s),
        "brier": float(np.mean((s - y) ** 2)) if len(y) else math.nan,
        "above_half": int(held.sum()),
        "precision_above_half": float(y[held].mean()) if held.any() else math.nan,
    }


def _fit(df: pl.DataFrame, settings: TrainSettings) -> tuple[RequestModel, dict[str, int]]:
    """Trees on the earlier rows, their number by early stopping, Platt on the latest."""
    n = len(df)
    a = int(n * settings.train_share)
    b = int(n * (settings.train_share + settings.valid_share))
    fit, valid, calib = df[:a], df[a:b], df[b:]
    for part, name in ((fit, "training"), (calib, "calibration")):
        if int(part["label"].sum() or 0) == 0:
            raise ConfigError(
                f"the {name} slice ({len(part)} requests) holds no fraud label: the model "
                "cannot learn or be calibrated; give more streams or a longer period"
            )
    levels = _levels(df[:b])
    probe = FeatureEncoder(levels, REQUEST_FEATURES)

    def dataset(part: pl.DataFrame) -> lgb.Dataset:
        return lgb.Dataset(
            probe.encode(part),
            label=part["label"].to_numpy().astype(np.float64),
            feature_name=_NAMES,
            categorical_feature=_CATEGORICAL,
            free_raw_data=False,
        )

    params = {**settings.params, "seed": settings.seed, "metric": "average_precision"}
    rounds = settings.max_rounds
    if len(valid) and int(valid["label"].sum() or 0) > 0:
        first = lgb.train(
            params,
            dataset(fit),
            num_boost_round=settings.max_rounds,
            valid_sets=[dataset(valid)],
            callbacks=[lgb.early_stopping(settings.early_stopping_rounds, verbose=False)],
        )
        rounds = max(settings.min_rounds, int(first.best_iteration or settings.max_rounds))
    booster = lgb.train(params, dataset(df[:b]), num_boost_round=rounds)
    raw = RequestModel(booster, levels, (1.0, 0.0))
    platt = fit_platt(raw.margin(raw.encode(calib)), calib["label"].to_numpy().astype(np.float64))
    split = {
        "rounds": rounds,
        "train_rows": len(fit),
        "valid_rows": len(valid),
        "calib_rows": len(calib),
        "train_positives": int(fit["label"].sum() or 0),
        "valid_positives": int(valid["label"].sum() or 0),
        "calib_positives": int(calib["label"].sum() or 0),
    }
    return RequestModel(booster, levels, platt), split


def out_of_fold(df: pl.DataFrame, settings: TrainSettings) -> tuple[pl.DataFrame, str]:
    """Rows scored by a model that never saw them, and how they were held out.

    With rows from two or more streams: each stream scored by a model fitted on the others
    (leave one stream out). With one stream: its latest slice, scored by the model fitted
    on the rest (that slice is also where it was calibrated)."""
    streams = sorted(df["stream"].unique().to_list()) if "stream" in df.columns else []
    if len(streams) >= 2:
        parts = []
        for k in streams:
            held_out = df.filter(pl.col("stream") == k)
            model, _split = _fit(df.filter(pl.col("stream") != k), settings)
            parts.append(held_out.with_columns(pl.Series("p", model.proba(model.encode(held_out)))))
        return pl.concat(parts), f"leave one of {len(streams)} streams out"
    model, split = _fit(df, settings)
    latest = df[len(df) - split["calib_rows"] :]
    return latest.with_columns(pl.Series("p", model.proba(model.encode(latest)))), (
        "the latest slice"
    )


def choose_operating_point(
    scored: pl.DataFrame, max_lookalike_share: float, floor: float
) -> dict[str, Any]:
    """The lowest score at which look-alikes stay under ``max_lookalike_share`` of what the
    model would hold (scores at or above it), on rows it never saw; ``floor`` if none are
    known. A request scoring below it gets no finding from the model."""
    p = scored["p"].to_numpy()
    y = scored["label"].to_numpy() == 1
    look = (
        scored["lookalike"].fill_null(False).to_numpy()
        if "lookalike" in scored.columns
        else np.zeros(len(scored), dtype=bool)
    )
    amount = scored["amount_cents"].to_numpy()
    money = float(amount[y].sum()) or 1.0

    def at(t: float) -> dict[str, Any]:
        held = p >= t
        n = int(held.sum())
        return {
            "threshold": float(t),
            "held": n,
            "fraud_held": int((held & y).sum()),
            "lookalikes_held": int((held & look).sum()),
            "money_held_share": float(amount[held & y].sum()) / money,
        }

    if not look.any():
        return {**at(floor), "rule": "no look-alike known: the floor"}
    for t in np.unique(p[p >= floor]):
        point = at(float(t))
        if point["lookalikes_held"] < max_lookalike_share * point["held"]:
            return {**point, "rule": f"look-alikes under {max_lookalike_share:.0%} of holds"}
    return {**at(1.0), "rule": "no score keeps look-alikes rare enough: the model never speaks"}


def train(labelled: pl.DataFrame, settings: TrainSettings | None = None) -> RequestModel:
    """Train, calibrate and choose the operating point on labelled rows (see the module doc)."""
    settings = settings or TrainSettings()
    df = labelled.filter(pl.col("label").is_not_null()).sort("decision_time_ms", "refund_id")
    model, split = _fit(df, settings)
    scored, how = out_of_fold(df, settings)
    point = choose_operating_point(scored, settings.max_lookalike_share, settings.min_score)
    model.min_score = float(point["threshold"])
    times = df["decision_time_ms"].to_numpy()
    importance = dict(
        zip(_NAMES, (float(x) for x in model.booster.feature_importance("gain")), strict=True)
    )
    calib = df[len(df) - split["calib_rows"] :]
    model.extra = {
        "calibration": {
            "method": "platt",
            "a": model.platt[0],
            "b": model.platt[1],
            "rows": split["calib_rows"],
        },
        "operating_point": {**point, "held_out": how, "rows": len(scored)},
        "levels": model.levels,
        "rounds": split.pop("rounds"),
        "split": split,
        "importance_gain": importance,
        "metrics": metrics_of(model, calib),
        "window_ms": [int(times.min()), int(times.max())],
    }
    return model


# --- registry --------------------------------------------------------------------------------


def save(
    model: RequestModel,
    registry_dir: Path | str,
    *,
    label_source: str,
    settings: TrainSettings | None = None,
    data_fingerprint: str = "",
) -> str:
    """Store the model in the registry under ``request``; return its version."""
    settings = settings or TrainSettings()
    extra = dict(model.extra)
    metrics = extra.pop("metrics", {})
    extra.update(label_source=label_source, target="headline fraud (scenarios 1-4)")
    window = extra.get("window_ms", [0, 0])
    split = extra.get("split", {})
    meta = registry.ModelMeta(
        name=MODEL_NAME,
        features=feature_specs(REQUEST_FEATURES, model.levels),
        training_window=registry.TrainingWindow(
            start=iso_ms(window[0]),
            end=iso_ms(window[1]),
            rows=sum(int(v) for k, v in split.items() if k.endswith("_rows")),
            ordering="time-ordered by request time: train, validation (early stopping), "
            "calibration (latest)",
        ),
        params={**settings.params, "seed": settings.seed, "rounds": extra.get("rounds")},
        metrics=json_safe(metrics),
        data_fingerprint=data_fingerprint,
        extra=json_safe(extra),
    )
    return registry.save(registry_dir, model.booster, meta)


def load(path: Path | str, ref: str = MODEL_NAME) -> RequestModel:
    """The request model of a registry (``request`` = its latest one), or of one artifact
    folder (``DIR/v0003``, as ``vigil serve`` hands its runtime: both score with one model)."""
    try:
        if (Path(path) / registry.META_FILE).is_file():
            booster, meta = registry.load_dir(path)
        else:
            booster, meta = registry.load(path, ref)
    except InputError as exc:
        raise ConfigError(
            f"{exc}; a request model is trained with "
            "`vigil model train-request --events FILE --truth FILE --registry DIR`"
        ) from exc
    if meta.name != MODEL_NAME:
        raise ConfigError(
            f"model {meta.version} in {path} is not a request model of this Vigil "
            f"(name {meta.name!r}); train one with `vigil model train-request`"
        )
    trained = [f.name for f in meta.features]
    if trained != _NAMES:
        new = [n for n in _NAMES if n not in trained]
        gone = [n for n in trained if n not in _NAMES]
        raise ConfigError(
            f"request model {meta.version} in {path} was trained on other features than this "
            f"Vigil's request model reads (new: {', '.join(new) or 'none'}; no longer read: "
            f"{', '.join(gone) or 'none'}); train it again with `vigil model train-request`"
        )
    cal = meta.extra.get("calibration", {})
    point = meta.extra.get("operating_point", {})
    levels = {k: list(v) for k, v in meta.extra.get("levels", {}).items()}
    extra = {**meta.extra, "metrics": dict(meta.metrics)}
    return RequestModel(
        booster,
        levels,
        (float(cal.get("a", 1.0)), float(cal.get("b", 0.0))),
        extra,
        meta,
        min_score=float(point.get("threshold", 0.05)),
    )


def artifact_of(path: Path | str) -> Path:
    """The artifact folder ``load(path)`` reads (a registry's latest request model)."""
    if (Path(path) / registry.META_FILE).is_file():
        return Path(path)
    try:
        return registry.artifact_dir(path, MODEL_NAME)
    except InputError as exc:
        raise ConfigError(
            f"{exc}; a request model is trained with `vigil model train-request`"
        ) from exc

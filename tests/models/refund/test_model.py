"""Training, calibration, explanations and the registry round trip."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from vigil.models import registry
from vigil.models.refund.features import FEATURE_NAMES
from vigil.models.refund.model import (
    Contribution,
    RefundModel,
    TrainSettings,
    explanation_text,
    fit_platt,
    load,
    save,
    time_split,
    train,
)

from ._factories import DAY, synthetic_rows

FAST = TrainSettings(max_rounds=60, early_stopping_rounds=20, min_rounds=10)


@pytest.fixture(scope="module")
def rows() -> pl.DataFrame:
    return synthetic_rows(3_000, seed=3)


@pytest.fixture(scope="module")
def model(rows: pl.DataFrame) -> RefundModel:
    return train(rows, FAST)


def test_split_is_time_ordered(rows: pl.DataFrame) -> None:
    s = time_split(rows.sample(fraction=1.0, shuffle=True, seed=1), FAST)
    assert s.train["decision_time_ms"].max() <= s.valid["decision_time_ms"].min()  # type: ignore[operator]
    assert s.valid["decision_time_ms"].max() <= s.calib["decision_time_ms"].min()  # type: ignore[operator]
    assert len(s.train) + len(s.valid) + len(s.calib) == len(rows)


def test_model_ranks_fraud_and_records_what_it_did(model: RefundModel) -> None:
    m = model.metrics
    assert m["auc_roc"] > 0.75
    assert set(model.extra["thresholds"]) == {"budget", "money"}
    assert model.extra["split"]["calib_positives"] > 0
    assert model.extra["pos_weight"] > 1.0  # imbalance handled


@given(st.lists(st.floats(-30, 30), min_size=2, max_size=50))
def test_calibration_maps_into_unit_interval_monotonically(margins: list[float]) -> None:
    rng = np.random.default_rng(0)
    m = rng.normal(size=400)
    y = (rng.random(400) < 1 / (1 + np.exp(-(2 * m - 3)))).astype(np.float64)
    a, b = fit_platt(m, y)
    assert a > 0
    model = RefundModel.__new__(RefundModel)
    model.platt = (a, b)
    xs = np.sort(np.asarray(margins))
    p = model.calibrate(xs)
    assert ((p >= 0.0) & (p <= 1.0)).all()
    assert (np.diff(p) >= 0).all()


def test_platt_falls_back_to_a_monotone_map_without_both_classes() -> None:
    assert fit_platt(np.array([0.1, 0.5]), np.array([0.0, 0.0])) == (1.0, 0.0)
    # reversed evidence must not reverse the ranking
    a, _ = fit_platt(np.array([-2.0, -1.0, 1.0, 2.0] * 5), np.array([1.0, 1.0, 0.0, 0.0] * 5))
    assert a > 0


def test_explanation_names_features_in_words(model: RefundModel, rows: pl.DataFrame) -> None:
    top = rows.sort("label", "account_age_days", descending=[True, False], nulls_last=True).row(0)
    features = top[7 : 7 + len(FEATURE_NAMES)]
    parts = model.explain_one(list(features), top=3)
    assert parts and all(p.contribution > 0 for p in parts)
    assert [p.contribution for p in parts] == sorted((p.contribution for p in parts), reverse=True)
    text = explanation_text(0.91, parts)
    assert text.startswith("refund model 0.91: ") and "\n" not in text and "(+" in text


def test_contribution_words() -> None:
    assert Contribution("account_age_days", 3.2, 1.23).words() == "account 3 days old (+1.2)"
    assert (
        Contribution("account_age_days", None, 0.5).words() == "account older than the data (+0.5)"
    )
    assert (
        Contribution("returned_by_decision", 0.0, 0.9).words()
        == "no return scan or receipt by decision time (+0.9)"
    )
    assert Contribution("amount_usd", 1234.5, 2.0).words() == "refund $1,234 (+2.0)"


def test_registry_round_trip_keeps_scores(model: RefundModel, rows: pl.DataFrame, tmp_path) -> None:  # type: ignore[no-untyped-def]
    version = save(model, tmp_path, horizon_ms=7 * DAY, label_source="test", label_cutoff_ms=0)
    again = load(tmp_path, "refund")
    assert again.version == version
    np.testing.assert_allclose(again.proba_frame(rows[:200]), model.proba_frame(rows[:200]))
    (entry,) = registry.list_versions(tmp_path)
    assert entry.name == "refund" and entry.rows == len(rows)
    meta = again.meta
    assert meta is not None
    assert [f.name for f in meta.features] == list(FEATURE_NAMES)
    assert meta.training_window.start and meta.params["rounds"] >= 10
    assert "auc_pr" in meta.metrics and meta.extra["horizon_ms"] == 7 * DAY

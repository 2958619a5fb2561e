"""Champion / challenger decisions and drift in words."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from vigil.models import registry
from vigil.models.refund.drift import compare, drift_lines, psi, reference_profile
from vigil.models.refund.model import TrainSettings, load
from vigil.models.refund.retrain import RetrainReport, RetrainSettings, decide, retrain

from ._factories import DAY, synthetic_rows

S = RetrainSettings(min_money_gain=0.0, max_auc_pr_loss=0.02)


def _m(money: float | None, ap: float) -> dict[str, float | None]:
    return {"money_recall_at_budget": money, "auc_pr": ap}


@pytest.mark.parametrize(
    ("champion", "challenger", "promote", "why"),
    [
        (None, _m(0.1, 0.1), True, "no champion"),
        (_m(0.80, 0.50), _m(0.90, 0.50), True, "better"),
        (_m(0.80, 0.50), _m(0.80, 0.55), True, "better"),  # same money, better ranking
        (_m(0.80, 0.50), _m(0.80, 0.50), False, "no better"),
        (_m(0.80, 0.50), _m(0.70, 0.90), False, "less fraud money"),
        (_m(0.80, 0.50), _m(0.90, 0.40), False, "ranks fraud worse"),
        (_m(None, 0.50), _m(0.10, 0.50), True, "better"),  # no money on later data counts as 0
    ],
)
def test_decide(
    champion: dict[str, float] | None, challenger: dict[str, float], promote: bool, why: str
) -> None:
    verdict = decide(champion, challenger, S)
    assert verdict.promote is promote
    assert why in verdict.reason


def test_min_gain_is_required() -> None:
    strict = RetrainSettings(min_money_gain=0.05)
    assert not decide(_m(0.80, 0.5), _m(0.82, 0.6), strict).promote
    assert decide(_m(0.80, 0.5), _m(0.86, 0.6), strict).promote


FAST = RetrainSettings(train=TrainSettings(max_rounds=40, min_rounds=10))


def _retrain(rows: pl.DataFrame, where: Path, settings: RetrainSettings = FAST) -> RetrainReport:
    return retrain(
        rows, where, horizon_ms=7 * DAY, label_source="t", label_cutoff_ms=0, settings=settings
    )


def test_the_promoted_model_is_refitted_on_every_labelled_row(tmp_path: Path) -> None:
    rows = synthetic_rows(2_400, seed=7)
    first = _retrain(rows, tmp_path)
    assert first.verdict.promote and first.promoted_version
    assert first.refit_rows == rows.filter(pl.col("label").is_not_null()).height
    champion = load(tmp_path, "refund")
    challenger = load(tmp_path, first.challenger_version)
    newest = int(rows["decision_time_ms"].max())  # type: ignore[arg-type]
    # the challenger stopped before the later rows; the champion has seen them
    assert challenger.extra["window_ms"][1] < newest
    assert champion.extra["window_ms"][1] == newest
    assert champion.extra["promoted_from"] == first.challenger_version
    assert "refitted on all 2,400 labelled refunds" in "\n".join(first.text_lines())

    # the same labels again: every later row is in the champion's training data, so there is
    # nothing fair to compare on and the champion stays
    second = _retrain(rows, tmp_path)
    assert second.compared_rows == 0 and second.later_rows > 0
    assert not second.verdict.promote and "nothing fair to compare on" in second.verdict.reason
    # ... and neither model is scored: no figure rather than zeros that read as a bad model
    assert second.champion_metrics is None and second.challenger_metrics is None
    text = "\n".join(second.text_lines())
    assert "AUC-ROC" not in text
    for who in ("champion  ", "challenger"):
        assert f"  {who} not scored: no later refund is newer than the champion's" in text
    assert "drift since the champion's training data" in text
    names = [e.name for e in registry.list_versions(tmp_path)]
    assert names == ["refund-challenger", "refund", "refund-challenger"]


def test_without_refit_the_compared_challenger_is_promoted(tmp_path: Path) -> None:
    rows = synthetic_rows(2_400, seed=7)
    as_is = RetrainSettings(refit=False, train=FAST.train)
    first = _retrain(rows, tmp_path, as_is)
    assert first.verdict.promote and first.refit_rows is None
    assert load(tmp_path, "refund").booster.model_to_string() == (
        load(tmp_path, first.challenger_version).booster.model_to_string()
    )
    # the champion never saw the later rows: both are compared on all of them; same data and
    # seed make the challenger the champion again, so it is not promoted
    second = _retrain(rows, tmp_path, as_is)
    assert second.compared_rows == second.later_rows > 0
    assert not second.verdict.promote and "no better" in second.verdict.reason
    assert second.champion_metrics == second.challenger_metrics
    text = "\n".join(second.text_lines())
    assert "drift since the champion's training data" in text


def test_only_rows_newer_than_the_champions_data_are_compared(tmp_path: Path) -> None:
    rows = synthetic_rows(3_000, seed=11).sort("decision_time_ms")
    first = _retrain(rows[:2_000], tmp_path)
    seen_until = int(rows[:2_000]["decision_time_ms"].max())  # type: ignore[arg-type]
    second = _retrain(rows, tmp_path)
    newer = rows.filter(pl.col("decision_time_ms") > seen_until).height
    assert first.promoted_version and second.champion_version == first.promoted_version
    assert 0 < second.compared_rows == min(newer, second.later_rows)
    assert second.challenger_metrics is not None
    assert second.challenger_metrics["rows"] == second.compared_rows
    assert second.champion_metrics is not None
    assert second.champion_metrics["rows"] == second.compared_rows


def test_psi_and_drift_words() -> None:
    assert psi([0.5, 0.5], [0.5, 0.5]) == 0.0
    before = synthetic_rows(1_500, seed=1)
    ref = reference_profile(before, np.linspace(0, 1, len(before)))
    same = compare(ref, before, np.linspace(0, 1, len(before)))
    assert all(d.psi < 0.1 for d in same if d.name != "label_rate")
    shifted = before.with_columns(
        (pl.col("amount_usd") * 5).alias("amount_usd"), pl.lit(1.0).alias("account_age_days")
    )
    drifts = {d.name: d for d in compare(ref, shifted, np.linspace(0, 1, len(before)))}
    assert drifts["amount_usd"].moved and drifts["account_age_days"].moved
    assert drifts["account_age_days"].words.startswith("account_age_days moved a lot: median ")
    lines = drift_lines(list(drifts.values()))
    assert any(line.startswith("amount_usd moved") for line in lines)
    assert any(line.startswith("fraud label rate") for line in lines)

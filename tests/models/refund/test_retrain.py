"""Champion / challenger decisions and drift in words."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from vigil.models import registry
from vigil.models.refund.drift import compare, drift_lines, psi, reference_profile
from vigil.models.refund.model import TrainSettings
from vigil.models.refund.retrain import RetrainSettings, decide, retrain

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


def test_retrain_promotes_first_then_compares_on_the_same_later_rows(tmp_path: Path) -> None:
    fast = RetrainSettings(train=TrainSettings(max_rounds=40, min_rounds=10))
    rows = synthetic_rows(2_400, seed=7)
    first = retrain(
        rows, tmp_path, horizon_ms=7 * DAY, label_source="t", label_cutoff_ms=0, settings=fast
    )
    assert first.verdict.promote and first.promoted_version
    second = retrain(
        rows, tmp_path, horizon_ms=7 * DAY, label_source="t", label_cutoff_ms=0, settings=fast
    )
    # same data, same seed: the challenger is the champion again, so it is not promoted
    assert not second.verdict.promote and "no better" in second.verdict.reason
    assert second.champion_metrics == second.challenger_metrics
    names = [e.name for e in registry.list_versions(tmp_path)]
    assert names == ["refund-challenger", "refund", "refund-challenger"]
    text = "\n".join(second.text_lines())
    assert "drift since the champion's training data" in text


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

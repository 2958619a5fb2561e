"""Metrics against sklearn on small cases; the money threshold against a brute force."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

from vigil.models.tabular.drift import psi
from vigil.models.tabular.metrics import (
    Payoffs,
    auc_pr,
    auc_roc,
    choose_threshold_for_money,
    recall_at_fpr,
)

cases = st.lists(
    st.tuples(st.sampled_from([0.0, 0.1, 0.2, 0.5, 0.7, 0.9, 1.0]), st.booleans()),
    min_size=2,
    max_size=40,
).filter(lambda rows: 0 < sum(y for _, y in rows) < len(rows))


@given(cases)
def test_auc_roc_and_pr_match_sklearn(rows: list[tuple[float, bool]]) -> None:
    s = np.asarray([r[0] for r in rows])
    y = np.asarray([r[1] for r in rows], dtype=float)
    assert auc_roc(s, y) == pytest.approx(roc_auc_score(y, s))
    assert auc_pr(s, y) == pytest.approx(average_precision_score(y, s))


@given(cases, st.sampled_from([0.0, 0.01, 0.1, 0.3]))
def test_recall_at_fpr_matches_roc_curve(rows: list[tuple[float, bool]], limit: float) -> None:
    s = np.asarray([r[0] for r in rows])
    y = np.asarray([r[1] for r in rows], dtype=float)
    fpr, tpr, _ = roc_curve(y, s, drop_intermediate=False)
    assert recall_at_fpr(s, y, limit) == pytest.approx(tpr[fpr <= limit + 1e-12].max())


@given(cases)
def test_money_threshold_is_the_best_cut(rows: list[tuple[float, bool]]) -> None:
    s = np.asarray([r[0] for r in rows])
    y = np.asarray([r[1] for r in rows], dtype=float)
    pay = Payoffs(5, -25, -5)
    chosen = choose_threshold_for_money(s, y, pay)
    best = y.sum() * pay.fn  # flag nothing
    for cut in np.unique(s):
        f = s >= cut
        money = (f & (y == 1)).sum() * 5 - (f & (y == 0)).sum() * 25 - ((~f) & (y == 1)).sum() * 5
        best = max(best, money)
    assert chosen.money == pytest.approx(best)
    f = s >= chosen.threshold
    assert (f & (y == 1)).sum() * 5 - (f & (y == 0)).sum() * 25 - (
        (~f) & (y == 1)
    ).sum() * 5 == pytest.approx(best)


def test_payoffs_parse() -> None:
    assert Payoffs.parse("5,-25,-5") == Payoffs(5, -25, -5)
    with pytest.raises(ValueError, match="TP,FP,FN"):
        Payoffs.parse("5,-25")


def test_psi_zero_for_same_and_large_for_moved() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=5_000)
    assert psi(a, a) == pytest.approx(0.0, abs=1e-9)
    assert psi(a, a + 2.0) > 0.25

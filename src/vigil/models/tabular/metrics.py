"""Ranking quality and money of scores against labels (numpy; checked against sklearn).

- ``auc_roc``: probability that a random fraud scores above a random legitimate row
  (ties count half) — the Mann-Whitney statistic.
- ``auc_pr``: average precision, ``sum_n (R_n - R_{n-1}) P_n`` over the distinct scores
  from high to low (sklearn's definition; no interpolation).
- ``recall_at_fpr``: the best recall among thresholds whose false-positive rate stays at or
  under the limit (1% by default); a threshold never splits equal scores.
- ``choose_threshold_for_money``: the threshold that maximises the money of a confusion
  matrix under payoffs per true positive, false positive and false negative (true negatives
  are worth 0). The same idea as ``vigil.decisions.thresholds.choose_for_money``, with the
  payoffs per row instead of per refund amount. Choose it on one part of the data and
  report it on another: chosen on the data it is reported on, it is optimistic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = [
    "MoneyAtThreshold",
    "Payoffs",
    "auc_pr",
    "auc_roc",
    "auc_roc_interval",
    "choose_threshold_for_money",
    "money_at_threshold",
    "recall_at_fpr",
]

Arr = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Payoffs:
    """Money per outcome (a gain is positive, a cost negative), e.g. DMC 2019: +5, -25, -5."""

    tp: float
    fp: float
    fn: float

    @classmethod
    def parse(cls, text: str) -> Payoffs:
        parts = [p.strip() for p in text.split(",")]
        if len(parts) != 3:
            raise ValueError(f"costs {text!r}: give three numbers TP,FP,FN such as 5,-25,-5")
        try:
            tp, fp, fn = (float(p) for p in parts)
        except ValueError as exc:
            raise ValueError(
                f"costs {text!r}: give three numbers TP,FP,FN such as 5,-25,-5"
            ) from exc
        return cls(tp, fp, fn)


@dataclass(frozen=True)
class MoneyAtThreshold:
    threshold: float
    money: float
    flagged: int
    true_positives: int
    false_positives: int
    false_negatives: int
    #: money when nothing is flagged (every fraud missed), for comparison
    money_flag_nothing: float
    #: the best money reachable on these rows with hindsight
    money_best_possible: float


def _clean(scores: npt.ArrayLike, labels: npt.ArrayLike) -> tuple[Arr, Arr]:
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    if s.shape != y.shape:
        raise ValueError(f"scores ({s.shape}) and labels ({y.shape}) differ in shape")
    return s, (y > 0).astype(np.float64)


def _curve(s: Arr, y: Arr) -> tuple[Arr, Arr, Arr]:
    """Cumulative true and false positives at each distinct score, high to low."""
    order = np.argsort(-s, kind="stable")
    s_sorted, y_sorted = s[order], y[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(s_sorted) != 0), s_sorted.size - 1]
    tps = np.cumsum(y_sorted)[last_of_tie]
    fps = (last_of_tie + 1) - tps
    return tps, fps, s_sorted[last_of_tie]


def auc_roc(scores: npt.ArrayLike, labels: npt.ArrayLike) -> float:
    s, y = _clean(scores, labels)
    n_pos = float(y.sum())
    n_neg = float(y.size - n_pos)
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    _, inverse, counts = np.unique(s, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts).astype(np.float64)
    ranks = (ends - (counts - 1) / 2.0)[inverse]  # average ranks: ties count half
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def auc_roc_interval(
    scores: npt.ArrayLike, labels: npt.ArrayLike, resamples: int = 200, seed: int = 0
) -> tuple[float, float]:
    """A 95% bootstrap interval of ``auc_roc`` (rows resampled with replacement, seeded):
    how far the figure could move on another sample of the same size."""
    s, y = _clean(scores, labels)
    if s.size == 0 or y.sum() == 0 or y.sum() == y.size:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(resamples):
        idx = rng.integers(0, s.size, s.size)
        v = auc_roc(s[idx], y[idx])
        if not np.isnan(v):
            values.append(v)
    lo, hi = np.quantile(np.asarray(values), [0.025, 0.975])
    return float(lo), float(hi)


def auc_pr(scores: npt.ArrayLike, labels: npt.ArrayLike) -> float:
    s, y = _clean(scores, labels)
    n_pos = float(y.sum())
    if n_pos == 0:
        return float("nan")
    tps, fps, _ = _curve(s, y)
    precision = tps / (tps + fps)
    recall = tps / n_pos
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def recall_at_fpr(scores: npt.ArrayLike, labels: npt.ArrayLike, max_fpr: float = 0.01) -> float:
    s, y = _clean(scores, labels)
    n_pos = float(y.sum())
    n_neg = float(y.size - n_pos)
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    tps, fps, _ = _curve(s, y)
    ok = fps / n_neg <= max_fpr + 1e-12
    return float(tps[ok].max() / n_pos) if ok.any() else 0.0


def money_at_threshold(
    scores: npt.ArrayLike, labels: npt.ArrayLike, threshold: float, payoffs: Payoffs
) -> MoneyAtThreshold:
    """Money of flagging every row scored at or above ``threshold``."""
    s, y = _clean(scores, labels)
    flagged = s >= threshold
    tp = int((flagged & (y == 1)).sum())
    fp = int((flagged & (y == 0)).sum())
    fn = int(((~flagged) & (y == 1)).sum())
    best = choose_threshold_for_money(s, y, payoffs)
    return MoneyAtThreshold(
        threshold=threshold,
        money=tp * payoffs.tp + fp * payoffs.fp + fn * payoffs.fn,
        flagged=int(flagged.sum()),
        true_positives=tp,
        false_positives=fp,
        false_negatives=fn,
        money_flag_nothing=float(y.sum()) * payoffs.fn,
        money_best_possible=best.money,
    )


def choose_threshold_for_money(
    scores: npt.ArrayLike, labels: npt.ArrayLike, payoffs: Payoffs
) -> MoneyAtThreshold:
    """The threshold with the most money on these rows (flag nothing if nothing pays)."""
    s, y = _clean(scores, labels)
    n_pos = float(y.sum())
    nothing = n_pos * payoffs.fn
    if s.size == 0:
        return MoneyAtThreshold(float("inf"), nothing, 0, 0, 0, int(n_pos), nothing, nothing)
    tps, fps, cuts = _curve(s, y)
    money = tps * payoffs.tp + fps * payoffs.fp + (n_pos - tps) * payoffs.fn
    i = int(np.argmax(money))
    if money[i] <= nothing:
        threshold = float(np.nextafter(s.max(), np.inf))
        return MoneyAtThreshold(threshold, nothing, 0, 0, 0, int(n_pos), nothing, nothing)
    return MoneyAtThreshold(
        threshold=float(cuts[i]),
        money=float(money[i]),
        flagged=int(tps[i] + fps[i]),
        true_positives=int(tps[i]),
        false_positives=int(fps[i]),
        false_negatives=int(n_pos - tps[i]),
        money_flag_nothing=nothing,
        money_best_possible=float(money[i]),
    )

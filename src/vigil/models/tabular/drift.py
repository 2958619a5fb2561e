"""What changed between the training part and the later part, in words.

Three measures, each per feature or for the label:

- **Label rate**: the share of positives in each part ("fraud rate 10.7% -> 4.7%").
- **Distribution shift** (no labels needed): the population stability index (PSI) of each
  feature, over ten quantile bins of the training part plus one bin for missing values
  (categories: one bin per level). Usual reading: under 0.1 stable, 0.1-0.25 moderate,
  over 0.25 large.
- **Signal shift** (uses the later part's labels, so a diagnostic, never a tuning input):
  each feature alone, scored by the fraud rate of its bin *in the training part*, separates
  fraud with some AUC in the training part; the same scoring on the later part shows
  whether that relationship still holds. A feature the model relies on whose separation
  falls towards 0.5 is the usual reason a random split looks better than a time-ordered one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import msgspec
import numpy as np
import numpy.typing as npt

from vigil.models.tabular.metrics import auc_roc

__all__ = ["DriftReport", "FeatureDrift", "drift_report", "psi"]

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
_EPS = 1e-4


class FeatureDrift(msgspec.Struct, frozen=True):
    name: str
    psi: float
    #: share of the model's total gain, 0..1
    importance: float
    auc_train: float
    auc_test: float
    missing_train: float
    missing_test: float


class DriftReport(msgspec.Struct, frozen=True):
    label_rate_train: float
    label_rate_test: float
    features: list[FeatureDrift]
    sentences: list[str] = []


@dataclass
class _Bins:
    edges: F64 | None  # numeric: inner edges; None: categorical (values are codes)
    levels: F64 = field(default_factory=lambda: np.zeros(0))


def _bin(values: F64, bins: _Bins) -> npt.NDArray[np.int64]:
    """Bin index per value; the last bin holds missing values."""
    missing = np.isnan(values)
    if bins.edges is not None:
        idx = np.searchsorted(bins.edges, np.where(missing, 0.0, values), side="right")
        last = bins.edges.size + 1
    else:
        idx = np.searchsorted(bins.levels, np.where(missing, 0.0, values))
        idx = np.clip(idx, 0, max(bins.levels.size - 1, 0))
        known = bins.levels.size > 0 and True
        if known:
            idx = np.where(bins.levels[idx] == values, idx, bins.levels.size)
        last = bins.levels.size + 1
    return np.where(missing, last, idx).astype(np.int64)


def _make_bins(train: F64, categorical: bool) -> _Bins:
    present = train[~np.isnan(train)]
    if categorical:
        return _Bins(None, np.unique(present))
    if present.size == 0:
        return _Bins(np.zeros(0))
    edges = np.unique(np.quantile(present, np.linspace(0.1, 0.9, 9)))
    return _Bins(edges)


def psi(train: F64, test: F64, categorical: bool = False) -> float:
    """Population stability index of ``test`` against ``train`` (missing values a bin)."""
    bins = _make_bins(train, categorical)
    a, b = _bin(train, bins), _bin(test, bins)
    size = int(max(a.max(initial=0), b.max(initial=0))) + 1
    p = np.bincount(a, minlength=size) / max(a.size, 1) + _EPS
    q = np.bincount(b, minlength=size) / max(b.size, 1) + _EPS
    return float(np.sum((q - p) * np.log(q / p)))


def _signal_auc(
    train: F64, test: F64, y_train: F64, y_test: F64, categorical: bool
) -> tuple[float, float]:
    bins = _make_bins(train, categorical)
    a, b = _bin(train, bins), _bin(test, bins)
    size = int(max(a.max(initial=0), b.max(initial=0))) + 1
    pos = np.bincount(a, weights=y_train, minlength=size)
    cnt = np.bincount(a, minlength=size)
    prior = float(y_train.mean()) if y_train.size else 0.0
    rate = (pos + 10 * prior) / (cnt + 10)  # smoothed: a tiny bin does not look extreme
    return auc_roc(rate[a], y_train), auc_roc(rate[b], y_test)


def _level(value: float) -> str:
    if value < 0.1:
        return "stable"
    if value < 0.25:
        return "moderate shift"
    return "large shift"


def drift_report(
    x_train: F32,
    x_test: F32,
    y_train: F64,
    y_test: F64,
    names: list[str],
    categorical: set[int],
    importance: F64,
    *,
    train_label: str = "the training part",
    test_label: str = "the later part",
) -> DriftReport:
    total = float(importance.sum()) or 1.0
    feats: list[FeatureDrift] = []
    for j, name in enumerate(names):
        a = x_train[:, j].astype(np.float64)
        b = x_test[:, j].astype(np.float64)
        cat = j in categorical
        auc_a, auc_b = _signal_auc(a, b, y_train, y_test, cat)
        feats.append(
            FeatureDrift(
                name=name,
                psi=psi(a, b, cat),
                importance=float(importance[j]) / total,
                auc_train=auc_a,
                auc_test=auc_b,
                missing_train=float(np.isnan(a).mean()) if a.size else 0.0,
                missing_test=float(np.isnan(b).mean()) if b.size else 0.0,
            )
        )
    rate_a = float(y_train.mean()) if y_train.size else float("nan")
    rate_b = float(y_test.mean()) if y_test.size else float("nan")
    report = DriftReport(rate_a, rate_b, feats)
    return msgspec.structs.replace(report, sentences=_sentences(report, train_label, test_label))


def _sentences(report: DriftReport, train_label: str, test_label: str) -> list[str]:
    out: list[str] = []
    a, b = report.label_rate_train, report.label_rate_test
    change = (b / a - 1.0) if a > 0 else 0.0
    how = (
        "about the same"
        if abs(change) < 0.15
        else (f"{'up' if change > 0 else 'down'} {abs(change):.0%}")
    )
    out.append(f"Label rate: {a:.2%} in {train_label}, {b:.2%} in {test_label} ({how}).")
    moved = sorted(report.features, key=lambda f: -f.psi)
    big = [f for f in moved if f.psi >= 0.1][:6]
    if big:
        listed = ", ".join(f"{f.name} (PSI {f.psi:.2f}, {_level(f.psi)})" for f in big)
        out.append(f"Features whose distribution moved most: {listed}.")
    else:
        out.append("No feature's distribution moved much (every PSI under 0.1).")
    ranked = sorted(report.features, key=lambda f: -f.importance)[:8]
    faded = [
        f
        for f in ranked
        if f.importance >= 0.03
        and abs(f.auc_train - 0.5) >= 0.05
        and abs(f.auc_test - 0.5) < 0.6 * abs(f.auc_train - 0.5)
    ]
    if faded:
        listed = ", ".join(
            f"{f.name} ({f.importance:.0%} of the model's gain; alone it separates fraud at "
            f"AUC {f.auc_train:.2f} in {train_label}, {f.auc_test:.2f} in {test_label})"
            for f in faded
        )
        out.append(f"Signal that faded: {listed}.")
    strong = [
        f
        for f in ranked
        if f not in faded and f.importance >= 0.03 and abs(f.auc_test - 0.5) >= 0.05
    ]
    # a signal that separates fraud on the other side later (AUC 0.57 -> 0.37) did not hold:
    # it reversed, and the model reads it the wrong way round there
    held = [f for f in strong if (f.auc_train - 0.5) * (f.auc_test - 0.5) > 0]
    reversed_ = [f for f in strong if (f.auc_train - 0.5) * (f.auc_test - 0.5) < 0]
    for title, group in (("Signal that held", held), ("Signal that reversed", reversed_)):
        if group:
            listed = ", ".join(
                f"{f.name} (AUC {f.auc_train:.2f} -> {f.auc_test:.2f})" for f in group[:4]
            )
            out.append(f"{title}: {listed}.")
    return out

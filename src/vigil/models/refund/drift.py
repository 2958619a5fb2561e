"""Drift between the data a model was trained on and later data, in words an analyst reads.

At training time ``reference_profile`` keeps, per numeric feature, the decile edges of the
training rows and the share of rows in each bin, the median and the share missing; per
categorical feature the share of each level; the label rate; and the same bins for the
model's calibrated score. ``compare`` puts later rows into the same bins and measures the
**population stability index** ``PSI = sum (later - before) * ln(later / before)`` over the
bins (a missing value is its own bin). Rule of thumb, the one credit-risk teams use: below
0.1 stable, 0.1-0.25 moved, above 0.25 moved a lot. A sentence per feature that moved says
which and how much: ``account_age_days moved: median 40 -> 12, PSI 0.31``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
from numpy.typing import NDArray

from vigil.models.refund.features import FEATURES

PSI_MOVED = 0.1
PSI_MOVED_A_LOT = 0.25
_EPS = 1e-4


def _edges(values: NDArray[np.float64]) -> list[float]:
    finite = values[np.isfinite(values)]
    if not len(finite):
        return []
    qs = np.quantile(finite, np.linspace(0.1, 0.9, 9))
    return sorted({float(q) for q in qs})


def _shares(values: NDArray[np.float64], edges: list[float]) -> list[float]:
    """Shares per bin: (-inf, e0], (e0, e1], ..., (e_last, inf), then missing."""
    n = len(values)
    if n == 0:
        return [0.0] * (len(edges) + 2)
    finite = np.isfinite(values)
    idx = np.searchsorted(np.asarray(edges), values[finite], side="left")
    counts = np.bincount(idx, minlength=len(edges) + 1).astype(np.float64)
    return [*(counts / n).tolist(), float((~finite).sum()) / n]


def psi(before: list[float], after: list[float]) -> float:
    """Population stability index of two share vectors over the same bins."""
    total = 0.0
    for b, a in zip(before, after, strict=True):
        b, a = max(b, _EPS), max(a, _EPS)
        total += (a - b) * math.log(a / b)
    return total


def _numeric(df: pl.DataFrame, name: str) -> NDArray[np.float64]:
    out: NDArray[np.float64] = df[name].cast(pl.Float64).fill_null(math.nan).to_numpy()
    return out


def _median(values: NDArray[np.float64]) -> float | None:
    finite = values[np.isfinite(values)]
    return float(np.median(finite)) if len(finite) else None


def reference_profile(df: pl.DataFrame, scores: NDArray[np.float64]) -> dict[str, Any]:
    """What the training data looked like (stored with the model, JSON only)."""
    features: dict[str, Any] = {}
    for f in FEATURES:
        if f.kind == "categorical":
            counts = df[f.name].fill_null("(none)").value_counts()
            n = max(1, len(df))
            features[f.name] = {
                "kind": "categorical",
                "shares": {str(k): int(c) / n for k, c in counts.iter_rows()},
            }
        else:
            v = _numeric(df, f.name)
            edges = _edges(v)
            features[f.name] = {
                "kind": "numeric",
                "edges": edges,
                "shares": _shares(v, edges),
                "median": _median(v),
            }
    score_edges = _edges(scores)
    labels = df["label"].drop_nulls() if "label" in df.columns else pl.Series([], dtype=pl.Int8)
    return {
        "rows": len(df),
        "label_rate": float(labels.mean()) if len(labels) else None,  # type: ignore[arg-type]
        "features": features,
        "score": {
            "edges": score_edges,
            "shares": _shares(scores, score_edges),
            "median": _median(scores),
        },
    }


@dataclass(frozen=True)
class Drift:
    """How far one quantity moved between the reference and later data."""

    name: str
    psi: float
    before: float | None
    after: float | None
    words: str

    @property
    def moved(self) -> bool:
        return self.psi >= PSI_MOVED


def _fmt(x: float | None) -> str:
    if x is None:
        return "n/a"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:.3g}"


def _level(p: float) -> str:
    if p >= PSI_MOVED_A_LOT:
        return "moved a lot"
    if p >= PSI_MOVED:
        return "moved"
    return "stable"


def compare(
    reference: dict[str, Any], df: pl.DataFrame, scores: NDArray[np.float64]
) -> list[Drift]:
    """Drift of every feature, of the score and of the label rate; largest first."""
    out: list[Drift] = []
    for name, ref in reference["features"].items():
        if name not in df.columns:
            continue
        if ref["kind"] == "categorical":
            n = max(1, len(df))
            later = {
                str(k): int(c) / n
                for k, c in df[name].fill_null("(none)").value_counts().iter_rows()
            }
            levels = sorted(set(ref["shares"]) | set(later))
            before = [float(ref["shares"].get(k, 0.0)) for k in levels]
            after = [later.get(k, 0.0) for k in levels]
            p = psi(before, after)
            top = max(levels, key=lambda k: abs(later.get(k, 0.0) - ref["shares"].get(k, 0.0)))
            words = (
                f"{name} {_level(p)}: share of {top} {ref['shares'].get(top, 0.0):.1%} -> "
                f"{later.get(top, 0.0):.1%}, PSI {p:.2f}"
            )
            out.append(Drift(name, p, None, None, words))
            continue
        v = _numeric(df, name)
        p = psi(ref["shares"], _shares(v, ref["edges"]))
        after_median = _median(v)
        words = (
            f"{name} {_level(p)}: median {_fmt(ref['median'])} -> {_fmt(after_median)}, PSI {p:.2f}"
        )
        out.append(Drift(name, p, ref["median"], after_median, words))
    sref = reference["score"]
    p = psi(sref["shares"], _shares(scores, sref["edges"]))
    later_median = _median(scores)
    out.append(
        Drift(
            "score",
            p,
            sref["median"],
            later_median,
            f"model score {_level(p)}: median {_fmt(sref['median'])} -> {_fmt(later_median)}, "
            f"PSI {p:.2f}",
        )
    )
    if reference.get("label_rate") is not None and "label" in df.columns:
        labels = df["label"].drop_nulls()
        if len(labels):
            before_rate = float(reference["label_rate"])
            after_rate = float(labels.mean())  # type: ignore[arg-type]
            rate_psi = psi([1 - before_rate, before_rate], [1 - after_rate, after_rate])
            out.append(
                Drift(
                    "label_rate",
                    rate_psi,
                    before_rate,
                    after_rate,
                    f"fraud label rate {before_rate:.2%} -> {after_rate:.2%} "
                    f"({len(labels):,} labelled refunds), PSI {rate_psi:.3f}",
                )
            )
    return sorted(out, key=lambda d: -d.psi)


def drift_lines(drifts: list[Drift], limit: int = 8) -> list[str]:
    """The sentences worth reading: what moved, largest first, then the label rate and score."""
    moved = [d for d in drifts if d.moved and d.name not in ("score", "label_rate")]
    lines = [d.words for d in moved[:limit]]
    if len(moved) > limit:
        lines.append(f"... and {len(moved) - limit} more features moved")
    if not moved:
        lines.append("no feature moved (every PSI < 0.1)")
    lines += [d.words for d in drifts if d.name in ("score", "label_rate")]
    return lines

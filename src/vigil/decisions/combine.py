"""How several detectors' scores for one refund become one score.

Each detector's strongest finding about a refund counts once (a detector that alerts twice
on the same refund has not found two independent things). The per-detector scores are then
joined by a noisy-OR: ``1 - prod(1 - s)``, the chance that at least one finding is right if
each were an independent calibrated probability. So two moderate findings from different
detectors (an agent far above their peers *and* a refund with no return) make a stronger case
than either alone, one finding alone keeps its own score, and the result never leaves [0, 1].
Independence is an assumption, not a fact: evaluation measures what it buys (docs/decisions.md).
"""

from __future__ import annotations

from collections.abc import Iterable


def combine_scores(scores: Iterable[float]) -> float:
    """Noisy-OR of per-detector scores in [0, 1], rounded to 6 decimals.

    Rounding keeps a lone score as it was (``1 - (1 - 0.3)`` is 0.30000000000000004 in
    floating point) and makes the same evidence give the same bytes everywhere.
    """
    miss = 1.0
    for s in scores:
        miss *= 1.0 - min(1.0, max(0.0, s))
    return round(1.0 - miss, 6)


def lift_only(score: float, cap: float, alone_at: float | None = None) -> float:
    """What a finding that may only *lift* other evidence contributes to the noisy-OR.

    A supervised model's finding is worth ``min(score, cap)``: with ``cap`` below the review
    threshold it never puts a refund into review alone, but it lifts one another detector
    already scores: at review threshold ``r`` the other evidence must reach
    ``1 - (1 - r) / (1 - cap)`` (0.286 for ``cap`` 0.3 and ``r`` 0.5). At or above
    ``alone_at`` (a very high calibrated probability) the score counts in full. ``cap`` 1.0
    means "count in full" (plain noisy-OR). The detector applies this when it emits, so its
    alert score is what the decision and ``vigil evaluate`` count (docs/decisions.md).
    """
    s = min(1.0, max(0.0, score))
    if alone_at is not None and s >= alone_at:
        return s
    return min(s, max(0.0, cap))

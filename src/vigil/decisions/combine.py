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
    floating point) and, with the scores multiplied in one order (sorted: floating-point
    products depend on the order, and the book and the evaluation meet the findings in
    different orders), makes the same evidence give the same bytes everywhere.
    """
    miss = 1.0
    for s in sorted(scores):
        miss *= 1.0 - min(1.0, max(0.0, s))
    return round(1.0 - miss, 6)

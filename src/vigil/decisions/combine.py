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
    """Noisy-OR of per-detector scores in [0, 1]."""
    miss = 1.0
    for s in scores:
        miss *= 1.0 - min(1.0, max(0.0, s))
    return 1.0 - miss

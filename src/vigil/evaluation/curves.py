"""Curves of a ranking of refunds, as plain numbers: precision-recall and money against budget.

Pure functions over refund scores and truth labels (no I/O, no plotting), so each point can be
checked by hand. The ranking is the one ``scoring.raise_under_budget`` uses: highest score
first, ties broken by the earliest alert, then the refund id.

* ``pr_curve``: one point per distinct score, best first. At threshold ``t`` every refund
  scoring at least ``t`` is alerted (no budget): precision is the share of those that are
  positive, recall the share of all positives (alerted or not) among them.
* ``money_curve``: money caught when the ``k`` best-ranked refunds are alerted, for
  ``k = 0 .. k_max``; only the corners of the staircase are kept (draw it as steps-post).
* ``thin``: at most ``n`` points of a long curve, evenly spaced by index, ends kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class PRPoint:
    #: refunds scoring at least ``threshold`` are alerted
    threshold: float
    alerted: int
    true_positives: int
    precision: float
    recall: float


@dataclass(frozen=True)
class MoneyPoint:
    #: the ``alerted`` best-ranked refunds are alerted, ``alerted / refunds`` of all refunds
    alerted: int
    alerted_share: float
    money_caught_cents: int
    #: ``money_caught_cents / total money`` (0 when there is no money to catch)
    money_share: float


def pr_curve(scored: Sequence[tuple[float, bool]], positives: int) -> list[PRPoint]:
    """Precision and recall at every distinct score of ``(score, is_positive)`` pairs.

    ``positives`` counts every positive, including those no alert covers (so recall may stay
    below 1). Empty when there are no scored refunds or no positives at all.
    """
    if positives <= 0 or not scored:
        return []
    ordered = sorted(scored, key=lambda s: -s[0])
    points: list[PRPoint] = []
    tp = 0
    for i, (score, positive) in enumerate(ordered):
        tp += positive
        last_of_score = i + 1 == len(ordered) or ordered[i + 1][0] != score
        if last_of_score:
            n = i + 1
            points.append(PRPoint(score, n, tp, tp / n, tp / positives))
    return points


def money_curve(
    ranked_money_cents: Sequence[int], refunds: int, total_money_cents: int, k_max: int
) -> list[MoneyPoint]:
    """Money caught by alerting the ``k`` best-ranked refunds, for ``k`` in ``0 .. k_max``.

    ``ranked_money_cents`` is the money each ranked refund would catch (0 for one that is not
    fraud), best first; past its end nothing more is caught (the curve stays flat). Only the
    points where the money grows are kept, with ``k = 0`` and ``k = k_max`` as the ends.
    """
    if refunds <= 0:
        return []
    k_max = max(0, k_max)

    def point(k: int, money: int) -> MoneyPoint:
        share = money / total_money_cents if total_money_cents else 0.0
        return MoneyPoint(k, k / refunds, money, share)

    points = [point(0, 0)]
    money = 0
    for k, cents in enumerate(ranked_money_cents[:k_max], start=1):
        if cents:
            money += cents
            points.append(point(k, money))
    if points[-1].alerted != k_max:
        points.append(point(k_max, money))
    return points


def money_at(points: Sequence[MoneyPoint], alerted: int) -> int:
    """Money caught at ``alerted`` refunds on a staircase from ``money_curve``."""
    caught = 0
    for p in points:
        if p.alerted > alerted:
            break
        caught = p.money_caught_cents
    return caught


def thin(points: Sequence[T], n: int) -> list[T]:
    """At most ``n`` (>= 2) of ``points``, evenly spaced by index; the first and last kept."""
    if n < 2:
        raise ValueError(f"thin needs n >= 2 to keep both ends, got {n}")
    if len(points) <= n:
        return list(points)
    last = len(points) - 1
    picks = sorted({round(i * last / (n - 1)) for i in range(n)})
    return [points[i] for i in picks]

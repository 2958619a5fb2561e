"""What a threshold change would do, before anyone proposes it: replayed on the decisions the
server holds (every refund's current score, the index's retention window of event time).

A lead weighing "review from 0.4" should see that it puts 37 more refunds ($12,000) in front
of a person, of which 9 were labelled fraud and 2 legitimate, not find out after approval.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from vigil.decisions.book import RefundDecision


@dataclass(frozen=True, slots=True)
class ThresholdPreview:
    name: str
    current: float
    proposed: float
    #: refunds considered (their current score)
    refunds: int
    #: at or above the threshold now, and at the proposed value
    at_now: int
    at_proposed: int
    #: refunds that would cross it (in: newly at or above; out: no longer), their money,
    #: and how many of the crossing ones a case labelled fraud or legitimate
    moved_in: int
    moved_out: int
    moved_cents: int
    moved_fraud: int
    moved_legitimate: int


def preview(
    decisions: Iterable[RefundDecision],
    name: str,
    current: float,
    proposed: float,
    labels: Mapping[str, str],
) -> ThresholdPreview:
    """The refunds whose score lies between ``current`` and ``proposed`` move band."""
    refunds = at_now = at_proposed = moved_in = moved_out = cents = fraud = legit = 0
    for d in decisions:
        refunds += 1
        now, then = d.score >= current, d.score >= proposed
        at_now += now
        at_proposed += then
        if now == then:
            continue
        if then:
            moved_in += 1
        else:
            moved_out += 1
        cents += d.amount_cents
        label = labels.get(d.refund_id)
        fraud += label == "fraud"
        legit += label == "legitimate"
    return ThresholdPreview(
        name, current, proposed, refunds, at_now, at_proposed, moved_in, moved_out, cents,
        fraud, legit,
    )  # fmt: skip

"""Refund and no return: a refund whose goods were not received back in time.

For every refund that does not wait for the goods (any policy but ``on_receipt``) an
event-time timer is set at refund time + ``wait_ms``. When the watermark passes it, the
detector looks at the order's return parcel as of that deadline (event times only):

* received by the return centre by then: the return exists (it may precede the refund);
* scanned by the carrier but not received: the parcel counts as *on its way* only until
  its route's normal transit time has passed (first scan + ``normal_transit_ms``: a quantile
  of the first scan -> receipt times of the route's received parcels, learned online per
  origin country and destination, with a prior until enough were seen). If that is later
  than the deadline the refund is judged again then; a parcel still not received is scored
  as a return that never arrived. A scan alone is not a return: a fake tracking id scans
  fine and never arrives;
* never scanned: scored as a refund with no return at all.

A scan or receipt that arrives before a timer fires but whose event time is after the
deadline does not count, so the result depends on event times only, never on arrival
order. Refunds on receipt are never alerted: the receipt came first by construction.

Score (logistic of a sum of logits, weights in ``RefundWithoutReturnSettings``): money,
in robust standard deviations of ln(amount) above the *typical refund without return of
the same issuer* (agent or system), so the cheap returnless refunds and small goodwill
gestures that make up normal traffic score low; a manual override and an agent as issuer
add risk; an order never reported delivered subtracts strongly (a parcel the carrier lost
is a common, honest reason for a high-value refund without return, while "item not
received" claims by rings and corrupt agents are made on orders the carrier *did* deliver),
and so does a return parcel that was scanned and then went quiet (carriers lose a fraction
of a percent of return parcels; a scanned parcel that the carrier reports *delivered* and
the centre never received is not discounted, and ``empty_box`` weighs where it went).
The money term is capped (``max_money_z``), so that a very dear lost parcel cannot
outweigh the missing delivery on amount alone. The typical amount is learned from the refunds
that reached their deadline without a return (median and inter-quartile spread of a
decayed histogram, robust to the few fraudulent ones among them), with a prior until
enough have been seen.
"""

from __future__ import annotations

import math
from typing import ClassVar

from vigil.detectors.base import Signal, clamp01
from vigil.detectors.sequences._common import (
    RefundFacts,
    days,
    logistic,
    money,
    refund_signal,
)
from vigil.detectors.sequences.refund_stages import refund_stages
from vigil.detectors.settings import RefundWithoutReturnSettings
from vigil.state.keyed.pipeline import StagePipeline

REASON_NO_RETURN = "no_return_scan_or_receipt"
REASON_NOT_RECEIVED = "return_scanned_but_never_received"
REASON_DELIVERED_NOT_RECEIVED = "return_delivered_per_carrier_but_never_received"
REASON_MANUAL_OVERRIDE = "manual_override"
REASON_AGENT_ISSUED = "agent_issued"
REASON_HIGH_AMOUNT = "amount_above_typical_no_return_refund"
REASON_RETURNLESS = "returnless_policy"
REASON_NOT_DELIVERED = "order_not_delivered"
REASON_YOUNG_ACCOUNT = "young_account"
REASON_REPEAT_CUSTOMER = "same_agent_refunded_customer_before"

NAME = "refund_without_return"
VERSION = 4


class RefundWithoutReturnDetector(StagePipeline):
    """A refund with no carrier scan and no warehouse receipt within ``wait_ms``: the five
    stages of ``refund_stages`` (order, route, customer, agent|customer, issuer) as one
    detector."""

    name: ClassVar[str] = NAME
    version: ClassVar[int] = VERSION

    def __init__(self, settings: RefundWithoutReturnSettings | None = None) -> None:
        s = settings or RefundWithoutReturnSettings()
        super().__init__(refund_stages(s), s)


def score_unreturned(
    s: RefundWithoutReturnSettings,
    facts: RefundFacts,
    delivered: bool,
    parcel: str,
    young: bool,
    repeat: bool,
    mean: float,
    sd: float,
    deadline: int,
    earlier: tuple[tuple[str, int], ...] = (),
) -> Signal | None:
    """The finding on one refund that reached its deadline unreturned (None: below
    ``min_emit_score``). ``earlier``: the same agent's earlier unreturned refunds to this
    customer, which the finding covers too (one pattern, one alert)."""
    refund_id, order_id, customer_id, amount, policy, issued_by, agent_id, _, _ = facts
    z = (math.log(max(1, amount)) - mean) / sd
    logit = s.bias + s.money_weight * min(z, s.max_money_z)
    if parcel == "lost":
        reasons = [REASON_NOT_RECEIVED]
        logit += s.lost_in_transit_weight
        what = "was scanned by the carrier and then never delivered or received"
    elif parcel == "delivered":
        reasons = [REASON_NOT_RECEIVED, REASON_DELIVERED_NOT_RECEIVED]
        what = "was reported delivered by the carrier but never received by the centre"
    else:
        reasons = [REASON_NO_RETURN]
        what = f"had no carrier scan or warehouse receipt within {days(s.wait_ms)}"
    if z >= 2.0:
        reasons.append(REASON_HIGH_AMOUNT)
    if policy == "manual_override":
        logit += s.manual_override_weight
        reasons.append(REASON_MANUAL_OVERRIDE)
    if issued_by == "agent":
        logit += s.agent_issued_weight
        reasons.append(REASON_AGENT_ISSUED)
    if policy == "returnless":
        reasons.append(REASON_RETURNLESS)
    if not delivered:
        logit += s.undelivered_weight
        reasons.append(REASON_NOT_DELIVERED)
    if young:
        logit += s.young_account_weight
        reasons.append(REASON_YOUNG_ACCOUNT)
    if repeat:
        logit += s.repeat_customer_weight
        reasons.append(REASON_REPEAT_CUSTOMER)
    score = clamp01(logistic(logit))
    if score < s.min_emit_score:
        return None
    by = f"agent {agent_id}" if issued_by == "agent" else "the system"
    subject = "its return parcel " if parcel else ""
    explanation = (
        f"refund {refund_id} of {money(amount)} on order {order_id} for customer "
        f"{customer_id} ({policy} by {by}): {subject}{what}; typical refund without a "
        f"return by {issued_by} "
        f"{money(round(math.exp(mean)))} (z {z:.1f})"
        + ("; account signed up recently" if young else "")
        + (f"; agent {agent_id} refunded this customer before" if repeat else "")
        + (
            " ("
            + ", ".join(f"{rid} of {money(cents)}" for rid, cents in earlier)
            + ": never returned either)"
            if earlier
            else ""
        )
    )
    return refund_signal(NAME, VERSION, facts, score, reasons, explanation, deadline, also=earlier)

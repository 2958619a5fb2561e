"""``request_risk``: the refund request judged on its own profile, as it is asked.

The pattern of refund-as-a-service at the moment of asking: a dear refund that pays before
anything comes back (a manual override, "returnless", "item not received" on a parcel the
carrier delivered), asked for by an agent, for an account made for the job, by an agent
who has refunded this customer before; a request that refunds more than the order cost;
a customer or agent already labelled fraud. Honest look-alikes pull the other way: a
parcel the carrier never delivered (lost: an honest reason for a dear refund without
return), a return already on its way (a label, a scan, a receipt), an established account.

Score: the logistic of a sum of logits (``RequestRiskSettings``). The money term counts
standard deviations of ln(amount) above the issuer's typical request, learned from the
requests seen so far (a prior until there are enough).
"""

from __future__ import annotations

import math

from vigil.detectors.base import Signal
from vigil.detectors.request._signal import money, request_signal
from vigil.detectors.sequences._common import logistic
from vigil.detectors.settings import RequestRiskSettings
from vigil.events.schemas import RefundRequested
from vigil.features.facts import ParcelFacts, RequestFacts, goods_back

REQUEST_RISK = "request_risk"
REASON_MANUAL_OVERRIDE = "manual_override"
REASON_RETURNLESS = "returnless_policy"
REASON_AGENT = "agent_issued"
REASON_HIGH_AMOUNT = "amount_above_typical_request"
REASON_NO_PARCEL = "nothing_returned_yet"
REASON_INR_DELIVERED = "not_received_claim_on_delivered_order"
REASON_UNDELIVERED = "order_not_delivered"
REASON_YOUNG = "young_account"
REASON_FRESH_ORDER = "ordered_right_after_signup"
REASON_REPEAT = "same_agent_refunded_customer_before"
REASON_OVER_REFUND = "refunds_exceed_order_total"
REASON_AGENT_FLAGGED = "agent_flagged_against_peers"
REASON_AGENT_RISKY_AGAIN = "agent_repeats_risky_refunds"
#: return reasons that mean nothing is sent back
NOT_RECEIVED_REASONS = frozenset({"item_not_received", "not_received", "inr", "dna"})


def profile_finding(
    req: RefundRequested, facts: RequestFacts, s: RequestRiskSettings, agent_flag: float = 0.0
) -> Signal | None:
    amount = req.amount_cents
    if amount < s.min_amount_cents:
        return None
    t = req.event_time_ms
    order = facts.order(req.order_id, t)
    customer = facts.customer(req.customer_id, t)
    reasons: list[str] = []
    notes: list[str] = []
    mean, sd = typical_amount(facts, req.issued_by, s)
    z = (math.log(max(1, amount)) - mean) / sd
    logit = s.bias + s.money_weight * max(-1.0, min(z, s.max_money_z))
    if z >= 2.0:
        reasons.append(REASON_HIGH_AMOUNT)
    notes.append(f"{money(amount)} ({z:+.1f} sd against the typical {req.issued_by} request)")
    if req.policy == "manual_override":
        logit += s.manual_override_weight
        reasons.append(REASON_MANUAL_OVERRIDE)
    elif req.policy == "returnless" and amount >= s.returnless_min_cents:
        logit += s.returnless_weight
        reasons.append(REASON_RETURNLESS)
    if req.issued_by == "agent":
        logit += s.agent_issued_weight
        reasons.append(REASON_AGENT)
    parcel = order.parcel if order is not None else None
    claim = (req.reason or (parcel.reason if parcel else None) or "").lower()
    not_received = claim in NOT_RECEIVED_REASONS
    in_view = return_in_view(req, parcel, not_received)
    if not in_view and req.policy != "on_receipt":
        logit += s.no_parcel_weight
        reasons.append(REASON_NO_PARCEL)
        notes.append("nothing sent back")
    if parcel is not None and goods_back(parcel.receipt_by(t)):
        logit += s.returned_matched_weight
        notes.append("the return was received and its items matched")
    if order is not None and order.placed_ms is not None:
        if order.delivered_ms is None or order.delivered_ms > t:
            if not in_view:
                logit += s.undelivered_weight
                reasons.append(REASON_UNDELIVERED)
                notes.append("order never reported delivered")
        elif not_received:
            logit += s.not_received_but_delivered_weight
            reasons.append(REASON_INR_DELIVERED)
            notes.append("'not received' on an order reported delivered")
        # paid already on the order, but for this refund itself (its issue event may arrive
        # before its request: producers are not ordered)
        own = facts.refund(req.refund_id, t)
        paid = order.issued_cents
        if own is not None and own.issued_ms is not None:
            paid -= own.amount_cents
        if paid + amount > order.total_cents > 0:
            logit += s.over_refund_weight
            reasons.append(REASON_OVER_REFUND)
            notes.append(
                f"{money(paid)} refunded already and {money(amount)} asked "
                f"against an order of {money(order.total_cents)}"
            )
    young = False
    if customer is not None:
        signup = customer.signup_ms
        if signup is not None and t - s.young_account_ms <= signup <= t:
            young = True
            logit += s.young_account_weight
            reasons.append(REASON_YOUNG)
            notes.append(f"account {(t - signup) / 86_400_000:.0f} days old")
            placed = order.placed_ms if order is not None else None
            if placed is not None and signup <= placed < signup + s.fresh_order_ms:
                logit += s.fresh_order_weight
                reasons.append(REASON_FRESH_ORDER)
                notes.append(f"ordered {(placed - signup) / 3_600_000:.0f} h after sign-up")
    if req.agent_id is not None:
        pair = facts.pair(req.agent_id, req.customer_id, t)
        if pair is not None and any(t - s.repeat_window_ms <= x < t for x in pair.times):
            logit += s.repeat_customer_weight
            reasons.append(REASON_REPEAT)
            notes.append(f"agent {req.agent_id} asked for a refund for this customer before")
        risky = young or z >= s.risky_min_z
        if risky and not in_view and req.policy in ("manual_override", "returnless"):
            earlier = risky_unreturned_before(facts, req.agent_id, t, s)
            days = s.agent_risky_window_ms // 86_400_000
            if earlier:
                reasons.append(REASON_AGENT_RISKY_AGAIN)
                refunds = "refund" if earlier == 1 else "refunds"
                notes.append(
                    f"agent {req.agent_id} made {earlier} other dear or young-account "
                    f"{refunds} with nothing sent back in the last {days} days"
                )
            else:
                logit += s.agent_first_risky_weight
                notes.append(
                    f"agent {req.agent_id}'s first dear or young-account refund with nothing "
                    f"sent back in {days} days (counts less)"
                )
        if agent_flag > 0.0:
            logit += s.agent_flagged_weight * agent_flag
            reasons.append(REASON_AGENT_FLAGGED)
            notes.append(f"agent {req.agent_id} flagged against team peers ({agent_flag:.2f})")
    score = logistic(logit)
    if score < s.min_emit_score:
        return None
    explanation = (
        f"refund {req.refund_id} on order {req.order_id} for customer {req.customer_id} "
        f"({req.policy} by {req.agent_id or 'the system'}): " + "; ".join(notes)
    )
    return request_signal(REQUEST_RISK, req, score, reasons, explanation)


def risky_unreturned_before(
    facts: RequestFacts, agent_id: str, t: int, s: RequestRiskSettings
) -> int:
    """How many of the agent's risky requests in the window before ``t`` were on a delivered
    order and have had nothing sent back by ``t``: no label, no scan, no receipt (a lost
    parcel is an honest reason; a return on its way is not this).

    Risky as this profile calls a request risky: for an account young when it was asked
    (``young_account_ms``), or at least ``risky_min_z`` sd above the typical agent request
    (as typical is now). The facts remember a wider set of candidates
    (``AgentFacts.risky_requests``: accounts up to 90 days old, 1 sd above the typical then),
    so what counts follows these settings, not the facts' constants."""
    agent = facts.agent(agent_id, t)
    if agent is None:
        return 0
    mean, sd = typical_amount(facts, "agent", s)
    n = 0
    for x, refund_id in agent.risky_requests:
        if not t - s.agent_risky_window_ms <= x < t:
            continue
        refund = facts.refund(refund_id, t)
        if refund is None:
            continue
        customer = facts.customer(refund.customer_id, t)
        signup = customer.signup_ms if customer is not None else None
        young = signup is not None and signup <= x <= signup + s.young_account_ms
        dear = (math.log(max(1, refund.amount_cents)) - mean) / sd >= s.risky_min_z
        if not (young or dear):
            continue
        order = facts.order(refund.order_id, t)
        if order is None or order.delivered_ms is None or order.delivered_ms > x:
            continue
        parcel = order.parcel
        if parcel is not None and (
            (parcel.label_ms is not None and parcel.label_ms <= t)
            or parcel.receipt_by(t) is not None
            or any(sc[0] <= t for sc in parcel.scans)
        ):
            continue
        n += 1
    return n


def return_in_view(req: RefundRequested, parcel: ParcelFacts | None, not_received: bool) -> bool:
    """A return is on its way: a label, a scan or a receipt so far, or a request for a
    physical return (not a 'not received' claim, not a returnless refund)."""
    t = req.event_time_ms
    return parcel is not None and (
        parcel.label_ms is not None
        or parcel.received is not None
        or any(sc[0] <= t for sc in parcel.scans)
        or (parcel.requested_ms is not None and not not_received and req.policy != "returnless")
    )


def typical_amount(facts: RequestFacts, issuer: str, s: RequestRiskSettings) -> tuple[float, float]:
    """Mean and sd of ln(amount) of the issuer's requests so far (a prior until enough)."""
    amounts = facts.amounts(issuer)
    if amounts is None or amounts.n < s.baseline_min_requests:
        prior = s.prior_agent_typical_cents if issuer == "agent" else s.prior_system_typical_cents
        return math.log(prior), s.prior_log_sd
    return amounts.typical()

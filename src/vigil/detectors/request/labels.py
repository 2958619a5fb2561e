"""``labelled_fraud`` at request time: a person already found this customer, or this agent,
to be fraud.

Labels come back as events (a blocked hold's and a fraud case's ``investigation_outcome``,
an analyst's decision on an alert, a chargeback; ``vigil.features.facts``). A refund asked
for a customer labelled fraud more often than legitimate, or issued by such an agent, is held
for a person whatever its amount: the request's own profile would let a small one through,
and "nothing speaks against it" would be untrue.
"""

from __future__ import annotations

from vigil.detectors.base import Signal
from vigil.detectors.request._signal import request_signal
from vigil.detectors.settings import LabelSettings
from vigil.events.schemas import RefundRequested
from vigil.features.facts import RequestFacts

DETECTOR = "labelled_fraud"
REASON_CUSTOMER_LABEL = "customer_labelled_fraud_before"
REASON_AGENT_LABEL = "agent_labelled_fraud_before"


def label_finding(req: RefundRequested, facts: RequestFacts, s: LabelSettings) -> Signal | None:
    t = req.event_time_ms
    reasons: list[str] = []
    notes: list[str] = []
    customer = facts.customer(req.customer_id, t)
    if customer is not None and customer.fraud_labels > customer.legit_labels:
        reasons.append(REASON_CUSTOMER_LABEL)
        notes.append(
            f"customer {req.customer_id} was labelled fraud {customer.fraud_labels}x "
            f"(legitimate {customer.legit_labels}x)"
        )
    agent = facts.agent(req.agent_id, t)
    if agent is not None and agent.fraud_labels > agent.legit_labels:
        reasons.append(REASON_AGENT_LABEL)
        notes.append(f"agent {req.agent_id} was labelled fraud {agent.fraud_labels}x")
    if not reasons:
        return None
    explanation = f"refund {req.refund_id}: " + "; ".join(notes)
    return request_signal(DETECTOR, req, s.score, reasons, explanation)

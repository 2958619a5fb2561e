"""The request model's features: one row per refund request, from the facts known as it is asked.

The refund model (``vigil.models.refund``) reads a refund a week after it was paid, when the
return has had time to come back; none of that exists when the refund is *asked for*. The
request model is trained on rows taken at that very instant, by the same function the
runtime and the API call before they answer (``vigil.decisions.request``): the request's
own profile, its order's lifecycle so far, the customer's and the agent's history, and the
strongest alert about the agent. Same facts, same row, whether training or answering.

It reads the profile ``request_risk`` reads, with more of the history, and nothing of the
session or parcel: those have their own findings (``session_risk``, ``empty_box``), which
the decision combines with this one; counting them twice would make a new laptop twice as
damning.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal

from vigil.detectors.request.profile import (
    NOT_RECEIVED_REASONS,
    return_in_view,
    risky_unreturned_before,
    typical_amount,
)
from vigil.detectors.settings import RequestRiskSettings
from vigil.events.schemas import RefundRequested
from vigil.features.facts import RequestFacts
from vigil.models.words import NAN, Value, as_float, count_words, days_words, is_known, yes_no

__all__ = ["FEATURE_BY_NAME", "REQUEST_FEATURES", "RequestFeature", "Value", "request_features"]

DAY_MS: Final = 86_400_000
HOUR_MS: Final = 3_600_000

FeatureKind = Literal["numeric", "categorical"]


@dataclass(frozen=True)
class RequestFeature:
    """One input of the request model, and how an analyst reads a value of it."""

    name: str
    kind: FeatureKind
    description: str
    words: Callable[[Value], str]
    #: what an unknown value means, in words
    unknown: str = "unknown"

    def say(self, v: Value) -> str:
        return self.words(v) if is_known(v) else f"{self.description}: {self.unknown}"


REQUEST_FEATURES: Final[tuple[RequestFeature, ...]] = (
    RequestFeature("amount_usd", "numeric", "amount asked", lambda v: f"${as_float(v):,.0f} asked"),
    RequestFeature(
        "amount_z",
        "numeric",
        "standard deviations of ln(amount) above the issuer's typical request",
        lambda v: f"{as_float(v):+.1f} sd against the typical request",
    ),
    RequestFeature("policy", "categorical", "refund policy", lambda v: f"policy {v}"),
    RequestFeature(
        "issued_by_agent",
        "numeric",
        "1 if an agent asks",
        yes_no("asked by an agent", "asked by the system"),
    ),
    RequestFeature(
        "not_received_claim",
        "numeric",
        "1 if the claim is 'item not received'",
        yes_no("'item not received' claimed", "no 'not received' claim"),
    ),
    RequestFeature(
        "category",
        "categorical",
        "category of the order's dearest item",
        lambda v: f"{v} order",
        "order not seen",
    ),
    RequestFeature(
        "order_total_usd",
        "numeric",
        "order total",
        lambda v: f"order of ${as_float(v):,.0f}",
        "order not seen",
    ),
    RequestFeature(
        "paid_share",
        "numeric",
        "(refunds already paid on the order + this one) / order total",
        lambda v: f"{as_float(v):.0%} of the order refunded with this one",
        "order not seen",
    ),
    RequestFeature(
        "order_age_days",
        "numeric",
        "days from order to request",
        lambda v: f"asked {days_words(v)} after the order",
        "order not seen",
    ),
    RequestFeature(
        "delivered",
        "numeric",
        "1 if the carrier reported the order delivered",
        yes_no("order reported delivered", "order not reported delivered"),
        "order not seen",
    ),
    RequestFeature(
        "days_since_delivery",
        "numeric",
        "days from delivery to request",
        lambda v: f"asked {days_words(v)} after delivery",
        "not delivered",
    ),
    RequestFeature(
        "return_in_view",
        "numeric",
        "1 if a return is on its way (request for a physical return, label, scan or receipt)",
        yes_no("a return is on its way", "nothing sent back"),
    ),
    RequestFeature(
        "account_age_days",
        "numeric",
        "days since sign-up",
        lambda v: f"account {days_words(v)} old",
        "signed up before the data",
    ),
    RequestFeature(
        "order_hours_after_signup",
        "numeric",
        "hours from sign-up to the order",
        lambda v: f"ordered {as_float(v):.0f} h after sign-up",
        "signed up before the data",
    ),
    RequestFeature(
        "customer_orders",
        "numeric",
        "orders the customer placed so far",
        lambda v: "customer's " + count_words(v, "order", "orders"),
    ),
    RequestFeature(
        "customer_order_usd",
        "numeric",
        "what the customer ordered so far",
        lambda v: f"${as_float(v):,.0f} ordered by the customer",
    ),
    RequestFeature(
        "customer_requests_before",
        "numeric",
        "refunds the customer asked for before",
        lambda v: count_words(v, "earlier refund request", "earlier refund requests"),
    ),
    RequestFeature(
        "customer_requested_share",
        "numeric",
        "refund money asked for before / money ordered",
        lambda v: f"{as_float(v):.0%} of their orders asked back before",
        "no orders seen",
    ),
    RequestFeature(
        "customer_labels",
        "numeric",
        "fraud labels minus legitimate labels about the customer so far",
        lambda v: count_words(v, "net fraud label", "net fraud labels") + " on the customer",
    ),
    RequestFeature(
        "agent_requests_before",
        "numeric",
        "refunds the agent asked for before",
        lambda v: "agent's " + count_words(v, "earlier request", "earlier requests"),
        "asked by the system",
    ),
    RequestFeature(
        "agent_manual_share",
        "numeric",
        "share of the agent's requests that were overrides or returnless",
        lambda v: f"{as_float(v):.0%} of the agent's requests manual",
        "asked by the system",
    ),
    RequestFeature(
        "agent_labels",
        "numeric",
        "fraud labels minus legitimate labels about the agent so far",
        lambda v: count_words(v, "net fraud label", "net fraud labels") + " on the agent",
        "asked by the system",
    ),
    RequestFeature(
        "pair_requests_before",
        "numeric",
        "refunds this agent asked for this customer before (in the repeat window)",
        lambda v: "agent asked for this customer " + count_words(v, "time", "times") + " before",
        "asked by the system",
    ),
    RequestFeature(
        "agent_risky_before",
        "numeric",
        "the agent's other dear or young-account refunds with nothing sent back (risky window)",
        lambda v: (
            "agent's "
            + count_words(v, "other risky refund", "other risky refunds")
            + " with nothing sent back"
        ),
        "asked by the system",
    ),
    RequestFeature(
        "agent_flag",
        "numeric",
        "strongest alert so far about the agent's refunds against their peers'",
        lambda v: f"agent flagged against peers ({as_float(v):.2f})",
    ),
)
FEATURE_BY_NAME: Final = {f.name: f for f in REQUEST_FEATURES}


def request_features(
    req: RefundRequested, facts: RequestFacts, s: RequestRiskSettings, agent_flag: float = 0.0
) -> list[Value]:
    """The row of ``req`` (in ``REQUEST_FEATURES`` order) from what has arrived before it."""
    t = req.event_time_ms
    amount = req.amount_cents
    mean, sd = typical_amount(facts, req.issued_by, s)
    order = facts.order(req.order_id, t)
    customer = facts.customer(req.customer_id, t)
    parcel = order.parcel if order is not None else None
    claim = (req.reason or (parcel.reason if parcel else None) or "").lower()
    not_received = claim in NOT_RECEIVED_REASONS
    category: str | None = None
    total = paid_share = order_age = delivered = since_delivery = NAN
    if order is not None and order.placed_ms is not None:
        if order.items:
            dearest = max(order.items, key=lambda i: i.price_cents * i.quantity)
            category = dearest.category
        total = order.total_cents / 100.0
        paid = order.issued_cents
        own = facts.refund(req.refund_id, t)
        if own is not None and own.issued_ms is not None:
            paid -= own.amount_cents  # its own payout, arrived before its request
        paid_share = (paid + amount) / order.total_cents if order.total_cents else NAN
        order_age = (t - order.placed_ms) / DAY_MS
        is_delivered = order.delivered_ms is not None and order.delivered_ms <= t
        delivered = float(is_delivered)
        if is_delivered:
            assert order.delivered_ms is not None
            since_delivery = (t - order.delivered_ms) / DAY_MS
    age = after_signup = NAN
    orders = order_usd = requests = requested_share = labels = 0.0
    if customer is not None:
        if customer.signup_ms is not None and customer.signup_ms <= t:
            age = (t - customer.signup_ms) / DAY_MS
            if order is not None and order.placed_ms is not None:
                after_signup = (order.placed_ms - customer.signup_ms) / HOUR_MS
        orders = float(customer.orders)
        order_usd = customer.order_cents / 100.0
        requests = float(customer.requests)
        requested_share = (
            customer.requested_cents / customer.order_cents if customer.order_cents else NAN
        )
        labels = float(customer.fraud_labels - customer.legit_labels)
    a_requests = a_manual = a_labels = pair_before = risky_before = NAN
    if req.agent_id is not None:
        a_requests = a_manual = a_labels = pair_before = 0.0
        risky_before = float(risky_unreturned_before(facts, req.agent_id, t, s))
        agent = facts.agent(req.agent_id, t)
        if agent is not None:
            a_requests = float(agent.requests)
            a_manual = agent.manual_requests / agent.requests if agent.requests else 0.0
            a_labels = float(agent.fraud_labels - agent.legit_labels)
        pair = facts.pair(req.agent_id, req.customer_id, t)
        if pair is not None:
            pair_before = float(sum(1 for x in pair.times if t - s.repeat_window_ms <= x < t))
    return [
        amount / 100.0,
        (math.log(max(1, amount)) - mean) / sd,
        req.policy,
        float(req.issued_by == "agent"),
        float(not_received),
        category,
        total,
        paid_share,
        order_age,
        delivered,
        since_delivery,
        float(return_in_view(req, parcel, not_received)),
        age,
        after_signup,
        orders,
        order_usd,
        requests,
        requested_share,
        labels,
        a_requests,
        a_manual,
        a_labels,
        pair_before,
        risky_before,
        agent_flag,
    ]

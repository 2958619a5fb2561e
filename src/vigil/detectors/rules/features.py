"""Named features every rule file can use by name, defined in the rule language itself.

A rule file can add its own under ``features:``; a file's feature of the same name wins.
Each stored rule version keeps the text of the features it used, so a version means the
same thing later even if these definitions change.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

__all__ = ["BUILTIN_FEATURES"]

BUILTIN_FEATURES: Mapping[str, str] = MappingProxyType(
    {
        # days since the customer signed up (null when no signup was seen)
        "account_age_days": "(event_time_ms - customer_signup.event_time_ms) / 1d",
        # refunds issued by the event's agent in the last hour / day (the event included)
        "agent_refunds_1h": "count(refund_issued by agent_id within 1h)",
        "agent_refunds_24h": "count(refund_issued by agent_id within 24h)",
        "agent_manual_refunds_24h": (
            'count(refund_issued where policy == "manual_override" by agent_id within 24h)'
        ),
        # the customer's refunds in the last 30 days: how many, and how much money
        "customer_refunds_30d": "count(refund_issued by customer_id within 30d)",
        "customer_refund_cents_30d": "sum(refund_issued.amount_cents by customer_id within 30d)",
        # the order the event belongs to
        "order_total_cents": "order_placed.total_cents",
        # the internal-tool session the event was made in
        "session_mfa": "agent_session_started.mfa",
    }
)

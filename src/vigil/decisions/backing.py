"""Findings that count only when another detector backs them up.

The supervised refund model sees every refund, and on its own it cannot tell a corrupt
agent's refund from an honest "not received" claim on a parcel the carrier reported
delivered (porch theft): both are dear, recent and unreturned. What it adds is a ranking
*among the refunds of an agent someone already suspects*. An insider's refunds to
long-standing accounts are the refunds the rules miss (``agent_refunds`` lists only refunds
to young or repeat accounts), and there the model tells the dear fraudulent ones from the
rest.

So a finding of a ``BACKED_ONLY_DETECTORS`` detector counts in the decision only when one of
these holds:

* its refund's agent has been flagged by a ``AGENT_FLAG_DETECTORS`` finding (an agent alert,
  or a session alert naming the agent), at any time;
* its refund has a finding of a ``BACKER_DETECTORS`` detector, which sees something the model
  does not (agent behaviour, sessions, rings, parcel weights).

It never counts because of ``refund_without_return``: that detector and the model both see
"no return", and counting it twice is what raised honest porch-theft claims. Until it is
backed the finding stays listed with the refund's decision but adds nothing to its score;
when the agent is flagged later, the ``DecisionBook`` revises the refund's decision, as it
does for any late evidence. ``vigil evaluate`` applies the same rule to an alerts file
(``backed_alerts``), so its figures are the decision's.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Final

from vigil.detectors.base import Alert, refunds_of

__all__ = [
    "AGENT_FLAG_DETECTORS",
    "BACKED_ONLY_DETECTORS",
    "BACKER_DETECTORS",
    "backed_alerts",
    "flagged_agent",
]

BACKED_ONLY_DETECTORS: Final = frozenset({"refund_model"})
AGENT_FLAG_DETECTORS: Final = frozenset({"agent_refunds", "session_risk"})
BACKER_DETECTORS: Final = frozenset({"agent_refunds", "session_risk", "fraud_ring", "empty_box"})


def flagged_agent(alert: Alert) -> str | None:
    """The agent an alert flags, if it is an agent or session finding about one."""
    if alert.detector not in AGENT_FLAG_DETECTORS:
        return None
    if alert.agent_id:
        return alert.agent_id
    if alert.subject_type == "agent":  # agent alerts are per window: ``ag-7@2026-01-22...``
        return alert.subject_id.split("@", 1)[0]
    return None


def backed_alerts(alerts: Sequence[Alert]) -> list[Alert]:
    """``alerts`` without the backed-only findings that nothing backs, at the end of the
    stream: what the runtime's decisions count once every alert has arrived."""
    flagged = {agent for a in alerts if (agent := flagged_agent(a)) is not None}
    backed_refunds = {
        rid for a in alerts if a.detector in BACKER_DETECTORS for rid in refunds_of(a)
    }
    return [a for a in alerts if _counts(a, flagged, backed_refunds)]


def _counts(alert: Alert, flagged: set[str], backed_refunds: set[str]) -> bool:
    if alert.detector not in BACKED_ONLY_DETECTORS:
        return True
    if alert.agent_id is not None and alert.agent_id in flagged:
        return True
    return any(rid in backed_refunds for rid in refunds_of(alert))


def backer_present(detectors: Iterable[str]) -> bool:
    return any(d in BACKER_DETECTORS for d in detectors)

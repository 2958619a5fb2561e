"""The case status-transition table: every move a case may make, and nothing else.

=====================  =================================================
from                   to
=====================  =================================================
new                    triage, investigating, resolved_fraud, resolved_legitimate
triage                 investigating, resolved_fraud, resolved_legitimate
investigating          triage, resolved_fraud, resolved_legitimate
resolved_fraud         investigating (reopen)
resolved_legitimate    investigating (reopen)
=====================  =================================================

A case is resolved only by a label (``service.label``), which records the outcome and emits
the label events; a new case can be labelled at once (an analyst who sees the answer should
not have to move it through triage first); ``service.transition`` moves between the open
states and reopens.
Reopening needs ``cases:reopen`` (leads and admins): an analyst cannot quietly undo a label.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

from vigil.errors import IllegalTransitionError

__all__ = [
    "OPEN",
    "RESOLVED",
    "STATUSES",
    "TRANSITIONS",
    "CaseStatus",
    "check_transition",
    "is_reopen",
]

CaseStatus = Literal["new", "triage", "investigating", "resolved_fraud", "resolved_legitimate"]
STATUSES: Final[tuple[CaseStatus, ...]] = get_args(CaseStatus)
RESOLVED: Final[frozenset[CaseStatus]] = frozenset({"resolved_fraud", "resolved_legitimate"})
OPEN: Final[frozenset[CaseStatus]] = frozenset(STATUSES) - RESOLVED

# fmt: off
TRANSITIONS: Final[dict[CaseStatus, frozenset[CaseStatus]]] = {
    "new":                 frozenset({"triage", "investigating", "resolved_fraud",
                                      "resolved_legitimate"}),
    "triage":              frozenset({"investigating", "resolved_fraud", "resolved_legitimate"}),
    "investigating":       frozenset({"triage", "resolved_fraud", "resolved_legitimate"}),
    "resolved_fraud":      frozenset({"investigating"}),
    "resolved_legitimate": frozenset({"investigating"}),
}
# fmt: on


def check_transition(case_id: int, from_status: str, to_status: str) -> CaseStatus:
    """``to_status`` if the table allows it from ``from_status``; else the error naming both."""
    allowed = TRANSITIONS.get(from_status, frozenset())  # type: ignore[call-overload]
    if to_status not in allowed:
        names = ", ".join(s for s in STATUSES if s in allowed) or "nowhere"
        raise IllegalTransitionError(case_id, from_status, to_status, names)
    return to_status  # type: ignore[return-value]


def is_reopen(from_status: str, to_status: str) -> bool:
    return from_status in RESOLVED and to_status not in RESOLVED

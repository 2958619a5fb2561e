"""Holds as the console's pages show them: each with why this user may not act on it.

Shared by the "Held refunds" page (``holds_page``) and the case page (``pages``), which
shows the holds of the refunds its alerts name, with the same forms.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from vigil.cases import holds
from vigil.cases.holds import HoldFilter, HoldView
from vigil.cases.views import CaseDetail
from vigil.security.permissions import Principal, allowed

__all__ = ["CASE_HOLDS", "HoldRow", "holds_of_case", "rows_for"]

#: holds shown on a case page, at most
CASE_HOLDS = 200


@dataclass(frozen=True)
class HoldRow:
    """A hold as a page shows it: with why this user may not release or block it, if so."""

    hold: HoldView
    #: the sentence that disables the whole form (None: the form is usable)
    locked: str | None
    #: why only the release button is disabled (a denied refund, for an analyst)
    no_release: str | None


def rows_for(principal: Principal, views: tuple[HoldView, ...]) -> list[HoldRow]:
    out = []
    for h in views:
        if h.resolved:
            out.append(HoldRow(h, None, None))
            continue
        # refused a block is refused both (not theirs to review, or not allowed to act)
        locked = holds.refusal(principal, h, "blocked")
        release = None if locked else holds.refusal(principal, h, "released")
        out.append(HoldRow(h, locked, release))
    return out


def holds_of_case(session: Session, principal: Principal, detail: CaseDetail) -> list[HoldRow]:
    """The holds of the refunds a case's alerts name, and of those linked to the case."""
    if not allowed(principal, "holds:read"):
        return []
    refunds: dict[str, None] = {}
    for alert in detail.alerts:
        p = alert.payload
        for rid in p.get("refund_ids") or ():
            refunds[rid] = None
        if p.get("subject_type") == "refund":
            refunds[p["subject_id"]] = None
    found = {h.refund_id: h for h in holds.holds_for_refunds(session, principal, refunds)}
    linked = holds.list_holds(
        session, principal, HoldFilter(case_id=detail.case.id), limit=holds.MAX_PAGE
    )
    for h in linked.items:
        found.setdefault(h.refund_id, h)
    newest = sorted(found.values(), key=lambda h: -h.id)[:CASE_HOLDS]
    return rows_for(principal, tuple(newest))

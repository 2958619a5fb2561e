"""Case management (issue 5, part 2): alerts grouped into cases, worked and labelled.

Alerts join the open case of their ring, agent or customer (``grouping``); a case moves
only along the explicit status table (``transitions``); labels resolve it and queue
``AnalystDecision`` events for the models (``outbox``). Every action goes through
``service`` with the acting principal, and is authorised and audited by
``vigil.security`` in the caller's transaction. See docs/cases.md.
"""

from __future__ import annotations

from vigil.cases.grouping import Group, group_of
from vigil.cases.outbox import flush_outbox
from vigil.cases.service import (
    add_note,
    assign,
    find_cases_by_identifier,
    get_case,
    ingest_alerts,
    label,
    link_identifier,
    list_cases,
    transition,
)
from vigil.cases.transitions import STATUSES, TRANSITIONS, CaseStatus, check_transition
from vigil.cases.views import (
    AlertView,
    CaseDetail,
    CaseFilter,
    CasePage,
    CaseSummary,
    IngestResult,
    LabelResult,
    NoteView,
    Paging,
)

__all__ = [
    "STATUSES",
    "TRANSITIONS",
    "AlertView",
    "CaseDetail",
    "CaseFilter",
    "CasePage",
    "CaseStatus",
    "CaseSummary",
    "Group",
    "IngestResult",
    "LabelResult",
    "NoteView",
    "Paging",
    "add_note",
    "assign",
    "check_transition",
    "find_cases_by_identifier",
    "flush_outbox",
    "get_case",
    "group_of",
    "ingest_alerts",
    "label",
    "link_identifier",
    "list_cases",
    "transition",
]

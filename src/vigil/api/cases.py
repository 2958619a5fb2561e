"""Case endpoints over the case service (``vigil.cases.service``).

The service checks permissions against the same matrix, audits every action in the same
transaction and raises errors that know their HTTP status; these handlers only translate
HTTP to calls. They are plain ``def`` handlers: FastAPI runs them in its thread pool, so a
database round trip never holds the event loop that serves decisions. After a label is
committed, its label events are delivered from the outbox into the runtime's input log.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from sqlalchemy.orm import Session

from vigil.api.auth import needs
from vigil.api.errors import UnavailableError
from vigil.api.schemas import (
    MAX_DB_ID,
    AssignRequest,
    LabelRequest,
    NoteRequest,
    TransitionRequest,
    error_responses,
)
from vigil.api.state import ApiState, get_state
from vigil.cases import holds, service
from vigil.cases.transitions import CaseStatus
from vigil.cases.views import CaseDetail, CaseFilter, CasePage, CaseSummary, NoteView, Paging
from vigil.security.permissions import Principal

router = APIRouter(prefix="/v1/cases", tags=["cases"])
CaseId = Annotated[int, Path(ge=1, le=MAX_DB_ID)]
Reader = Annotated[Principal, Depends(needs("cases:read"))]
Writer = Annotated[Principal, Depends(needs("cases:write"))]


@contextmanager
def _transaction(st: ApiState) -> Iterator[Session]:
    if st.db is None:
        raise UnavailableError("no case database configured: start vigil serve --database-url")
    with st.db.transaction() as session:
        yield session


@router.get(
    "",
    summary="The case queue",
    response_model=CasePage,
    responses=error_responses(401, 403, 503),
)
def list_cases(
    request: Request,
    principal: Reader,
    status: Annotated[list[CaseStatus] | None, Query()] = None,
    assignee_id: Annotated[int | None, Query(ge=1, le=MAX_DB_ID)] = None,
    unassigned: bool = False,
    group_type: Annotated[Literal["ring", "agent", "customer"] | None, Query()] = None,
    group_key: Annotated[str | None, Query(min_length=1, max_length=256)] = None,
    min_score: Annotated[float | None, Query(ge=0.0, le=1.0)] = None,
    label: Literal["fraud", "legitimate"] | None = None,
    order: Literal["priority", "newest", "updated"] = "priority",
    limit: Annotated[int, Query(ge=1, le=service.MAX_PAGE)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_DB_ID)] = 0,
) -> CasePage:
    """Cases filtered and ordered (priority: highest score first)."""
    flt = CaseFilter(
        statuses=tuple(status) if status else None,
        assignee_id=assignee_id,
        unassigned=unassigned,
        group_type=group_type,
        group_key=group_key,
        min_score=min_score,
        label=label,
    )
    with _transaction(get_state(request)) as session:
        return service.list_cases(session, principal, flt, Paging(limit, offset, order))


@router.get(
    "/{case_id}",
    summary="One case with alerts, members, notes, labels and history",
    response_model=CaseDetail,
    responses=error_responses(401, 403, 404, 503),
)
def get_case(request: Request, case_id: CaseId, principal: Reader) -> CaseDetail:
    with _transaction(get_state(request)) as session:
        return service.get_case(session, principal, case_id)


@router.post(
    "/{case_id}/transition",
    summary="Move a case along the transition table",
    response_model=CaseSummary,
    responses=error_responses(400, 401, 403, 404, 409, 503),
)
def transition(
    request: Request, case_id: CaseId, body: TransitionRequest, principal: Writer
) -> CaseSummary:
    """new -> triage | investigating; triage <-> investigating; a resolved case back to
    investigating (reopen: leads and admins). Resolving is done by labelling."""
    with _transaction(get_state(request)) as session:
        return service.transition(session, principal, case_id, body.status, note=body.note)


@router.post(
    "/{case_id}/assign",
    summary="Assign a case (or give it back)",
    response_model=CaseSummary,
    responses=error_responses(400, 401, 403, 404, 409, 503),
)
def assign(
    request: Request, case_id: CaseId, body: AssignRequest, principal: Writer
) -> CaseSummary:
    with _transaction(get_state(request)) as session:
        return service.assign(session, principal, case_id, body.assignee_id)


@router.post(
    "/{case_id}/notes",
    summary="Add a note",
    response_model=NoteView,
    responses=error_responses(400, 401, 403, 404, 503),
)
def add_note(request: Request, case_id: CaseId, body: NoteRequest, principal: Writer) -> NoteView:
    with _transaction(get_state(request)) as session:
        return service.add_note(session, principal, case_id, body.text)


@router.post(
    "/{case_id}/label",
    summary="Resolve a case as fraud or legitimate",
    response_model=CaseSummary,
    responses=error_responses(400, 401, 403, 404, 409, 503),
)
def label(request: Request, case_id: CaseId, body: LabelRequest, principal: Writer) -> CaseSummary:
    """Records the label and queues one ``analyst_decision`` event per alert of the case;
    after commit the events are appended to the runtime's input (the models read them). A
    fraud label also blocks the case's refunds whose payout still waits (held or denied),
    those the caller may block (``holds:write``; never the issuing agent's own)."""
    st = get_state(request)
    with _transaction(st) as session:
        at_ms = st.clock.now_ms()
        result = service.label(
            session, principal, case_id, body.label, note=body.note, event_time_ms=at_ms
        )
        if body.label == "fraud":
            holds.block_holds_of_case(session, principal, case_id, event_time_ms=at_ms)
    st.deliver_label_events()
    return result.case

"""The console's pages: log in, the live dashboard, the case queue, a case, an agent.

Every page needs a console session (``auth.User``); every change is a POST with the
session's CSRF token (``auth.Csrf``) and goes through the same case service as the API, so
the permission matrix, the transition table and the audit log apply unchanged. A refused
action (403, an illegal transition, a conflict) comes back to the page it was sent from
with the service's own message; nothing is half done, since each action is one transaction.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Literal
from urllib.parse import quote, urlsplit

import msgspec
from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from vigil.api.state import ApiState, get_state
from vigil.cases import service
from vigil.cases.holds import CaseBlocks, block_holds_of_case
from vigil.cases.transitions import OPEN, STATUSES, CaseStatus
from vigil.cases.views import CaseFilter, Paging
from vigil.console.auth import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    ConsoleAuth,
    Csrf,
    User,
    login_csrf_ok,
    new_login_csrf,
)
from vigil.console.dashboard import Dashboard
from vigil.console.graph import KINDS, ring_elements
from vigil.console.hold_rows import holds_of_case
from vigil.console.render import flash_query, money, page
from vigil.console.timeline import KEY_KINDS, TimelineStore
from vigil.errors import ServiceError, UnauthorizedError
from vigil.events.schemas import EventBase
from vigil.security import sessions, throttle
from vigil.security.db import utcnow
from vigil.security.permissions import require

__all__ = ["router"]

router = APIRouter(prefix="/console", include_in_schema=False)
CaseId = Annotated[int, Path(ge=1, le=2**31 - 1)]
#: at most this many entity keys are looked up for one case's timeline
TIMELINE_KEYS = 80


def _console(request: Request) -> tuple[ConsoleAuth, TimelineStore, Dashboard]:
    s = request.app.state
    return s.console_auth, s.console_timeline, s.console_dashboard


def _safe_next(target: str | None) -> str:
    """Only a path inside the console: never an open redirect to another site, nor to a
    path that merely starts like one (``/consolex``) or climbs out of it (``..``)."""
    if not target:
        return "/console"
    parts = urlsplit(target)
    path = parts.path
    inside = path == "/console" or path.startswith("/console/")
    if parts.scheme or parts.netloc or not inside or ".." in path.split("/") or "\\" in target:
        return "/console"
    return target


def back_to(path: str, *, msg: str | None = None, error: str | None = None) -> RedirectResponse:
    """303 to ``path`` with a flash message the page will show (signed: see render.py)."""
    query = flash_query(msg, error)
    sep = "&" if "?" in path else "?"
    return RedirectResponse(f"{path}{sep}{query}" if query else path, status_code=303)


@contextmanager
def db_session(st: ApiState) -> Iterator[Session]:
    assert st.db is not None  # the console is only mounted with a database
    with st.db.transaction() as session:
        yield session


# --- log in and out ---------------------------------------------------------------------


@router.get("/login")
def login_form(request: Request, next: str | None = None) -> HTMLResponse:
    auth, _, _ = _console(request)
    if auth.live(request) is not None:
        return RedirectResponse(_safe_next(next), status_code=303)  # type: ignore[return-value]
    token = new_login_csrf()
    response = page(request, "login.html", None, login_csrf=token, next=_safe_next(next))
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        max_age=3600,
        httponly=True,
        samesite="strict",
        secure=auth.secure_cookies,
        path="/console",
    )
    return response


@router.post("/login")
async def login(
    request: Request,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=1024)],
    next: Annotated[str, Form(max_length=2000)] = "/console",
) -> Response:
    auth, _, _ = _console(request)
    if not await login_csrf_ok(request):
        return back_to("/console/login", error="the login form expired: try again")
    address = request.client.host if request.client else None
    try:
        with auth.db.transaction() as session:
            token, _live = sessions.login(session, username, password, auth.policy, address=address)
    except UnauthorizedError as exc:
        with auth.db.transaction() as session:
            if isinstance(exc, throttle.ThrottledError):
                throttle.record_throttled(session, exc, utcnow())
            else:
                sessions.record_failed_login(session, username, address=address)
        return back_to(f"/console/login?next={quote(_safe_next(next), safe='')}", error=str(exc))
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(auth.policy.absolute.total_seconds()),
        httponly=True,
        samesite="strict",
        secure=auth.secure_cookies,
        path="/",
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/console")
    return response


@router.post("/logout")
def logout(request: Request, live: Csrf) -> Response:
    auth, _, _ = _console(request)
    with auth.db.transaction() as session:
        sessions.logout(session, request.cookies.get(SESSION_COOKIE, ""))
    response = back_to("/console/login", msg="logged out")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# --- dashboard --------------------------------------------------------------------------


@router.get("")
def dashboard(request: Request, live: User) -> HTMLResponse:
    require(live.principal, "alerts:read")
    _, _, board = _console(request)
    data = board.data()
    retention = get_state(request).settings.index_retention_ms
    return page(
        request,
        "dashboard.html",
        live,
        data=data,
        charts=json.dumps(data.charts()),
        retention_days=None if retention is None else round(retention / 86_400_000),
        title="Live",
    )


@router.get("/dashboard/cards")
def dashboard_cards(request: Request, live: User) -> HTMLResponse:
    require(live.principal, "alerts:read")
    _, _, board = _console(request)
    return page(request, "_cards.html", live, data=board.data())


@router.get("/dashboard/data.json")
def dashboard_data(request: Request, live: User) -> JSONResponse:
    require(live.principal, "alerts:read")
    _, _, board = _console(request)
    return JSONResponse(board.data().charts(), headers={"Cache-Control": "no-store"})


# --- cases ------------------------------------------------------------------------------

QueueView = Literal["open", "mine", "unassigned", "resolved", "all"]


@router.get("/cases")
def queue(
    request: Request,
    live: User,
    view: QueueView = "open",
    group_type: Annotated[Literal["ring", "agent", "customer", ""], Query()] = "",
    order: Literal["priority", "newest", "updated"] = "priority",
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> HTMLResponse:
    st = get_state(request)
    statuses: tuple[CaseStatus, ...] | None = {
        "open": tuple(s for s in STATUSES if s in OPEN),
        "mine": tuple(s for s in STATUSES if s in OPEN),
        "unassigned": tuple(s for s in STATUSES if s in OPEN),
        "resolved": ("resolved_fraud", "resolved_legitimate"),
        "all": None,
    }[view]
    flt = CaseFilter(
        statuses=statuses,
        assignee_id=live.principal.id if view == "mine" else None,
        unassigned=view == "unassigned",
        group_type=group_type or None,
    )
    with db_session(st) as session:
        result = service.list_cases(session, live.principal, flt, Paging(50, offset, order))
        detectors = service.detectors_of(session, live.principal, (c.id for c in result.items))
        earlier = service.earlier_labels(session, live.principal, (c.id for c in result.items))
    return page(
        request,
        "queue.html",
        live,
        result=result,
        detectors=detectors,
        earlier=earlier,
        view=view,
        group_type=group_type,
        order=order,
        title="Cases",
    )


def _timeline_keys(
    alerts: list[dict[str, Any]], members: tuple[str, ...], group_type: str = "customer"
) -> list[str]:
    """The timeline's keys of a case: its refunds, orders, customers and sessions; its
    agents' whole activity only when the case is about an agent (a customer's case showed
    every other thing the refunding agent did that day)."""
    keys: dict[str, None] = {}
    about_agents = group_type == "agent"
    for a in alerts:
        for rid in a.get("refund_ids") or ():
            keys[f"refund:{rid}"] = None
        for attr, prefix in (
            ("order_id", "order"),
            ("customer_id", "customer"),
            ("agent_id", "agent"),
            ("session_id", "session"),
        ):
            if a.get(attr) and (prefix != "agent" or about_agents):
                keys[f"{prefix}:{a[attr]}"] = None
        if a.get("subject_type") in ("session", "order") or (
            a.get("subject_type") == "agent" and about_agents
        ):
            keys[f"{a['subject_type']}:{a['subject_id']}"] = None
    for m in members:
        if m.startswith("account:"):
            keys[f"customer:{m[8:]}"] = None
    return list(keys)[:TIMELINE_KEYS]


_HIDDEN = {"event_id", "event_time_ms", "v", "type"}


def describe(event: EventBase) -> str:
    """One line an analyst reads: the event's fields in words, amounts as money, lists
    joined, yes/no for flags (not Python's ``['CLO-0276']`` or ``True``)."""
    parts = []
    for name, value in msgspec.structs.asdict(event).items():
        if name in _HIDDEN or value is None or value == "" or value == []:
            continue
        if name.endswith("_cents"):
            value = money(value)
        elif name == "items":
            value = ", ".join(f"{i.category} {money(i.price_cents)}" for i in value[:4])
        elif isinstance(value, bool):
            value = "yes" if value else "no"
        elif isinstance(value, list | tuple):
            value = ", ".join(str(v) for v in value)
        parts.append(f"{name.removesuffix('_cents').replace('_', ' ')}: {value}")
    return " · ".join(parts)


def _row(event: EventBase) -> tuple[int, str, str]:
    """(event time, event type, description) for a timeline table."""
    return event.event_time_ms, str(event.__struct_config__.tag), describe(event)


def _agents_of(alerts: list[dict[str, Any]]) -> list[str]:
    agents: dict[str, None] = {}
    for a in alerts:
        if a.get("subject_type") == "agent":
            agents[a["subject_id"]] = None
        elif a.get("agent_id"):
            agents[a["agent_id"]] = None
    return list(agents)[:3]


@router.get("/cases/{case_id}")
def case_page(request: Request, case_id: CaseId, live: User) -> HTMLResponse:
    st = get_state(request)
    _, timeline, _ = _console(request)
    with db_session(st) as session:
        detail = service.get_case(session, live.principal, case_id)
        hold_rows = holds_of_case(session, live.principal, detail)
        related = service.related_cases(session, live.principal, case_id)
    payloads = [a.payload for a in detail.alerts]
    events = timeline.events_for(_timeline_keys(payloads, detail.members, detail.case.group_type))
    rows = [_row(e) for e in events]
    ring = [p for p in payloads if p.get("subject_type") == "ring"]
    graph = ring_elements(ring, payloads) if ring else []
    kinds = sorted(
        {e["data"]["kind"] for e in graph if "kind" in e["data"]},
        key=lambda k: (KINDS.index(k) if k in KINDS else len(KINDS), k),
    )
    peers = {a: timeline.peers(a) for a in _agents_of(payloads)}
    return page(
        request,
        "case.html",
        live,
        d=detail,
        c=detail.case,
        timeline=rows,
        graph=json.dumps(graph),
        has_graph=bool(graph),
        graph_kinds=kinds,
        peers={a: p for a, p in peers.items() if p is not None},
        hold_rows=hold_rows,
        related=related,
        case_refunds=sum(1 for m in detail.members if m.startswith("refund:")),
        title=f"Case {case_id}",
    )


def _act(
    request: Request,
    case_id: int,
    what: str | Callable[[], str],
    action: Callable[[Session], object],
) -> RedirectResponse:
    """Run ``action`` in one transaction; back to the case page with ``what`` (or what it
    returns, asked after the action), or with the service's refusal."""
    st = get_state(request)
    path = f"/console/cases/{case_id}"
    try:
        with db_session(st) as session:
            action(session)
    except ServiceError as exc:
        return back_to(path, error=str(exc))
    _console(request)[2].invalidate()
    return back_to(path, msg=what if isinstance(what, str) else what())


@router.post("/cases/{case_id}/take")
def take(request: Request, case_id: CaseId, live: Csrf) -> RedirectResponse:
    return _act(
        request,
        case_id,
        "assigned to you",
        lambda s: service.assign(s, live.principal, case_id, live.principal.id),
    )


@router.post("/cases/{case_id}/transition")
def move(
    request: Request,
    case_id: CaseId,
    live: Csrf,
    status: Annotated[CaseStatus, Form()],
    note: Annotated[str, Form(max_length=10_000)] = "",
) -> RedirectResponse:
    return _act(
        request,
        case_id,
        f"moved to {status.replace('_', ' ')}",
        lambda s: service.transition(s, live.principal, case_id, status, note=note or None),
    )


@router.post("/cases/{case_id}/note")
def note(
    request: Request,
    case_id: CaseId,
    live: Csrf,
    text: Annotated[str, Form(max_length=10_000)],
) -> RedirectResponse:
    return _act(
        request, case_id, "note added", lambda s: service.add_note(s, live.principal, case_id, text)
    )


@router.post("/cases/{case_id}/label")
def label(
    request: Request,
    case_id: CaseId,
    live: Csrf,
    outcome: Annotated[Literal["fraud", "legitimate"], Form()],
    note: Annotated[str, Form(max_length=10_000)] = "",
) -> RedirectResponse:
    st = get_state(request)
    done: list[CaseBlocks] = []

    def act(s: Session) -> None:
        at_ms = st.clock.now_ms()
        service.label(s, live.principal, case_id, outcome, note=note or None, event_time_ms=at_ms)
        if outcome == "fraud":  # the incident's payouts that still wait are stopped too
            done.append(block_holds_of_case(s, live.principal, case_id, event_time_ms=at_ms))

    def words() -> str:
        said = f"labelled {outcome}"
        if done and done[0].blocked:
            n = len(done[0].blocked)
            said += f"; {n} waiting payout{'' if n == 1 else 's'} blocked"
        if done and done[0].left:
            rid, why = done[0].left[0]
            said += f"; {len(done[0].left)} left for someone else ({rid}: {why})"
        return said

    response = _act(request, case_id, words, act)
    st.deliver_label_events()  # the label and block events go to the runtime (and the models)
    return response


# --- search -----------------------------------------------------------------------------


@router.get("/search")
def search_page(
    request: Request,
    live: User,
    q: Annotated[str, Query(max_length=256)] = "",
) -> HTMLResponse:
    """Find anything by id: a customer, order, refund, agent, session, device, card, address
    or ring. Lists the cases that hold it (with their labels: a customer labelled fraud who
    comes back shows here) and the events that name it."""
    st = get_state(request)
    _, timeline, _ = _console(request)
    text = q.strip()
    hits: tuple[Any, ...] = ()
    rows: list[tuple[int, str, str]] = []
    if text:
        with db_session(st) as session:
            hits = service.find_entity(session, live.principal, text)
        kind, sep, rest = text.partition(":")
        bare = rest if sep and kind in (*service.ENTITY_KINDS, *service.KIND_ALIASES) else text
        keys = [f"{k}:{v}" for v in dict.fromkeys((bare, bare.lower())) for k in KEY_KINDS]
        rows = [_row(e) for e in timeline.events_for(keys)]
    return page(
        request, "search.html", live, q=text, hits=hits, timeline=rows, title=f"Search {text}"
    )


# --- agents -----------------------------------------------------------------------------


@router.get("/agents/{agent_id}")
def agent_page(
    request: Request,
    live: User,
    agent_id: Annotated[str, Path(min_length=1, max_length=256)],
) -> HTMLResponse:
    require(live.principal, "alerts:read")
    st = get_state(request)
    _, timeline, _ = _console(request)
    alerts = [
        a
        for a in st.index.live_alerts()
        if (a.subject_type == "agent" and a.subject_id == agent_id) or a.agent_id == agent_id
    ][-50:]
    events = timeline.events_for([f"agent:{agent_id}"])
    rows = [_row(e) for e in events]
    return page(
        request,
        "agent.html",
        live,
        agent_id=agent_id,
        alerts=alerts,
        peers=timeline.peers(agent_id),
        timeline=rows,
        title=f"Agent {agent_id}",
    )

"""The "Held refunds" page: refunds answered review or deny wait here for a person.

The queue (amount, customer, agent, score, reasons, age, status; filtered by status, newest
first) and, on each open hold, a form to release or block it with a reason. The forms go
through the hold service (``vigil.cases.holds``), as the API does: the permission matrix,
the status table, the insider rule and the audit log apply unchanged. A form the user may
not use is shown disabled with the service's own sentence (the agent who issued a refund
reads why they cannot review it; an analyst, why a denied refund needs a lead). The case
page shows the holds of its refunds with the same forms (``holds_of_case``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from vigil.api.state import get_state
from vigil.cases import holds
from vigil.cases.holds import STATUSES, HoldFilter, HoldStatus, Resolution
from vigil.console.auth import Csrf, User
from vigil.console.form_errors import page_of
from vigil.console.hold_rows import rows_for
from vigil.console.pages import back_to, db_session
from vigil.console.render import page
from vigil.errors import ServiceError

__all__ = ["router"]

router = APIRouter(prefix="/console", include_in_schema=False)
RefundId = Annotated[str, Path(min_length=1, max_length=128)]
HoldsView = Literal["open", "held", "denied", "released", "blocked", "all"]
#: the tabs of the queue: which statuses each shows (None: all)
_TABS: dict[str, tuple[HoldStatus, ...] | None] = {
    "open": ("held", "denied"),
    "held": ("held",),
    "denied": ("denied",),
    "released": ("released",),
    "blocked": ("blocked",),
    "all": None,
}
PAGE = 50


@router.get("/holds")
def holds_queue(
    request: Request,
    live: User,
    view: HoldsView = "open",
    agent_id: Annotated[str, Query(max_length=128)] = "",
    customer_id: Annotated[str, Query(max_length=128)] = "",
    cursor: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
) -> HTMLResponse:
    st = get_state(request)
    flt = HoldFilter(
        statuses=_TABS[view], agent_id=agent_id or None, customer_id=customer_id or None
    )
    with db_session(st) as session:
        result = holds.list_holds(session, live.principal, flt, cursor=cursor, limit=PAGE)
        counts = holds.count_holds(session, live.principal, flt)
    tabs = {v: sum(counts[s][0] for s in statuses or STATUSES) for v, statuses in _TABS.items()}
    waiting = (counts["held"][0] + counts["denied"][0], counts["held"][1] + counts["denied"][1])
    return page(
        request,
        "holds.html",
        live,
        rows=rows_for(live.principal, result.items),
        next_cursor=result.next_cursor,
        tabs=tabs,
        waiting=waiting,
        view=view,
        agent_id=agent_id,
        customer_id=customer_id,
        title="Held refunds",
    )


def _resolve(
    request: Request, live: Any, refund_id: str, to: Resolution, reason: str
) -> RedirectResponse:
    st = get_state(request)
    back = page_of(request)
    try:
        with db_session(st) as session:
            holds.resolve(
                session, live.principal, refund_id, to, reason, event_time_ms=st.clock.now_ms()
            )
    except ServiceError as exc:
        if isinstance(exc, holds.AUDITED_REFUSALS):
            with db_session(st) as session:
                holds.record_refusal(session, live.principal, refund_id, to, exc)
        return back_to(back, error=str(exc))
    st.deliver_label_events()  # the outcome goes to the runtime as a label
    request.app.state.console_dashboard.invalidate()
    word = "released" if to == "released" else "blocked"
    return back_to(back, msg=f"refund {refund_id} {word}")


@router.post("/holds/{refund_id}/release")
def release(
    request: Request,
    refund_id: RefundId,
    live: Csrf,
    reason: Annotated[str, Form(max_length=500)],
) -> RedirectResponse:
    return _resolve(request, live, refund_id, "released", reason)


@router.post("/holds/{refund_id}/block")
def block(
    request: Request,
    refund_id: RefundId,
    live: Csrf,
    reason: Annotated[str, Form(max_length=500)],
) -> RedirectResponse:
    return _resolve(request, live, refund_id, "blocked", reason)

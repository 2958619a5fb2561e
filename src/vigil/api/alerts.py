"""``GET /v1/alerts`` (filtered, paged, newest first by default) and ``GET /v1/alerts/{id}``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from fastapi import APIRouter, Depends, Path, Query, Request, Response

from vigil.api.auth import needs
from vigil.api.errors import NotFoundError
from vigil.api.index import AlertFilter
from vigil.api.schemas import AlertOut, AlertPage, SubjectType, error_responses
from vigil.api.state import get_state
from vigil.detectors.base import Alert
from vigil.security.permissions import Principal

router = APIRouter(prefix="/v1", tags=["alerts"])
_encode = msgspec.json.Encoder().encode
MAX_PAGE = 500
_Id = Annotated[str | None, Query(min_length=1, max_length=128)]


def _out(seq: int, alert: Alert) -> dict[str, Any]:
    d: dict[str, Any] = msgspec.structs.asdict(alert)
    d["seq"] = seq
    return d


@router.get(
    "/alerts",
    summary="Alerts, filtered and paged",
    response_model=AlertPage,
    responses=error_responses(401, 403),
)
async def list_alerts(
    request: Request,
    principal: Annotated[Principal, Depends(needs("alerts:read"))],
    detector: _Id = None,
    subject_type: SubjectType | None = None,
    subject_id: _Id = None,
    refund_id: _Id = None,
    customer_id: Annotated[
        str | None, Query(min_length=1, max_length=128, description="also ring membership")
    ] = None,
    agent_id: _Id = None,
    min_score: Annotated[float | None, Query(ge=0.0, le=1.0)] = None,
    since_ms: Annotated[int | None, Query(ge=0, description="event time, inclusive")] = None,
    until_ms: Annotated[int | None, Query(ge=0, description="event time, exclusive")] = None,
    order: Literal["newest", "oldest"] = "newest",
    cursor: Annotated[
        int | None, Query(ge=0, description="``next_cursor`` of the previous page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
) -> Response:
    """Alerts the runtime raised, as the index holds them now. Paging is by position in
    the alert stream, so a page never repeats or skips an alert while new ones arrive."""
    flt = AlertFilter(
        detector=detector,
        subject_type=subject_type,
        subject_id=subject_id,
        refund_id=refund_id,
        customer_id=customer_id,
        agent_id=agent_id,
        min_score=min_score,
        since_ms=since_ms,
        until_ms=until_ms,
    )
    items, next_cursor = get_state(request).index.page(
        flt, cursor=cursor, limit=limit, newest_first=order == "newest"
    )
    return Response(
        _encode({"items": [_out(s, a) for s, a in items], "next_cursor": next_cursor}),
        media_type="application/json",
    )


@router.get(
    "/alerts/{alert_id}",
    summary="One alert",
    response_model=AlertOut,
    responses=error_responses(401, 403, 404),
)
async def get_alert(
    request: Request,
    alert_id: Annotated[str, Path(min_length=1, max_length=512)],
    principal: Annotated[Principal, Depends(needs("alerts:read"))],
) -> Response:
    index = get_state(request).index
    alert = index.get(alert_id)
    if alert is None:
        raise NotFoundError(f"no alert {alert_id!r} (yet): alert ids are detector:type:subject")
    return Response(_encode(_out(index.seq_of(alert_id), alert)), media_type="application/json")

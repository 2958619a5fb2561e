"""``/console/ads``: campaign figures in the console. Staff see every advertiser's campaigns
(and may pick one advertiser); a person at an advertiser (role ``advertiser``) sees their
advertiser's and nothing else, and no other console page (``auth.ADVERTISER_PAGES``).

The figures are the API's (``/v1/ads/figures``): the runtime's settled rows, summed per
campaign and day (``vigil.ads.book``), folded by ``vigil.ads.report``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from vigil.ads.report import report
from vigil.api.state import get_state
from vigil.console.auth import User
from vigil.console.render import page
from vigil.security.permissions import require

__all__ = ["router"]

router = APIRouter(prefix="/console", include_in_schema=False)
_Id = Annotated[str | None, Query(max_length=128)]


@router.get("/ads")
def ads(request: Request, live: User, advertiser: _Id = None, campaign: _Id = None) -> HTMLResponse:
    principal = live.principal
    require(principal, "ads:read")
    own = principal.advertiser_id
    if principal.role == "advertiser" and own is None:  # never made so; refuse rather than all
        require(principal, "users:manage")
    wanted = own or (advertiser or None)
    rows = get_state(request).ads_book.rows()
    if wanted is not None:  # first: nothing below sees another advertiser's rows
        rows = [r for r in rows if r.advertiser_id == wanted]
    campaigns = report(rows, "campaign")
    days = []
    if campaign:
        days = report([r for r in rows if r.campaign_id == campaign], "day")
    totals = report(rows, "advertiser") if wanted is not None else []
    return page(
        request,
        "ads.html",
        live,
        campaigns=campaigns,
        days=days,
        campaign=campaign or "",
        advertiser=wanted or "",
        locked=own is not None,
        totals=totals[0] if totals else None,
        title="Campaigns",
    )

"""``GET /v1/ads/figures``: campaign figures, and an advertiser's key sees its own only.

The runtime writes ``ad_figures.jsonl`` (changes to a campaign's minute, docs/ads.md); the
API's ``AdsBook`` (``vigil.ads.book``) sums what is settled, per campaign and day.

Tenant isolation: a key bound to an advertiser (``vigil keys create --advertiser-id``) is
answered from that advertiser's rows alone, before any other filter, so no parameter can
reach another advertiser's figures; asking for another advertiser is 403, and another
advertiser's campaign looks exactly like a campaign that does not exist (404).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request

from vigil.ads.report import report
from vigil.api.auth import needs
from vigil.api.schemas import AdFiguresPage, error_responses
from vigil.api.state import get_state
from vigil.errors import ForbiddenError, NotFoundError
from vigil.security.permissions import Principal

router = APIRouter(prefix="/v1", tags=["ads"])
_Id = Annotated[str | None, Query(min_length=1, max_length=128)]


@router.get(
    "/ads/figures",
    summary="Campaign figures: impressions, clicks, spend, orders, CPA, ROAS, net ROAS",
    response_model=AdFiguresPage,
    responses=error_responses(401, 403, 404),
)
def ad_figures(
    request: Request,
    principal: Annotated[Principal, Depends(needs("ads:read"))],
    by: Literal["campaign", "advertiser", "day"] = "campaign",
    advertiser_id: _Id = None,
    campaign_id: _Id = None,
) -> dict[str, Any]:
    """Figures per campaign (largest spend first), per advertiser, or per campaign and day
    (UTC), from what the runtime has settled (its last checkpoint, every few seconds under
    ``vigil serve``). A key bound to an advertiser sees that advertiser's campaigns only."""
    own = principal.advertiser_id
    if own is not None and advertiser_id not in (None, own):
        raise ForbiddenError(f"this key reads the figures of advertiser {own!r} only")
    wanted = own or advertiser_id
    rows = get_state(request).ads_book.rows()
    if wanted is not None:  # first: nothing below sees another advertiser's rows
        rows = [r for r in rows if r.advertiser_id == wanted]
    if campaign_id is not None:
        rows = [r for r in rows if r.campaign_id == campaign_id]
        if not rows:
            raise NotFoundError(f"no figures for campaign {campaign_id!r}")
    items = report(rows, by, wanted)
    return {"by": by, "advertiser_id": wanted, "items": items}

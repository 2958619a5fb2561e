"""A campaign report from a run's ``ad_figures.jsonl``: per campaign, advertiser, day or
minute, optionally for one advertiser only. What ``vigil ads report`` prints and what the
API would serve: one place that folds rows into figures."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Literal

from vigil.ads.figures import AdFigures, Totals
from vigil.ads.settings import DAY_MS

Grouping = Literal["campaign", "advertiser", "day", "minute"]
GROUPINGS: tuple[Grouping, ...] = ("campaign", "advertiser", "day", "minute")


def report(
    rows: Iterable[AdFigures], by: Grouping = "campaign", advertiser: str | None = None
) -> list[dict[str, Any]]:
    """Figures per group, largest spend first (by time for days and minutes)."""
    groups: dict[tuple[str, int], Totals] = {}
    for row in rows:
        if advertiser is not None and row.advertiser_id != advertiser:
            continue
        if by == "advertiser":
            key = (row.advertiser_id, 0)
        elif by == "day":
            key = (row.campaign_id, row.minute_ms - row.minute_ms % DAY_MS)
        elif by == "minute":
            key = (row.campaign_id, row.minute_ms)
        else:
            key = (row.campaign_id, 0)
        t = groups.get(key)
        if t is None:
            campaign = "*" if by == "advertiser" else row.campaign_id
            platform = "*" if by == "advertiser" else row.platform
            t = groups[key] = Totals(campaign, row.advertiser_id, platform)
        t.add(row)
    out: list[dict[str, Any]] = []
    for (_, start), t in groups.items():
        figures: dict[str, Any] = t.as_dict()
        if by == "advertiser":
            del figures["campaign_id"], figures["platform"]
        if by in ("day", "minute"):
            figures = {by: _iso(start, by), **figures}
        out.append(figures)
    if by in ("day", "minute"):
        out.sort(key=lambda f: (f[by], f["campaign_id"]))
    else:
        out.sort(
            key=lambda f: (-int(f["spend_micros"]), str(f.get("campaign_id", f["advertiser_id"])))
        )
    return out


def _iso(ms: int, by: str) -> str:
    at = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return at.strftime("%Y-%m-%d") if by == "day" else at.strftime("%Y-%m-%dT%H:%MZ")

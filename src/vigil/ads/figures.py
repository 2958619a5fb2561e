"""Campaign figures: the rows the ad pipeline writes, and what a reader folds them into.

``ad_figures.jsonl`` holds **changes**, not totals: each row adds its counts to one
campaign's minute (the minute of the impression, the click, or the order). A refund or a
fraud label that arrives weeks later is one more row for the order's minute, so the day's
net figures move when it arrives, and no row is ever rewritten. Totals for any span (a
minute, a day, a campaign's life) are sums of rows, which is why the file can be appended,
replayed after a crash (the runtime cuts it back to its checkpoint) and read while it grows.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Final

import msgspec

from vigil.ads.settings import DAY_MS
from vigil.detectors.base import Record
from vigil.errors import ConfigError

#: the counts a row carries (all add up)
COUNTS: Final = (
    "impressions",
    "clicks",
    "spend_micros",
    "orders",
    "revenue_cents",
    "view_orders",
    "view_revenue_cents",
    "refunded_cents",
    "fraud_orders",
    "fraud_cents",
    "invalid_impressions",
    "invalid_clicks",
    "invalid_spend_micros",
)


class AdFigures(Record, frozen=True, kw_only=True, omit_defaults=True):
    """Changes to one campaign's figures in one minute (event time); counts that are 0
    are left out of the line."""

    channel: ClassVar[str] = "ad_figures"

    campaign_id: str
    advertiser_id: str
    platform: str
    #: the minute's start (ms since the epoch, UTC)
    minute_ms: int
    impressions: int = 0
    clicks: int = 0
    #: what the impressions and clicks cost (each event states its cost)
    spend_micros: int = 0
    #: orders credited to a click of the campaign (last click, within the click window)
    orders: int = 0
    revenue_cents: int = 0
    #: orders with no click, credited to the campaign's impression the device saw last
    #: within the view window: reported apart, never in ``orders``
    view_orders: int = 0
    view_revenue_cents: int = 0
    #: revenue of credited orders paid back (refunds, chargebacks), up to the order's total
    refunded_cents: int = 0
    #: credited orders judged fraud (a label or a deny decision on one of their refunds):
    #: their whole revenue, counted here and not in ``refunded_cents``
    fraud_orders: int = 0
    fraud_cents: int = 0
    #: impressions and clicks judged invalid traffic (bots, data centres, bursts, farms...),
    #: and what they cost: the spend an advertiser is owed back (``vigil.ads.ivt``)
    invalid_impressions: int = 0
    invalid_clicks: int = 0
    invalid_spend_micros: int = 0


class AdInvalid(Record, frozen=True, kw_only=True):
    """An impression or click judged invalid traffic (``invalid`` True, with the reasons), or
    cleared again (False: an impression that arrived late showed the click had one). The last
    line about an id is the verdict; an advertiser's refund is the cost of those invalid."""

    channel: ClassVar[str] = "ad_invalid"

    kind: str  # "click" | "impression"
    id: str
    campaign_id: str
    advertiser_id: str
    event_time_ms: int
    invalid: bool
    reasons: tuple[str, ...]
    cost_micros: int


invalid_decoder: Final = msgspec.json.Decoder(AdInvalid)


class Sums:
    """Rows summed per campaign and time bucket: the pipeline sums a batch's rows per minute
    before it writes them, the API a run's rows per day. Each slot is ``[advertiser,
    platform, *counts]`` (a list: the pipeline adds to it in place on its hot path)."""

    __slots__ = ("by",)

    def __init__(self) -> None:
        self.by: dict[tuple[str, int], list[Any]] = {}

    def slot(self, campaign: str, bucket: int, advertiser: str, platform: str) -> list[Any]:
        """The sums of ``campaign`` in the bucket starting at ``bucket``, made if new."""
        acc = self.by.get((campaign, bucket))
        if acc is None:
            acc = self.by[(campaign, bucket)] = [advertiser, platform, *([0] * len(COUNTS))]
        return acc

    def add(self, row: AdFigures, bucket: int) -> None:
        acc = self.slot(row.campaign_id, bucket, row.advertiser_id, row.platform)
        for i, name in enumerate(COUNTS, 2):
            acc[i] += getattr(row, name)

    def rows(self) -> list[AdFigures]:
        """One row per bucket whose sums are not all 0 (``minute_ms``: the bucket's start)."""
        out = []
        for (campaign, bucket), sums in self.by.items():
            # named one by one: six times faster than ``**dict(zip(COUNTS, ...))``
            (adv, platform, imp, clk, spend, orders, rev, v_orders, v_rev, paid, f_orders, f_cents,
             bad_imp, bad_clk, bad_spend) = sums  # fmt: skip
            if not any(sums[2:]):
                continue
            out.append(
                AdFigures(
                    campaign_id=campaign,
                    advertiser_id=adv,
                    platform=platform,
                    minute_ms=bucket,
                    impressions=imp,
                    clicks=clk,
                    spend_micros=spend,
                    orders=orders,
                    revenue_cents=rev,
                    view_orders=v_orders,
                    view_revenue_cents=v_rev,
                    refunded_cents=paid,
                    fraud_orders=f_orders,
                    fraud_cents=f_cents,
                    invalid_impressions=bad_imp,
                    invalid_clicks=bad_clk,
                    invalid_spend_micros=bad_spend,
                )
            )
        return out


# Sums.rows unpacks the counts by name, in this order
assert COUNTS == (
    "impressions", "clicks", "spend_micros", "orders", "revenue_cents", "view_orders",
    "view_revenue_cents", "refunded_cents", "fraud_orders", "fraud_cents",
    "invalid_impressions", "invalid_clicks", "invalid_spend_micros",
)  # fmt: skip
figures_decoder: Final = msgspec.json.Decoder(AdFigures)


@dataclass
class Totals:
    """Summed counts of one campaign (or advertiser) over a span, and the ratios."""

    campaign_id: str
    advertiser_id: str
    platform: str
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTS, 0))

    def add(self, row: AdFigures) -> None:
        c = self.counts
        for name in COUNTS:
            c[name] += getattr(row, name)

    @property
    def spend_cents(self) -> float:
        return self.counts["spend_micros"] / 10_000

    def as_dict(self) -> dict[str, object]:
        """The counts, and the ratios on *valid* traffic: invalid impressions, clicks and
        their cost are what the advertiser is owed back, so CTR, CPA and ROAS leave them out
        (and orders credited to an invalid click were never credited)."""
        c = self.counts
        spend = self.spend_cents
        invalid = c["invalid_spend_micros"] / 10_000
        valid = spend - invalid
        net = c["revenue_cents"] - c["refunded_cents"] - c["fraud_cents"]
        return {
            "campaign_id": self.campaign_id,
            "advertiser_id": self.advertiser_id,
            "platform": self.platform,
            **c,
            "valid_impressions": c["impressions"] - c["invalid_impressions"],
            "valid_clicks": c["clicks"] - c["invalid_clicks"],
            "spend_cents": round(spend, 2),
            "invalid_spend_cents": round(invalid, 2),
            "valid_spend_cents": round(valid, 2),
            "ctr": _ratio(
                c["clicks"] - c["invalid_clicks"], c["impressions"] - c["invalid_impressions"]
            ),
            # no spend in the span (a day whose orders came from earlier clicks): no CPA
            "cpa_cents": _ratio(valid, c["orders"], 2) if valid > 0 else None,
            "roas": _ratio(c["revenue_cents"], valid),
            "net_revenue_cents": net,
            "net_roas": _ratio(net, valid),
            "view_roas": _ratio(c["view_revenue_cents"], valid),
        }


def _ratio(a: float, b: float, digits: int = 4) -> float | None:
    return None if b == 0 else round(a / b, digits)


def read_rows(path: Path, upto: int | None = None) -> Iterator[AdFigures]:
    """The rows of an ``ad_figures.jsonl`` (a run's output), up to byte ``upto`` if given."""
    with path.open("rb") as fh:
        data = fh.read() if upto is None else fh.read(upto)
    return rows_of(data, path)


def rows_of(data: bytes, path: Path) -> Iterator[AdFigures]:
    """The rows of complete lines read from ``path``; a bad line is named."""
    for n, line in enumerate(data.splitlines(), 1):
        if line.strip():
            yield decoded(figures_decoder, line, path, n)


def decoded(decoder: msgspec.json.Decoder[Any], line: bytes, path: Path, n: int) -> Any:
    """One line of an output or truth file, or ``ConfigError`` naming the file and line."""
    try:
        return decoder.decode(line)
    except msgspec.DecodeError as exc:
        raise ConfigError(
            f"{path}:{n}: {exc} (a torn last line after a crash without a checkpoint, or not "
            "the file it should be?)"
        ) from exc


def settled_length(run_dir: Path) -> int | None:
    """How much of a running run's ``ad_figures.jsonl`` is settled: its length at the last
    checkpoint, which ``progress.json`` states (a resume never cuts the file below it, while
    rows after it may be cut back and written again). None: no such statement (a finished
    ``vigil run`` without ``--follow``: the whole file stands)."""
    try:
        progress = msgspec.json.decode((run_dir / "progress.json").read_bytes())
    except (OSError, msgspec.DecodeError):
        return None
    durable = progress.get("durable_outputs") if isinstance(progress, dict) else None
    length = durable.get(AdFigures.channel) if isinstance(durable, dict) else None
    return length if isinstance(length, int) else None


def by_campaign(
    rows: Iterable[AdFigures], *, since_ms: int | None = None, until_ms: int | None = None
) -> dict[str, Totals]:
    """Totals per campaign over the minutes in ``[since_ms, until_ms)``."""
    out: dict[str, Totals] = {}
    for row in rows:
        if since_ms is not None and row.minute_ms < since_ms:
            continue
        if until_ms is not None and row.minute_ms >= until_ms:
            continue
        t = out.get(row.campaign_id)
        if t is None:
            t = out[row.campaign_id] = Totals(row.campaign_id, row.advertiser_id, row.platform)
        t.add(row)
    return out


def by_day(rows: Iterable[AdFigures]) -> dict[tuple[str, int], Totals]:
    """Totals per (campaign, day start)."""
    out: dict[tuple[str, int], Totals] = {}
    for row in rows:
        key = (row.campaign_id, row.minute_ms - row.minute_ms % DAY_MS)
        t = out.get(key)
        if t is None:
            t = out[key] = Totals(row.campaign_id, row.advertiser_id, row.platform)
        t.add(row)
    return out

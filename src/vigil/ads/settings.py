"""Attribution windows, per ad platform.

Defaults are those the largest platforms use: an order up to 7 days after a click is credited
to the click's campaign; an order with no click, up to 1 day after an impression on the same
device, is credited to that impression's campaign as a view-through conversion, reported
apart. A platform may set its own windows (``--ad-window PLATFORM=CLICK,VIEW`` of ``vigil run``
and ``vigil ads report``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from vigil.ads.givt import DataCentres
from vigil.errors import ConfigError
from vigil.ingest.event_time import ALLOWED_LATENESS_MS, MAX_OUT_OF_ORDERNESS_MS

DAY_MS: Final = 86_400_000
HOUR_MS: Final = 3_600_000
MINUTE_MS: Final = 60_000

CLICK_WINDOW_MS: Final = 7 * DAY_MS
VIEW_WINDOW_MS: Final = DAY_MS
#: the finest bucket of the figures (days are sums of minutes)
BUCKET_MS: Final = MINUTE_MS


@dataclass(frozen=True)
class Windows:
    """How long after a click, and after an impression, an order still counts."""

    click_ms: int = CLICK_WINDOW_MS
    view_ms: int = VIEW_WINDOW_MS

    def __post_init__(self) -> None:
        for name, value in (("click", self.click_ms), ("view", self.view_ms)):
            if not 0 < value <= 90 * DAY_MS:
                raise ConfigError(f"a {name} window must be more than 0 and at most 90 days")


@dataclass(frozen=True)
class IvtSettings:
    """When a click is invalid traffic (docs/ads.md, "Invalid traffic"). Defaults were set on
    simulator seeds 1-3 and are measured on others (``vigil ads report --truth``)."""

    #: a device clicking one campaign this many times within ``burst_window_ms`` of a click
    burst_clicks: int = 4
    burst_window_ms: int = 10 * MINUTE_MS
    #: an address clicking one campaign this many times within ``burst_window_ms`` of a
    #: click, from at most half as many device ids (a crowd behind a carrier's address
    #: clicks once each)
    address_burst_clicks: int = 6
    #: a click needs an impression of its campaign on its device this long before it
    impression_before_ms: int = HOUR_MS
    #: a click this close before an order by the same device: no person is that fast
    fast_order_ms: int = 1_000
    #: an address whose clicks within ``farm_window_ms`` of a click come from this many
    #: devices, most of them (``farm_impressionless_share``) with no impression before
    farm_devices: int = 10
    farm_window_ms: int = HOUR_MS
    farm_impressionless_share: float = 0.5
    #: the operator's file of data-centre ranges (``--datacentre-ranges``), loaded
    datacentres: DataCentres | None = None

    def __post_init__(self) -> None:
        if self.burst_clicks < 2 or self.farm_devices < 2:
            raise ConfigError("a burst and a farm need at least 2 clicks and 2 devices")
        if not 0.0 <= self.farm_impressionless_share <= 1.0:
            raise ConfigError("farm_impressionless_share is a share, between 0 and 1")

    @property
    def longest_ms(self) -> int:
        return max(
            self.burst_window_ms, self.impression_before_ms, self.fast_order_ms,
            self.farm_window_ms,
        )  # fmt: skip


@dataclass(frozen=True)
class AdSettings:
    """The default windows, those of platforms that differ, and the invalid-traffic rules
    (None: none, every event counts)."""

    default: Windows = Windows()
    #: platform -> its windows (sorted pairs, so settings compare and pickle stably)
    platforms: tuple[tuple[str, Windows], ...] = field(default=())
    #: how long after its time an event may still arrive: the runtime's out-of-orderness
    #: plus its allowed lateness (later ones are dead letters and never reach a stage)
    late_ms: int = ALLOWED_LATENESS_MS + MAX_OUT_OF_ORDERNESS_MS
    ivt: IvtSettings | None = IvtSettings()

    def windows(self, platform: str) -> Windows:
        for name, found in self.platforms:
            if name == platform:
                return found
        return self.default

    @property
    def longest_click_ms(self) -> int:
        return max([self.default.click_ms, *(w.click_ms for _, w in self.platforms)])

    @property
    def longest_view_ms(self) -> int:
        return max([self.default.view_ms, *(w.view_ms for _, w in self.platforms)])

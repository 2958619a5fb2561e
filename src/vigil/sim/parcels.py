"""Return parcels: the label, the carrier's scans along a route, the return centre's receipt.

Why routes and places: a fake tracking id (FTID) keeps the right weight and scans in the right
country; what gives it away is *where* and *how long*. So every honest label is addressed to the
return centre that serves the customer's country (id, postal code, country), every scan says
where it happened (a facility and its postal code) and what destination the carrier read off
the label, and the time from first scan to receipt depends on the route:

* first scan at the carrier's depot near the customer, maybe an in-transit scan at a national
  hub of the origin country, then "delivered" at the centre's own postal code and received
  there a little later;
* transit (first scan -> receipt) is drawn per route: domestic 1.2-3.5 days, regional
  (a neighbouring country or the same continent) 2-5 days, far 3-6 days, so no single wait
  fits every route and a detector has to learn what is normal for each.

Places are pure functions of (seed, country, number) through :class:`Hasher` (no random
draws), so adding them moved nothing else in the world. Postal codes follow each country's
format and never collide with a centre's code.

Honest parcels the carrier loses (``lost=True``) get their first scan and maybe an in-transit
scan, then nothing: no "delivered", no receipt (``trap_lost_return_parcel``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vigil.events.schemas import (
    CarrierScan,
    Condition,
    ReturnLabelCreated,
    ReturnReceived,
    ScanType,
)
from vigil.sim.config import DAY_MS, MINUTE_MS, SECOND_MS
from vigil.sim.ids import K_PLACE, Hasher
from vigil.sim.timeline import PENDING_ID
from vigil.sim.world import BY_CODE, WAREHOUSES, Country, Profile

if TYPE_CHECKING:
    from vigil.sim.context import Ctx, Order

#: postal code formats: ``9`` a digit, ``A`` a letter, anything else as is
POSTAL_FORMATS: dict[str, str] = {
    "US": "99999",
    "GB": "AA9 9AA",
    "DE": "99999",
    "FR": "99999",
    "CA": "A9A 9A9",
    "ES": "99999",
    "IT": "99999",
    "NL": "9999 AA",
    "PL": "99-999",
    "SE": "999 99",
    "AU": "9999",
    "JP": "999-9999",
    "BR": "99999-999",
    "MX": "99999",
    "IN": "999999",
    "IE": "A99 A9A9",
    "BE": "9999",
    "AT": "9999",
    "CH": "9999",
    "PT": "9999-999",
    "RO": "999999",
    "NG": "999999",
    "VN": "999999",
    "UA": "99999",
    "ID": "99999",
    "TR": "99999",
    "PK": "99999",
    "TH": "99999",
}
_LETTERS = "ABCDEFGHJKLMNPRSTUWXYZ"

#: transit (first scan -> receipt at the centre), days, by kind of route
DOMESTIC_DAYS = (1.2, 3.5)
REGIONAL_DAYS = (2.0, 5.0)
FAR_DAYS = (3.0, 6.0)
#: origins far from the centre that serves them (another continent)
_FAR = frozenset({"BR", "JP", "IN", "VN", "ID", "PK", "TH", "NG"})

#: carrier depots per country (a customer's parcels start at the one near them)
DEPOTS_PER_COUNTRY = 40
HUBS_PER_COUNTRY = 2

# sub-kinds of K_PLACE (bits 48+ of the hashed number)
_DEPOT = 1
_HUB = 2
_DROP = 3
_NEAR_CENTRE = 4
_CUSTOMER = 5


def postal_code(country: str, value: int) -> str:
    """A postal code in ``country``'s format, drawn from the bits of ``value``."""
    out = []
    for ch in POSTAL_FORMATS.get(country, "99999"):
        if ch == "9":
            out.append(chr(48 + value % 10))
            value //= 10
        elif ch == "A":
            out.append(_LETTERS[value % len(_LETTERS)])
            value //= len(_LETTERS)
        else:
            out.append(ch)
    return "".join(out)


def _norm(postal: str) -> str:
    return postal.replace(" ", "").upper()


def transit_days(country: Country) -> tuple[float, float]:
    """The range of first scan -> receipt days from ``country`` to the centre serving it."""
    centre_country = WAREHOUSES[country.warehouse][0]
    if country.code == centre_country:
        return DOMESTIC_DAYS
    if country.code in _FAR:
        return FAR_DAYS
    return REGIONAL_DAYS


class Places:
    """Where carriers scan: depots, hubs, drop addresses and the centres (memoised)."""

    __slots__ = ("_cache", "_centre_codes", "_h")

    def __init__(self, hasher: Hasher) -> None:
        self._h = hasher
        self._cache: dict[tuple[str, int, int], str] = {}
        self._centre_codes = {(c, _norm(p)) for c, p in WAREHOUSES.values()}

    def _postal(self, country: str, kind: int, n: int) -> str:
        key = (country, kind, n)
        code = self._cache.get(key)
        if code is None:
            ci = BY_CODE[country].octet if country in BY_CODE else 0
            salt = 0
            while True:
                value = self._h.h(K_PLACE, (kind << 48) | (salt << 40) | (ci << 24) | n)
                code = postal_code(country, value)
                if (country, _norm(code)) not in self._centre_codes:
                    break
                salt += 1
            self._cache[key] = code
        return code

    def depot_number(self, p: Profile) -> int:
        """The carrier depot nearest to a customer."""
        return self._h.h(K_PLACE, (_CUSTOMER << 48) | (p.idx & ((1 << 48) - 1))) % (
            DEPOTS_PER_COUNTRY
        )

    def depot(self, carrier: str, country: str, n: int) -> tuple[str, str]:
        """(facility id, postal code) of depot ``n`` of ``country``."""
        return f"{carrier.lower()}-{country.lower()}-d{n:02d}", self._postal(country, _DEPOT, n)

    def hub(self, carrier: str, country: str, n: int) -> tuple[str, str]:
        """A national sorting hub of ``country``."""
        n %= HUBS_PER_COUNTRY
        return f"{carrier.lower()}-{country.lower()}-hub{n}", self._postal(country, _HUB, n)

    def drop(self, country: str, n: int) -> str:
        """The postal code of drop address ``n`` in ``country`` (never a centre's)."""
        return self._postal(country, _DROP, n)

    def near_centre(self, carrier: str, centre_id: str, n: int) -> tuple[str, str]:
        """A carrier facility in the centre's country at another postal code than the
        centre's (where a diverted parcel goes)."""
        country = WAREHOUSES[centre_id][0]
        return (
            f"{carrier.lower()}-{country.lower()}-x{n % 100:02d}",
            self._postal(country, _NEAR_CENTRE, n),
        )

    @staticmethod
    def centre(carrier: str, centre_id: str) -> tuple[str, str]:
        """(facility id, postal code) where the carrier hands parcels to a centre."""
        return f"{carrier.lower()}-{centre_id}", WAREHOUSES[centre_id][1]


def transit_ms(ctx: Ctx, o: Order) -> int:
    """A first scan -> receipt time for ``o``'s return, normal for its route (one draw)."""
    return int(ctx.rng.uniform(*transit_days(o.profile.country)) * DAY_MS)


def carrier_for(centre_id: str) -> str:
    return "UPS" if WAREHOUSES[centre_id][0] == "US" else "DHL"


#: one planned scan: (time_ms, type, country, facility id, postal code)
Scan = tuple[int, ScanType, str, str, str]


def put_label(
    ctx: Ctx,
    o: Order,
    return_id: str,
    t: int,
    tracking: str,
    carrier: str,
    destination: tuple[str | None, str, str],
) -> None:
    """The return label, addressed to ``destination`` = (centre id or None, postal, country)."""
    ctx.tl.put(
        ReturnLabelCreated(
            event_id=PENDING_ID,
            event_time_ms=t,
            return_id=return_id,
            order_id=o.order_id,
            carrier=carrier,
            tracking_id=tracking,
            destination_id=destination[0],
            destination_postal_code=destination[1],
            destination_country=destination[2],
        )
    )


def put_scans(
    ctx: Ctx,
    o: Order,
    return_id: str,
    tracking: str,
    scans: list[Scan],
    weight_g: int,
    label_postal: str,
    skip: frozenset[ScanType] = frozenset(),
) -> int:
    """Emit the scans (each weighed with +-2 % noise; a noise draw is made for skipped scans
    too, so losing a parcel moves no other random draw); returns how many were skipped."""
    rng = ctx.rng
    skipped = 0
    for t_scan, kind, where, facility, postal in scans:
        noise = 1.0 + rng.uniform(-0.02, 0.02)
        if kind in skip:
            skipped += 1
            continue
        ctx.tl.put(
            CarrierScan(
                event_id=PENDING_ID,
                event_time_ms=t_scan,
                return_id=return_id,
                order_id=o.order_id,
                tracking_id=tracking,
                scan_type=kind,
                weight_g=max(1, int(weight_g * noise)),
                location_country=where,
                facility_id=facility,
                postal_code=postal,
                destination_postal_code=label_postal,
            )
        )
    return skipped


def send_parcel(
    ctx: Ctx,
    o: Order,
    return_id: str,
    t_label: int,
    first: int,
    receipt: int | None,
    weight_g: int,
    condition: Condition,
    *,
    items_matched: bool = True,
    scan_country: str | None = None,
    end_country: str | None = None,
    received_weight_g: int | None = None,
    lost: bool = False,
) -> None:
    """Label, carrier scans and (unless ``receipt`` is None) the warehouse receipt of a return.

    By default the parcel is scanned at the depot near the customer (and maybe a hub of their
    country), "delivered" at the postal code of the centre that serves that country and
    received there. ``scan_country``/``end_country`` move the scans to other countries (the
    old fake-tracking variant: the tracking id of a parcel going elsewhere). ``lost``: the
    carrier loses it after the first or in-transit scan (no "delivered", no receipt); the
    lines it does not write are taken off the traffic budget's count (``side_lines``), so the
    rest of the world is planned as if it had been sent."""
    rng = ctx.rng
    places = ctx.places
    p = o.profile
    centre_id = p.country.warehouse
    wh_country, wh_postal = WAREHOUSES[centre_id]
    origin = scan_country or p.country.code
    tracking = ctx.tracking_id()
    carrier = carrier_for(centre_id)
    put_label(
        ctx,
        o,
        return_id,
        t_label + rng.randint(10 * SECOND_MS, 20 * MINUTE_MS),
        tracking,
        carrier,
        (centre_id, wh_postal, wh_country),
    )
    depot = places.depot_number(p)
    last = receipt if receipt is not None else first + int(rng.uniform(1.5, 5.0) * DAY_MS)
    scans: list[Scan] = [(first, "first_scan", origin, *places.depot(carrier, origin, depot))]
    span = last - first
    if rng.random() < 0.6:
        t_hub = first + int(span * rng.uniform(0.2, 0.5))
        scans.append((t_hub, "in_transit", origin, *places.hub(carrier, origin, depot)))
    t_end = last - int(span * rng.uniform(0.05, 0.15))
    label_postal = wh_postal
    if end_country is None:
        scans.append((t_end, "delivered", wh_country, *places.centre(carrier, centre_id)))
    else:
        # someone else's parcel: its label reads a drop address where it ends
        label_postal = places.drop(end_country, depot)
        scans.append((t_end, "delivered", end_country, *places.depot(carrier, end_country, depot)))
    skipped = put_scans(
        ctx,
        o,
        return_id,
        tracking,
        scans,
        weight_g,
        label_postal,
        frozenset({"delivered"}) if lost else frozenset(),
    )
    if receipt is not None:
        final_weight = received_weight_g if received_weight_g is not None else weight_g
        noise = 1.0 + rng.uniform(-0.01, 0.01)
        if lost:
            skipped += 1
        else:
            ctx.tl.put(
                ReturnReceived(
                    event_id=PENDING_ID,
                    event_time_ms=receipt,
                    return_id=return_id,
                    order_id=o.order_id,
                    warehouse_id=centre_id,
                    items_matched=items_matched,
                    weight_g=max(1, int(final_weight * noise)),
                    condition=condition,
                )
            )
    if skipped:
        ctx.tl.side_lines -= skipped
        ctx.tally.lost_return_parcels += 1

"""The customers of the simulated retailer, and the places they live in.

Why derived, not stored: a 10-million-line run has ~500k customers; their devices, IPs, address
and payment hashes are pure functions of (seed, customer index) through :class:`Hasher`, built
lazily the first time a customer acts. Only the exceptions are stored: families who share a device
and an address, travellers' trips, serial returners, customers on shared infrastructure (pickup
points, CGNAT carriers, offices), and the fraud accounts that scenarios create.

Customer ids are pseudo-random (not a counter) so that an id never tells when, or by which
scenario, the account was created.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from dataclasses import dataclass
from itertools import accumulate

from vigil.sim.config import DAY_MS, SimConfig
from vigil.sim.ids import (
    K_ADDRESS,
    K_ALT_ADDRESS,
    K_DEVICE,
    K_DEVICE2,
    K_EMAIL,
    K_HOME_IP,
    K_MOBILE_IP,
    K_PAYMENT,
    Hasher,
    ip_from,
)


@dataclass(frozen=True, slots=True)
class Country:
    code: str
    weight: float
    octet: int
    warehouse: str


#: Where customers live (weight), a made-up first IP octet, and which warehouse takes returns.
COUNTRIES: tuple[Country, ...] = (
    Country("US", 30, 23, "wh-reno"),
    Country("GB", 8, 31, "wh-coventry"),
    Country("DE", 8, 46, "wh-leipzig"),
    Country("FR", 6, 51, "wh-leipzig"),
    Country("CA", 5, 24, "wh-reno"),
    Country("ES", 4, 62, "wh-leipzig"),
    Country("IT", 4, 79, "wh-leipzig"),
    Country("NL", 3, 77, "wh-leipzig"),
    Country("PL", 3, 83, "wh-leipzig"),
    Country("SE", 2, 90, "wh-leipzig"),
    Country("AU", 3, 101, "wh-sydney"),
    Country("JP", 3, 106, "wh-sydney"),
    Country("BR", 3, 177, "wh-reno"),
    Country("MX", 3, 187, "wh-reno"),
    Country("IN", 4, 117, "wh-sydney"),
    Country("IE", 1, 86, "wh-coventry"),
    Country("BE", 2, 81, "wh-leipzig"),
    Country("AT", 1, 93, "wh-leipzig"),
    Country("CH", 1, 95, "wh-leipzig"),
    Country("PT", 1, 94, "wh-leipzig"),
    # smaller markets, also where fraud infrastructure (proxies, mule accounts) tends to sit
    Country("RO", 0.5, 141, "wh-leipzig"),
    Country("NG", 0.5, 154, "wh-coventry"),
    Country("VN", 0.5, 113, "wh-sydney"),
    Country("UA", 0.5, 159, "wh-leipzig"),
    Country("ID", 0.5, 139, "wh-sydney"),
    Country("TR", 0.5, 176, "wh-leipzig"),
    Country("PK", 0.5, 182, "wh-sydney"),
    Country("TH", 0.5, 171, "wh-sydney"),
)
#: Where takeover sessions, mule accounts and fake-tracking scans come from. Legitimate
#: customers live there too (a country alone proves nothing).
FRAUD_COUNTRIES: tuple[Country, ...] = COUNTRIES[-8:]
BY_CODE: dict[str, Country] = {c.code: c for c in COUNTRIES}
_COUNTRY_CUM = list(accumulate(c.weight for c in COUNTRIES))


def pick_country(rng: random.Random) -> Country:
    """A country drawn like a customer's home (weighted by market size)."""
    k = bisect_right(_COUNTRY_CUM, rng.random() * _COUNTRY_CUM[-1])
    return COUNTRIES[min(k, len(COUNTRIES) - 1)]


#: The retailer's return centres: id -> (country, postal code). Vigil's default
#: ``vigil.detectors.return_centres.DEFAULT_RETURN_CENTRES`` must say the same (a test keeps
#: them equal): an honest return label is addressed to one of these.
WAREHOUSES: dict[str, tuple[str, str]] = {
    "wh-reno": ("US", "89506"),
    "wh-coventry": ("GB", "CV3 4PE"),
    "wh-leipzig": ("DE", "04159"),
    "wh-sydney": ("AU", "2170"),
}
WAREHOUSE_COUNTRY: dict[str, str] = {wh: country for wh, (country, _) in WAREHOUSES.items()}

#: side scenarios' accounts are numbered from here (past any main account index)
SIDE_ACCOUNT_BASE = 1 << 40

TAG_PLAIN = 0
TAG_SERIAL = 1
TAG_FAMILY = 2
TAG_TRAVELLER = 3
TAG_VIP = 4
TAG_FRAUD = 5
TAG_SHARED = 6

#: kinds of shared infrastructure (``World.shared_of``): which attribute is shared
SHARED_PICKUP = 0  # the shipping address is a carrier depot / pickup point
SHARED_CGNAT = 1  # the mobile IP is a mobile carrier's CGNAT address
SHARED_OFFICE = 2  # the mobile IP is an office network's


class Profile:
    """What a customer looks like to the retailer (all linkable attributes already hashed)."""

    __slots__ = (
        "address",
        "alt_address",
        "country",
        "customer_id",
        "devices",
        "home_ip",
        "idx",
        "mobile_ip",
        "payment",
        "tag",
    )

    def __init__(
        self,
        *,
        idx: int,
        customer_id: str,
        country: Country,
        devices: tuple[str, ...],
        home_ip: str,
        mobile_ip: str,
        address: str,
        alt_address: str,
        payment: str,
        tag: int,
    ) -> None:
        self.idx = idx
        self.customer_id = customer_id
        self.country = country
        self.devices = devices
        self.home_ip = home_ip
        self.mobile_ip = mobile_ip
        self.address = address
        self.alt_address = alt_address
        self.payment = payment
        self.tag = tag


@dataclass(frozen=True, slots=True)
class Trip:
    start_ms: int
    end_ms: int
    country: Country
    ip: str


class World:
    """Regular customers (derived on demand) plus the exceptions scenarios and traps add."""

    def __init__(self, cfg: SimConfig, rng: random.Random, hasher: Hasher) -> None:
        self._h = hasher
        n = cfg.n_customers
        self.n_regular = n
        self.n_new = round(n * cfg.new_customer_share)
        self.n_existing = n - self.n_new
        self._start_ms = cfg.start_ms
        self._signup_step = cfg.days * DAY_MS / max(1, self.n_new)
        cum = _COUNTRY_CUM
        self.country_idx = bytearray(
            min(bisect_right(cum, rng.random() * cum[-1]), len(COUNTRIES) - 1) for _ in range(n)
        )
        self.tags = bytearray(n)
        self._profiles: list[Profile | None] = [None] * n
        self.extra: list[Profile] = []
        #: accounts made by side scenarios (``Ctx.side``): their own index range, so that the
        #: main scenarios' account ids do not move when a side scenario is switched on
        self.side_extra: list[Profile] = []
        self.family_of: dict[int, int] = {}
        self.trips: dict[int, Trip] = {}

        n_serial = _share(cfg.serial_returner_share, n, 3)
        n_travel = _share(cfg.traveller_share, n, 3)
        family_sizes: list[int] = []
        want_family = _share(cfg.family_share, n, cfg.family_size_min)
        while sum(family_sizes) < want_family:
            family_sizes.append(rng.randint(cfg.family_size_min, cfg.family_size_max))
        special = rng.sample(range(self.n_existing), n_serial + n_travel + sum(family_sizes))
        self.serial = special[:n_serial]
        self.travellers = special[n_serial : n_serial + n_travel]
        rest = special[n_serial + n_travel :]
        self.families: list[list[int]] = []
        for size in family_sizes:
            members, rest = rest[:size], rest[size:]
            for m in members:
                # a family lives together: one country (and so one home IP block)
                self.country_idx[m] = self.country_idx[members[0]]
                self.family_of[m] = len(self.families)
                self.tags[m] = TAG_FAMILY
            self.families.append(members)
        for i in self.serial:
            self.tags[i] = TAG_SERIAL
        n_vip = max(1, self.n_existing // 50)
        for i in range(n_vip):
            if self.tags[i] == TAG_PLAIN:
                self.tags[i] = TAG_VIP
        self.shared_of: dict[int, tuple[int, int]] = {}
        self._assign_shared(cfg)
        trip_latest = cfg.active_end_ms - 5 * DAY_MS
        for i in self.travellers:
            self.tags[i] = TAG_TRAVELLER
            home = COUNTRIES[self.country_idx[i]]
            abroad = home
            while abroad.code == home.code:
                abroad = pick_country(rng)
            start = rng.randint(cfg.start_ms + DAY_MS, trip_latest)
            end = start + rng.randint(4 * DAY_MS, 21 * DAY_MS)
            ip = ip_from(abroad.octet, self._h.h(K_MOBILE_IP, (1 << 40) | i))
            self.trips[i] = Trip(start, end, abroad, ip)

    def _assign_shared(self, cfg: SimConfig) -> None:
        """Pick the customers on shared infrastructure: plain existing customers, grouped by
        country. A separate random stream, so the rest of the world does not move."""
        rng = random.Random(f"vigil-sim:{cfg.seed}:shared-infrastructure")
        plain = [i for i in range(self.n_existing) if self.tags[i] == TAG_PLAIN]
        n = self.n_regular
        n_pickup = _share(cfg.pickup_point_share, n, 2)
        n_cgnat = _share(cfg.cgnat_share, n, 2)
        n_office = _share(cfg.office_share, n, cfg.office_size_min)
        chosen = rng.sample(plain, min(len(plain), n_pickup + n_cgnat + n_office))
        by_country: dict[int, list[int]] = {}
        for i in chosen[:n_pickup]:
            by_country.setdefault(self.country_idx[i], []).append(i)
        group = 0
        for members in by_country.values():
            # skewed sizes: point k of a country gets a share ~ u**2 of its customers
            k = max(1, round(len(members) / cfg.customers_per_pickup_point))
            for i in members:
                self.shared_of[i] = (SHARED_PICKUP, group + int(k * rng.random() ** 2))
            group += k
        by_country = {}
        for i in chosen[n_pickup : n_pickup + n_cgnat]:
            by_country.setdefault(self.country_idx[i], []).append(i)
        for members in by_country.values():
            k = max(1, round(len(members) / cfg.customers_per_cgnat_ip))
            for i in members:
                self.shared_of[i] = (SHARED_CGNAT, group + int(k * rng.random() ** 2))
            group += k
        by_country = {}
        for i in chosen[n_pickup + n_cgnat :]:
            by_country.setdefault(self.country_idx[i], []).append(i)
        for members in by_country.values():
            while members:
                size = rng.randint(cfg.office_size_min, cfg.office_size_max)
                for i in members[:size]:
                    self.shared_of[i] = (SHARED_OFFICE, group)
                members = members[size:]
                group += 1
        for i in self.shared_of:
            self.tags[i] = TAG_SHARED
        self.shared = sorted(self.shared_of)

    # --- regular customers --------------------------------------------------------------

    def customer_id(self, i: int) -> str:
        return f"c-{self._h.hex(0, i, 16)}"

    def profile(self, i: int) -> Profile:
        if i >= self.n_regular:
            if i >= self.n_regular + SIDE_ACCOUNT_BASE:
                return self.side_extra[i - self.n_regular - SIDE_ACCOUNT_BASE]
            return self.extra[i - self.n_regular]
        p = self._profiles[i]
        if p is None:
            p = self._make(i)
            self._profiles[i] = p
        return p

    def _make(self, i: int) -> Profile:
        h = self._h
        country = COUNTRIES[self.country_idx[i]]
        v = h.h(K_DEVICE, i)
        device = f"d-{v & 0xFFFFFFFFFFFF:012x}"
        devices: tuple[str, ...] = (device,)
        if v >> 56 < 102:  # 40 % have a second device
            devices = (device, f"d-{h.hex(K_DEVICE2, i)}")
        address = f"h:{h.hex(K_ADDRESS, i, 16)}"
        ips = h.h(K_HOME_IP, i)
        home_ip = ip_from(country.octet, ips)
        family = self.family_of.get(i)
        if family is not None:
            key = (1 << 40) | family
            devices = (f"d-{h.hex(K_DEVICE, key)}", device)
            address = f"h:{h.hex(K_ADDRESS, key, 16)}"
            home_ip = ip_from(country.octet, h.h(K_HOME_IP, key))
        mobile_ip = ip_from(country.octet, ips >> 24)
        shared = self.shared_of.get(i)
        if shared is not None:
            kind, group = shared
            key = (2 << 40) | group
            if kind == SHARED_PICKUP:
                address = f"h:{h.hex(K_ADDRESS, key, 16)}"
            else:
                mobile_ip = ip_from(country.octet, h.h(K_MOBILE_IP, key))
        return Profile(
            idx=i,
            customer_id=self.customer_id(i),
            country=country,
            devices=devices,
            home_ip=home_ip,
            mobile_ip=mobile_ip,
            address=address,
            alt_address=f"h:{h.hex(K_ALT_ADDRESS, i, 16)}",
            payment=f"pf:{h.hex(K_PAYMENT, i)}",
            tag=self.tags[i],
        )

    def email_hash(self, i: int) -> str:
        """A customer's (hashed) email, needed only when they sign up."""
        return f"h:{self._h.hex(K_EMAIL, i, 16)}"

    def signup_ms(self, i: int) -> int:
        """When a new customer (index >= n_existing) signs up."""
        return self._start_ms + int((i - self.n_existing + 0.5) * self._signup_step)

    def active_count(self, t_ms: int) -> int:
        """Regular customers who have signed up by ``t_ms``."""
        joined = int((t_ms - self._start_ms) / self._signup_step + 0.5)
        return self.n_existing + max(0, min(self.n_new, joined))

    def pick(self, rng: random.Random, t_ms: int) -> int:
        """A regular customer for everyday activity (older, loyal customers act more often;
        the hourly tick inlines this with the hour's active count)."""
        return int(self.active_count(t_ms) * rng.random() ** 1.5)

    # --- fraud accounts -----------------------------------------------------------------

    def add_account(
        self,
        *,
        country: Country,
        devices: tuple[str, ...],
        home_ip: str,
        address: str,
        payment: str,
        side: bool = False,
    ) -> Profile:
        """Register an account a scenario created (fresh signup, attributes chosen by it);
        ``side``: by a side scenario, in its own index range."""
        if side:
            idx = self.n_regular + SIDE_ACCOUNT_BASE + len(self.side_extra)
        else:
            idx = self.n_regular + len(self.extra)
        p = Profile(
            idx=idx,
            customer_id=self.customer_id(idx),
            country=country,
            devices=devices,
            home_ip=home_ip,
            mobile_ip=home_ip,
            address=address,
            alt_address=address,
            payment=payment,
            tag=TAG_FRAUD,
        )
        (self.side_extra if side else self.extra).append(p)
        return p


def _share(share: float, n: int, minimum: int) -> int:
    if share <= 0:
        return 0
    return max(minimum, round(share * n))

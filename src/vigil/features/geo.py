"""Country geography for access-risk features: centroids, distances, impossible travel.

A session only carries an ISO 3166-1 alpha-2 country, so the best place estimate is the
country's centre. For large countries the geographic centre is far from where people
are (the middle of Australia, Siberia, the Amazon), so the table holds an approximate
*population* centre for those and the geographic centre for the rest; at one decimal
degree (about 10 km) either is far finer than a whole country.

Because a country is an area, not a point, two sessions in neighbouring countries can be
minutes apart in reality while their centres are 1,000+ km apart (Seattle-Vancouver,
San Diego-Tijuana, Strasbourg-Kehl). So travel between countries that share a land
border (``NEIGHBOURS``) is never impossible, and neither is travel shorter than a minimum
distance; see :func:`implied_speed_kmh` and :func:`is_impossible_travel`.

The table covers every country the simulator uses (``vigil.sim.world.COUNTRIES`` and the
contact-centre offices in ``vigil.sim.agents.OFFICES``, which add ``PH``) plus the main
markets and outsourcing hubs elsewhere; an unknown code yields no distance (no finding).
"""

from __future__ import annotations

import math
from types import MappingProxyType
from typing import Final

__all__ = [
    "CENTROIDS",
    "EARTH_RADIUS_KM",
    "NEIGHBOURS",
    "are_neighbours",
    "distance_km",
    "implied_speed_kmh",
    "is_impossible_travel",
]

EARTH_RADIUS_KM: Final = 6371.0

#: country code -> (latitude, longitude) in degrees; population centres for large countries
CENTROIDS: Final = MappingProxyType(
    {
        "AE": (24.2, 54.5),
        "AR": (-34.0, -62.0),  # population centre (Buenos Aires / Pampas)
        "AT": (47.6, 14.1),
        "AU": (-33.0, 147.0),  # population centre (south-east coast)
        "BD": (23.7, 90.4),
        "BE": (50.6, 4.6),
        "BG": (42.7, 25.5),
        "BR": (-19.0, -46.0),  # population centre (south-east)
        "CA": (46.5, -78.0),  # population centre (Quebec-Windsor corridor)
        "CH": (46.8, 8.2),
        "CL": (-35.5, -71.5),
        "CN": (32.0, 114.0),  # population centre (east)
        "CO": (4.6, -74.3),
        "CZ": (49.8, 15.5),
        "DE": (51.2, 10.4),
        "DK": (56.0, 10.0),
        "EG": (29.5, 31.0),  # the Nile valley
        "ES": (40.4, -3.7),
        "FI": (61.9, 25.7),
        "FR": (46.6, 2.4),
        "GB": (53.0, -1.8),
        "GR": (39.1, 22.0),
        "HK": (22.3, 114.2),
        "HU": (47.2, 19.5),
        "ID": (-6.5, 108.0),  # population centre (Java)
        "IE": (53.4, -8.2),
        "IL": (31.5, 34.9),
        "IN": (23.0, 79.0),
        "IT": (42.5, 12.6),
        "JP": (36.0, 138.5),
        "KE": (-0.5, 37.0),
        "KR": (36.5, 127.8),
        "MA": (32.0, -6.5),
        "MX": (21.0, -100.5),  # population centre (central plateau)
        "MY": (3.5, 102.0),
        "NG": (8.5, 7.5),
        "NL": (52.2, 5.3),
        "NO": (60.5, 9.0),
        "NZ": (-39.0, 175.0),
        "PE": (-10.0, -76.0),
        "PH": (12.5, 122.0),
        "PK": (30.0, 70.0),
        "PL": (52.0, 19.4),
        "PT": (39.6, -8.2),
        "RO": (45.9, 25.0),
        "RU": (55.5, 45.0),  # population centre (European Russia)
        "SA": (24.0, 45.0),
        "SE": (59.5, 16.0),  # population centre (south)
        "SG": (1.35, 103.8),
        "SK": (48.7, 19.7),
        "TH": (15.0, 101.0),
        "TR": (39.0, 35.0),
        "TW": (23.7, 121.0),
        "UA": (49.0, 31.5),
        "US": (37.4, -92.2),  # US Census mean centre of population
        "VN": (16.0, 107.0),
        "ZA": (-28.0, 26.0),
    }
)

_BORDERS = (
    ("US", "CA"), ("US", "MX"),
    ("DE", "AT"), ("DE", "CH"), ("DE", "FR"), ("DE", "NL"), ("DE", "BE"), ("DE", "PL"),
    ("DE", "DK"), ("DE", "CZ"),
    ("FR", "BE"), ("FR", "CH"), ("FR", "ES"), ("FR", "IT"),
    ("ES", "PT"), ("IT", "AT"), ("IT", "CH"), ("AT", "CH"), ("AT", "CZ"), ("AT", "SK"),
    ("AT", "HU"), ("NL", "BE"), ("GB", "IE"), ("PL", "CZ"), ("PL", "SK"), ("PL", "UA"),
    ("CZ", "SK"), ("SK", "HU"), ("SK", "UA"), ("HU", "UA"), ("HU", "RO"), ("RO", "UA"),
    ("RO", "BG"), ("BG", "GR"), ("BG", "TR"), ("GR", "TR"), ("SE", "NO"), ("SE", "FI"),
    ("NO", "FI"), ("NO", "RU"), ("FI", "RU"), ("UA", "RU"),
    ("IN", "PK"), ("IN", "BD"), ("IN", "CN"), ("PK", "CN"), ("CN", "VN"), ("CN", "RU"),
    ("CN", "HK"), ("TH", "MY"), ("MY", "SG"), ("MY", "ID"),
    ("EG", "IL"), ("AR", "CL"), ("AR", "BR"), ("BR", "PE"), ("BR", "CO"), ("PE", "CO"),
    ("PE", "CL"), ("SA", "AE"),
)  # fmt: skip

#: unordered pairs of countries that share a land border (plus Hong Kong-China)
NEIGHBOURS: Final = frozenset(frozenset(pair) for pair in _BORDERS)


def are_neighbours(a: str, b: str) -> bool:
    """Whether two countries share a land border (a country is not its own neighbour)."""
    return frozenset((a, b)) in NEIGHBOURS


def distance_km(a: str, b: str) -> float | None:
    """Great-circle distance between two countries' centres; None if either is unknown."""
    pa = CENTROIDS.get(a)
    pb = CENTROIDS.get(b)
    if pa is None or pb is None:
        return None
    if a == b:
        return 0.0
    lat1, lon1 = math.radians(pa[0]), math.radians(pa[1])
    lat2, lon2 = math.radians(pb[0]), math.radians(pb[1])
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def implied_speed_kmh(a: str, b: str, elapsed_ms: int) -> float | None:
    """Speed needed to be in ``a`` and then in ``b`` ``elapsed_ms`` later (None: unknown).

    A non-positive elapsed time (overlapping sessions) between distinct places is
    infinitely fast.
    """
    d = distance_km(a, b)
    if d is None:
        return None
    if d == 0.0:
        return 0.0
    if elapsed_ms <= 0:
        return math.inf
    return d / (elapsed_ms / 3_600_000)


def is_impossible_travel(
    a: str,
    b: str,
    elapsed_ms: int,
    *,
    max_speed_kmh: float,
    min_distance_km: float,
) -> bool:
    """Whether going from country ``a`` to ``b`` in ``elapsed_ms`` beats ``max_speed_kmh``.

    Never for the same country, for neighbours (a border is minutes away for someone living
    near it), for countries closer than ``min_distance_km``, or for unknown codes.
    """
    if a == b or are_neighbours(a, b):
        return False
    d = distance_km(a, b)
    if d is None or d < min_distance_km:
        return False
    speed = implied_speed_kmh(a, b, elapsed_ms)
    return speed is not None and speed > max_speed_kmh

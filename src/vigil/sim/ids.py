"""Deterministic identifiers and pseudo-hashes.

Why not ``hash()`` or ``uuid4``: both change between processes, and the simulator must write the
same bytes for the same seed. ``mix64`` (SplitMix64's finaliser) turns (salt, number) into a
well-spread 64-bit value, so stable attributes (a customer's device, address hash, payment
fingerprint) are derived on demand instead of stored, and ids that are assigned when an order is
planned (refunds, returns, sessions) do not give away, by their order, when they were planned.
"""

from __future__ import annotations

_M64 = (1 << 64) - 1


def mix64(x: int) -> int:
    """SplitMix64 finaliser: a bijection on 64-bit integers with good avalanche."""
    x = (x + 0x9E3779B97F4A7C15) & _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


class Hasher:
    """Seeded pseudo-hashes: ``h(kind, n)`` is stable for a seed and unlike other seeds'."""

    __slots__ = ("_salt",)

    def __init__(self, seed: int) -> None:
        self._salt = mix64(seed & _M64)

    def h(self, kind: int, n: int) -> int:
        """Distinct (kind, n) pairs (n < 2**56) give distinct values: mix64 is a bijection."""
        return mix64(self._salt ^ (kind << 56) ^ n)

    def hex(self, kind: int, n: int, width: int = 12) -> str:
        """``h`` as ``width`` hex digits (16 keeps it unique; fewer is a short tag)."""
        return _HEX_FORMAT[width] % (mix64(self._salt ^ (kind << 56) ^ n) & _HEX_MASK[width])


_HEX_FORMAT = tuple(f"%0{w}x" for w in range(17))
_HEX_MASK = tuple((1 << (4 * w)) - 1 for w in range(17))


# kinds for Hasher.h: one per derived attribute, so attributes never collide
K_DEVICE = 1
K_DEVICE2 = 2
K_HOME_IP = 3
K_ADDRESS = 4
K_ALT_ADDRESS = 5
K_PAYMENT = 6
K_EMAIL = 7
K_MOBILE_IP = 8
K_REFUND = 9
K_RETURN = 10
K_SESSION = 11
K_TRACKING = 12
K_ANON_DEVICE = 13
K_FRAUD = 14
K_AGENT = 15
K_PROFILE_VALUE = 16
K_ORDER = 18
K_REQUEST = 19
K_PLACE = 20
#: ad traffic: a device's user agent and IP, invalid traffic's own devices, shared mobile IPs
K_AD_LOOK = 21
K_IVT_DEVICE = 22
K_AD_CGNAT = 23


def ip_from(country_octet: int, value: int) -> str:
    """An IPv4 address in a country's (made-up) first-octet block."""
    return f"{country_octet}.{(value >> 16) & 255}.{(value >> 8) & 255}.{(value & 253) + 1}"

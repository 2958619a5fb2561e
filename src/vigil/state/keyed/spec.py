"""What a stage declares about its state: named handles, each with a time-to-live.

Time-to-live is in event time and counted from the entry's last write (Flink's
``OnCreateAndWrite``). Expiry is rounded up to a whole day (``DAY_MS``), as the sweeps it
replaces were: an entry written at ``t`` is visible while the watermark is below
``expiry_of(t, ttl)`` and gone from then on, whether or not a sweep has removed it yet, so
when sweeps run never changes a result. ``ttl_ms=None`` keeps an entry until it is cleared.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

DAY_MS: Final = 86_400_000
#: expiry of an entry that never expires
NEVER: Final = 2**62

StateKind = Literal["value", "list", "map"]


def expiry_of(written_ms: int, ttl_ms: int | None) -> int:
    """The first watermark at which an entry written at ``written_ms`` is gone."""
    if ttl_ms is None:
        return NEVER
    due = written_ms + ttl_ms
    return due - due % DAY_MS + DAY_MS


@dataclass(frozen=True)
class StateSpec:
    """One named piece of a stage's per-key state."""

    name: str
    kind: StateKind
    ttl_ms: int | None
    #: a value kept as a live object between checkpoints (``backend``'s docstring)
    resident: bool = False

    def __post_init__(self) -> None:
        if not self.name or "\x1f" in self.name or "\x1e" in self.name:
            raise ValueError(f"state name {self.name!r} must be non-empty plain text")
        if self.ttl_ms is not None and self.ttl_ms <= 0:
            raise ValueError(f"state {self.name!r}: ttl_ms {self.ttl_ms} must be > 0 or None")
        if self.resident and self.kind != "value":
            raise ValueError(f"state {self.name!r}: only a value can be resident")


def ValueSpec(name: str, ttl_ms: int | None, *, resident: bool = False) -> StateSpec:
    """One value per key; ``resident``: a live object changed in place, written out at
    checkpoints (for the few values too large to copy at every event)."""
    return StateSpec(name, "value", ttl_ms, resident)


def ListSpec(name: str, ttl_ms: int | None) -> StateSpec:
    """An append-mostly list per key (its TTL counts from the last change)."""
    return StateSpec(name, "list", ttl_ms)


def MapSpec(name: str, ttl_ms: int | None) -> StateSpec:
    """A map per key; each field expires on its own."""
    return StateSpec(name, "map", ttl_ms)

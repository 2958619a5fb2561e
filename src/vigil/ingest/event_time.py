"""Where an event's time stands: the bounds the runtime applies (``RuntimeSettings``) and
that the API tells a sender about before the runtime sees the record.

- More than ``MAX_FUTURE_MS`` ahead of the wall clock: it cannot have happened yet. Kept as a
  ``too_early`` dead letter; it never moves the watermark (a record dated in the year 3000
  would otherwise turn every later event into a late one). Judged against the wall clock,
  so a replay of history is never affected (its events are all in the past).
- More than the allowed lateness behind the watermark (the stream's clock, the latest event
  time accepted, minus the out-of-orderness): too late.
- Opt-in, for replays where the wall clock says little (``vigil run --max-clock-skew``):
  more than the skew ahead of the stream's clock is held; processed once
  ``clock_jump_events`` arrive in a row (the stream moved on), otherwise kept as
  ``too_early``. Off by default: a sparse stream (a few events weeks apart) has gaps larger
  than any skew that would catch a typo.
(docs/architecture.md, "Event time")
"""

from __future__ import annotations

from typing import Final, Literal

MINUTE_MS: Final = 60_000
DAY_MS: Final = 86_400_000

MAX_OUT_OF_ORDERNESS_MS: Final = 10 * MINUTE_MS
ALLOWED_LATENESS_MS: Final = 2 * DAY_MS
MAX_FUTURE_MS: Final = DAY_MS
CLOCK_JUMP_EVENTS: Final = 10

Placement = Literal["on_time", "too_late", "too_early"]


def place(
    time_ms: int,
    clock_ms: int | None,
    wall_ms: int,
    *,
    max_out_of_orderness_ms: int = MAX_OUT_OF_ORDERNESS_MS,
    allowed_lateness_ms: int = ALLOWED_LATENESS_MS,
    max_future_ms: int = MAX_FUTURE_MS,
) -> Placement:
    """Where ``time_ms`` stands against the wall clock ``wall_ms`` and a stream whose latest
    event time is ``clock_ms`` (None: nothing seen yet)."""
    if time_ms > wall_ms + max_future_ms:
        return "too_early"
    if clock_ms is not None and time_ms < clock_ms - max_out_of_orderness_ms - allowed_lateness_ms:
        return "too_late"
    return "on_time"

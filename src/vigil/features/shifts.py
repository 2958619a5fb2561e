"""Rostered shifts: is a moment inside an agent's working hours?"""

from __future__ import annotations

__all__ = ["in_shift"]


def in_shift(time_ms: int, start_h: int, end_h: int, slack_min: int) -> bool:
    """Whether ``time_ms`` (UTC) falls in the shift [start_h, end_h) +- slack; wraps midnight."""
    if start_h == end_h:
        return True
    minute = (time_ms // 60_000) % 1440
    begin = start_h * 60 - slack_min
    length = ((end_h - start_h) % 24) * 60 + 2 * slack_min
    return (minute - begin) % 1440 < length

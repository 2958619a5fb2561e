"""Free text people write (case notes, hold reasons): one rule, stated the same way in the
API's schema and checked the same way here.

JSON's own whitespace (space, tab, CR, LF) is trimmed; the trimmed text must be at least the
minimum long, and the text as sent at most the maximum. Python's ``str.strip()`` trims more
(Unicode spaces, ``\\x1c``...), which a schema cannot state: a reason the schema accepted
was then refused as too short (a fuzzer found one), so only JSON's whitespace is trimmed.
"""

from __future__ import annotations

from typing import Final

#: what is trimmed: JSON's whitespace
SPACE: Final = " \t\n\r"
_SOLID: Final = r"[^ \t\n\r]"


def pattern(low: int) -> str:
    """The schema's pattern (searched, not anchored) for "``low`` characters or more once
    trimmed": a character that is not space, then one ``low - 1`` or more further on."""
    if low <= 1:
        return _SOLID
    return rf"{_SOLID}[\s\S]{{{low - 2},}}{_SOLID}"


def written(text: str, low: int, high: int) -> str | None:
    """``text`` trimmed, or None when it is shorter than ``low`` once trimmed or longer than
    ``high`` as sent."""
    kept = text.strip(SPACE)
    if len(kept) < max(low, 1) or len(text) > high:
        return None
    return kept

"""Feature values in an analyst's words, for the explanations of the refund and request models."""

from __future__ import annotations

import math
from collections.abc import Callable

Value = float | str | None
NAN = float("nan")


def as_float(v: Value) -> float:
    """A numeric value, NaN when missing (or a category)."""
    return NAN if v is None or isinstance(v, str) else float(v)


def is_known(v: Value) -> bool:
    return not (v is None or (isinstance(v, float) and math.isnan(v)))


def days_words(v: Value) -> str:
    x = as_float(v)
    return "under a day" if x < 1 else f"{x:.0f} day" + ("" if round(x) == 1 else "s")


def count_words(v: Value, one: str, many: str) -> str:
    n = round(as_float(v))
    return f"{n} {one if n == 1 else many}"


def yes_no(yes: str, no: str, unknown: str = "") -> Callable[[Value], str]:
    """Words for a 0/1 value (``unknown``, or "<yes>: unknown", when missing)."""

    def words(v: Value) -> str:
        if not is_known(v):
            return unknown or f"{yes}: unknown"
        return yes if as_float(v) >= 0.5 else no

    return words


def or_unknown(fn: Callable[[Value], str], unknown: str) -> Callable[[Value], str]:
    def words(v: Value) -> str:
        return fn(v) if is_known(v) else unknown

    return words

"""Shared by the benchmarks: time every call of a method, in place."""

from __future__ import annotations

import time
from typing import Any


def time_calls(owner: Any, attr: str, into: list[float]) -> None:
    """Wrap ``owner.attr`` so that each call appends its duration (ms) to ``into``."""
    inner = getattr(owner, attr)

    def timed(*a: Any, **kw: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return inner(*a, **kw)
        finally:
            into.append((time.perf_counter() - t0) * 1000)

    setattr(owner, attr, timed)

"""``lift_only``: a score that may only lift other evidence (a setting of the refund model
detector; the decision's rule for the model is ``backing``, tests in test_backing.py)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from vigil.decisions import lift_only


def test_capped_below_alone_at_in_full_from_it() -> None:
    assert lift_only(0.98, 0.3, 0.999) == 0.3
    assert lift_only(0.2, 0.3, 0.999) == 0.2
    assert lift_only(0.9995, 0.3, 0.999) == 0.9995
    assert lift_only(0.9995, 0.3) == 0.3  # no alone_at: always capped
    assert lift_only(0.7, 1.0) == 0.7  # cap 1: the score itself (plain noisy-OR)
    assert lift_only(1.5, 0.3) == 0.3 and lift_only(-0.1, 0.3) == 0.0


@given(st.floats(0.0, 1.0), st.floats(0.0, 1.0), st.floats(0.0, 1.0))
def test_never_more_than_the_score_and_monotone(s: float, t: float, cap: float) -> None:
    lo, hi = sorted((s, t))
    assert 0.0 <= lift_only(s, cap, 0.999) <= s
    assert lift_only(lo, cap, 0.999) <= lift_only(hi, cap, 0.999)

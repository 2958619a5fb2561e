"""A finding that may only lift other evidence (the refund model's rule in the decision)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vigil.decisions import DecisionBook, DecisionPolicy, lift_only
from vigil.detectors.base import Alert


def _alert(detector: str, score: float, rid: str = "r1") -> Alert:
    return Alert(
        alert_id=f"{detector}:{rid}",
        detector=detector,
        version=1,
        subject_type="refund",
        subject_id=rid,
        score=score,
        reasons=("why",),
        explanation=f"{detector} {score}",
        event_time_ms=1_000,
        refund_ids=(rid,),
        amount_cents=10_000,
    )


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


@pytest.mark.parametrize(
    ("other", "other_score", "level"),
    [
        (None, 0.0, "approve"),  # the model alone never raises a refund below 0.999
        ("refund_without_return", 0.25, "approve"),  # 1 - 0.75 * 0.7 = 0.475
        ("refund_without_return", 0.35, "review"),  # 1 - 0.65 * 0.7 = 0.545: lifted
        ("agent_refunds", 0.93, "deny"),  # 1 - 0.07 * 0.7 = 0.951: review -> deny
        ("serial_returner", 0.9, "approve"),  # score-only evidence does not count
    ],
)
def test_the_model_lifts_another_detectors_evidence(
    other: str | None, other_score: float, level: str
) -> None:
    book = DecisionBook(DecisionPolicy(review_threshold=0.5, deny_threshold=0.95))
    if other is not None:
        book.update(_alert(other, other_score))
    book.update(_alert("refund_model", lift_only(0.98, 0.3, 0.999)))
    decision = book.current("r1")
    assert decision is not None and decision.decision == level
    assert any(c.detector == "refund_model" for c in decision.contributions)


def test_a_very_sure_model_counts_alone() -> None:
    book = DecisionBook(DecisionPolicy(review_threshold=0.5, deny_threshold=0.95))
    (d,) = book.update(_alert("refund_model", lift_only(0.9995, 0.3, 0.999)))
    assert d.decision == "deny" and d.score == 0.9995

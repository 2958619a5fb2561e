"""The decision book: one decision per refund from every detector's findings."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vigil.decisions import DecisionBook, DecisionPolicy, combine_scores
from vigil.detectors.base import Alert
from vigil.errors import ConfigError


def _alert(
    detector: str,
    score: float,
    refund_ids: tuple[str, ...] = ("r1",),
    subject_type: str = "refund",
    subject_id: str | None = None,
    t: int = 1_000,
    reasons: tuple[str, ...] = ("something_odd",),
) -> Alert:
    subject = subject_id or refund_ids[0]
    return Alert(
        alert_id=f"{detector}:{subject_type}:{subject}",
        detector=detector,
        version=1,
        subject_type=subject_type,  # type: ignore[arg-type]
        subject_id=subject,
        score=score,
        reasons=reasons,
        explanation=f"{detector} says {score}",
        event_time_ms=t,
        refund_ids=refund_ids,
        amount_cents=12_345 if subject_type == "refund" else 0,
        customer_id="c1" if subject_type == "refund" else None,
        agent_id="ag1",
        order_id="o1" if subject_type == "refund" else None,
    )


def test_one_finding_keeps_its_score_and_level() -> None:
    book = DecisionBook(DecisionPolicy(review_threshold=0.5, deny_threshold=0.9))
    (d,) = book.update(_alert("refund_without_return", 0.6))
    assert (d.refund_id, d.decision, d.score, d.revision) == ("r1", "review", 0.6, 1)
    assert d.reasons == ("refund_without_return:something_odd",)
    assert (d.amount_cents, d.customer_id, d.order_id) == (12_345, "c1", "o1")


def test_two_detectors_agreeing_make_a_stronger_case_than_either() -> None:
    book = DecisionBook(DecisionPolicy(review_threshold=0.5, deny_threshold=0.9))
    book.update(_alert("refund_without_return", 0.4))
    (d,) = book.update(
        _alert("agent_refunds", 0.4, subject_type="agent", subject_id="ag1@0", t=2_000)
    )
    assert d.score == pytest.approx(1 - 0.6 * 0.6)
    assert d.decision == "review"
    assert [c.detector for c in d.contributions] == ["agent_refunds", "refund_without_return"]
    assert "also: refund_without_return 0.40" in d.explanation
    assert d.event_time_ms == 2_000 and d.revision == 2


def test_a_detector_repeating_itself_counts_once() -> None:
    book = DecisionBook()
    book.update(_alert("session_risk", 0.4, subject_type="session", subject_id="s#1"))
    changed = book.update(_alert("session_risk", 0.3, subject_type="session", subject_id="s#2"))
    assert changed == []  # weaker finding of the same detector changes nothing
    stronger = book.update(_alert("session_risk", 0.45, subject_type="session", subject_id="s#3"))
    assert stronger[0].score == pytest.approx(0.45)


def test_an_agent_alert_covers_each_listed_refund() -> None:
    book = DecisionBook()
    out = book.update(
        _alert(
            "agent_refunds",
            0.97,
            refund_ids=("r1", "r2", "r3"),
            subject_type="agent",
            subject_id="ag1@0",
        )
    )
    assert [d.refund_id for d in out] == ["r1", "r2", "r3"]
    assert {d.decision for d in out} == {"deny"}
    assert book.count_by_level() == {"deny": 3}
    assert book.current("nope") is None


_alerts = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c"]),
        st.floats(0.0, 1.0),
        st.lists(st.sampled_from(["r1", "r2", "r3"]), min_size=1, max_size=3, unique=True),
        st.integers(0, 5),
    ),
    max_size=25,
)


@given(_alerts, st.randoms(use_true_random=False))
def test_final_decisions_do_not_depend_on_alert_order(raw: list, rnd: random.Random) -> None:
    alerts = [
        _alert(det, score, tuple(rids), subject_type="agent", subject_id=f"{det}{k}")
        for det, score, rids, k in raw
    ]
    shuffled = list(alerts)
    rnd.shuffle(shuffled)
    one, two = DecisionBook(), DecisionBook()
    for a in alerts:
        one.update(a)
    for a in shuffled:
        two.update(a)
    for rid in ("r1", "r2", "r3"):
        x, y = one.current(rid), two.current(rid)
        assert (x is None) == (y is None)
        if x is not None and y is not None:
            assert (x.score, x.decision, x.contributions) == (y.score, y.decision, y.contributions)
            # oracle: noisy-OR of each detector's best score
            best: dict[str, float] = {}
            for a in alerts:
                if rid in a.refund_ids:
                    best[a.detector] = max(best.get(a.detector, 0.0), a.score)
            assert x.score == pytest.approx(combine_scores(best.values()), abs=1e-6)


@given(st.lists(st.floats(0.0, 1.0), max_size=6), st.floats(0.0, 1.0))
def test_combined_score_stays_in_range_and_never_falls_with_more_evidence(
    scores: list[float], extra: float
) -> None:
    base = combine_scores(scores)
    assert 0.0 <= base <= 1.0
    assert combine_scores([*scores, extra]) >= base - 1e-6
    if scores:
        assert base >= max(scores) - 1e-6


def test_policy_rejects_thresholds_out_of_order_or_range() -> None:
    with pytest.raises(ConfigError, match="below review_threshold"):
        DecisionPolicy(review_threshold=0.8, deny_threshold=0.5)
    with pytest.raises(ConfigError, match=r"in \[0, 1\]"):
        DecisionPolicy(review_threshold=1.5, deny_threshold=2.0)
    assert DecisionPolicy().level(0.49) == "approve"
    assert DecisionPolicy().level(0.5) == "review"
    assert DecisionPolicy().level(0.95) == "deny"


def test_the_combined_score_does_not_depend_on_the_order_of_the_findings() -> None:
    import itertools

    from vigil.decisions import combine_scores

    scores = [0.2745, 0.85, 0.78]  # multiplied in another order, 0.976058 or 0.976059
    assert len({combine_scores(p) for p in itertools.permutations(scores)}) == 1

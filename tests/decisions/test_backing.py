"""The refund model counts only where another detector backs it (``decisions.backing``)."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from vigil.decisions import DecisionBook, DecisionPolicy, combine_scores
from vigil.decisions.backing import backed_alerts
from vigil.detectors.base import Alert
from vigil.evaluation.scoring import covered_refunds

POLICY = DecisionPolicy(review_threshold=0.5, deny_threshold=0.95)


def _refund_alert(detector: str, score: float, rid: str = "r1", agent: str = "ag-1") -> Alert:
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
        agent_id=agent,
    )


def _agent_alert(agent: str = "ag-1", score: float = 0.6, refunds: tuple[str, ...] = ()) -> Alert:
    return Alert(
        alert_id=f"agent_refunds:{agent}",
        detector="agent_refunds",
        version=2,
        subject_type="agent",
        subject_id=f"{agent}@2026-01-22T00:00Z",
        score=score,
        reasons=("refunds_above_peers",),
        explanation="agent far above the team",
        event_time_ms=2_000,
        refund_ids=refunds,
    )


def test_the_model_alone_is_listed_but_not_counted() -> None:
    book = DecisionBook(POLICY)
    (d,) = book.update(_refund_alert("refund_model", 0.99))
    assert d.decision == "approve" and d.score == 0.0
    assert [c.detector for c in d.contributions] == ["refund_model"]  # the analyst sees it


def test_no_return_does_not_back_the_model_it_would_count_twice() -> None:
    book = DecisionBook(POLICY)
    book.update(_refund_alert("refund_without_return", 0.38))
    (d,) = book.update(_refund_alert("refund_model", 0.99))
    assert d.score == 0.38 and d.decision == "approve"


def test_a_flagged_agent_backs_its_refunds_even_later() -> None:
    book = DecisionBook(POLICY)
    book.update(_refund_alert("refund_model", 0.9, rid="r1"))
    book.update(_refund_alert("refund_model", 0.2, rid="r2"))
    book.update(_refund_alert("refund_model", 0.95, rid="r3", agent="ag-2"))
    # the agent alert lists none of these refunds (aged accounts), yet flags the agent
    changed = book.update(_agent_alert("ag-1", refunds=("r9",)))
    revised = {d.refund_id: d for d in changed}
    assert set(revised) == {"r9", "r1", "r2"}  # its own refund and the held ones
    assert revised["r1"].decision == "review" and revised["r1"].score == 0.9
    assert revised["r1"].revision == 2  # a new decision line for the stream
    assert revised["r2"].decision == "approve"
    d3 = book.current("r3")
    assert d3 is not None and d3.score == 0.0  # another agent: still held
    # found after the agent was flagged: counts at once
    (d4,) = book.update(_refund_alert("refund_model", 0.7, rid="r4"))
    assert d4.decision == "review" and d4.score == 0.7


def test_a_detector_that_sees_what_the_model_does_not_backs_it() -> None:
    book = DecisionBook(POLICY)
    book.update(_refund_alert("refund_model", 0.6))
    (d,) = book.update(_refund_alert("empty_box", 0.3))
    assert d.score == combine_scores([0.3, 0.6]) and d.decision == "review"


def test_checkpoints_keep_what_is_held_and_who_is_flagged() -> None:
    book = DecisionBook(POLICY)
    book.update(_refund_alert("refund_model", 0.9, rid="r1"))
    book.update(_agent_alert("ag-7"))
    restored = DecisionBook(POLICY)
    restored.restore(book.state())
    assert restored.held == {"ag-1": {"r1"}} and restored.flagged_agents == {"ag-7"}
    old = DecisionBook(POLICY)
    old.restore(book.entries)  # a checkpoint written before backed-only findings
    assert old.held == {} and old.entries is book.entries


def _stream(seed: int) -> list[Alert]:
    rng = random.Random(seed)
    out: list[Alert] = []
    for i in range(40):
        rid, agent = f"r{rng.randrange(12)}", f"ag-{rng.randrange(4)}"
        kind = rng.choice(["refund_model", "refund_model", "refund_without_return", "empty_box"])
        if rng.random() < 0.1:
            out.append(
                _agent_alert(agent, refunds=(rid,)) if rng.random() < 0.5 else _agent_alert(agent)
            )
            continue
        alert = _refund_alert(kind, round(rng.random(), 3), rid=rid, agent=agent)
        out.append(
            Alert(
                **{**{f: getattr(alert, f) for f in alert.__struct_fields__}, "alert_id": f"a{i}"}
            )
        )
    return out


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10_000))
def test_the_evaluation_counts_what_the_book_ends_with(seed: int) -> None:
    """``vigil evaluate`` filters the alerts file with ``backed_alerts``; its per-refund
    scores must equal the runtime's final decisions whatever order the evidence came in."""
    alerts = _stream(seed)
    # one agent per refund, as in a real stream (a refund has one issuing agent)
    agent_of: dict[str, str] = {}
    alerts = [
        a
        if a.subject_type != "refund"
        else Alert(
            **{
                **{f: getattr(a, f) for f in a.__struct_fields__},
                "agent_id": agent_of.setdefault(a.subject_id, a.agent_id or ""),
            }
        )
        for a in alerts
    ]
    book = DecisionBook(POLICY)
    for a in alerts:
        book.update(a)
    best: dict[str, dict[str, float]] = {}
    for a in backed_alerts(alerts):
        for rid in covered_refunds(a):
            per = best.setdefault(rid, {})
            per[a.detector] = max(per.get(a.detector, 0.0), a.score)
    for rid in book.entries:
        decision = book.current(rid)
        assert decision is not None
        assert decision.score == combine_scores(best.get(rid, {}).values()), rid

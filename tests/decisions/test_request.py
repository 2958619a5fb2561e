"""``decide_request``: a pure function of facts and alerts; the order alerts came in does not
matter; an agent's finding is context, not a verdict on every refund of theirs."""

from __future__ import annotations

import random
from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from vigil.decisions.evidence import AlertIndex
from vigil.decisions.policy import DecisionPolicy
from vigil.decisions.request import decide_request
from vigil.detectors.base import Alert
from vigil.detectors.return_centres import ReturnCentres
from vigil.detectors.settings import DetectorSettings
from vigil.events.schemas import RefundRequested
from vigil.features.facts import RequestFacts

T0 = 1_767_571_200_000
AGENT, SESSION, CID = "ag-20", "ss-192573b7a06b5b2f", "c-9e1f0b7a3c5d2e48"


def _alert(i: int, **kw: Any) -> Alert:
    base: dict[str, Any] = {
        "detector": "session_risk",
        "version": 2,
        "subject_type": "session",
        "subject_id": f"{SESSION}#{i}",
        "score": 0.3 + 0.05 * i,
        "reasons": ["new_device_for_agent"],
        "explanation": f"session finding {i}",
        "event_time_ms": T0 + i,
        "agent_id": AGENT,
        "session_id": SESSION,
    }
    base.update(kw)
    base.setdefault("alert_id", f"{base['detector']}:{base['subject_type']}:{base['subject_id']}")
    return msgspec.convert(base, Alert)


ALERTS = [
    *(_alert(i) for i in range(1, 5)),
    _alert(
        9,
        detector="fraud_ring",
        subject_type="ring",
        subject_id="ring-c-1#1",
        members=(f"account:{CID}",),
        session_id=None,
        score=0.55,
    ),
    _alert(
        10,
        detector="serial_returner",
        subject_type="account",
        subject_id=f"{CID}#1",
        customer_id=CID,
        session_id=None,
        agent_id=None,
        score=0.7,
    ),
]


def _request(amount_cents: int = 45_000) -> RefundRequested:
    return RefundRequested(
        event_id="ev-req",
        event_time_ms=T0 + 3_600_000,
        refund_id="rf-5b2e9c1d0a7f43",
        order_id="o-3c1e7a9b0d2f58",
        customer_id=CID,
        amount_cents=amount_cents,
        channel="agent",
        policy="manual_override",
        issued_by="agent",
        agent_id=AGENT,
        session_id=SESSION,
    )


def _decide(alerts: list[Alert], req: RefundRequested | None = None) -> Any:
    index = AlertIndex()
    for a in alerts:
        index.add_alert(a)
    return decide_request(
        req or _request(),
        RequestFacts(),
        index,
        policy=DecisionPolicy(),
        settings=DetectorSettings(),
        centres=ReturnCentres(),
    )


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_the_order_alerts_arrived_in_does_not_change_the_decision(seed: int) -> None:
    shuffled = list(ALERTS)
    random.Random(seed).shuffle(shuffled)
    assert msgspec.json.encode(_decide(shuffled)) == msgspec.json.encode(_decide(ALERTS))


def test_the_request_line_is_marked_and_scored_like_the_book() -> None:
    d = _decide(ALERTS)
    assert (d.stage, d.revision, d.event_time_ms) == ("request", 0, T0 + 3_600_000)
    assert d.decision == "review"
    detectors = [c.detector for c in d.contributions]
    # the strongest session finding once; the ring; serial returning listed, not counted
    assert detectors.count("session_risk") == 1 and "fraud_ring" in detectors
    assert detectors[-1] == "serial_returner"


def test_an_agent_finding_weighs_with_the_request_not_alone() -> None:
    agent = _alert(
        20, detector="agent_refunds", subject_type="agent",
        subject_id=f"{AGENT}@2026-01-05T00:00Z", session_id=None, score=0.99,
    )  # fmt: skip
    small = _decide([agent], _request(amount_cents=600))
    assert small.decision == "approve"
    assert all(c.detector != "agent_refunds" for c in small.contributions)
    dear = _decide([agent])
    assert any("agent_flagged_against_peers" in c.reasons for c in dear.contributions)
    assert dear.score > small.score


TAKEN = "ss-7addabfdf32eb0de"  # another session of the same agent
TAKEN_REFUNDS = ("rf-2eb5528d8e09fc", "rf-7b5fa0928d6cf7")


def _taken_over(reasons: tuple[str, ...], refunds: tuple[str, ...]) -> list[Alert]:
    """The stream's findings after a takeover: the session (naming ``refunds``), then the
    agent's week against the team, made of ``TAKEN_REFUNDS``."""
    sessions = [
        _alert(
            30 + i,
            subject_id=f"{TAKEN}#{i + 1}",
            session_id=TAKEN,
            score=0.95,
            reasons=reasons,
            refund_ids=refunds[: i + 1],
        )
        for i in range(len(refunds))
    ]
    agent = _alert(
        40, detector="agent_refunds", subject_type="agent",
        subject_id=f"{AGENT}@2026-01-05T00:00Z", session_id=None, score=0.99,
        reasons=("unreturned_manual_refunds_above_team_peers",), refund_ids=TAKEN_REFUNDS,
    )  # fmt: skip
    return [*sessions, agent]


def _flagged(d: Any) -> bool:
    return any("agent_flagged_against_peers" in c.reasons for c in d.contributions)


def test_a_flag_made_by_a_taken_over_session_is_set_aside_for_the_agents_own() -> None:
    """The takeover's refunds make the agent look like an insider against the team; the
    agent's own requests afterwards, from their usual session, are not weighed by it."""
    alerts = _taken_over(("new_device_for_agent", "new_ip_for_agent"), TAKEN_REFUNDS)
    own = _decide(alerts)
    assert not _flagged(own)
    assert own.set_aside == (alerts[-1].alert_id,)
    assert (
        f"set aside, as every refund they list was made in {TAKEN}, judged not agent {AGENT}'s: "
        f"{alerts[-1].alert_id} (0.99, 2 refunds)"
    ) in own.explanation
    # the same flag still counts when one of its refunds was named by no such session
    partly = _decide(_taken_over(("new_device_for_agent",), TAKEN_REFUNDS[:1]))
    assert _flagged(partly) and not partly.set_aside and "set aside" not in partly.explanation
    # or when the session finding says nothing about who sat at the keyboard (a burst)
    burst = _decide(_taken_over(("refund_burst_in_session",), TAKEN_REFUNDS))
    assert _flagged(burst) and not burst.set_aside
    # a request in the taken-over session itself keeps it, with the session's own finding
    inside = _decide(alerts, msgspec.structs.replace(_request(), session_id=TAKEN))
    assert _flagged(inside) and inside.decision != "approve" and not inside.set_aside
    assert own.score < inside.score

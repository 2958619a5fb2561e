"""The request-time decision: approve, review or deny a refund at the moment it is asked for.

One function, used wherever a refund is asked about: the runtime calls it for every
``refund_requested`` event before the event changes anything (``decisions.jsonl``, stage
``request``), and ``POST /v1/refunds/decide`` calls it with the facts and alerts the runtime
has published. It reads only what has arrived before the request:

- the alerts raised so far about the refund, its order, its agent, its session, its
  customer and any ring listing the customer (``evidence.AlertIndex``, by plain ids); an
  alert about the agent made only of refunds from sessions judged not the agent's (a
  takeover) is set aside for the agent's other sessions (``taken_over_sessions``);
- the request-time findings (``vigil.detectors.request``): the asking session as it
  started and the refunds it has asked for since, the return parcel as it stands, the
  request's own profile against the customer, the order and the agent;

and combines them with the stream's own ``DecisionBook`` (each detector's strongest finding
once, noisy-OR, the same ``DecisionPolicy``). Same facts and alerts, same answer.
"""

from __future__ import annotations

import msgspec

from vigil.decisions.book import DecisionBook, RefundDecision
from vigil.decisions.evidence import AlertIndex, Evidence, taken_over_sessions
from vigil.decisions.policy import DecisionPolicy
from vigil.detectors.base import Alert, refunds_of
from vigil.detectors.request import ProfileScorer, score_request
from vigil.detectors.return_centres import ReturnCentres
from vigil.detectors.settings import DetectorSettings
from vigil.events.schemas import RefundRequested
from vigil.features.facts import RequestFacts

__all__ = ["REQUEST_ALERT_PREFIX", "decide_request", "request_evidence"]

#: contributions of request-time findings carry ids ``request:<detector>:<refund id>``
REQUEST_ALERT_PREFIX = "request:"


def request_evidence(req: RefundRequested, facts: RequestFacts, alerts: AlertIndex) -> Evidence:
    """The alerts about the request's refund, order, agent, session, customer and rings."""
    session_id = req.session_id
    if session_id is None and req.agent_id is not None:
        agent = facts.agent(req.agent_id, req.event_time_ms)
        if agent is not None and agent.open_session is not None:
            session_id = agent.open_session[0]
    return alerts.evidence(
        req.refund_id,
        agent_id=req.agent_id,
        session_id=session_id,
        customer_id=req.customer_id,
        order_id=req.order_id,
        at_ms=req.event_time_ms,
    )


def decide_request(
    req: RefundRequested,
    facts: RequestFacts,
    alerts: AlertIndex,
    *,
    policy: DecisionPolicy,
    settings: DetectorSettings,
    centres: ReturnCentres,
    evidence: Evidence | None = None,
    profile: ProfileScorer | None = None,
) -> RefundDecision:
    """The decision about ``req`` from everything known before it (see the module doc)."""
    rid = req.refund_id
    if evidence is None:
        evidence = request_evidence(req, facts, alerts)
    book = DecisionBook(policy)
    agent_flag = 0.0
    #: agent alerts set aside, each with the taken-over sessions that made it
    set_aside: list[tuple[Alert, tuple[str, ...]]] = []
    min_score = settings.request_risk.taken_over_flag_min_score
    for alert in evidence.alerts:
        if alert.subject_type == "agent":
            # an agent's pattern is context, not a finding about every refund they touch:
            # a flagged agent's ordinary refunds are ordinary (``request_risk`` weighs it);
            # a pattern made by sessions judged not the agent's is set aside
            sessions = taken_over_sessions(
                alert, alerts, min_score=min_score, at_ms=req.event_time_ms
            )
            if sessions and req.session_id not in sessions:
                set_aside.append((alert, sessions))
                continue
            agent_flag = max(agent_flag, alert.score)
            continue
        # a finding about the refund, its order, session, customer or ring counts as if it
        # named this refund
        book.update(msgspec.structs.replace(alert, refund_ids=(rid,)))
    for sig in score_request(req, facts, settings, centres, agent_flag=agent_flag, profile=profile):
        alert_id = f"{REQUEST_ALERT_PREFIX}{sig.detector}:{rid}"
        book.update(Alert(alert_id=alert_id, **msgspec.structs.asdict(sig)))
    decision = book.current(rid) or RefundDecision(
        refund_id=rid,
        decision=policy.level(0.0),
        score=0.0,
        reasons=(),
        explanation="nothing known about this refund, its order, agent, session, customer or "
        "ring speaks against it",
        contributions=(),
        event_time_ms=req.event_time_ms,
        revision=0,
    )
    if set_aside:
        by_sessions: dict[tuple[str, ...], list[Alert]] = {}
        for a, made_in in set_aside:
            by_sessions.setdefault(made_in, []).append(a)
        notes = "; ".join(
            f"set aside, as every refund they list was made in {', '.join(sessions)}, judged "
            f"not agent {req.agent_id}'s: "
            + ", ".join(
                f"{a.alert_id} ({a.score:.2f}, {len(refunds_of(a))} refunds)" for a in group
            )
            for sessions, group in by_sessions.items()
        )
        decision = msgspec.structs.replace(
            decision,
            explanation=f"{decision.explanation}; {notes}",
            set_aside=tuple(a.alert_id for a, _ in set_aside),
        )
    return msgspec.structs.replace(
        decision,
        event_time_ms=req.event_time_ms,
        revision=0,
        amount_cents=req.amount_cents,
        customer_id=req.customer_id,
        agent_id=req.agent_id,
        order_id=req.order_id,
        stage="request",
    )

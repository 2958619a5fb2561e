"""``session_risk`` at request time: the asking session, judged when it started, plus the
refunds it has asked for so far (the burst), with this one.

The same weights and burst rule as the stream's ``session_risk`` (``SessionRiskSettings``;
a burst counts what is dear for the agent, by their requests before the session started),
over the session facts recorded as the session start arrived (``vigil.features.facts``):
what was new for the agent (device, IP, country), MFA, the shift, impossible travel. A
takeover is suspicious before its first refund; the stream detector speaks only once the
watermark has passed the refund.
"""

from __future__ import annotations

import math

from vigil.detectors.base import Signal
from vigil.detectors.insider.session_scoring import (
    REASON_IMPOSSIBLE_TRAVEL,
    REASON_NEW_COUNTRY,
    REASON_NEW_DEVICE,
    REASON_NEW_IP,
    REASON_NO_MFA,
    REASON_OFF_SHIFT,
    REASON_REFUND_BURST,
    burst_floor_cents,
    burst_note,
)
from vigil.detectors.request._signal import money, request_signal
from vigil.detectors.sequences._common import logistic
from vigil.detectors.settings import SessionRiskSettings
from vigil.events.schemas import RefundRequested
from vigil.features.facts import RequestFacts, SessionFacts

DETECTOR = "session_risk"


def session_logit(sess: SessionFacts, s: SessionRiskSettings) -> tuple[float, list[str], list[str]]:
    """(logit, reasons, notes) of a session as it started."""
    logit = s.bias
    reasons: list[str] = []
    notes: list[str] = []
    if sess.new_device:
        logit += s.new_device_weight
        reasons.append(REASON_NEW_DEVICE)
        notes.append(f"new device {sess.device_id}")
    if sess.new_ip:
        logit += s.new_ip_weight
        reasons.append(REASON_NEW_IP)
        notes.append(f"new IP {sess.ip}")
    if sess.new_country:
        logit += s.new_country_weight
        reasons.append(REASON_NEW_COUNTRY)
        notes.append(f"new country {sess.country}")
    if not sess.mfa:
        logit += s.no_mfa_weight
        reasons.append(REASON_NO_MFA)
        notes.append("no MFA")
    if sess.off_shift:
        logit += s.off_shift_weight
        reasons.append(REASON_OFF_SHIFT)
        notes.append("outside shift")
    if sess.travel is not None and s.impossible_travel_weight:
        logit += s.impossible_travel_weight
        reasons.append(REASON_IMPOSSIBLE_TRAVEL)
        notes.append(sess.travel)
    return logit, reasons, notes


def session_finding(
    req: RefundRequested, facts: RequestFacts, s: SessionRiskSettings
) -> Signal | None:
    if req.agent_id is None and req.session_id is None:
        return None
    t = req.event_time_ms
    session_id = req.session_id
    if session_id is None:
        agent = facts.agent(req.agent_id, t)
        if agent is None or agent.open_session is None:
            return None
        session_id, start = agent.open_session
        if start > t or t - start > s.max_session_ms:
            return None
    sess = facts.session(session_id, t)
    if sess is None or sess.start_ms is None:
        return None
    if sess.end_ms is not None and sess.end_ms < t:
        return None
    base, reasons, notes = session_logit(sess, s)
    if logistic(base) < s.min_session_score:
        return None
    floor = burst_floor_cents(s, sess.agent_amounts)
    earlier = sorted(
        (rt, amount) for rt, amount, rid in sess.requests if rt <= t and rid != req.refund_id
    )
    asked = [*earlier, (t, req.amount_cents)]
    # a session stays as suspect as it ever was: each earlier request's burst counts too
    best, n_burst = -math.inf, 0
    for k in range(1, len(asked) + 1):
        logit, n = _with_burst(base, asked[:k], floor, s)
        if logit > best:
            best, n_burst = logit, n
    score = logistic(best)
    if score < s.min_emit_score:
        return None
    if n_burst > 1:
        reasons.append(REASON_REFUND_BURST)
    k = len(asked)
    total = sum(a for _, a in asked)
    explanation = (
        f"session {session_id} of agent {sess.agent_id} ({', '.join(notes) or 'nothing unusual'})"
        f" asks for refund {k} of the session; {money(total)} so far"
        f"{burst_note(s, n_burst, floor)}"
    )
    return request_signal(DETECTOR, req, score, reasons, explanation)


def _with_burst(
    base: float, asked: list[tuple[int, int]], floor: int, s: SessionRiskSettings
) -> tuple[float, int]:
    """(logit, burst size) of the session as of its last request in ``asked``: the refunds
    of at least ``floor`` (``burst_floor_cents``) within ``burst_window_ms`` before it, and
    their money (``session_risk``'s rule)."""
    t = asked[-1][0]
    since = t - s.burst_window_ms
    amounts = [a for rt, a in asked if rt >= since and a >= floor]
    n = len(amounts)
    logit = base + min(s.burst_max, s.burst_weight * max(0, n - 1))
    logit += min(s.money_max, s.money_weight * math.log2(max(1, sum(amounts)) / s.money_ref_cents))
    return logit, n

"""``session_risk``'s judgement: a session against its agent's history and roster, and the
alert over the session's refunds (no state: the stages hand it what they hold)."""

from __future__ import annotations

import math
from typing import Any

from vigil.detectors.base import Signal, clamp01
from vigil.detectors.insider._common import logistic, money, utc_stamp
from vigil.detectors.settings import SessionRiskSettings
from vigil.features.facts import LogAmounts, log_typical
from vigil.features.geo import distance_km, is_impossible_travel
from vigil.features.shifts import in_shift

REASON_NEW_DEVICE = "new_device_for_agent"
REASON_NEW_IP = "new_ip_for_agent"
REASON_NEW_COUNTRY = "new_country_for_agent"
REASON_NO_MFA = "no_mfa"
REASON_OFF_SHIFT = "outside_shift"
REASON_REFUND_BURST = "refund_burst_in_session"
REASON_IMPOSSIBLE_TRAVEL = "impossible_travel"

NAME = "session_risk"
#: 2: impossible travel between consecutive sessions; 3: a burst counts what is dear for
#: the agent (``burst_floor_cents``)
VERSION = 3

#: a session as its start said: (agent_id, start_ms, device_id, ip, country, mfa)
SessionInfo = tuple[str, int, str, str, str, bool]
#: a session's evaluation: (logit, reasons, description, the least a refund must be to count
#: towards its burst: ``burst_floor_cents``)
Evaluation = tuple[float, tuple[str, ...], str, int]
#: a refund of the session: (time_ms, refund_id, amount_cents, customer_id, order_id)
SessionRefund = tuple[int, str, int, str, str]


def new_history() -> list[Any]:
    """An agent's history: [sessions learned, devices, ips, countries, last trusted session
    (session_id, start_ms, country) | None]."""
    return [0, [], [], [], None]


def copy_history(hist: list[Any]) -> list[Any]:
    return [hist[0], list(hist[1]), list(hist[2]), list(hist[3]), hist[4]]


def burst_floor_cents(s: SessionRiskSettings, agent_amounts: LogAmounts) -> int:
    """The least a refund must be to count towards a session's burst, for an agent whose
    refunds before the session were ``agent_amounts``: ``burst_min_refund_cents``, and for
    an agent with a history, ``burst_agent_min_z`` sd above their own typical refund. An
    escalations agent issues dear overrides all day; a burst is what is dear for them."""
    n, mean_log, m2 = agent_amounts
    if n < s.burst_agent_min_refunds:
        return s.burst_min_refund_cents
    mean, sd = log_typical(n, mean_log, m2)
    return max(s.burst_min_refund_cents, math.ceil(math.exp(mean + s.burst_agent_min_z * sd)))


def burst_note(s: SessionRiskSettings, n_burst: int, floor: int) -> str:
    """What made the burst, for an explanation: how many refunds counted, and the least a
    refund had to be (the agent's own floor, when above the flat one)."""
    if n_burst < 2:
        return ""
    whose = " (dear for this agent)" if floor > s.burst_min_refund_cents else ""
    hours = s.burst_window_ms / 3_600_000
    return f"; burst: {n_burst} of at least {money(floor)}{whose} within {hours:g} h"


def needs_previous_end(s: SessionRiskSettings, hist: list[Any]) -> bool:
    """Does the evaluation read the end of the agent's last trusted session?"""
    return bool(s.impossible_travel_weight) and hist[4] is not None


def evaluate(
    s: SessionRiskSettings,
    session_id: str,
    info: SessionInfo,
    roster: tuple[int, str, int, int] | None,
    hist: list[Any],
    previous_end_ms: int | None,
    agent_amounts: LogAmounts,
) -> tuple[Evaluation, bool]:
    """Score the session against the agent's history (``hist``: learns from it in place
    when the session is trusted): (evaluation, learned?). ``previous_end_ms``: the end of
    the last trusted session, if seen; ``agent_amounts``: the agent's refunds so far."""
    _agent_id, start, device, ip, country, mfa = info
    mature = hist[0] >= s.novelty_min_sessions
    logit = s.bias
    reasons: list[str] = []
    notes: list[str] = []
    if mature and device not in hist[1]:
        logit += s.new_device_weight
        reasons.append(REASON_NEW_DEVICE)
        notes.append(f"new device {device}")
    if mature and ip not in hist[2]:
        logit += s.new_ip_weight
        reasons.append(REASON_NEW_IP)
        notes.append(f"new IP {ip}")
    home = roster[1] if roster is not None else None
    if (roster is not None or mature) and country != home and country not in hist[3]:
        logit += s.new_country_weight
        reasons.append(REASON_NEW_COUNTRY)
        notes.append(f"new country {country}")
    if not mfa:
        logit += s.no_mfa_weight
        reasons.append(REASON_NO_MFA)
        notes.append("no MFA")
    if roster is not None and not in_shift(start, roster[2], roster[3], s.shift_slack_minutes):
        logit += s.off_shift_weight
        reasons.append(REASON_OFF_SHIFT)
        notes.append(f"outside shift {roster[2]:02d}-{roster[3]:02d}h UTC")
    travel = (
        _travel(s, hist, start, country, previous_end_ms) if needs_previous_end(s, hist) else None
    )
    if travel is not None:
        logit += s.impossible_travel_weight
        reasons.append(REASON_IMPOSSIBLE_TRAVEL)
        notes.append(travel)
    evaluation = (
        logit,
        tuple(reasons),
        ", ".join(notes) or "nothing unusual",
        burst_floor_cents(s, agent_amounts),
    )
    if mfa or logistic(logit) < s.min_session_score:
        _learn(s, hist, device, ip, country)
        hist[4] = (session_id, start, country)
        return evaluation, True
    return evaluation, False


def _travel(
    s: SessionRiskSettings, hist: list[Any], start: int, country: str, prev_end: int | None
) -> str | None:
    """A note when getting here from the last trusted session's country is impossible."""
    _prev_id, prev_start, prev_country = hist[4]
    # an end not seen by now (the watermark passed this start) means still open or never
    # ended: count from its start then, the generous reading; overlapping sessions: 0
    elapsed = start - prev_start if prev_end is None else max(0, start - prev_end)
    if not is_impossible_travel(
        prev_country,
        country,
        elapsed,
        max_speed_kmh=s.max_travel_speed_kmh,
        min_distance_km=s.min_travel_distance_km,
    ):
        return None
    km = distance_km(prev_country, country) or 0.0
    return (
        f"impossible travel {prev_country}->{country} ({km:,.0f} km in {elapsed / 3_600_000:.1f} h)"
    )


def _learn(s: SessionRiskSettings, hist: list[Any], device: str, ip: str, country: str) -> None:
    cap = s.max_known_per_agent
    hist[0] += 1
    for slot, value in ((1, device), (2, ip), (3, country)):
        known: list[str] = hist[slot]
        if known and known[-1] == value and len(known) <= cap:
            continue  # already the most recent: moving it to the end changes nothing
        if value in known:
            known.remove(value)
        known.append(value)
        del known[:-cap]


def alert(
    s: SessionRiskSettings,
    session_id: str,
    info: SessionInfo,
    evaluation: Evaluation,
    refunds: tuple[SessionRefund, ...],
    upto_ms: int,
) -> Signal | None:
    """The alert over the session's refunds up to ``upto_ms``, if the session is risky."""
    logit, reasons, notes, floor = evaluation
    if logistic(logit) < s.min_session_score:
        return None
    covered = [r for r in refunds if r[0] <= upto_ms]
    if not covered:
        return None
    k = len(covered)
    total = sum(r[2] for r in covered)
    since = upto_ms - s.burst_window_ms
    burst_refunds = [r[2] for r in covered if r[0] >= since and r[2] >= floor]
    n_burst = len(burst_refunds)
    burst = min(s.burst_max, s.burst_weight * max(0, n_burst - 1))
    money_term = s.money_weight * math.log2(max(1, sum(burst_refunds)) / s.money_ref_cents)
    logit += burst + min(s.money_max, money_term)
    score = clamp01(logistic(logit))
    if score < s.min_emit_score:
        return None
    all_reasons = reasons + ((REASON_REFUND_BURST,) if n_burst > 1 else ())
    agent_id, start = info[0], info[1]
    customers = {r[3] for r in covered}
    orders = {r[4] for r in covered}
    explanation = (
        f"session {session_id} of agent {agent_id} started {utc_stamp(start)} ({notes}) "
        f"issued {k} refund{'s' if k > 1 else ''} worth {money(total)}"
        f"{burst_note(s, n_burst, floor)}"
    )
    return Signal(
        detector=NAME,
        version=VERSION,
        subject_type="session",
        subject_id=f"{session_id}#{k}",
        score=round(score, 6),
        reasons=all_reasons,
        explanation=explanation,
        event_time_ms=max(upto_ms, start),
        refund_ids=tuple(r[1] for r in covered),
        amount_cents=total,
        customer_id=next(iter(customers)) if len(customers) == 1 else None,
        agent_id=agent_id,
        order_id=next(iter(orders)) if len(orders) == 1 else None,
        session_id=session_id,
    )

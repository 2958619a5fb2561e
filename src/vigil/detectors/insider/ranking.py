"""One calibrated risk score per agent, with reasons an analyst can read.

Evidence per agent (all relative to the agent's own peers or own history):

* **profile**: ``sum(weight_m * clip(z_m, 0, z_cap))`` over the peer deviations of
  :mod:`vigil.detectors.insider.profiles` (only *excess* counts: refunding less than the
  team is not suspicious);
* **sessions**: ``session_weight * max(0, logit(s))`` with ``s`` the highest
  ``session_risk`` alert score of the agent's sessions (a taken-over session), plus
  ``impossible_travel_weight`` once if two consecutive sessions of the agent are impossible
  travel (:func:`impossible_travel_pairs`).

The sum (``raw``) is mapped to a probability by Platt scaling,
``p = 1 / (1 + exp(-(slope * raw + intercept)))`` with ``slope > 0`` (monotone), fitted on
simulator seed 1 (:func:`vigil.detectors.insider.calibration.fit_platt`). The probability
means "this agent is corrupt or their credentials were used by someone else".
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence

import msgspec

from vigil.detectors.base import Alert
from vigil.detectors.insider._common import logistic, money, utc_stamp
from vigil.detectors.insider.profile_settings import AgentRankingSettings
from vigil.detectors.insider.profiles import AgentProfile, MetricDeviation, SessionFact
from vigil.features.geo import distance_km, is_impossible_travel

__all__ = [
    "RankedAgent",
    "SessionFinding",
    "TravelFinding",
    "calibrate",
    "impossible_travel_pairs",
    "rank_agents",
    "session_findings",
]


class TravelFinding(msgspec.Struct, frozen=True, kw_only=True):
    """Two consecutive sessions of one agent too far apart for the time between them."""

    from_session: str
    to_session: str
    from_country: str
    to_country: str
    distance_km: float
    elapsed_ms: int
    time_ms: int


class SessionFinding(msgspec.Struct, frozen=True, kw_only=True):
    """The riskiest ``session_risk`` alert of one agent."""

    session_id: str
    score: float
    explanation: str
    refunds: int
    amount_cents: int


class MetricReport(msgspec.Struct, frozen=True, kw_only=True):
    metric: str
    value: float
    peer_median: float
    z: float
    percentile: float
    numerator: float
    denominator: float


class RankedAgent(msgspec.Struct, frozen=True, kw_only=True):
    rank: int
    agent_id: str
    team: str
    #: calibrated probability that the agent is corrupt or was taken over
    probability: float
    #: uncalibrated evidence (profile + sessions)
    raw_score: float
    profile_score: float
    session_score: float
    peer_group: str
    n_peers: int
    reasons: tuple[str, ...]
    refunds: int
    refund_cents: int
    metrics: tuple[MetricReport, ...]
    riskiest_session: SessionFinding | None = None
    impossible_travel: tuple[TravelFinding, ...] = ()


def calibrate(raw: float, settings: AgentRankingSettings) -> float:
    """Platt scaling of a raw score into a probability (monotone while the slope is > 0)."""
    return logistic(settings.platt_slope * raw + settings.platt_intercept)


def impossible_travel_pairs(
    sessions: Sequence[SessionFact], settings: AgentRankingSettings
) -> list[TravelFinding]:
    """Consecutive sessions (by start) whose countries are impossibly far for the gap.

    The gap runs from the previous session's end (its start when the end is unknown; zero
    when the sessions overlap) to the next start.
    """
    out: list[TravelFinding] = []
    ordered = sorted(sessions, key=lambda x: (x.start_ms, x.session_id))
    for prev, cur in itertools.pairwise(ordered):
        if prev.end_ms is None:
            elapsed = cur.start_ms - prev.start_ms
        else:
            elapsed = max(0, cur.start_ms - prev.end_ms)
        if is_impossible_travel(
            prev.country,
            cur.country,
            elapsed,
            max_speed_kmh=settings.max_travel_speed_kmh,
            min_distance_km=settings.min_travel_distance_km,
        ):
            out.append(
                TravelFinding(
                    from_session=prev.session_id,
                    to_session=cur.session_id,
                    from_country=prev.country,
                    to_country=cur.country,
                    distance_km=round(distance_km(prev.country, cur.country) or 0.0, 1),
                    elapsed_ms=elapsed,
                    time_ms=cur.start_ms,
                )
            )
    return out


def session_findings(alerts: Iterable[Alert]) -> dict[str, SessionFinding]:
    """Agent -> its riskiest ``session_risk`` alert (the last, widest one of that session)."""
    best: dict[str, SessionFinding] = {}
    for a in alerts:
        if a.detector != "session_risk" or a.agent_id is None or a.session_id is None:
            continue
        old = best.get(a.agent_id)
        if old is not None and (old.score, old.refunds) >= (a.score, len(a.refund_ids)):
            continue
        best[a.agent_id] = SessionFinding(
            session_id=a.session_id,
            score=a.score,
            explanation=a.explanation,
            refunds=len(a.refund_ids),
            amount_cents=a.amount_cents,
        )
    return best


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%" if x >= 0.01 or x == 0 else f"{100 * x:.1f}%"


def _times(value: float, med: float) -> str:
    if med <= 0:
        return "while most of the team has none"
    return f"{value / med:.1f}x the team's median of {_pct(med)}"


def _reason(d: MetricDeviation, team: str, settings_hv_cents: int) -> str:
    """One metric deviation in words."""
    k, n, v, med = int(d.numerator), int(d.denominator), d.raw, d.peer_median
    if d.metric == "approval_rate":
        return f"approves a refund on {_pct(v)} of contacts ({k} of {n}), {_times(v, med)}"
    if d.metric == "override_rate":
        return (
            f"issues manual refunds (override or returnless) on {_pct(v)} of contacts "
            f"({k} of {n}), {_times(v, med)}"
        )
    if d.metric == "high_value_share":
        return (
            f"{_pct(v)} of refunds are {money(settings_hv_cents)} or more ({k} of {n}); "
            f"{team} team median {_pct(med)}"
        )
    if d.metric == "new_account_share":
        return f"{_pct(v)} of refunds go to new accounts ({k} of {n}); team median {_pct(med)}"
    if d.metric == "linked_account_share":
        return (
            f"{_pct(v)} of refunds go to accounts linked with other accounts (shared "
            f"devices, IPs, cards or addresses) ({k} of {n}); team median {_pct(med)}"
        )
    if d.metric == "no_return_share":
        return (
            f"{_pct(v)} of refunds never saw a return ({k} of {n} delivered orders, no scan "
            f"or receipt); team median {_pct(med)}"
        )
    if d.metric == "unreturned_money_share":
        return (
            f"{money(int(d.numerator))} of {money(int(d.denominator))} refunded "
            f"({_pct(v)}) never came back; team median {_pct(med)}"
        )
    return f"{d.metric} {v:.3g} vs team median {med:.3g}"  # pragma: no cover


def rank_agents(
    profiles: Sequence[AgentProfile],
    sessions: dict[str, SessionFinding] | None = None,
    settings: AgentRankingSettings | None = None,
    high_value_cents: int = 30_000,
) -> list[RankedAgent]:
    """Every agent with a calibrated probability and reasons, riskiest first."""
    s = settings or AgentRankingSettings()
    sessions = sessions or {}
    weights = {m.name: m.weight for m in s.metrics}
    scored: list[tuple[float, str, RankedAgent]] = []
    for p in profiles:
        a = p.activity
        contributions: list[tuple[float, str]] = []
        profile_score = 0.0
        for d in p.deviations:
            z = min(max(d.z, 0.0), s.z_cap)
            c = weights.get(d.metric, 0.0) * z
            profile_score += c
            if d.z >= s.reason_min_z and c > 0:
                contributions.append((c, _reason(d, a.team, high_value_cents)))
        session_score = 0.0
        finding = sessions.get(a.agent_id)
        if finding is not None:
            q = min(max(finding.score, 1e-9), 1.0 - 1e-5)  # logit at most about 11.5
            session_score += s.session_weight * max(0.0, math.log(q / (1.0 - q)))
        if finding is not None and finding.score >= 0.5:
            contributions.append(
                (
                    session_score,
                    f"risky session {finding.session_id} (session risk {finding.score:.2f}, "
                    f"{finding.refunds} refunds worth {money(finding.amount_cents)}): "
                    f"{finding.explanation}",
                )
            )
        travel = impossible_travel_pairs(a.sessions, s)
        if travel:
            session_score += s.impossible_travel_weight
            t = travel[0]
            more = f" (and {len(travel) - 1} more)" if len(travel) > 1 else ""
            contributions.append(
                (
                    s.impossible_travel_weight,
                    f"impossible travel {t.from_country}->{t.to_country}: "
                    f"{t.distance_km:,.0f} km in {t.elapsed_ms / 3_600_000:.1f} h "
                    f"at {utc_stamp(t.time_ms)}{more}",
                )
            )
        raw = profile_score + session_score
        contributions.sort(key=lambda x: -x[0])
        ranked = RankedAgent(
            rank=0,
            agent_id=a.agent_id,
            team=a.team,
            probability=round(calibrate(raw, s), 6),
            raw_score=round(raw, 4),
            profile_score=round(profile_score, 4),
            session_score=round(session_score, 4),
            peer_group=p.peer_group,
            n_peers=p.n_peers,
            reasons=tuple(text for _, text in contributions),
            refunds=a.refunds,
            refund_cents=a.refund_cents,
            metrics=tuple(
                MetricReport(
                    metric=d.metric,
                    value=round(d.value, 6),
                    peer_median=round(d.peer_median, 6),
                    z=round(d.z, 3),
                    percentile=round(d.percentile, 3),
                    numerator=d.numerator,
                    denominator=d.denominator,
                )
                for d in p.deviations
            ),
            riskiest_session=finding,
            impossible_travel=tuple(travel),
        )
        scored.append((raw, a.agent_id, ranked))
    scored.sort(key=lambda x: (-x[0], x[1]))
    return [msgspec.structs.replace(r, rank=i + 1) for i, (_, _, r) in enumerate(scored)]

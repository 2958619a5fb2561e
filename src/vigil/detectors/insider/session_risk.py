"""Insider risk: an internal-tool session that looks like account takeover, then refunds.

A session is judged against the agent's own history and roster: a device, IP or country
the agent has not used before (the home country from ``agent_rostered`` never counts as
new), no MFA, and a start outside the rostered shift (read in UTC, with some slack) each
add to a logit. Device and IP novelty only count once the agent has a few sessions of
history (otherwise every first session would look new). History is learned only from
sessions that are not themselves risky or that used MFA, so an intruder does not teach
the detector that his device is normal; a travelling agent who uses MFA within the shift
stays low-risk.

Event-time order, not arrival order: both the session evaluation and the refunds are
handled on event-time timers (at the session start and at each refund's time), which
fire in event-time order once the watermark passes. History therefore grows in the order
sessions happened, and an alert lists exactly the session's refunds up to that time,
whatever the arrival order within the out-of-orderness bound. The cost is latency: an
alert is raised when the watermark passes the refund (the out-of-orderness bound later).

Impossible travel: the session's country is compared with the country of the agent's
previous *trusted* session (one the history learned from); if getting from one to the
other in the time between the previous session's end (or its start, while the end is
unknown; zero when they overlap) and this start beats an airliner between the country
centres (``vigil.features.geo``), the session gets ``impossible_travel_weight``. Same or
neighbouring countries, and countries closer than ``min_travel_distance_km``, never count.

No single factor is enough: MFA outages, overtime and travel happen to honest agents,
and a stolen session cookie or MFA fatigue gets an intruder past MFA. Every takeover
comes from a device the agent never used, so a new device weighs most; the session must
reach ``min_session_score`` before any refund counts, and the alert score then adds the
*burst*: the session's refunds of at least ``burst_min_refund_cents`` within
``burst_window_ms`` (count beyond the first, and their money in doublings over
``money_ref_cents``). An honest agent on a new laptop doing ordinary work, or an
escalations agent issuing several dear overrides from the usual device, stays below the
threshold; a new device and IP followed by a burst of dear overrides does not, even with
MFA, inside the shift and from the home country.

Alerts: subject ``session``, one alert per refund of a risky session, with subject id
``<session_id>#<k>`` for the k-th refund of the session (in event-time order), covering
refunds 1..k. A refund after an alert therefore raises a *new* alert that extends the
previous one, with a score that grows with the burst (count and money of refunds).
Refunds without a session id are attributed to the agent's session open at refund time.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

from vigil.detectors.base import BaseDetector, Context, Signal, clamp01
from vigil.detectors.insider._common import (
    GC_PREFIX,
    logistic,
    money,
    retain,
    sweep,
    touch,
    utc_stamp,
)
from vigil.detectors.settings import DAY_MS, SessionRiskSettings
from vigil.events.schemas import (
    AgentRostered,
    AgentSessionEnded,
    AgentSessionStarted,
    EventBase,
    RefundIssued,
)
from vigil.features.geo import distance_km, is_impossible_travel
from vigil.features.shifts import in_shift

REASON_NEW_DEVICE = "new_device_for_agent"
REASON_NEW_IP = "new_ip_for_agent"
REASON_NEW_COUNTRY = "new_country_for_agent"
REASON_NO_MFA = "no_mfa"
REASON_OFF_SHIFT = "outside_shift"
REASON_REFUND_BURST = "refund_burst_in_session"
REASON_IMPOSSIBLE_TRAVEL = "impossible_travel"

_ROSTER = "roster"  # agent_id -> (event_time_ms, home_country, shift_start_h, shift_end_h)
# agent_id -> [sessions learned, devices, ips, countries, last trusted session
#              (session_id, start_ms, country) | None]
_HISTORY = "history"
_SESSIONS = "sessions"  # session_id -> session entry (below)
_AGENT_SESSIONS = "agent_sessions"  # agent_id -> [(start_ms, session_id), ...] recent
_START = "start|"
_REFUND = "refund|"
_RECENT_SESSIONS = 8

# Session entry (a list, mutated in place):
_LAST = 0  # last activity (event time), for retention
_INFO = 1  # (agent_id, start_ms, device_id, ip, country, mfa) | None until the start is seen
_EVAL = 2  # (logit, reasons, description) once evaluated, else None
_REFUNDS = 3  # [(time_ms, refund_id, amount_cents, customer_id, order_id), ...]
_END = 4  # end time | None

# refund timer payload: (refund_id, session_id|None, agent_id|None, amount_cents,
#                        customer_id, order_id, time_ms)
RefundFacts = tuple[str, str | None, str | None, int, str, str, int]


class SessionRiskDetector(BaseDetector):
    """Sessions from a new device/IP/country, without MFA, off shift, followed by refunds."""

    name: ClassVar[str] = "session_risk"
    #: 2: impossible travel between consecutive sessions
    version: ClassVar[int] = 2
    subscribes: ClassVar[frozenset[str]] = frozenset(
        {"agent_rostered", "agent_session_started", "agent_session_ended", "refund_issued"}
    )

    def __init__(self, settings: SessionRiskSettings | None = None) -> None:
        self.settings = settings or SessionRiskSettings()

    @property
    def _retention_ms(self) -> int:
        return self.settings.max_session_ms + DAY_MS

    # --- events -----------------------------------------------------------------------------

    def on_event(self, event: EventBase, ctx: Context) -> Sequence[Signal]:
        if isinstance(event, AgentSessionStarted):
            entry = self._session(ctx, event.session_id, event.event_time_ms)
            if entry[_INFO] is None:
                entry[_INFO] = (
                    event.agent_id,
                    event.event_time_ms,
                    event.device_id,
                    event.ip,
                    event.country,
                    event.mfa,
                )
                recent = ctx.keyed(_AGENT_SESSIONS).setdefault(event.agent_id, [])
                recent.append((event.event_time_ms, event.session_id))
                recent.sort()
                del recent[:-_RECENT_SESSIONS]
                ctx.set_timer(event.event_time_ms, _START + event.session_id)
        elif isinstance(event, AgentSessionEnded):
            entry = self._session(ctx, event.session_id, event.event_time_ms)
            entry[_END] = event.event_time_ms
        elif isinstance(event, RefundIssued):
            if event.session_id is None and (
                event.agent_id is None or not self.settings.attribute_sessionless_refunds
            ):
                return ()
            facts: RefundFacts = (
                event.refund_id,
                event.session_id,
                event.agent_id,
                event.amount_cents,
                event.customer_id,
                event.order_id,
                event.event_time_ms,
            )
            ctx.set_timer(event.event_time_ms, _REFUND + event.refund_id, facts)
        elif isinstance(event, AgentRostered):
            roster = ctx.keyed(_ROSTER)
            old = roster.get(event.agent_id)
            if old is None or old[0] <= event.event_time_ms:
                roster[event.agent_id] = (
                    event.event_time_ms,
                    event.home_country,
                    event.shift_start_hour,
                    event.shift_end_hour,
                )
        return ()

    def _session(self, ctx: Context, session_id: str, time_ms: int) -> list[Any]:
        sessions = ctx.keyed(_SESSIONS)
        entry: list[Any] | None = sessions.get(session_id)
        if entry is None:
            entry = sessions[session_id] = [time_ms, None, None, [], None]
            retain(ctx, _SESSIONS, session_id, time_ms, self._retention_ms)
        else:
            touch(entry, time_ms)
        return entry

    # --- timers -----------------------------------------------------------------------------

    def on_timer(self, key: str, payload: Any, fired_at_ms: int, ctx: Context) -> Sequence[Signal]:
        if key.startswith(GC_PREFIX):
            sweep(ctx, key, fired_at_ms, self._retention_ms)
            return ()
        if key.startswith(_START):
            session_id = key[len(_START) :]
            entry: list[Any] | None = ctx.keyed(_SESSIONS).get(session_id)
            if entry is None or entry[_INFO] is None:
                return ()
            self._evaluate(session_id, entry, ctx)
            if entry[_REFUNDS]:  # refunds seen before the start (a late session start)
                return self._alert(session_id, entry, entry[_REFUNDS][-1][0])
            return ()
        if key.startswith(_REFUND) and isinstance(payload, tuple):
            return self._on_refund(payload, ctx)
        return ()

    def _on_refund(self, facts: RefundFacts, ctx: Context) -> Sequence[Signal]:
        refund_id, session_id, agent_id, amount, customer_id, order_id, t = facts
        if session_id is None:
            session_id = self._open_session(ctx, agent_id, t)
            if session_id is None:
                return ()
        entry = self._session(ctx, session_id, t)
        refunds: list[tuple[int, str, int, str, str]] = entry[_REFUNDS]
        if any(r[1] == refund_id for r in refunds):
            return ()
        refunds.append((t, refund_id, amount, customer_id, order_id))
        refunds.sort()
        if entry[_INFO] is None:
            return ()  # the session start has not been seen; its timer will alert
        if entry[_EVAL] is None:
            self._evaluate(session_id, entry, ctx)
        return self._alert(session_id, entry, t)

    def _open_session(self, ctx: Context, agent_id: str | None, t: int) -> str | None:
        if agent_id is None:
            return None
        sessions = ctx.keyed(_SESSIONS)
        for start, session_id in reversed(ctx.keyed(_AGENT_SESSIONS).get(agent_id, ())):
            if start > t:
                continue
            entry = sessions.get(session_id)
            end = entry[_END] if entry is not None else None
            if (end is None or end >= t) and t - start <= self.settings.max_session_ms:
                return str(session_id)
            return None
        return None

    # --- scoring ----------------------------------------------------------------------------

    def _evaluate(self, session_id: str, entry: list[Any], ctx: Context) -> None:
        """Score the session against the agent's history, then maybe learn from it."""
        if entry[_EVAL] is not None:
            return
        s = self.settings
        agent_id, start, device, ip, country, mfa = entry[_INFO]
        roster = ctx.keyed(_ROSTER).get(agent_id)
        histories = ctx.keyed(_HISTORY)
        hist: list[Any] = histories.get(agent_id) or [0, [], [], [], None]
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
        travel = self._travel(hist, start, country, ctx) if s.impossible_travel_weight else None
        if travel is not None:
            logit += s.impossible_travel_weight
            reasons.append(REASON_IMPOSSIBLE_TRAVEL)
            notes.append(travel)
        entry[_EVAL] = (logit, tuple(reasons), ", ".join(notes) or "nothing unusual")
        if mfa or logistic(logit) < s.min_session_score:
            self._learn(histories, agent_id, hist, device, ip, country)
            hist[4] = (session_id, start, country)

    def _travel(self, hist: list[Any], start: int, country: str, ctx: Context) -> str | None:
        """A note when getting here from the last trusted session's country is impossible."""
        last = hist[4]
        if last is None:
            return None
        prev_id, prev_start, prev_country = last
        prev = ctx.keyed(_SESSIONS).get(prev_id)
        prev_end = prev[_END] if prev is not None else None
        # an end not seen by now (the watermark passed this start) means still open or never
        # ended: count from its start then, the generous reading; overlapping sessions: 0
        elapsed = start - prev_start if prev_end is None else max(0, start - prev_end)
        s = self.settings
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
            f"impossible travel {prev_country}->{country} ({km:,.0f} km in "
            f"{elapsed / 3_600_000:.1f} h)"
        )

    def _learn(
        self,
        histories: dict[str, Any],
        agent_id: str,
        hist: list[Any],
        device: str,
        ip: str,
        country: str,
    ) -> None:
        cap = self.settings.max_known_per_agent
        hist[0] += 1
        for slot, value in ((1, device), (2, ip), (3, country)):
            known: list[str] = hist[slot]
            if known and known[-1] == value and len(known) <= cap:
                continue  # already the most recent: moving it to the end changes nothing
            if value in known:
                known.remove(value)
            known.append(value)
            del known[:-cap]
        histories[agent_id] = hist

    def _alert(self, session_id: str, entry: list[Any], upto_ms: int) -> Sequence[Signal]:
        s = self.settings
        logit, reasons, notes = entry[_EVAL]
        if logistic(logit) < s.min_session_score:
            return ()
        covered: list[tuple[int, str, int, str, str]] = [
            r for r in entry[_REFUNDS] if r[0] <= upto_ms
        ]
        if not covered:
            return ()
        k = len(covered)
        total = sum(r[2] for r in covered)
        since = upto_ms - s.burst_window_ms
        burst_refunds = [
            r[2] for r in covered if r[0] >= since and r[2] >= s.burst_min_refund_cents
        ]
        n_burst = len(burst_refunds)
        burst = min(s.burst_max, s.burst_weight * max(0, n_burst - 1))
        money_term = s.money_weight * math.log2(max(1, sum(burst_refunds)) / s.money_ref_cents)
        logit += burst + min(s.money_max, money_term)
        score = clamp01(logistic(logit))
        if score < s.min_emit_score:
            return ()
        all_reasons = reasons + ((REASON_REFUND_BURST,) if n_burst > 1 else ())
        agent_id, start = entry[_INFO][0], entry[_INFO][1]
        customers = {r[3] for r in covered}
        orders = {r[4] for r in covered}
        explanation = (
            f"session {session_id} of agent {agent_id} started {utc_stamp(start)} ({notes}) "
            f"issued {k} refund{'s' if k > 1 else ''} worth {money(total)}"
        )
        return (
            Signal(
                detector=self.name,
                version=self.version,
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
            ),
        )

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
``money_ref_cents``). For an agent with a history (``burst_agent_min_refunds`` refunds
before the session), a refund must also be dear *for that agent*: ``burst_agent_min_z`` sd
above their own typical refund as it stood at the session's start
(``session_scoring.burst_floor_cents``). An honest agent on a new laptop doing ordinary
work, or an escalations agent issuing several dear overrides from the usual device, stays
below the threshold, and so does an escalations agent on a new laptop doing their usual
$150 overrides; a new device and IP followed by a burst of overrides dear for the agent
does not, even with MFA, inside the shift and from the home country.

Alerts: subject ``session``, one alert per refund of a risky session, with subject id
``<session_id>#<k>`` for the k-th refund of the session (in event-time order), covering
refunds 1..k. A refund after an alert therefore raises a *new* alert that extends the
previous one, with a score that grows with the burst (count and money of refunds).
Refunds without a session id are attributed to the agent's session open at refund time.

As stages (docs/adr/0004-keyed-state.md): ``session_risk_sessions`` (key: session) keeps
what the session did (its start, end and refunds; a timer at the start and at each refund);
``session_risk_agents`` (key: agent) keeps the roster, the history and the recent sessions,
evaluates a session when the session's stage asks (``SessionEvaluation``, which fetches the
end of the last trusted session from that session's stage when travel is weighed) and
gives a refund without a session id to the session that started last before it
(``SessionRefundAttributed``). The judgement is ``session_scoring``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import msgspec

from vigil.detectors.insider.session_scoring import (
    NAME,
    REASON_IMPOSSIBLE_TRAVEL,
    REASON_NEW_COUNTRY,
    REASON_NEW_DEVICE,
    REASON_NEW_IP,
    REASON_NO_MFA,
    REASON_OFF_SHIFT,
    REASON_REFUND_BURST,
    VERSION,
    alert,
    copy_history,
    evaluate,
    needs_previous_end,
    new_history,
)
from vigil.detectors.settings import DAY_MS, SessionRiskSettings
from vigil.events.derived import AgentSessionOpened, SessionEvaluation, SessionRefundAttributed
from vigil.events.schemas import AgentRostered, AgentSessionEnded, AgentSessionStarted, RefundIssued
from vigil.features.facts import NO_AMOUNTS, add_log_amount
from vigil.state.keyed.pipeline import StagePipeline
from vigil.state.keyed.spec import MapSpec, StateSpec, ValueSpec
from vigil.state.keyed.stage import KeyKind, Output, StageContext

_START = "start"
_REFUND = "refund|"
_RECENT_SESSIONS = 8

# Session entry:
_LAST = 0  # last activity (event time), for retention
_INFO = 1  # (agent_id, start_ms, device_id, ip, country, mfa) | None until the start is seen
_EVAL = 2  # (logit, reasons, description) once evaluated, else None
_REFUNDS = 3  # ((time_ms, refund_id, amount_cents, customer_id, order_id), ...) by time
_END = 4  # end time | None

#: a refund as kept until its timer: (refund_id, session_id | None, agent_id | None,
#: amount_cents, customer_id, order_id, time_ms)
RefundFacts = tuple[str, str | None, str | None, int, str, str, int]


def _facts(event: RefundIssued) -> RefundFacts:
    return (
        event.refund_id,
        event.session_id,
        event.agent_id,
        event.amount_cents,
        event.customer_id,
        event.order_id,
        event.event_time_ms,
    )


class _Stage:
    #: 2: the agent stage learns the agent's refunds; an evaluation carries the burst floor
    version: ClassVar[int] = 2

    def __init__(self, settings: SessionRiskSettings | None = None) -> None:
        self.settings = settings or SessionRiskSettings()


class SessionRiskSessionsStage(_Stage):
    name: ClassVar[str] = "session_risk_sessions"
    reads: ClassVar[frozenset[str]] = frozenset(
        {"agent_session_started", "agent_session_ended", "refund_issued",
         "session_evaluation", "session_refund_attributed"}
    )  # fmt: skip
    key: ClassVar[KeyKind] = "session"

    def state(self) -> Sequence[StateSpec]:
        return (
            # the entry (above), kept a day longer than the longest session after its activity
            ValueSpec("session", ttl_ms=self.settings.max_session_ms + DAY_MS),
            MapSpec("pending", ttl_ms=None),  # refund id -> RefundFacts, until its timer
        )

    def key_of(self, event: Any) -> str | None:
        tp = type(event)
        if tp is SessionEvaluation:
            if event.step == "session":
                return event.session_id  # type: ignore[no-any-return]
            return event.previous_session_id if event.step == "previous" else None
        return event.session_id  # type: ignore[no-any-return]

    def _entry(self, ctx: StageContext, time_ms: int) -> list[Any]:
        found = ctx.value("session").get()
        if found is None:
            return [time_ms, None, None, (), None]
        entry = list(found)
        if time_ms > entry[_LAST]:
            entry[_LAST] = time_ms
        return entry

    def _store(self, ctx: StageContext, entry: list[Any]) -> None:
        ctx.value("session").set(entry, at_ms=entry[_LAST])

    def on_event(self, event: Any, ctx: StageContext) -> Sequence[Output]:
        tp = type(event)
        if tp is AgentSessionStarted:
            t = event.event_time_ms
            entry = self._entry(ctx, t)
            out: tuple[Output, ...] = ()
            if entry[_INFO] is None:
                entry[_INFO] = (event.agent_id, t, event.device_id, event.ip, event.country,
                                event.mfa)  # fmt: skip
                ctx.timer(t, _START)
                out = (AgentSessionOpened(event_time_ms=t, agent_id=event.agent_id,
                                          session_id=event.session_id, start_ms=t),)  # fmt: skip
            self._store(ctx, entry)
            return out
        if tp is AgentSessionEnded:
            entry = self._entry(ctx, event.event_time_ms)
            entry[_END] = event.event_time_ms
            self._store(ctx, entry)
        elif tp is RefundIssued:
            facts = _facts(event)
            ctx.map("pending").put(event.refund_id, facts)
            ctx.timer(event.event_time_ms, _REFUND + event.refund_id)
        elif tp is SessionRefundAttributed:
            found = ctx.value("session").get()
            end = found[_END] if found is not None else None
            t = event.facts[6]
            if end is not None and end < t:
                return ()  # the agent's latest session had ended: the refund is not in one
            return self._on_refund(ctx, event.facts)
        elif tp is SessionEvaluation:
            if event.step == "previous":  # the end of this session, for the agent's stage
                found = ctx.value("session").get()
                return (_step(event, "resume", previous_end_ms=found[_END] if found else None),)
            found = ctx.value("session").get()
            if found is None:
                return ()
            entry = list(found)
            entry[_EVAL] = event.evaluation
            self._store(ctx, entry)
            return self._alert(ctx, entry, event.upto_ms)
        return ()

    def on_timer(self, name: str, fired_at_ms: int, ctx: StageContext) -> Sequence[Output]:
        if name == _START:
            found = ctx.value("session").get()
            if found is None or found[_INFO] is None:
                return ()
            if found[_EVAL] is None:
                return (self._evaluation(ctx, found, None),)
            return self._alert(ctx, found, None)
        refund_id = name[len(_REFUND) :]
        facts = ctx.map("pending").get(refund_id)
        if facts is None:
            return ()
        ctx.map("pending").remove(refund_id)
        return self._on_refund(ctx, facts)

    def _on_refund(self, ctx: StageContext, facts: RefundFacts) -> Sequence[Output]:
        refund_id, _, _, amount, customer_id, order_id, t = facts
        entry = self._entry(ctx, t)
        refunds = entry[_REFUNDS]
        if any(r[1] == refund_id for r in refunds):
            self._store(ctx, entry)
            return ()
        entry[_REFUNDS] = tuple(sorted((*refunds, (t, refund_id, amount, customer_id, order_id))))
        self._store(ctx, entry)
        if entry[_INFO] is None:
            return ()  # the session start has not been seen; its timer will alert
        if entry[_EVAL] is None:
            return (self._evaluation(ctx, entry, t),)
        return self._alert(ctx, entry, t)

    def _evaluation(self, ctx: StageContext, entry: Any, upto_ms: int | None) -> Output:
        info = entry[_INFO]
        return SessionEvaluation(
            event_time_ms=ctx.now_ms, step="agent", agent_id=info[0],
            session_id=ctx.key or "", info=info, upto_ms=upto_ms,
        )  # fmt: skip

    def _alert(self, ctx: StageContext, entry: Any, upto_ms: int | None) -> Sequence[Output]:
        refunds = entry[_REFUNDS]
        if upto_ms is None:  # at the start: the refunds seen before it (a late start)
            if not refunds:
                return ()
            upto_ms = refunds[-1][0]
        signal = alert(self.settings, ctx.key or "", entry[_INFO], entry[_EVAL], refunds, upto_ms)
        return (signal,) if signal is not None else ()


class SessionRiskAgentsStage(_Stage):
    name: ClassVar[str] = "session_risk_agents"
    reads: ClassVar[frozenset[str]] = frozenset(
        {"agent_rostered", "refund_issued", "agent_session_opened", "session_evaluation"}
    )
    key: ClassVar[KeyKind] = "agent"

    def state(self) -> Sequence[StateSpec]:
        return (
            ValueSpec("roster", ttl_ms=None),  # (event time, home country, shift start, end)
            ValueSpec("history", ttl_ms=None),  # ``session_scoring.new_history``
            ValueSpec("recent", ttl_ms=None),  # ((start_ms, session_id), ...) latest last
            # the agent's refunds so far (``add_log_amount``), learned in event-time order
            ValueSpec("amounts", ttl_ms=None),
            MapSpec("pending", ttl_ms=None),  # refund id -> RefundFacts, until its timer
        )

    def key_of(self, event: Any) -> str | None:
        tp = type(event)
        if tp is RefundIssued:
            return event.agent_id  # type: ignore[no-any-return]
        if tp is SessionEvaluation:
            return event.agent_id if event.step in ("agent", "resume") else None
        return event.agent_id  # type: ignore[no-any-return]

    def on_event(self, event: Any, ctx: StageContext) -> Sequence[Output]:
        tp = type(event)
        if tp is AgentRostered:
            roster = ctx.value("roster")
            old = roster.get()
            if old is None or old[0] <= event.event_time_ms:
                roster.set((event.event_time_ms, event.home_country, event.shift_start_hour,
                            event.shift_end_hour))  # fmt: skip
        elif tp is AgentSessionOpened:
            recent = ctx.value("recent")
            found = sorted((*(recent.get() or ()), (event.start_ms, event.session_id)))
            recent.set(tuple(found[-_RECENT_SESSIONS:]))
        elif tp is RefundIssued:
            ctx.map("pending").put(event.refund_id, _facts(event))
            ctx.timer(event.event_time_ms, _REFUND + event.refund_id)
        elif tp is SessionEvaluation:
            return self._evaluate(ctx, event)
        return ()

    def _evaluate(self, ctx: StageContext, event: SessionEvaluation) -> Sequence[Output]:
        s = self.settings
        found = ctx.value("history").get()
        hist = new_history() if found is None else copy_history(found)
        if event.step == "agent" and needs_previous_end(s, hist):
            return (_step(event, "previous", previous_session_id=hist[4][0]),)
        evaluation, learned = evaluate(
            s,
            event.session_id,
            event.info,
            _roster(ctx),
            hist,
            event.previous_end_ms,
            ctx.value("amounts").get() or NO_AMOUNTS,
        )
        if learned:
            ctx.value("history").set(hist)
        return (_step(event, "session", evaluation=evaluation),)

    def on_timer(self, name: str, fired_at_ms: int, ctx: StageContext) -> Sequence[Output]:
        refund_id = name[len(_REFUND) :]
        facts = ctx.map("pending").get(refund_id)
        if facts is None:
            return ()
        ctx.map("pending").remove(refund_id)
        amounts = ctx.value("amounts")
        amounts.set(add_log_amount(amounts.get() or NO_AMOUNTS, facts[3]))
        if facts[1] is not None or not self.settings.attribute_sessionless_refunds:
            return ()
        # the agent's session that started last before the refund, if not too long ago
        t = facts[6]
        for start, session_id in reversed(ctx.value("recent").get() or ()):
            if start > t:
                continue
            if t - start > self.settings.max_session_ms:
                return ()
            return (SessionRefundAttributed(event_time_ms=t, session_id=session_id, facts=facts),)
        return ()


def _roster(ctx: StageContext) -> tuple[int, str, int, int] | None:
    return ctx.value("roster").get()  # type: ignore[no-any-return]


def _step(event: SessionEvaluation, step: str, **changes: Any) -> SessionEvaluation:
    return msgspec.structs.replace(event, step=step, **changes)


def session_risk_stages(settings: SessionRiskSettings) -> list[Any]:
    """The session stage and the agent stage."""
    return [SessionRiskSessionsStage(settings), SessionRiskAgentsStage(settings)]


class SessionRiskDetector(StagePipeline):
    """Sessions from a new device/IP/country, without MFA, off shift, followed by refunds:
    ``session_risk_stages`` as one detector."""

    name: ClassVar[str] = NAME
    version: ClassVar[int] = VERSION

    def __init__(self, settings: SessionRiskSettings | None = None) -> None:
        s = settings or SessionRiskSettings()
        super().__init__(session_risk_stages(s), s)


__all__ = [
    "REASON_IMPOSSIBLE_TRAVEL",
    "REASON_NEW_COUNTRY",
    "REASON_NEW_DEVICE",
    "REASON_NEW_IP",
    "REASON_NO_MFA",
    "REASON_OFF_SHIFT",
    "REASON_REFUND_BURST",
    "SessionRiskDetector",
    "session_risk_stages",
]

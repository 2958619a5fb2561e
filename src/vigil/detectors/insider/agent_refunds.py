"""Insider risk: an agent's unreturned manual refund money against the peers of the team.

Every refund an agent issues goes into the tumbling event-time window (``window_ms``) of
its event time, kept in keyed state. A window is judged by an event-time timer at its end
+ ``return_grace_ms``, once the parcels behind legitimate manual refunds have had time to
be scanned. Keyed buckets rather than the runtime's windows: a refund that arrives late
(up to the allowed lateness) still lands in its window, since judgement comes a grace
period after the window ends.

Only *manual* refunds (policies in ``manual_policies``) of orders the carrier reported
delivered and whose return was not received by refund time + grace count: a refund for a
parcel that was never delivered (the carrier lost it) is an honest item-not-received refund,
not money that should have come back. A return parcel the carrier scanned but the centre has
not received counts as on its way only until its route's normal transit time has passed
(``vigil.detectors.order_facts``, learned online, read at the judgement): a scan alone is not
a return. Agents are grouped by the team of
their roster record (read at judgement time, so a late roster still counts), and each
agent's unreturned manual money is compared with the median of the other active agents
of the same team through the ratio (money + floor) / (peer median + floor). Comparing
within the team, and counting only money that never came back, is what keeps an
escalations team, whose agents legitimately override a lot with the parcel following,
from being flagged.

An alert's subject is the agent *in that window* (``<agent_id>@<window start>``), so a
later window gives a new alert id; it lists the agent's unreturned manual refunds of at
least ``listed_refund_min_cents`` as the refunds at risk.

As stages (docs/adr/0004-keyed-state.md), at a window's judgement time T:

1. ``orders`` (key: order; shared with ``refund_without_return``, ``order_stage``) keeps
   the order's parcels and, in this detector's part, the agents' manual refunds on it; its
   timer at T judges each refund's parcel as of the refund's deadline, asking the route's
   stage (read at T) whether a scanned parcel is still within its normal time, and reports
   the unreturned ones (``ManualRefundUnreturned``);
2. ``routes`` (key: route; shared too): the learned transit times;
3. ``agent_refund_agents`` (key: agent; timers in phase 1, after the orders'): the roster,
   the windows and the history; at T it reports the agent's window to its team
   (``AgentWindowClosed``) and asks the customers' stages about the refunds it might list;
4. ``signups`` (key: customer; shared with ``refund_without_return``, ``signup_stage``):
   was the account young at the refund?
5. ``agent_refund_teams`` (key: team; timers in phase 2, after the agents'): compares the
   agents of the team (``peer_judgement``).

Signals of one window come out team by team (sorted by agent within a team), where the one
detector gave them sorted by agent over all teams.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from vigil.detectors.insider._common import is_young
from vigil.detectors.insider.peer_judgement import (
    NAME,
    REASON_MANY_MANUAL,
    REASON_OVERRIDES,
    REASON_PEER_OUTLIER,
    VERSION,
    AgentWindow,
    PeerJudgement,
)
from vigil.detectors.order_facts import TransitModel, return_status
from vigil.detectors.order_stage import OrdersStage
from vigil.detectors.route_transit import RouteTransitStage
from vigil.detectors.settings import AgentRefundsSettings
from vigil.detectors.signup_stage import SignupsStage
from vigil.events.derived import (
    AgentRefundValue,
    AgentWindowClosed,
    ManualRefundUnreturned,
    RefundCustomerAge,
    TransitAsked,
)
from vigil.events.schemas import AgentRostered, RefundIssued
from vigil.state.keyed.pipeline import StagePipeline
from vigil.state.keyed.spec import MapSpec, StateSpec, ValueSpec
from vigil.state.keyed.stage import KeyKind, Output, StageContext

_JUDGE = "judge|"
_ASK = "agent_refunds"


class _Stage:
    version: ClassVar[int] = 1

    def __init__(self, settings: AgentRefundsSettings | None = None) -> None:
        self.settings = settings or AgentRefundsSettings()

    def _start(self, t: int) -> int:
        return t - t % self.settings.window_ms

    def _judged_at(self, start_ms: int) -> int:
        s = self.settings
        return start_ms + s.window_ms + s.return_grace_ms

    def on_timer(self, name: str, fired_at_ms: int, ctx: StageContext) -> Sequence[Output]:
        return ()


def _manual_value(event: RefundIssued, settings: AgentRefundsSettings) -> AgentRefundValue:
    manual = event.policy in settings.manual_policies
    return (
        event.agent_id or "",
        event.refund_id,
        event.amount_cents,
        event.policy if manual else "",
        event.customer_id,
        event.order_id,
        event.session_id,
        event.event_time_ms,
    )


def _by_agent(event: Any) -> bool:
    return event.issued_by == "agent" and bool(event.agent_id)


class AgentRefundOrderPart:
    """This detector's part of the shared order stage (``order_stage.OrdersStage``): the
    agents' manual refunds on the order, each judged at its window's judgement."""

    prefix = "agent"
    reads: frozenset[str] = frozenset({"refund_issued", "transit_answered"})

    def __init__(self, settings: AgentRefundsSettings) -> None:
        self.settings = settings

    @property
    def retention_ms(self) -> int:
        return self.settings.retention_ms

    def _judged_at(self, t: int) -> int:
        s = self.settings
        return t - t % s.window_ms + s.window_ms + s.return_grace_ms

    def state(self) -> Sequence[StateSpec]:
        return (MapSpec("manual_refunds", ttl_ms=None),)  # refund id -> AgentRefundValue

    def on_event(self, event: Any, ctx: StageContext, orders: OrdersStage) -> Sequence[Output]:
        if type(event) is RefundIssued:
            if _by_agent(event) and event.policy in self.settings.manual_policies:
                value = _manual_value(event, self.settings)
                ctx.map("manual_refunds").put(event.refund_id, value)
                orders.part_timer(self, ctx, self._judged_at(value[7]), _JUDGE + event.refund_id)
            return ()
        if event.purpose != _ASK:
            return ()  # another detector's question
        found = ctx.map("manual_refunds").get(event.refund_id)
        if found is None:
            return ()
        ctx.map("manual_refunds").remove(event.refund_id)
        # a scanned parcel still within its route's normal time is on its way
        deadline = found[7] + self.settings.return_grace_ms
        return () if event.due_ms > deadline else (self._unreturned(found),)

    def on_timer(
        self, name: str, fired_at_ms: int, ctx: StageContext, orders: OrdersStage
    ) -> Sequence[Output]:
        refund_id = name[len(_JUDGE) :]
        refunds = ctx.map("manual_refunds")
        value: AgentRefundValue | None = refunds.get(refund_id)
        if value is None:
            return ()
        deadline = value[7] + self.settings.return_grace_ms
        status = return_status(orders.parcel(ctx)[0], deadline)
        # never delivered: a lost parcel, not money that should come back
        if not status.delivered or status.received:
            refunds.remove(refund_id)
            return ()
        if status.first_scan_ms is not None:
            if status.route is not None:
                return (
                    TransitAsked(
                        event_time_ms=fired_at_ms,
                        route=status.route,
                        order_id=value[5],
                        refund_id=refund_id,
                        first_scan_ms=status.first_scan_ms,
                        deadline_ms=fired_at_ms,  # the route is read as of the judgement
                        purpose=_ASK,
                    ),
                )
            refunds.remove(refund_id)
            if status.first_scan_ms + _MODEL.prior_ms > deadline:
                return ()
            return (self._unreturned(value),)
        refunds.remove(refund_id)
        return (self._unreturned(value),)

    def _unreturned(self, value: AgentRefundValue) -> ManualRefundUnreturned:
        t = value[7]
        start = t - t % self.settings.window_ms
        return ManualRefundUnreturned(
            event_time_ms=self._judged_at(t),
            agent_id=value[0],
            window_start_ms=start,
            value=value,
        )


class AgentRefundAgentsStage(_Stage):
    name: ClassVar[str] = "agent_refund_agents"
    reads: ClassVar[frozenset[str]] = frozenset(
        {"agent_rostered", "refund_issued", "manual_refund_unreturned"}
    )
    key: ClassVar[KeyKind] = "agent"
    timer_phase: ClassVar[int] = 1

    def state(self) -> Sequence[StateSpec]:
        return (
            ValueSpec("roster", ttl_ms=None),  # (event time, team) of the latest record
            # str(window start) -> (manual refunds, unreturned ones reported), until judged
            MapSpec("windows", ttl_ms=None),
            # unreturned manual refunds judged within the history, newest window last
            ValueSpec("history", ttl_ms=None),
        )

    def key_of(self, event: Any) -> str | None:
        if type(event) is RefundIssued:
            return event.agent_id if _by_agent(event) else None
        return event.agent_id  # type: ignore[no-any-return]

    def on_event(self, event: Any, ctx: StageContext) -> Sequence[Output]:
        tp = type(event)
        if tp is RefundIssued:
            start = self._start(event.event_time_ms)
            windows = ctx.map("windows")
            found = windows.get(str(start))
            if found is None:
                found = (0, ())
                ctx.timer(self._judged_at(start), _JUDGE + str(start))
            manual = 1 if event.policy in self.settings.manual_policies else 0
            windows.put(str(start), (found[0] + manual, found[1]))
        elif tp is ManualRefundUnreturned:
            windows = ctx.map("windows")
            found = windows.get(str(event.window_start_ms))
            if found is not None:
                windows.put(str(event.window_start_ms), (found[0], (*found[1], event.value)))
        elif tp is AgentRostered:
            roster = ctx.value("roster")
            old = roster.get()
            if old is None or old[0] <= event.event_time_ms:
                roster.set((event.event_time_ms, event.team))
        return ()

    def on_timer(self, name: str, fired_at_ms: int, ctx: StageContext) -> Sequence[Output]:
        s = self.settings
        key = name[len(_JUDGE) :]
        windows = ctx.map("windows")
        found = windows.get(key)
        if found is None:
            return ()
        windows.remove(key)
        start = int(key)
        n_manual, new = found
        horizon = start + s.window_ms - s.history_ms
        history = ctx.value("history")
        past = [r for r in history.get() or () if r[7] >= horizon]
        unreturned = (*past, *new)
        history.set(unreturned)
        roster = ctx.value("roster").get()
        team = roster[1] if roster is not None else s.unknown_team
        agent_id = ctx.key or ""
        out: list[Output] = [
            AgentWindowClosed(
                event_time_ms=fired_at_ms,
                team=team,
                agent_id=agent_id,
                window_start_ms=start,
                unreturned=unreturned,
                n_manual=n_manual,
            )
        ]
        if s.list_pattern_refunds_only:
            out.extend(
                RefundCustomerAge(
                    event_time_ms=fired_at_ms, step="customer", team=team,
                    window_start_ms=start, refund_id=r[1], customer_id=r[4], refund_ms=r[7],
                )
                for r in unreturned
                if r[2] >= s.listed_refund_min_cents
            )  # fmt: skip
        return out


class AgentRefundSignupPart:
    """This detector's question to the shared sign-up stage (``signup_stage``): was the
    customer of a refund the agent's alert may list young at the refund?"""

    reads: frozenset[str] = frozenset({"refund_customer_age"})

    def __init__(self, settings: AgentRefundsSettings) -> None:
        self.settings = settings

    @property
    def ttl_ms(self) -> int:
        return self.settings.retention_ms

    def key_of(self, event: Any) -> str | None:
        return event.customer_id if event.step == "customer" else None

    def answer(self, event: Any, signup_ms: int | None) -> Sequence[Output]:
        young = is_young(signup_ms, event.refund_ms, self.settings.young_account_ms)
        return (
            RefundCustomerAge(
                event_time_ms=event.event_time_ms, step="team", team=event.team,
                window_start_ms=event.window_start_ms, refund_id=event.refund_id,
                customer_id=event.customer_id, refund_ms=event.refund_ms, young=young,
            ),
        )  # fmt: skip


class AgentRefundTeamsStage(_Stage):
    name: ClassVar[str] = "agent_refund_teams"
    reads: ClassVar[frozenset[str]] = frozenset({"agent_window_closed", "refund_customer_age"})
    key: ClassVar[KeyKind] = "team"
    timer_phase: ClassVar[int] = 2

    def state(self) -> Sequence[StateSpec]:
        # str(window start) -> (the agents' windows, refunds to young accounts), until judged
        return (MapSpec("windows", ttl_ms=None),)

    def key_of(self, event: Any) -> str | None:
        if type(event) is RefundCustomerAge and event.step != "team":
            return None
        return event.team  # type: ignore[no-any-return]

    def on_event(self, event: Any, ctx: StageContext) -> Sequence[Output]:
        windows = ctx.map("windows")
        key = str(event.window_start_ms)
        found = windows.get(key)
        if type(event) is AgentWindowClosed:
            if found is None:
                found = ((), ())
                ctx.timer(event.event_time_ms, _JUDGE + key)
            agent: AgentWindow = (event.agent_id, event.unreturned, event.n_manual)
            windows.put(key, ((*found[0], agent), found[1]))
        elif found is not None and event.young:
            windows.put(key, (found[0], (*found[1], event.refund_id)))
        return ()

    def on_timer(self, name: str, fired_at_ms: int, ctx: StageContext) -> Sequence[Output]:
        key = name[len(_JUDGE) :]
        windows = ctx.map("windows")
        found = windows.get(key)
        if found is None:
            return ()
        windows.remove(key)
        judgement = PeerJudgement(self.settings)
        return judgement.judge(
            ctx.key or "", list(found[0]), frozenset(found[1]), int(key), fired_at_ms
        )


_MODEL = TransitModel()


@dataclass(frozen=True)
class AgentRefundTransit:
    """``agent_refunds`` reads return routes with ``order_facts``' defaults (the other
    detectors' defaults too)."""

    transit_quantile: float = _MODEL.quantile
    transit_margin: float = _MODEL.margin
    transit_prior_ms: int = _MODEL.prior_ms
    transit_min_parcels: float = _MODEL.min_parcels


def agent_refund_stages(settings: AgentRefundsSettings) -> list[Any]:
    """The five stages, in the order a window's judgement goes through them."""
    return [
        OrdersStage((AgentRefundOrderPart(settings),)),
        RouteTransitStage(AgentRefundTransit(), (_ASK,)),
        AgentRefundAgentsStage(settings),
        SignupsStage((AgentRefundSignupPart(settings),)),
        AgentRefundTeamsStage(settings),
    ]


class AgentRefundsDetector(StagePipeline):
    """Agents whose unreturned manual refund money stands out among team peers:
    ``agent_refund_stages`` as one detector."""

    name: ClassVar[str] = NAME
    version: ClassVar[int] = VERSION

    def __init__(self, settings: AgentRefundsSettings | None = None) -> None:
        s = settings or AgentRefundsSettings()
        super().__init__(agent_refund_stages(s), s)


__all__ = [
    "REASON_MANY_MANUAL",
    "REASON_OVERRIDES",
    "REASON_PEER_OUTLIER",
    "AgentRefundsDetector",
    "agent_refund_stages",
]

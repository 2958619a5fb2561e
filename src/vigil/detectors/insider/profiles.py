"""Per-agent activity profiles and their robust deviation from the agent's peer group.

Two halves:

* :class:`AgentProfileCollector` runs in the runtime like any detector (same decode,
  dedup, event-time timers and checkpoints) and *emits nothing*: it keeps per-agent
  tallies in keyed state - contacts handled (``view_account`` actions), return requests
  opened, every refund issued (amount, policy, customer, order, time), every session
  (start, end, country) - plus what is needed to classify refunds: order deliveries and
  returns (each refund is judged by an event-time timer ``return_grace_ms`` after it: was a
  parcel scanned or received by then?), account signup times, and its own copy of the ring
  graph (:mod:`vigil.detectors.insider.ring_links`) so that every refund records, when it
  is issued, whether the refunded account was in a ring of linked accounts.
* :func:`activities_from_state` turns that state into one :class:`AgentActivity` (plain
  counts) per agent at the end of a run, and :func:`profile_agents` (pure) turns counts
  into rates and compares every agent with its peers: the other agents of the same team
  (escalation agents legitimately override far more than frontline ones), optionally of
  the same shift band too.

Rates are shrunk towards the team's median rate by ``prior_refunds`` refunds' worth of
evidence, because the typical agent issues a handful of refunds a month and 3 of 3 is not
100%. The deviation of a rate is a robust z-score against the peers (leave-one-out):
``(x - median) / max(1.4826 * MAD, rel_floor * median, abs_floor)``.

A refund goes to a *linked* account when, at the moment it was recorded, the account was in
a component of the entity graph with ``FraudRingSettings.min_accounts`` (3) to
``max_component_accounts`` accounts - fed, capped and expired like ``fraud_ring``'s graph
(point-in-time: a link made after the refund does not count). Callers may still pass their
own predicate (``LinkedAccounts``: customer id -> bool), evaluated at the end of the input.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import msgspec

from vigil.detectors.base import BaseDetector, Context, Signal
from vigil.detectors.insider._common import GC_PREFIX, median, sweep
from vigil.detectors.insider.profile_settings import (
    METRICS,
    AgentProfileSettings,
    AgentRankingSettings,
    MetricSpec,
)
from vigil.detectors.insider.ring_links import RING_EVENTS, RingLinks
from vigil.detectors.order_facts import DELIVERED, RETURNED, first_times, record_order_fact
from vigil.detectors.settings import FraudRingSettings
from vigil.events.schemas import (
    AgentAction,
    AgentRostered,
    AgentSessionEnded,
    AgentSessionStarted,
    CarrierScan,
    CustomerSignup,
    EventBase,
    RefundIssued,
    ReturnReceived,
    ReturnRequested,
    ShipmentDelivered,
)

__all__ = [
    "AgentActivity",
    "AgentProfile",
    "AgentProfileCollector",
    "LinkedAccounts",
    "MetricDeviation",
    "SessionFact",
    "activities_from_state",
    "profile_agents",
    "robust_z",
]

#: is this customer account linked to other accounts (shared device, card, address ...)?
LinkedAccounts = Callable[[str], bool]
#: the collector's keyed state by namespace (the runtime's ``keyed`` at the end of a run)
StateReader = Callable[[str], Mapping[str, Any]]

_ROSTER = "roster"  # agent -> (time, team, home_country, shift_start_h, shift_end_h)
_AGENTS = "agents"  # agent -> [contacts, return requests, [refund], [session]]
_ENDS = "session_ends"  # session_id -> end ms
_ORDERS = "orders"  # order facts (see order_facts)
_SIGNUPS = "signups"  # customer -> signup ms
_JUDGE = "judge|"
# the ring graph lives in ring_links.RING_GRAPH

# refund record (a list, judged in place): [time_ms, refund_id, customer_id, order_id,
#   amount_cents, policy, outcome, linked]; linked: the account was in a ring when the
#   refund was recorded; outcome None until judged, then one of:
PENDING, RETURNED_IN_GRACE, UNRETURNED, UNDELIVERED = None, "returned", "unreturned", "undelivered"
_R_TIME, _R_CUSTOMER, _R_AMOUNT, _R_POLICY, _R_OUTCOME, _R_LINKED = 0, 2, 4, 5, 6, 7
_MANUAL = frozenset({"manual_override", "returnless"})


class SessionFact(msgspec.Struct, frozen=True, kw_only=True):
    session_id: str
    start_ms: int
    end_ms: int | None
    country: str
    device_id: str
    mfa: bool


class AgentActivity(msgspec.Struct, frozen=True, kw_only=True):
    """Plain counts of one agent over the whole input."""

    agent_id: str
    team: str
    home_country: str | None
    shift_start_hour: int | None
    contacts: int
    return_requests: int
    refunds: int
    refund_cents: int
    manual_refunds: int
    high_value_refunds: int
    new_account_refunds: int
    linked_refunds: int
    #: refunds whose grace period passed (the rest are still pending at the end of input)
    judged_refunds: int
    judged_cents: int
    #: judged refunds of delivered orders with no scan or receipt within the grace period
    unreturned_refunds: int
    unreturned_cents: int
    sessions: tuple[SessionFact, ...] = ()

    def ratio(self, metric: str) -> tuple[float, float]:
        """(numerator, denominator) of a metric (see ``METRICS``)."""
        if metric == "approval_rate":
            return float(self.refunds), float(self.contacts)
        if metric == "override_rate":
            return float(self.manual_refunds), float(self.contacts)
        if metric == "high_value_share":
            return float(self.high_value_refunds), float(self.refunds)
        if metric == "new_account_share":
            return float(self.new_account_refunds), float(self.refunds)
        if metric == "linked_account_share":
            return float(self.linked_refunds), float(self.refunds)
        if metric == "no_return_share":
            return float(self.unreturned_refunds), float(self.judged_refunds)
        if metric == "unreturned_money_share":
            return float(self.unreturned_cents), float(self.judged_cents)
        raise ValueError(f"unknown agent metric {metric!r}; known: {', '.join(METRICS)}")


class MetricDeviation(msgspec.Struct, frozen=True, kw_only=True):
    """One metric of one agent against its peers."""

    metric: str
    #: the agent's rate, shrunk towards the team's pooled rate
    value: float
    #: the raw rate (numerator / denominator; 0 when there is no denominator)
    raw: float
    numerator: float
    denominator: float
    peer_median: float
    #: robust scale used (1.4826 * MAD, floored)
    peer_scale: float
    #: robust z-score against the peers
    z: float
    #: share of peers with a lower value (0..1)
    percentile: float


class AgentProfile(msgspec.Struct, frozen=True, kw_only=True):
    activity: AgentActivity
    #: what the agent was compared with, e.g. ``team general`` or ``team vip, shift 08-16``
    peer_group: str
    n_peers: int
    deviations: tuple[MetricDeviation, ...]

    @property
    def agent_id(self) -> str:
        return self.activity.agent_id

    def deviation(self, metric: str) -> MetricDeviation:
        for d in self.deviations:
            if d.metric == metric:
                return d
        raise KeyError(metric)


# --- the collector (runs in the runtime) ---------------------------------------------------


class AgentProfileCollector(BaseDetector):
    """Keeps per-agent activity in keyed state for :func:`activities_from_state`; no alerts."""

    name: ClassVar[str] = "agent_profile"
    #: 2: refunds carry a point-in-time linked flag from the collector's own ring graph
    version: ClassVar[int] = 2
    subscribes: ClassVar[frozenset[str]] = (
        frozenset(
            {
                "agent_rostered",
                "agent_action",
                "agent_session_started",
                "agent_session_ended",
                "return_requested",
                "refund_issued",
                "shipment_delivered",
                "carrier_scan",
                "return_received",
            }
        )
        | RING_EVENTS
    )

    def __init__(
        self,
        settings: AgentProfileSettings | None = None,
        ring_settings: FraudRingSettings | None = None,
    ) -> None:
        self.settings = settings or AgentProfileSettings()
        #: the ring graph's caps, TTL and ring size (the same object ``fraud_ring`` gets)
        self.ring_settings = ring_settings or FraudRingSettings()
        self._rings = RingLinks(self.ring_settings)

    def on_event(self, event: EventBase, ctx: Context) -> Sequence[Signal]:
        s = self.settings
        tp = type(event)
        if tp is ShipmentDelivered:
            assert isinstance(event, ShipmentDelivered)
            record_order_fact(
                ctx, _ORDERS, event.order_id, event.event_time_ms, DELIVERED, s.retention_ms
            )
        elif tp is CarrierScan or tp is ReturnReceived:
            assert isinstance(event, CarrierScan | ReturnReceived)
            record_order_fact(
                ctx, _ORDERS, event.order_id, event.event_time_ms, RETURNED, s.retention_ms
            )
        elif tp is AgentAction:
            assert isinstance(event, AgentAction)
            if event.action == "view_account":
                self._agent(ctx, event.agent_id)[0] += 1
        elif tp is RefundIssued:
            assert isinstance(event, RefundIssued)
            if event.issued_by == "agent" and event.agent_id:
                refunds: list[list[Any]] = self._agent(ctx, event.agent_id)[2]
                refunds.append(
                    [
                        event.event_time_ms,
                        event.refund_id,
                        event.customer_id,
                        event.order_id,
                        event.amount_cents,
                        event.policy,
                        PENDING,
                        self._rings.in_ring(ctx, event.customer_id),
                    ]
                )
                ctx.set_timer(
                    event.event_time_ms + s.return_grace_ms,
                    _JUDGE + event.refund_id,
                    (event.agent_id, len(refunds) - 1),
                )
        elif tp is ReturnRequested:
            assert isinstance(event, ReturnRequested)
            if event.channel == "agent" and event.agent_id:
                self._agent(ctx, event.agent_id)[1] += 1
        elif tp is AgentSessionStarted:
            assert isinstance(event, AgentSessionStarted)
            self._agent(ctx, event.agent_id)[3].append(
                (
                    event.event_time_ms,
                    event.session_id,
                    event.country,
                    event.device_id,
                    event.mfa,
                )
            )
        elif tp is AgentSessionEnded:
            assert isinstance(event, AgentSessionEnded)
            ctx.keyed(_ENDS)[event.session_id] = event.event_time_ms
        elif tp is CustomerSignup:
            assert isinstance(event, CustomerSignup)
            signups = ctx.keyed(_SIGNUPS)
            old = signups.get(event.customer_id)
            if old is None or event.event_time_ms < old:
                signups[event.customer_id] = event.event_time_ms
        elif tp is AgentRostered:
            assert isinstance(event, AgentRostered)
            roster = ctx.keyed(_ROSTER)
            old_r = roster.get(event.agent_id)
            if old_r is None or old_r[0] <= event.event_time_ms:
                roster[event.agent_id] = (
                    event.event_time_ms,
                    event.team,
                    event.home_country,
                    event.shift_start_hour,
                    event.shift_end_hour,
                )
        # orders, sign-ups, logins and profile changes feed the ring graph (others: no-op)
        self._rings.observe(event, ctx)
        return ()

    @staticmethod
    def _agent(ctx: Context, agent_id: str) -> list[Any]:
        agents = ctx.keyed(_AGENTS)
        entry: list[Any] | None = agents.get(agent_id)
        if entry is None:
            entry = agents[agent_id] = [0, 0, [], []]
        return entry

    def on_timer(self, key: str, payload: Any, fired_at_ms: int, ctx: Context) -> Sequence[Signal]:
        if key.startswith(GC_PREFIX):
            sweep(ctx, key, fired_at_ms, self.settings.retention_ms)
            return ()
        if self._rings.on_timer(key, fired_at_ms, ctx):
            return ()
        if not key.startswith(_JUDGE) or not isinstance(payload, tuple):
            return ()
        agent_id, idx = payload
        entry = ctx.keyed(_AGENTS).get(agent_id)
        if entry is None or idx >= len(entry[2]):
            return ()
        refund: list[Any] = entry[2][idx]
        first_return, first_delivery = first_times(ctx.keyed(_ORDERS).get(refund[3]))
        deadline = refund[_R_TIME] + self.settings.return_grace_ms
        if first_return is not None and first_return <= deadline:
            refund[_R_OUTCOME] = RETURNED_IN_GRACE
        elif first_delivery is None or first_delivery > deadline:
            refund[_R_OUTCOME] = UNDELIVERED  # a lost parcel: nothing to come back
        else:
            refund[_R_OUTCOME] = UNRETURNED
        return ()


def activities_from_state(
    state: StateReader,
    settings: AgentProfileSettings | None = None,
    linked: LinkedAccounts | None = None,
    unknown_team: str = "unknown",
) -> list[AgentActivity]:
    """One ``AgentActivity`` per agent seen (refunds, contacts or sessions), sorted by id.

    ``state`` reads the collector's keyed state by namespace. A refund counts as linked when
    its account was in a ring when the refund was recorded (point-in-time, the collector's
    ring graph); a ``linked`` predicate, when given, replaces that and is asked about every
    refunded customer at the end of the input.
    """
    s = settings or AgentProfileSettings()
    roster = state(_ROSTER)
    agents = state(_AGENTS)
    ends = state(_ENDS)
    signups = state(_SIGNUPS)
    out: list[AgentActivity] = []
    for agent_id in sorted(set(agents) | set(roster)):
        contacts, requests, refunds, sessions = agents.get(agent_id) or (0, 0, [], [])
        rost = roster.get(agent_id)
        n = len(refunds)
        cents = sum(int(r[_R_AMOUNT]) for r in refunds)
        manual = sum(1 for r in refunds if r[_R_POLICY] in _MANUAL)
        high = sum(1 for r in refunds if r[_R_AMOUNT] >= s.high_value_cents)
        new = 0
        n_linked = 0
        for r in refunds:
            signup = signups.get(r[_R_CUSTOMER])
            if signup is not None and r[_R_TIME] - signup < s.new_account_ms:
                new += 1
            if linked(r[_R_CUSTOMER]) if linked is not None else r[_R_LINKED]:
                n_linked += 1
        judged = [r for r in refunds if r[_R_OUTCOME] is not PENDING]
        unreturned = [r for r in judged if r[_R_OUTCOME] == UNRETURNED]
        facts = tuple(
            SessionFact(
                session_id=sid,
                start_ms=start,
                end_ms=ends.get(sid),
                country=country,
                device_id=device,
                mfa=mfa,
            )
            for start, sid, country, device, mfa in sorted(sessions)
        )
        out.append(
            AgentActivity(
                agent_id=agent_id,
                team=rost[1] if rost is not None else unknown_team,
                home_country=rost[2] if rost is not None else None,
                shift_start_hour=rost[3] if rost is not None else None,
                # every refund and every opened return is a contact, actions or not
                contacts=max(int(contacts), n + int(requests)),
                return_requests=int(requests),
                refunds=n,
                refund_cents=cents,
                manual_refunds=manual,
                high_value_refunds=high,
                new_account_refunds=new,
                linked_refunds=n_linked,
                judged_refunds=len(judged),
                judged_cents=sum(int(r[_R_AMOUNT]) for r in judged),
                unreturned_refunds=len(unreturned),
                unreturned_cents=sum(int(r[_R_AMOUNT]) for r in unreturned),
                sessions=facts,
            )
        )
    return out


# --- peer deviations (pure) ----------------------------------------------------------------


def robust_z(value: float, peers: Sequence[float], spec: MetricSpec) -> tuple[float, float, float]:
    """(z, peer median, scale): ``(value - median) / max(1.4826 MAD, rel*median, abs)``."""
    med = median(list(peers))
    mad = median([abs(p - med) for p in peers])
    scale = max(1.4826 * mad, spec.rel_floor * abs(med), spec.abs_floor)
    return (value - med) / scale, med, scale


def _group_key(a: AgentActivity, peer_group: str) -> tuple[str, int | None]:
    if peer_group == "team_and_shift" and a.shift_start_hour is not None:
        return a.team, a.shift_start_hour // 8
    return a.team, None


def profile_agents(
    activities: Sequence[AgentActivity], settings: AgentRankingSettings | None = None
) -> list[AgentProfile]:
    """Shrunk rates and robust peer deviations of every agent (same order as given)."""
    s = settings or AgentRankingSettings()
    by_team: dict[str, list[AgentActivity]] = {}
    by_group: dict[tuple[str, int | None], list[AgentActivity]] = {}
    for a in activities:
        by_team.setdefault(a.team, []).append(a)
        by_group.setdefault(_group_key(a, s.peer_group), []).append(a)
    # shrunk value of every agent and metric, towards its team's typical (median) rate; the
    # median, not the pooled rate, so that one outlier does not move everybody's prior
    values: dict[tuple[str, str], float] = {}
    for team_members in by_team.values():
        for spec in s.metrics:
            ratios = [a.ratio(spec.name) for a in team_members]
            rates = [k / n for k, n in ratios if n > 0]
            typical = median(rates) if rates else 0.0
            # ``prior_refunds`` refunds' worth of the metric's denominator (contacts, refunds
            # or cents per refund of the team's typical agent)
            per_refund = [
                n / a.refunds for a, (_, n) in zip(team_members, ratios, strict=True) if a.refunds
            ]
            prior = s.prior_refunds * (median(per_refund) if per_refund else 1.0)
            for a, (k, n) in zip(team_members, ratios, strict=True):
                values[(a.agent_id, spec.name)] = (
                    (k + prior * typical) / (n + prior) if n + prior > 0 else 0.0
                )
    out: list[AgentProfile] = []
    for a in activities:
        key = _group_key(a, s.peer_group)
        peers = [p for p in by_group[key] if p.agent_id != a.agent_id]
        label = f"team {a.team}"
        if key[1] is not None:
            label += f", shift {key[1] * 8:02d}-{key[1] * 8 + 8:02d}h UTC"
        if len(peers) < s.min_peers and key[1] is not None:
            peers = [p for p in by_team[a.team] if p.agent_id != a.agent_id]
            label = f"team {a.team}"
        if len(peers) < s.min_peers:
            peers = [p for p in activities if p.agent_id != a.agent_id]
            label = "all agents"
        deviations: list[MetricDeviation] = []
        for spec in s.metrics:
            k, n = a.ratio(spec.name)
            value = values[(a.agent_id, spec.name)]
            if peers:
                peer_values = [values[(p.agent_id, spec.name)] for p in peers]
                z, med, scale = robust_z(value, peer_values, spec)
                below = sum(1 for v in peer_values if v < value)
                pct = below / len(peer_values)
            else:
                z, med, scale, pct = 0.0, value, spec.abs_floor, 0.5
            deviations.append(
                MetricDeviation(
                    metric=spec.name,
                    value=value,
                    raw=k / n if n > 0 else 0.0,
                    numerator=k,
                    denominator=n,
                    peer_median=med,
                    peer_scale=scale,
                    z=z,
                    percentile=pct,
                )
            )
        out.append(
            AgentProfile(
                activity=a, peer_group=label, n_peers=len(peers), deviations=tuple(deviations)
            )
        )
    return out

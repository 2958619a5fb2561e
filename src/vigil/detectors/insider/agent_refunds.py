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
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

from vigil.detectors.base import BaseDetector, Context, Signal, clamp01
from vigil.detectors.insider._common import (
    GC_PREFIX,
    days,
    is_young,
    logistic,
    median,
    money,
    note_signup,
    sweep,
    utc_stamp,
)
from vigil.detectors.order_facts import (
    TRANSIT_TIMER,
    TransitModel,
    learn_transit,
    note_delivery,
    note_receipt,
    note_return_scan,
    on_its_way,
    return_status,
)
from vigil.detectors.settings import AgentRefundsSettings
from vigil.events.schemas import (
    AgentRostered,
    CarrierScan,
    CustomerSignup,
    EventBase,
    RefundIssued,
    ReturnReceived,
    ShipmentDelivered,
)

REASON_PEER_OUTLIER = "unreturned_manual_refunds_above_team_peers"
REASON_OVERRIDES = "manual_overrides"
REASON_MANY_MANUAL = "many_unreturned_manual_refunds"

_ROSTER = "roster"  # agent_id -> (event_time_ms, team)
# order_id -> delivered ms, or the parcel entry of ``vigil.detectors.order_facts``
_ORDERS = "orders"
_BUCKETS = "windows"  # str(window start) -> [start_ms, Acc], until judged
_SIGNUPS = "signups"  # customer_id -> sign-up time (kept while the account is young)
_HISTORY = "history"  # agent_id -> unreturned manual RefundValues judged within history_ms
_JUDGE = "judge|"

#: how a return route's normal transit time is read (``order_facts`` defaults, the same as
#: ``refund_without_return``'s and ``empty_box``'s)
_TRANSIT = TransitModel()

# window value: (agent_id, refund_id, amount_cents, policy, customer_id, order_id,
#                session_id, time_ms)
RefundValue = tuple[str, str, int, str, str, str, str | None, int]
# accumulator of a window: agent_id -> [refunds, refund_cents, [RefundValue of manual ones]]
Acc = dict[str, list[Any]]


class AgentRefundsDetector(BaseDetector):
    """Agents whose unreturned manual refund money stands out among team peers."""

    name: ClassVar[str] = "agent_refunds"
    version: ClassVar[int] = 3
    subscribes: ClassVar[frozenset[str]] = frozenset(
        {
            "agent_rostered",
            "refund_issued",
            "carrier_scan",
            "return_received",
            "shipment_delivered",
            "customer_signup",
        }
    )

    def __init__(self, settings: AgentRefundsSettings | None = None) -> None:
        self.settings = settings or AgentRefundsSettings()

    # --- events -----------------------------------------------------------------------------

    def on_event(self, event: EventBase, ctx: Context) -> Sequence[Signal]:
        retention = self.settings.retention_ms
        if type(event) is ShipmentDelivered:
            note_delivery(ctx, _ORDERS, event.order_id, event.event_time_ms, retention)
        elif type(event) is CarrierScan:
            note_return_scan(ctx, _ORDERS, event, retention)
        elif type(event) is ReturnReceived:
            note_receipt(ctx, _ORDERS, event.order_id, event.event_time_ms, retention)
        elif type(event) is RefundIssued:
            if event.issued_by == "agent" and event.agent_id:
                manual = event.policy in self.settings.manual_policies
                value: RefundValue = (
                    event.agent_id,
                    event.refund_id,
                    event.amount_cents,
                    event.policy if manual else "",
                    event.customer_id,
                    event.order_id,
                    event.session_id,
                    event.event_time_ms,
                )
                self._add(ctx, value)
        elif type(event) is CustomerSignup:
            if self.settings.list_pattern_refunds_only:
                note_signup(
                    ctx,
                    _SIGNUPS,
                    event.customer_id,
                    event.event_time_ms,
                    self.settings.retention_ms,
                )
        elif type(event) is AgentRostered:
            roster = ctx.keyed(_ROSTER)
            old = roster.get(event.agent_id)
            if old is None or old[0] <= event.event_time_ms:
                roster[event.agent_id] = (event.event_time_ms, event.team)
        return ()

    def _add(self, ctx: Context, value: RefundValue) -> None:
        t = value[7]
        start = t - t % self.settings.window_ms
        buckets = ctx.keyed(_BUCKETS)
        bucket: list[Any] | None = buckets.get(str(start))
        if bucket is None:
            bucket = buckets[str(start)] = [start, {}]
            end = start + self.settings.window_ms
            ctx.set_timer(end + self.settings.return_grace_ms, _JUDGE + str(start))
        acc: Acc = bucket[1]
        slot = acc.get(value[0])
        if slot is None:
            slot = acc[value[0]] = [0, 0, []]
        slot[0] += 1
        slot[1] += value[2]
        if value[3]:
            slot[2].append(value)

    # --- judgement --------------------------------------------------------------------------

    def on_timer(self, key: str, payload: Any, fired_at_ms: int, ctx: Context) -> Sequence[Signal]:
        if key.startswith(GC_PREFIX):
            sweep(ctx, key, fired_at_ms, self.settings.retention_ms)
            return ()
        if key.startswith(TRANSIT_TIMER):
            learn_transit(ctx, _ORDERS, key, payload)
            return ()
        if not key.startswith(_JUDGE):
            return ()
        bucket = ctx.keyed(_BUCKETS).pop(key[len(_JUDGE) :], None)
        if bucket is None:
            return ()
        return self._judge(bucket[0], bucket[1], fired_at_ms, ctx)

    def _unreturned(
        self, refunds: list[RefundValue], ctx: Context, at_ms: int
    ) -> list[RefundValue]:
        orders = ctx.keyed(_ORDERS)
        grace = self.settings.return_grace_ms
        out: list[RefundValue] = []
        for r in refunds:
            deadline = r[7] + grace
            status = return_status(orders.get(r[5]), deadline)
            # never delivered: a lost parcel, not money that should come back; a scanned
            # parcel still within its route's normal time is given the benefit of the doubt
            if (
                status.delivered
                and not status.received
                and not on_its_way(ctx, status, deadline, at_ms, _TRANSIT)
            ):
                out.append(r)
        return out

    def _judge(self, start_ms: int, acc: Acc, fired_at_ms: int, ctx: Context) -> list[Signal]:
        s = self.settings
        roster = ctx.keyed(_ROSTER)
        history = ctx.keyed(_HISTORY)
        horizon = start_ms + s.window_ms - s.history_ms
        # agent -> (team, unreturned manual cents, unreturned manual refunds, manual refunds),
        # all over the history: this window's refunds and the judged ones before it
        per_agent: dict[str, tuple[str, int, list[RefundValue], int]] = {}
        for agent_id in sorted(acc):
            manual: list[RefundValue] = acc[agent_id][2]
            past: list[RefundValue] = [r for r in history.get(agent_id, ()) if r[7] >= horizon]
            unreturned = past + self._unreturned(manual, ctx, fired_at_ms)
            history[agent_id] = unreturned
            rost = roster.get(agent_id)
            team = rost[1] if rost is not None else s.unknown_team
            per_agent[agent_id] = (team, sum(r[2] for r in unreturned), unreturned, len(manual))
        teams: dict[str, list[str]] = {}
        for agent_id, (team, _, _, _) in per_agent.items():
            teams.setdefault(team, []).append(agent_id)
        out: list[Signal] = []
        for agent_id, (team, cents, unreturned, n_manual) in per_agent.items():
            if cents < s.min_unreturned_cents:
                continue
            dear = sum(1 for r in unreturned if r[2] >= s.listed_refund_min_cents)
            if dear < s.min_unreturned_refunds:
                continue
            peers = [float(per_agent[p][1]) for p in teams[team] if p != agent_id]
            if len(peers) < s.min_peers:
                continue
            med = median(peers)
            floor = float(s.ratio_floor_cents)
            log2_ratio = math.log2((cents + floor) / (med + floor))
            score = clamp01(logistic(s.log2_ratio_slope * (log2_ratio - s.log2_ratio_at_half)))
            if score < s.min_emit_score:
                continue
            out.append(
                self._signal(
                    ctx,
                    agent_id,
                    team,
                    cents,
                    unreturned,
                    n_manual,
                    med,
                    len(peers),
                    log2_ratio,
                    score,
                    start_ms,
                    fired_at_ms,
                )
            )
        return out

    def _signal(
        self,
        ctx: Context,
        agent_id: str,
        team: str,
        cents: int,
        unreturned: list[RefundValue],
        n_manual: int,
        peer_median: float,
        n_peers: int,
        log2_ratio: float,
        score: float,
        start_ms: int,
        fired_at_ms: int,
    ) -> Signal:
        s = self.settings
        dear = [r for r in unreturned if r[2] >= s.listed_refund_min_cents]
        if s.list_pattern_refunds_only:
            signups = ctx.keyed(_SIGNUPS)
            seen: dict[str, int] = {}
            for r in unreturned:
                seen[r[4]] = seen.get(r[4], 0) + 1

            def fits(r: RefundValue) -> bool:
                young = is_young(signups.get(r[4]), r[7], s.young_account_ms)
                return young or seen[r[4]] > 1

            listed = sorted((r for r in dear if fits(r)), key=lambda r: r[1])
        else:
            listed = sorted(dear, key=lambda r: r[1])
        reasons = [REASON_PEER_OUTLIER]
        n_overrides = sum(1 for r in unreturned if r[3] == "manual_override")
        if n_overrides:
            reasons.append(REASON_OVERRIDES)
        if len(unreturned) >= 5:
            reasons.append(REASON_MANY_MANUAL)
        start = utc_stamp(start_ms)
        explanation = (
            f"agent {agent_id} (team {team}) issued {len(unreturned)} manual refunds "
            f"({n_overrides} overrides) worth {money(cents)} that never came back, of "
            f"{n_manual} manual refunds in the window from {start} and the "
            f"{days(s.history_ms - s.window_ms)} before it, vs a median of "
            f"{money(round(peer_median))} over {n_peers} team peers "
            f"({2**log2_ratio:.1f}x with floors); at risk: {len(listed)} refunds of "
            f"{money(s.listed_refund_min_cents)} or more worth {money(sum(r[2] for r in listed))}"
            + (
                f" (to new or repeat customers; {len(dear) - len(listed)} more to established "
                "one-off customers not listed)"
                if len(dear) > len(listed)
                else ""
            )
        )
        customers = {r[4] for r in listed}
        return Signal(
            detector=self.name,
            version=self.version,
            subject_type="agent",
            subject_id=f"{agent_id}@{start}",
            score=round(score, 6),
            reasons=tuple(reasons),
            explanation=explanation,
            event_time_ms=fired_at_ms,
            refund_ids=tuple(r[1] for r in listed),
            amount_cents=sum(r[2] for r in listed),
            customer_id=next(iter(customers)) if len(customers) == 1 else None,
            agent_id=agent_id,
        )

"""The refund model's features: one definition for training rows and for online scoring.

``RefundFeatureTracker`` is a detector (the runtime owns all its state, through ``Context``).
It follows customers, orders, agents, their sessions and the accounts that share a device,
card or address, and for every refund sets an event-time timer at its *decision time*
(refund time + ``horizon_ms``; 7 days by default, when the sequence detectors have spoken).
When the watermark passes that time the tracker takes a *snapshot*: one row of ``FEATURES``
computed from what happened at or before the decision time. Every fact in state carries
its event time and is counted only if that time is at or before the decision time, so an
event that arrives early (within the out-of-orderness bound) but happened later is never
read: rows depend on event times only, never on arrival order or on anything later.

Two detectors share it: the dataset's collector (``dataset.py``) keeps the rows in keyed
state for training, the online ``refund_model`` (``detector.py``) scores them. Same class,
same code path: what the model is trained on is what it sees in production.

The cold-start scores (``refund_anomaly``, ``agent_anomaly``) are River half-space trees
learned online, without labels, from the snapshots themselves (``anomaly.py``).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from vigil.detectors.base import BaseDetector, Context, Signal
from vigil.events.schemas import (
    AgentRostered,
    AgentSessionStarted,
    CarrierScan,
    CustomerSignup,
    EventBase,
    OrderPlaced,
    RefundIssued,
    ReturnReceived,
    ReturnRequested,
    ShipmentDelivered,
)
from vigil.features.facts import GOODS_NOT_BACK
from vigil.models.refund.anomaly import ColdStartScorer
from vigil.models.words import (
    NAN,
    Value,
    as_float,
    count_words,
    days_words,
    or_unknown,
    yes_no,
)

DAY_MS = 86_400_000
HOUR_MS = 3_600_000

FeatureKind = Literal["numeric", "categorical"]


@dataclass(frozen=True)
class Feature:
    """One model input: its name, kind, and how an analyst reads a value of it."""

    name: str
    kind: FeatureKind
    description: str
    #: the value in words ("account 3 days old"); ``None``/NaN means "unknown"
    words: Callable[[Value], str]


FEATURES: tuple[Feature, ...] = (
    Feature(
        "amount_usd", "numeric", "refund amount in dollars", lambda v: f"refund ${as_float(v):,.0f}"
    ),
    Feature("policy", "categorical", "refund policy", lambda v: f"policy {v}"),
    Feature("method", "categorical", "refund method", lambda v: f"refunded to {v}"),
    Feature(
        "issued_by_agent",
        "numeric",
        "1 if an agent issued the refund",
        yes_no("issued by an agent", "issued by the system"),
    ),
    Feature(
        "category",
        "categorical",
        "category of the order's dearest item",
        or_unknown(lambda v: f"{v} order", "order not seen"),
    ),
    Feature(
        "order_total_usd",
        "numeric",
        "order total in dollars",
        or_unknown(lambda v: f"order of ${as_float(v):,.0f}", "order not seen"),
    ),
    Feature(
        "refund_share",
        "numeric",
        "refund amount / order total",
        or_unknown(lambda v: f"{as_float(v):.0%} of the order refunded", "order not seen"),
    ),
    Feature(
        "order_age_days",
        "numeric",
        "days from order to refund",
        or_unknown(lambda v: f"refund {days_words(v)} after the order", "order not seen"),
    ),
    Feature(
        "delivered",
        "numeric",
        "1 if the carrier reported the order delivered by the refund",
        yes_no("order reported delivered", "order never reported delivered"),
    ),
    Feature(
        "returned_by_decision",
        "numeric",
        "1 if a carrier scan or warehouse receipt of the order happened by the decision time",
        yes_no("return scanned or received", "no return scan or receipt by decision time"),
    ),
    Feature(
        "receipt_mismatch",
        "numeric",
        "1 if a warehouse receipt did not match (wrong item, empty, items not matched)",
        yes_no("returned parcel did not match", "no mismatching receipt"),
    ),
    Feature(
        "scan_weight_ratio",
        "numeric",
        "first return scan's weight / the order's item weight",
        or_unknown(lambda v: f"return parcel {as_float(v):.0%} of the items' weight", "no scan"),
    ),
    Feature(
        "account_age_days",
        "numeric",
        "days since sign-up at refund time (unknown: signed up before the data)",
        or_unknown(lambda v: f"account {days_words(v)} old", "account older than the data"),
    ),
    Feature(
        "customer_orders",
        "numeric",
        "orders the customer placed up to the refund",
        lambda v: "customer's " + count_words(v, "order", "orders"),
    ),
    Feature(
        "customer_refunds_before",
        "numeric",
        "refunds the customer received before this one",
        lambda v: count_words(v, "earlier refund", "earlier refunds") + " to the customer",
    ),
    Feature(
        "customer_manual_refunds_before",
        "numeric",
        "earlier override or returnless refunds to the customer",
        lambda v: count_words(
            v, "earlier override/returnless refund", "earlier override/returnless refunds"
        ),
    ),
    Feature(
        "customer_returns",
        "numeric",
        "return requests the customer made up to the refund",
        lambda v: count_words(v, "return request", "return requests") + " by the customer",
    ),
    Feature(
        "linked_accounts",
        "numeric",
        "most other accounts sharing one device, card or address with the customer",
        lambda v: (
            count_words(v, "other account shares", "other accounts share")
            + " a device, card or address"
        ),
    ),
    Feature(
        "agent_team",
        "categorical",
        "the issuing agent's team",
        or_unknown(lambda v: f"{v} team agent", "no agent"),
    ),
    Feature(
        "agent_manual_28d",
        "numeric",
        "the agent's override/returnless refunds of delivered orders in the 28 days to decision",
        or_unknown(
            lambda v: (
                "agent issued "
                + count_words(v, "manual refund", "manual refunds")
                + " of delivered orders in 28 days"
            ),
            "no agent",
        ),
    ),
    Feature(
        "agent_manual_vs_team",
        "numeric",
        "agent_manual_28d / the team's average per agent",
        or_unknown(lambda v: f"agent at {as_float(v):.1f}x the team's manual refunds", "no agent"),
    ),
    Feature(
        "agent_refunds_28d",
        "numeric",
        "all refunds the agent issued in the 28 days to decision",
        or_unknown(
            lambda v: "agent issued " + count_words(v, "refund", "refunds") + " in 28 days",
            "no agent",
        ),
    ),
    Feature(
        "agent_customer_refunds_60d",
        "numeric",
        "refunds the same agent gave the same customer in the 60 days before this one",
        or_unknown(
            lambda v: "agent refunded this customer " + count_words(v, "time", "times") + " before",
            "no agent",
        ),
    ),
    Feature(
        "session_new_device",
        "numeric",
        "1 if the agent's session started from a device new to the agent",
        yes_no("session from a new device", "session from a known device", "no session"),
    ),
    Feature(
        "session_new_ip",
        "numeric",
        "1 if the agent's session came from an IP new to the agent",
        yes_no("session from a new IP", "session from a known IP", "no session"),
    ),
    Feature(
        "session_mfa",
        "numeric",
        "1 if the session passed MFA",
        yes_no("session with MFA", "session without MFA", "no session"),
    ),
    Feature(
        "session_off_shift",
        "numeric",
        "1 if the session started outside the agent's rostered shift",
        yes_no("session outside the shift", "session in shift", "no session"),
    ),
    Feature(
        "session_foreign",
        "numeric",
        "1 if the session came from a country other than the agent's home",
        yes_no("session from abroad", "session from the home country", "no session"),
    ),
    Feature(
        "session_refunds_2h",
        "numeric",
        "refunds in the same session in the 2 hours up to this one (itself included)",
        or_unknown(
            lambda v: count_words(v, "refund", "refunds") + " in the session in 2 hours",
            "no session",
        ),
    ),
    Feature(
        "refund_anomaly",
        "numeric",
        "half-space-trees anomaly score of the refund among all refunds (no labels)",
        lambda v: f"refund unusual ({as_float(v):.2f})",
    ),
    Feature(
        "agent_anomaly",
        "numeric",
        "half-space-trees anomaly score of the agent's recent activity (no labels)",
        or_unknown(lambda v: f"agent activity unusual ({as_float(v):.2f})", "no agent"),
    ),
)
FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)
FEATURE_BY_NAME: dict[str, Feature] = {f.name: f for f in FEATURES}
#: columns of a row before the features
ID_COLUMNS: tuple[str, ...] = (
    "refund_id",
    "refund_time_ms",
    "decision_time_ms",
    "customer_id",
    "agent_id",
    "order_id",
    "amount_cents",
)
Row = tuple[Any, ...]

_MANUAL = frozenset({"manual_override", "returnless"})
_HISTORY_MS = 60 * DAY_MS
_AGENT_WINDOW_MS = 28 * DAY_MS
_SESSION_WINDOW_MS = 2 * HOUR_MS
#: accounts remembered per shared entity; beyond this it is a hub and its count saturates
_LINK_CAP = 64

# keyed namespaces (plain data only):
# cid -> [signup_ms|None, order_times, refund_times, manual_times, return_times, entities]
_CUST = "customer"
# oid -> [placed_ms, total_cents, category, weight_g, delivered_ms, returned_ms, mismatch_ms,
#         first_scan_ms, first_scan_weight_g]
_ORDER = "order"
_AGENT = "agent"  # aid -> [team, home, shift_start, shift_end, refund_times, manual_times,
#                   devices {id: first_ms}, ips {ip: first_ms}, sessions [(start_ms, sid)]]
_TEAM = "team"  # team -> [agents, manual_times]
_PAIR = "pair"  # "aid|cid" -> refund times
# sid -> [agent, start_ms, new_device, new_ip, mfa, off_shift, foreign, refund_times]
_SESSION = "session"
_LINK = "link"  # entity -> {cid: first_ms}
_COLD = "cold_start"  # "scorer" -> ColdStartScorer
_TIMER = "refund|"


def _add_time(times: list[int], t: int) -> None:
    if not times or t >= times[-1]:
        times.append(t)
    else:
        insort(times, t)


def _count_in(times: list[int], lo_exclusive: int, hi_inclusive: int) -> int:
    return bisect_right(times, hi_inclusive) - bisect_right(times, lo_exclusive)


def _prune(times: list[int], before: int) -> None:
    """Drop times before ``before`` (snapshots come in event-time order, so none is needed)."""
    if times and times[0] < before:
        del times[: bisect_right(times, before - 1)]


def _min_time(old: int | None, t: int) -> int:
    return t if old is None or t < old else old


def _in_shift(hour: int, start: int, end: int) -> bool:
    if start <= end:
        return start <= hour < end
    return hour >= start or hour < end


@dataclass(frozen=True)
class TrackerSettings:
    """What changes a row (the runtime puts ``settings`` in the checkpoint fingerprint)."""

    #: decision time = refund time + this (7 days: when the sequence detectors have spoken)
    horizon_ms: int = 7 * DAY_MS
    #: seed of the cold-start half-space trees
    anomaly_seed: int = 7

    def __post_init__(self) -> None:
        if self.horizon_ms < 0:
            raise ValueError(f"horizon_ms {self.horizon_ms} must be >= 0")


class RefundFeatureTracker(BaseDetector):
    """Keeps the facts the refund model needs; one snapshot row per refund at decision time.

    Subclasses decide what to do with a row (``on_snapshot``): keep it (training) or score
    it (online). The base class emits nothing.
    """

    name: ClassVar[str] = "refund_features"
    version: ClassVar[int] = 1
    subscribes: ClassVar[frozenset[str]] = frozenset(
        {
            "customer_signup",
            "order_placed",
            "shipment_delivered",
            "return_requested",
            "carrier_scan",
            "return_received",
            "refund_issued",
            "agent_rostered",
            "agent_session_started",
        }
    )

    def __init__(self, settings: TrackerSettings | None = None) -> None:
        self.settings = settings or TrackerSettings()

    # --- events ----------------------------------------------------------------------------

    def on_event(self, event: EventBase, ctx: Context) -> Sequence[Signal]:
        t = event.event_time_ms
        tp = type(event)
        if tp is OrderPlaced:
            assert isinstance(event, OrderPlaced)
            self._order(event, ctx)
        elif tp is CarrierScan or tp is ReturnReceived:
            o = ctx.keyed(_ORDER).get(event.order_id)  # type: ignore[attr-defined]
            if o is not None:
                o[5] = _min_time(o[5], t)
                if isinstance(event, ReturnReceived):
                    if not event.items_matched or event.condition in GOODS_NOT_BACK:
                        o[6] = _min_time(o[6], t)
                elif isinstance(event, CarrierScan) and (o[7] is None or t < o[7]):
                    o[7], o[8] = t, event.weight_g
        elif tp is ShipmentDelivered:
            assert isinstance(event, ShipmentDelivered)
            o = ctx.keyed(_ORDER).get(event.order_id)
            if o is not None:
                o[4] = _min_time(o[4], t)
        elif tp is RefundIssued:
            assert isinstance(event, RefundIssued)
            self._refund(event, ctx)
        elif tp is ReturnRequested:
            assert isinstance(event, ReturnRequested)
            _add_time(self._customer(ctx, event.customer_id)[4], t)
        elif tp is CustomerSignup:
            assert isinstance(event, CustomerSignup)
            c = self._customer(ctx, event.customer_id)
            c[0] = _min_time(c[0], t)
            self._link(ctx, c, event.customer_id, "d:" + event.device_id, t)
        elif tp is AgentSessionStarted:
            assert isinstance(event, AgentSessionStarted)
            self._session(event, ctx)
        elif tp is AgentRostered:
            assert isinstance(event, AgentRostered)
            a = self._agent(ctx, event.agent_id)
            if a[0] is None:
                team = ctx.keyed(_TEAM).setdefault(event.team, [0, []])
                team[0] += 1
            a[0], a[1], a[2], a[3] = (
                event.team,
                event.home_country,
                event.shift_start_hour,
                event.shift_end_hour,
            )
        return ()

    def _customer(self, ctx: Context, cid: str) -> list[Any]:
        cust = ctx.keyed(_CUST)
        c: list[Any] | None = cust.get(cid)
        if c is None:
            c = cust[cid] = [None, [], [], [], [], []]
        return c

    def _agent(self, ctx: Context, aid: str) -> list[Any]:
        agents = ctx.keyed(_AGENT)
        a: list[Any] | None = agents.get(aid)
        if a is None:
            a = agents[aid] = [None, None, None, None, [], [], {}, {}, []]
        return a

    def _link(self, ctx: Context, c: list[Any], cid: str, entity: str, t: int) -> None:
        members: dict[str, int] | None = ctx.keyed(_LINK).get(entity)
        if members is None:
            ctx.keyed(_LINK)[entity] = {cid: t}
            c[5].append(entity)
            return
        old = members.get(cid)
        if old is None:
            if len(members) < _LINK_CAP:
                members[cid] = t
                c[5].append(entity)
        elif t < old:
            members[cid] = t

    def _order(self, ev: OrderPlaced, ctx: Context) -> None:
        t = ev.event_time_ms
        dearest = max(ev.items, key=lambda i: i.price_cents * i.quantity)
        weight = sum(i.weight_g * i.quantity for i in ev.items)
        orders = ctx.keyed(_ORDER)
        if ev.order_id not in orders:
            orders[ev.order_id] = [
                t,
                ev.total_cents,
                dearest.category,
                weight,
                None,
                None,
                None,
                None,
                0,
            ]
        c = self._customer(ctx, ev.customer_id)
        _add_time(c[1], t)
        self._link(ctx, c, ev.customer_id, "d:" + ev.device_id, t)
        self._link(ctx, c, ev.customer_id, "p:" + ev.payment_fingerprint, t)
        self._link(ctx, c, ev.customer_id, "a:" + ev.shipping_address_hash, t)

    def _session(self, ev: AgentSessionStarted, ctx: Context) -> None:
        t = ev.event_time_ms
        a = self._agent(ctx, ev.agent_id)
        devices: dict[str, int] = a[6]
        ips: dict[str, int] = a[7]
        # novelty by event time: the device is new unless it was first used before this session
        known_device = devices.get(ev.device_id)
        known_ip = ips.get(ev.ip)
        has_history = bisect_left(a[8], (t, "")) > 0
        new_device = int(known_device is None or known_device >= t) if has_history else 0
        new_ip = int(known_ip is None or known_ip >= t) if has_history else 0
        devices[ev.device_id] = _min_time(known_device, t)
        ips[ev.ip] = _min_time(known_ip, t)
        off_shift = NAN
        if a[2] is not None:
            hour = (t // HOUR_MS) % 24
            off_shift = 0.0 if _in_shift(hour, a[2], a[3]) else 1.0
        foreign = NAN if a[1] is None else float(ev.country != a[1])
        insort(a[8], (t, ev.session_id))
        ctx.keyed(_SESSION)[ev.session_id] = [
            ev.agent_id,
            t,
            new_device,
            new_ip,
            int(ev.mfa),
            off_shift,
            foreign,
            [],
        ]

    def _refund(self, ev: RefundIssued, ctx: Context) -> None:
        t = ev.event_time_ms
        c = self._customer(ctx, ev.customer_id)
        _add_time(c[2], t)
        manual = ev.policy in _MANUAL
        if manual:
            _add_time(c[3], t)
        if ev.agent_id is not None:
            a = self._agent(ctx, ev.agent_id)
            _add_time(a[4], t)
            o = ctx.keyed(_ORDER).get(ev.order_id)
            delivered = o is not None and o[4] is not None and o[4] <= t
            if manual and delivered:
                _add_time(a[5], t)
                if a[0] is not None:
                    _add_time(ctx.keyed(_TEAM)[a[0]][1], t)
            _add_time(ctx.keyed(_PAIR).setdefault(ev.agent_id + "|" + ev.customer_id, []), t)
            s = (
                ctx.keyed(_SESSION).get(ev.session_id)
                if ev.session_id is not None
                else self._open_session(ctx, a, t)
            )
            if s is not None:
                _add_time(s[7], t)
        facts = (
            ev.refund_id,
            t,
            ev.customer_id,
            ev.agent_id,
            ev.order_id,
            ev.amount_cents,
            ev.policy,
            ev.method,
            ev.issued_by,
            ev.session_id,
        )
        ctx.set_timer(t + self.settings.horizon_ms, _TIMER + ev.refund_id, facts)

    # --- snapshots -------------------------------------------------------------------------

    def on_timer(self, key: str, payload: Any, fired_at_ms: int, ctx: Context) -> Sequence[Signal]:
        if not key.startswith(_TIMER):
            return ()
        return self.on_snapshot(self.snapshot(payload, fired_at_ms, ctx), ctx)

    def on_snapshot(self, row: Row, ctx: Context) -> Sequence[Signal]:
        """What to do with a finished row (subclasses: keep it or score it)."""
        return ()

    def snapshot(self, facts: tuple[Any, ...], decision_ms: int, ctx: Context) -> Row:
        """The row of one refund as of ``decision_ms``: ``ID_COLUMNS`` then ``FEATURES``."""
        rid, t, cid, aid, oid, amount, policy, method, issued_by, sid = facts
        d = decision_ms
        amount_usd = amount / 100.0
        o = ctx.keyed(_ORDER).get(oid)
        if o is None:
            category: str | None = None
            total = share = order_age = NAN
            delivered = returned = mismatch = 0.0
            scan_ratio = NAN
        else:
            placed, total_cents, category, weight, deliv, ret, mis, scan_t, scan_w = o
            total = total_cents / 100.0
            share = amount / total_cents if total_cents else NAN
            order_age = (t - placed) / DAY_MS
            delivered = float(deliv is not None and deliv <= t)
            returned = float(ret is not None and ret <= d)
            mismatch = float(mis is not None and mis <= d)
            scan_ratio = scan_w / weight if scan_t is not None and scan_t <= d and weight else NAN
        c = ctx.keyed(_CUST).get(cid)
        if c is None:
            age = NAN
            n_orders = n_refunds = n_manual = n_returns = 0
            linked = 0
        else:
            age = (t - c[0]) / DAY_MS if c[0] is not None and c[0] <= t else NAN
            n_orders = bisect_right(c[1], t)
            n_refunds = bisect_right(c[2], t - 1)
            n_manual = bisect_right(c[3], t - 1)
            n_returns = bisect_right(c[4], t)
            linked = self._linked(ctx, c[5], cid, d)
        team: str | None = None
        a_manual = a_ratio = a_refunds = pair = NAN
        s_dev = s_ip = s_mfa = s_off = s_foreign = s_burst = NAN
        if aid is not None:
            a = self._agent(ctx, aid)
            team = a[0]
            lo = d - _AGENT_WINDOW_MS
            _prune(a[4], d - _HISTORY_MS)
            _prune(a[5], d - _HISTORY_MS)
            a_manual = float(_count_in(a[5], lo, d))
            a_refunds = float(_count_in(a[4], lo, d))
            if team is not None:
                team_entry = ctx.keyed(_TEAM)[team]
                _prune(team_entry[1], d - _HISTORY_MS)
                mean = _count_in(team_entry[1], lo, d) / max(1, team_entry[0])
                a_ratio = a_manual / mean if mean > 0 else 0.0
            times = ctx.keyed(_PAIR).get(aid + "|" + cid, [])
            pair = float(_count_in(times, t - _HISTORY_MS, t - 1))
            s = ctx.keyed(_SESSION).get(sid) if sid is not None else None
            if s is None:
                s = self._open_session(ctx, a, t)
            if s is not None and s[1] <= t:
                s_dev, s_ip, s_mfa = float(s[2]), float(s[3]), float(s[4])
                s_off, s_foreign = s[5], s[6]
                s_burst = float(_count_in(s[7], t - _SESSION_WINDOW_MS, t))
        cold = ctx.keyed(_COLD)
        scorer: ColdStartScorer | None = cold.get("scorer")
        if scorer is None:
            scorer = cold["scorer"] = ColdStartScorer(seed=self.settings.anomaly_seed)
        refund_anomaly, agent_anomaly = scorer.score_and_learn(
            amount_usd=amount_usd,
            account_age_days=age,
            customer_refunds_before=n_refunds,
            linked_accounts=linked,
            returned=returned,
            agent=(a_manual, a_refunds, s_burst) if aid is not None else None,
        )
        return (
            rid,
            t,
            d,
            cid,
            aid,
            oid,
            amount,
            amount_usd,
            policy,
            method,
            float(issued_by == "agent"),
            category,
            total,
            share,
            order_age,
            delivered,
            returned,
            mismatch,
            scan_ratio,
            age,
            float(n_orders),
            float(n_refunds),
            float(n_manual),
            float(n_returns),
            float(linked),
            team,
            a_manual,
            a_ratio,
            a_refunds,
            pair,
            s_dev,
            s_ip,
            s_mfa,
            s_off,
            s_foreign,
            s_burst,
            refund_anomaly,
            agent_anomaly,
        )

    def _open_session(self, ctx: Context, a: list[Any], t: int) -> list[Any] | None:
        """A refund without a session id belongs to the agent's latest session before it."""
        starts: list[tuple[int, str]] = a[8]
        i = bisect_right(starts, (t, "\uffff"))
        if i == 0 or t - starts[i - 1][0] > 12 * HOUR_MS:
            return None
        found: list[Any] | None = ctx.keyed(_SESSION).get(starts[i - 1][1])
        return found

    def _linked(self, ctx: Context, entities: list[str], cid: str, d: int) -> int:
        links = ctx.keyed(_LINK)
        best = 0
        for e in entities:
            members: dict[str, int] = links[e]
            if len(members) <= best + 1:
                continue
            n = sum(1 for other, first in members.items() if first <= d and other != cid)
            if n > best:
                best = n
        return best


def row_features(row: Row) -> Row:
    """The feature part of a row (after ``ID_COLUMNS``)."""
    return row[len(ID_COLUMNS) :]

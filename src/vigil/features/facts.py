"""What Vigil knows about each entity *as events arrive*: the facts a request-time decision reads.

The stream detectors judge in event time, once the watermark has passed (a refund with no
return is only known a week later). A refund system asking "may this refund go through?"
needs an answer now, from everything that has arrived so far: has the order been delivered,
has its return parcel been scanned (where, at what weight, addressed to which return
centre), how old is the account and what has it refunded, which session is asking and what
about that session is new for its agent. ``RequestFacts`` keeps those facts per plain entity
id (order, customer, session, agent, agent|customer pair, refund), updated in arrival order
by ``update_one``.

Two processes hold the same facts. The runtime updates them from the stream and, under
``vigil serve``, *publishes* the entities each batch changed (``dirty_lines``) to
``facts.jsonl``; the API applies those lines (``apply_line``) to its own copy. The request-
time decision (``vigil.decisions.request``) is a pure function of these facts and the alerts
raised so far, so the API and the runtime give the same answer for the same history.

Retention: an entity idle for ``retention_ms`` (event time) is dropped by ``prune``, and a
read at time ``t`` ignores entries idle since before ``t - visible_ms`` whether they were
pruned yet or not, so when pruning runs never changes a decision (``visible_ms`` is the
retention less the allowed lateness: a request is never older than that behind the
watermark that pruned).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Final

import msgspec

from vigil.events.schemas import (
    AgentRostered,
    AgentSessionEnded,
    AgentSessionStarted,
    AnalystDecision,
    CarrierScan,
    Chargeback,
    CustomerSignup,
    EventBase,
    InvestigationOutcome,
    LineItem,
    OrderPlaced,
    RefundIssued,
    RefundRequested,
    ReturnLabelCreated,
    ReturnReceived,
    ReturnRequested,
    ShipmentDelivered,
)
from vigil.features.geo import is_impossible_travel
from vigil.features.shifts import in_shift
from vigil.state.keyed.files import DeltaLog

__all__ = [
    "FACTS_FILE",
    "GOODS_NOT_BACK",
    "KINDS",
    "AgentFacts",
    "AmountFacts",
    "CustomerFacts",
    "FactsSettings",
    "OrderFacts",
    "PairFacts",
    "ParcelFacts",
    "RefundFacts",
    "RequestFacts",
    "SessionFacts",
    "goods_back",
]

DAY_MS: Final = 86_400_000
#: under ``vigil serve``: the facts each runtime batch changed (one line per entity), in the
#: runtime's output directory, for the API's copy of them
FACTS_FILE: Final = "facts.jsonl"
#: scans kept per return parcel (the first ones in event time)
MAX_SCANS: Final = 8
#: request times kept per agent|customer pair
MAX_PAIR_TIMES: Final = 8
#: an agent's risky requests are remembered (``AgentFacts.risky_requests``, the newest
#: ``MAX_RISKY_REQUESTS``): overrides or returnless refunds for an account at most
#: ``RISKY_ACCOUNT_AGE_MS`` old, or of at least ``RISKY_AMOUNT_SD`` standard deviations of
#: ln(amount) above the agents' typical request so far
RISKY_ACCOUNT_AGE_MS: Final = 90 * 86_400_000
RISKY_AMOUNT_SD: Final = 1.0
MAX_RISKY_REQUESTS: Final = 16
#: devices / IPs / countries remembered per agent
MAX_KNOWN: Final = 64
#: sessions an agent must have had before a new device or IP means anything
NOVELTY_MIN_SESSIONS: Final = 3
SHIFT_SLACK_MINUTES: Final = 30
#: as ``session_risk``'s defaults: faster than an airliner, between countries this far apart
MAX_TRAVEL_SPEED_KMH: Final = 1_000.0
MIN_TRAVEL_DISTANCE_KM: Final = 800.0


#: (count, mean, M2) of ln(amount) by Welford's update: a running typical amount
LogAmounts = tuple[int, float, float]
NO_AMOUNTS: Final[LogAmounts] = (0, 0.0, 0.0)


def add_log_amount(stats: LogAmounts, amount_cents: int) -> LogAmounts:
    """``stats`` with one more amount (Welford's update of ln amount)."""
    n, mean, m2 = stats
    x = math.log(max(1, amount_cents))
    n += 1
    delta = x - mean
    mean += delta / n
    return n, mean, m2 + delta * (x - mean)


def log_typical(n: int, mean_log: float, m2: float) -> tuple[float, float]:
    """(mean ln amount, sd of ln amount, at least 0.25) of a running typical."""
    sd = math.sqrt(m2 / (n - 1)) if n > 1 else 1.0
    return mean_log, max(0.25, sd)


class _Fact(msgspec.Struct, array_like=True, gc=False, kw_only=True):
    """A fact entry: ``last_ms`` is the latest event time that touched it (retention)."""

    last_ms: int


class ParcelFacts(msgspec.Struct, array_like=True, gc=False, kw_only=True):
    """The return of an order: request, label, carrier scans, warehouse receipt."""

    requested_ms: int | None = None
    reason: str | None = None
    return_skus: list[str] = []
    label_ms: int | None = None
    destination_id: str | None = None
    destination_postal_code: str | None = None
    destination_country: str | None = None
    #: (time_ms, scan_type, weight_g, country, postal_code | None), by event time, the first few
    scans: list[tuple[int, str, int, str, str | None]] = []
    #: (time_ms, postal code) of each destination the carrier read off the parcel's label at a
    #: scan, the first time it read it (a fake label reads as a drop address)
    scan_destinations: list[tuple[int, str]] = []
    #: (time_ms, items_matched, condition, weight_g) of the first receipt
    received: tuple[int, bool, str, int] | None = None

    def receipt_by(self, t: int) -> tuple[int, bool, str, int] | None:
        """The first receipt, if the warehouse had it at ``t``."""
        r = self.received
        return r if r is not None and r[0] <= t else None


#: receipt conditions that mean the goods did not come back
GOODS_NOT_BACK: Final = frozenset({"empty", "wrong_item"})


def goods_back(receipt: tuple[int, bool, str, int] | None) -> bool:
    """The receipt says the goods came back: the items matched and the box was not empty."""
    return receipt is not None and receipt[1] and receipt[2] not in GOODS_NOT_BACK


class OrderFacts(_Fact, kw_only=True):
    customer_id: str
    placed_ms: int | None = None
    total_cents: int = 0
    country: str | None = None
    #: the order's lines as placed (the event's own list, not a copy)
    items: list[LineItem] = []
    delivered_ms: int | None = None
    #: refund requests on this order so far, and their money; refunds issued (paid) and theirs
    requests: int = 0
    requested_cents: int = 0
    issued_cents: int = 0
    parcel: ParcelFacts | None = None


class CustomerFacts(_Fact, kw_only=True):
    signup_ms: int | None = None
    first_seen_ms: int
    orders: int = 0
    order_cents: int = 0
    requests: int = 0
    requested_cents: int = 0
    #: labels that came back about the customer (analyst decisions, investigations,
    #: chargebacks count as fraud)
    fraud_labels: int = 0
    legit_labels: int = 0


class SessionFacts(_Fact, kw_only=True):
    """An internal-tool session, judged against its agent's history when it started."""

    agent_id: str
    start_ms: int | None = None
    device_id: str | None = None
    ip: str | None = None
    country: str | None = None
    mfa: bool = True
    new_device: bool = False
    new_ip: bool = False
    new_country: bool = False
    off_shift: bool = False
    #: "impossible travel XX->YY (... km in ... h)" or None
    travel: str | None = None
    end_ms: int | None = None
    #: (time_ms, amount_cents, refund_id) of the refunds requested in the session
    requests: list[tuple[int, int, str]] = []
    #: the agent's typical request (``AgentFacts.amounts``) as it stood when the session
    #: started: what a burst is measured against (``session_risk``). Last: facts are encoded
    #: as arrays, so one from before it decodes with the default
    agent_amounts: LogAmounts = NO_AMOUNTS


class AgentFacts(_Fact, kw_only=True):
    team: str | None = None
    home_country: str | None = None
    shift: tuple[int, int] | None = None
    #: sessions learned from (sessions with MFA, or from a device the agent already used)
    sessions: int = 0
    devices: list[str] = []
    ips: list[str] = []
    countries: list[str] = []
    #: (session_id, start_ms, country) of the last session learned from
    last_trusted: tuple[str, int, str] | None = None
    #: the agent's latest session (refund requests without a session id fall in it)
    open_session: tuple[str, int] | None = None
    requests: int = 0
    manual_requests: int = 0
    fraud_labels: int = 0
    legit_labels: int = 0
    #: (time_ms, refund_id) of the agent's latest risky requests (``MAX_RISKY_REQUESTS``):
    #: an insider refunds the ring's accounts again and again; an honest agent meets a dear
    #: "not received" claim now and then
    risky_requests: list[tuple[int, str]] = []
    #: the agent's typical request amount so far (``add_log_amount``; last, as above)
    amounts: LogAmounts = NO_AMOUNTS


class PairFacts(_Fact, kw_only=True):
    """An agent and a customer: when the agent asked for refunds for this customer."""

    times: list[int] = []


class RefundFacts(_Fact, kw_only=True):
    customer_id: str
    order_id: str
    agent_id: str | None = None
    session_id: str | None = None
    amount_cents: int = 0
    requested_ms: int | None = None
    issued_ms: int | None = None


class AmountFacts(_Fact, kw_only=True):
    """The running typical refund request amount of one issuer (``agent`` or ``system``):
    count and the mean and variance of ln(amount), by Welford's update."""

    n: int = 0
    mean_log: float = 0.0
    m2: float = 0.0

    def typical(self) -> tuple[float, float]:
        """(mean ln amount, sd of ln amount) so far."""
        return log_typical(self.n, self.mean_log, self.m2)


_FACT_TYPES: dict[str, type[_Fact]] = {
    "order": OrderFacts,
    "customer": CustomerFacts,
    "session": SessionFacts,
    "agent": AgentFacts,
    "pair": PairFacts,
    "refund": RefundFacts,
    "amount": AmountFacts,
}
KINDS: Final = tuple(_FACT_TYPES)
_DECODERS = {kind: msgspec.json.Decoder(cls) for kind, cls in _FACT_TYPES.items()}
#: a checkpoint's base keeps each table as one MessagePack blob (``state``): pickling the
#: structs one by one took seconds at a million events; a delta, each changed entry
_table_encoder = msgspec.msgpack.Encoder()
_ENTRY_DECODERS = {kind: msgspec.msgpack.Decoder(cls) for kind, cls in _FACT_TYPES.items()}
#: the facts' checkpoint files (``RequestFacts.checkpoint``), beside the state backend's
CHECKPOINT_PREFIX: Final = "facts-"
_TABLE_DECODERS = {
    kind: msgspec.msgpack.Decoder(dict[str, cls])  # type: ignore[valid-type]
    for kind, cls in _FACT_TYPES.items()
}
_encode = msgspec.json.Encoder().encode
_line_decoder = msgspec.json.Decoder(tuple[str, str, msgspec.Raw])


class FactsSettings(msgspec.Struct, frozen=True, kw_only=True):
    """How long facts are kept (event time since the entity's last activity)."""

    order_retention_ms: int = 180 * DAY_MS
    customer_retention_ms: int = 400 * DAY_MS
    session_retention_ms: int = 3 * DAY_MS
    agent_retention_ms: int = 400 * DAY_MS
    pair_retention_ms: int = 120 * DAY_MS
    refund_retention_ms: int = 180 * DAY_MS
    #: the runtime's allowed lateness (a request is never older than that behind the watermark)
    allowed_lateness_ms: int = 2 * DAY_MS

    def retention(self, kind: str) -> int:
        if kind == "amount":
            return 1 << 62
        value: int = getattr(self, f"{kind}_retention_ms")
        return value


class RequestFacts:
    """Facts per (kind, plain id), updated in arrival order; see the module docstring."""

    def __init__(
        self,
        settings: FactsSettings | None = None,
        *,
        track_dirty: bool = False,
        checkpointed: bool = False,
    ) -> None:
        self.settings = settings or FactsSettings()
        self.tables: dict[str, dict[str, Any]] = {kind: {} for kind in KINDS}
        #: (kind, id) of entries changed since the last ``dirty_lines`` (publish mode) or,
        #: when nothing publishes, since the last checkpoint
        self.track_dirty = track_dirty
        #: changes are tracked for publishing or for ``checkpoint`` (an API's copy does neither)
        self._track = track_dirty or checkpointed
        self._checkpointed = checkpointed
        self.dirty: set[tuple[str, str]] = set()
        #: changed (or pruned) since the last checkpoint and already taken off ``dirty`` by
        #: ``dirty_lines``
        self._unsaved: set[tuple[str, str]] = set()
        self._log = DeltaLog(CHECKPOINT_PREFIX)
        self._visible = {
            kind: self.settings.retention(kind) - self.settings.allowed_lateness_ms
            for kind in KINDS
        }
        self._handlers: dict[type[EventBase], Callable[[Any], None] | None] = {
            OrderPlaced: self._order_placed,
            ShipmentDelivered: self._delivered,
            ReturnRequested: self._return_requested,
            ReturnLabelCreated: self._label,
            CarrierScan: self._scan,
            ReturnReceived: self._received,
            RefundRequested: self._requested,
            RefundIssued: self._issued,
            CustomerSignup: self._signup,
            AgentRostered: self._rostered,
            AgentSessionStarted: self._session_started,
            AgentSessionEnded: self._session_ended,
            AnalystDecision: None,  # needs the alert: ``label_alert`` is called by the runtime
            InvestigationOutcome: self._investigation,
            Chargeback: self._chargeback,
        }

    # --- reads ------------------------------------------------------------------------------

    def get(self, kind: str, key: str | None, at_ms: int) -> Any:
        """The entry, or None if unknown or idle for longer than its retention at ``at_ms``."""
        if key is None:
            return None
        entry = self.tables[kind].get(key)
        if entry is None or entry.last_ms < at_ms - self._visible[kind]:
            return None
        return entry

    def order(self, order_id: str | None, at_ms: int) -> OrderFacts | None:
        entry: OrderFacts | None = self.get("order", order_id, at_ms)
        return entry

    def customer(self, customer_id: str | None, at_ms: int) -> CustomerFacts | None:
        entry: CustomerFacts | None = self.get("customer", customer_id, at_ms)
        return entry

    def session(self, session_id: str | None, at_ms: int) -> SessionFacts | None:
        entry: SessionFacts | None = self.get("session", session_id, at_ms)
        return entry

    def agent(self, agent_id: str | None, at_ms: int) -> AgentFacts | None:
        entry: AgentFacts | None = self.get("agent", agent_id, at_ms)
        return entry

    def pair(self, agent_id: str | None, customer_id: str, at_ms: int) -> PairFacts | None:
        if agent_id is None:
            return None
        entry: PairFacts | None = self.get("pair", agent_id + "|" + customer_id, at_ms)
        return entry

    def refund(self, refund_id: str, at_ms: int) -> RefundFacts | None:
        entry: RefundFacts | None = self.get("refund", refund_id, at_ms)
        return entry

    def amounts(self, issuer: str) -> AmountFacts | None:
        entry: AmountFacts | None = self.tables["amount"].get(issuer)
        return entry

    def __len__(self) -> int:
        return sum(len(t) for t in self.tables.values())

    # --- updates (arrival order) --------------------------------------------------------

    @property
    def tracked_types(self) -> frozenset[type[EventBase]]:
        """The event types that change a fact (the runtime skips the call for the rest)."""
        return frozenset(self._handlers)

    def update_one(self, ev: EventBase) -> None:
        handler = self._handlers.get(type(ev))
        if handler is not None:
            handler(ev)

    def _touch(self, kind: str, key: str, entry: Any, t: int) -> None:
        if t > entry.last_ms:
            entry.last_ms = t
        if self._track:
            self.dirty.add((kind, key))

    def _customer(self, customer_id: str, t: int) -> CustomerFacts:
        c: CustomerFacts | None = self.tables["customer"].get(customer_id)
        if c is None:
            c = self.tables["customer"][customer_id] = CustomerFacts(last_ms=t, first_seen_ms=t)
        elif t < c.first_seen_ms:
            c.first_seen_ms = t
        self._touch("customer", customer_id, c, t)
        return c

    def _order(self, order_id: str, customer_id: str, t: int) -> OrderFacts:
        o: OrderFacts | None = self.tables["order"].get(order_id)
        if o is None:
            o = self.tables["order"][order_id] = OrderFacts(last_ms=t, customer_id=customer_id)
        self._touch("order", order_id, o, t)
        return o

    def _parcel(self, order_id: str, t: int) -> ParcelFacts:
        o = self._order(order_id, "", t)
        if o.parcel is None:
            o.parcel = ParcelFacts()
        return o.parcel

    def _agent(self, agent_id: str, t: int) -> AgentFacts:
        a: AgentFacts | None = self.tables["agent"].get(agent_id)
        if a is None:
            a = self.tables["agent"][agent_id] = AgentFacts(last_ms=t)
        self._touch("agent", agent_id, a, t)
        return a

    def _session(self, session_id: str, agent_id: str, t: int) -> SessionFacts:
        s: SessionFacts | None = self.tables["session"].get(session_id)
        if s is None:
            s = self.tables["session"][session_id] = SessionFacts(last_ms=t, agent_id=agent_id)
        self._touch("session", session_id, s, t)
        return s

    # the two handlers that see most events (every order, every delivery) are written flat
    def _order_placed(self, ev: OrderPlaced) -> None:
        t = ev.event_time_ms
        orders = self.tables["order"]
        o: OrderFacts | None = orders.get(ev.order_id)
        if o is None:
            orders[ev.order_id] = OrderFacts(
                last_ms=t,
                customer_id=ev.customer_id,
                placed_ms=t,
                total_cents=ev.total_cents,
                country=ev.country,
                items=ev.items,
            )
        else:
            self._touch("order", ev.order_id, o, t)
            if o.placed_ms is not None:
                return  # placed twice (another event id): the first counts
            o.customer_id = ev.customer_id
            o.placed_ms = t
            o.total_cents = ev.total_cents
            o.country = ev.country
            o.items = ev.items
        if self._track:
            self.dirty.add(("order", ev.order_id))
        c = self._customer(ev.customer_id, t)
        c.orders += 1
        c.order_cents += ev.total_cents

    def _delivered(self, ev: ShipmentDelivered) -> None:
        t = ev.event_time_ms
        o: OrderFacts | None = self.tables["order"].get(ev.order_id)
        if o is None:
            o = self.tables["order"][ev.order_id] = OrderFacts(
                last_ms=t, customer_id=ev.customer_id, delivered_ms=t
            )
        elif o.delivered_ms is None or t < o.delivered_ms:
            o.delivered_ms = t
            if t > o.last_ms:
                o.last_ms = t
        elif t > o.last_ms:
            o.last_ms = t
        if self._track:
            self.dirty.add(("order", ev.order_id))

    def _return_requested(self, ev: ReturnRequested) -> None:
        t = ev.event_time_ms
        p = self._parcel(ev.order_id, t)
        if p.requested_ms is None or t < p.requested_ms:
            p.requested_ms = t
            p.reason = ev.reason
        p.return_skus = sorted({*p.return_skus, *ev.skus})

    def _label(self, ev: ReturnLabelCreated) -> None:
        t = ev.event_time_ms
        p = self._parcel(ev.order_id, t)
        if p.label_ms is None or t < p.label_ms:
            p.label_ms = t
            p.destination_id = ev.destination_id
            p.destination_postal_code = ev.destination_postal_code
            p.destination_country = ev.destination_country

    def _scan(self, ev: CarrierScan) -> None:
        t = ev.event_time_ms
        p = self._parcel(ev.order_id, t)
        scan = (t, ev.scan_type, ev.weight_g, ev.location_country, ev.postal_code)
        dest = ev.destination_postal_code
        if dest is not None:
            known = {d: k for k, d in p.scan_destinations}
            if dest not in known or t < known[dest]:
                known[dest] = t
                p.scan_destinations = sorted((k, d) for d, k in known.items())[:MAX_SCANS]
        if scan in p.scans:
            return
        if len(p.scans) >= MAX_SCANS and t >= p.scans[-1][0]:
            return
        p.scans = sorted([*p.scans, scan])[:MAX_SCANS]

    def _received(self, ev: ReturnReceived) -> None:
        t = ev.event_time_ms
        p = self._parcel(ev.order_id, t)
        if p.received is None or t < p.received[0]:
            p.received = (t, ev.items_matched, ev.condition, ev.weight_g)

    def _requested(self, ev: RefundRequested) -> None:
        t = ev.event_time_ms
        refunds = self.tables["refund"]
        r: RefundFacts | None = refunds.get(ev.refund_id)
        if r is not None and r.requested_ms is not None:
            return  # the same request again (another event id): counted once
        if r is None:
            r = refunds[ev.refund_id] = RefundFacts(
                last_ms=t, customer_id=ev.customer_id, order_id=ev.order_id
            )
        r.agent_id, r.session_id, r.amount_cents = ev.agent_id, ev.session_id, ev.amount_cents
        r.requested_ms = t
        self._touch("refund", ev.refund_id, r, t)
        o = self._order(ev.order_id, ev.customer_id, t)
        if not o.customer_id:
            o.customer_id = ev.customer_id
        o.requests += 1
        o.requested_cents += ev.amount_cents
        c = self._customer(ev.customer_id, t)
        c.requests += 1
        c.requested_cents += ev.amount_cents
        amounts: AmountFacts | None = self.tables["amount"].get(ev.issued_by)
        if amounts is None:
            amounts = self.tables["amount"][ev.issued_by] = AmountFacts(last_ms=t)
        amounts.n, amounts.mean_log, amounts.m2 = add_log_amount(
            (amounts.n, amounts.mean_log, amounts.m2), ev.amount_cents
        )
        x = math.log(max(1, ev.amount_cents))
        self._touch("amount", ev.issued_by, amounts, t)
        if ev.agent_id is None:
            return
        a = self._agent(ev.agent_id, t)
        a.requests += 1
        a.amounts = add_log_amount(a.amounts, ev.amount_cents)
        if ev.policy in ("manual_override", "returnless"):
            a.manual_requests += 1
            young = (
                c.signup_ms is not None and c.signup_ms <= t <= c.signup_ms + RISKY_ACCOUNT_AGE_MS
            )
            if young or _dear(x, amounts):
                risky = sorted({*a.risky_requests, (t, ev.refund_id)})
                a.risky_requests = risky[-MAX_RISKY_REQUESTS:]
        key = ev.agent_id + "|" + ev.customer_id
        pair: PairFacts | None = self.tables["pair"].get(key)
        if pair is None:
            pair = self.tables["pair"][key] = PairFacts(last_ms=t)
        pair.times = sorted({*pair.times, t})[-MAX_PAIR_TIMES:]
        self._touch("pair", key, pair, t)
        session_id = ev.session_id
        if session_id is None and a.open_session is not None:
            session_id = a.open_session[0]
        if session_id is not None:
            s = self._session(session_id, ev.agent_id, t)
            s.requests = sorted([*s.requests, (t, ev.amount_cents, ev.refund_id)])

    def _issued(self, ev: RefundIssued) -> None:
        t = ev.event_time_ms
        refunds = self.tables["refund"]
        r: RefundFacts | None = refunds.get(ev.refund_id)
        if r is None:
            r = refunds[ev.refund_id] = RefundFacts(
                last_ms=t,
                customer_id=ev.customer_id,
                order_id=ev.order_id,
                agent_id=ev.agent_id,
                session_id=ev.session_id,
                amount_cents=ev.amount_cents,
            )
        first_issue = r.issued_ms is None
        if r.issued_ms is None or t < r.issued_ms:
            r.issued_ms = t
        self._touch("refund", ev.refund_id, r, t)
        if first_issue:  # the same refund issued again (another event id) is paid once
            o = self._order(ev.order_id, ev.customer_id, t)
            o.issued_cents += ev.amount_cents

    def _signup(self, ev: CustomerSignup) -> None:
        t = ev.event_time_ms
        c = self._customer(ev.customer_id, t)
        if c.signup_ms is None or t < c.signup_ms:
            c.signup_ms = t

    def _rostered(self, ev: AgentRostered) -> None:
        a = self._agent(ev.agent_id, ev.event_time_ms)
        a.team = ev.team
        a.home_country = ev.home_country
        a.shift = (ev.shift_start_hour, ev.shift_end_hour)

    def _session_started(self, ev: AgentSessionStarted) -> None:
        t = ev.event_time_ms
        s = self._session(ev.session_id, ev.agent_id, t)
        if s.start_ms is not None:
            return
        a = self._agent(ev.agent_id, t)
        mature = a.sessions >= NOVELTY_MIN_SESSIONS
        s.start_ms, s.device_id, s.ip, s.country, s.mfa = t, ev.device_id, ev.ip, ev.country, ev.mfa
        s.new_device = mature and ev.device_id not in a.devices
        s.new_ip = mature and ev.ip not in a.ips
        known_place = a.home_country is not None or mature
        s.new_country = (
            known_place and ev.country != a.home_country and ev.country not in a.countries
        )
        s.off_shift = a.shift is not None and not in_shift(
            t, a.shift[0], a.shift[1], SHIFT_SLACK_MINUTES
        )
        s.travel = _travel(a, t, ev.country, self.tables["session"])
        s.agent_amounts = a.amounts
        if a.open_session is None or a.open_session[1] <= t:
            a.open_session = (ev.session_id, t)
        if ev.mfa or not s.new_device:
            # learn only from sessions an intruder cannot have made alone: with MFA, or from a
            # device the agent already used
            a.sessions += 1
            a.devices = _remember(a.devices, ev.device_id)
            a.ips = _remember(a.ips, ev.ip)
            a.countries = _remember(a.countries, ev.country)
            a.last_trusted = (ev.session_id, t, ev.country)

    def _session_ended(self, ev: AgentSessionEnded) -> None:
        s = self._session(ev.session_id, ev.agent_id, ev.event_time_ms)
        if s.end_ms is None or ev.event_time_ms < s.end_ms:
            s.end_ms = ev.event_time_ms

    # --- labels -------------------------------------------------------------------------

    def label(
        self,
        outcome: str,
        t: int,
        *,
        customer_id: str | None = None,
        agent_id: str | None = None,
    ) -> None:
        """A label came back about a customer and / or an agent."""
        fraud = outcome == "fraud"
        if customer_id is not None:
            c = self._customer(customer_id, t)
            if fraud:
                c.fraud_labels += 1
            else:
                c.legit_labels += 1
        if agent_id is not None:
            a = self._agent(agent_id, t)
            if fraud:
                a.fraud_labels += 1
            else:
                a.legit_labels += 1

    def _investigation(self, ev: InvestigationOutcome) -> None:
        t = ev.event_time_ms
        kind, key = ev.subject_type, ev.subject_id
        if kind == "account":
            self.label(ev.outcome, t, customer_id=key)
        elif kind == "agent":
            self.label(ev.outcome, t, agent_id=key)
        elif kind == "refund":
            r = self.refund(key, t)
            if r is not None:
                self.label(ev.outcome, t, customer_id=r.customer_id)
        elif kind == "order":
            o = self.order(key, t)
            if o is not None and o.customer_id:
                self.label(ev.outcome, t, customer_id=o.customer_id)

    def _chargeback(self, ev: Chargeback) -> None:
        self.label("fraud", ev.event_time_ms, customer_id=ev.customer_id)

    # --- retention, publishing, checkpoints ------------------------------------------------

    def prune(self, now_ms: int) -> int:
        """Drop entries idle for longer than their retention before ``now_ms``; how many."""
        dropped = 0
        for kind, table in self.tables.items():
            horizon = now_ms - self.settings.retention(kind)
            old = [k for k, v in table.items() if v.last_ms < horizon]
            for k in old:
                del table[k]
            if self._checkpointed:
                self._unsaved.update((kind, k) for k in old)
            dropped += len(old)
        return dropped

    def mark_all_dirty(self) -> None:
        """Publish every entry at the next ``dirty_lines`` (a reader's copy lost some)."""
        self.dirty = {(kind, key) for kind, table in self.tables.items() for key in table}

    def dirty_lines(self) -> Iterator[bytes]:
        """One JSON line per entry changed since the last call: ``[kind, id, fact]``."""
        dirty, self.dirty = self.dirty, set()
        if self._checkpointed:  # the next checkpoint still has to write them
            self._unsaved |= dirty
        tables = self.tables
        for kind, key in sorted(dirty):
            entry = tables[kind].get(key)
            if entry is not None:
                yield _encode((kind, key, entry))

    def apply_line(self, line: bytes) -> tuple[str, str, int]:
        """Take one published line (the API's copy); returns (kind, id, last_ms)."""
        kind, key, raw = _line_decoder.decode(line)
        decoder = _DECODERS.get(kind)
        if decoder is None:
            raise ValueError(f"unknown fact kind {kind!r}")
        entry = decoder.decode(raw)
        self.tables[kind][key] = entry
        last_ms: int = entry.last_ms
        return kind, key, last_ms

    def state(self) -> dict[str, bytes]:
        """Every table, each encoded as one MessagePack blob (a checkpoint's base)."""
        return {kind: _table_encoder.encode(table) for kind, table in self.tables.items()}

    def checkpoint(self, directory: Path) -> dict[str, Any]:
        """Write the entries changed since the last checkpoint (or, now and then, every
        entry) to ``directory``; the manifest the runtime's snapshot keeps. Its cost follows
        the entries changed, not the facts held."""
        changed = self._unsaved | self.dirty
        if not self.track_dirty:
            self.dirty = set()
        self._unsaved = set()
        tables, encode = self.tables, _table_encoder.encode

        def changes() -> list[tuple[str, str, bytes | None]]:
            out: list[tuple[str, str, bytes | None]] = []
            for kind, key in sorted(changed):
                entry = tables[kind].get(key)
                out.append((kind, key, None if entry is None else encode(entry)))
            return out

        return self._log.write(directory, self.state, changes)

    def committed(
        self, directory: Path, manifest: dict[str, Any], previous: dict[str, Any] | None
    ) -> None:
        """The snapshot naming ``manifest`` is saved: remove files no kept manifest names."""
        self._log.committed(directory, manifest, previous)

    def restore_files(self, directory: Path, manifest: dict[str, Any]) -> None:
        """Take the facts a ``checkpoint`` manifest names (each file verified)."""
        base, deltas = self._log.read(directory, manifest)
        self.restore(base)
        for records in deltas:
            for kind, key, blob in records:
                if blob is None:
                    self.tables[kind].pop(key, None)
                else:
                    self.tables[kind][key] = _ENTRY_DECODERS[kind].decode(blob)
        self.dirty, self._unsaved = set(), set()

    def restore(self, tables: dict[str, bytes | dict[str, Any]]) -> None:
        """Take what ``state`` gave (or, from a checkpoint written before it encoded the
        tables, the tables themselves)."""
        for kind in KINDS:
            found = tables.get(kind, {})
            self.tables[kind] = (
                _TABLE_DECODERS[kind].decode(found) if isinstance(found, bytes) else found
            )


def _dear(log_amount: float, amounts: AmountFacts) -> bool:
    """At least ``RISKY_AMOUNT_SD`` above the issuer's typical request (any amount while
    there is no typical yet)."""
    if amounts.n < 2:
        return True
    mean, sd = amounts.typical()
    return log_amount >= mean + RISKY_AMOUNT_SD * sd


def _remember(known: list[str], value: str) -> list[str]:
    if known and known[-1] == value:
        return known
    out = [v for v in known if v != value]
    out.append(value)
    return out[-MAX_KNOWN:]


def _travel(a: AgentFacts, start: int, country: str, sessions: dict[str, Any]) -> str | None:
    """A note when reaching ``country`` from the agent's last trusted session is impossible."""
    if a.last_trusted is None:
        return None
    prev_id, prev_start, prev_country = a.last_trusted
    prev: SessionFacts | None = sessions.get(prev_id)
    prev_end = prev.end_ms if prev is not None else None
    elapsed = start - prev_start if prev_end is None else max(0, start - prev_end)
    if not is_impossible_travel(
        prev_country,
        country,
        elapsed,
        max_speed_kmh=MAX_TRAVEL_SPEED_KMH,
        min_distance_km=MIN_TRAVEL_DISTANCE_KM,
    ):
        return None
    return f"impossible travel {prev_country}->{country} in {elapsed / 3_600_000:.1f} h"

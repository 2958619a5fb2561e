"""Empty box / swapped item / fake tracking id: money left before inspection, then the
parcel did not match, or never arrived where it should have.

Per order the detector keeps what was bought (item weights and prices from
``order_placed``), which items the customer asked to return, where the return label is
addressed, the carrier scans (time, type, country, postal code, the destination read off the
label), the warehouse receipt and the refunds paid before inspection (any policy but
``on_receipt``). Two patterns:

* **Mismatch** — a warehouse receipt whose items do not match, whose condition is
  ``empty`` / ``wrong_item``, or whose weight is far below the expected parcel weight,
  for an order refunded before inspection. Alerted as soon as the receipt and the refund
  have both been seen (in either arrival order).
* **FTID** (fake tracking id) — the parcel was scanned but not received within its route's
  normal transit time (first scan + ``normal_transit_ms``: a quantile of the first scan ->
  receipt times of the route's received parcels, learned online per origin country and
  destination postal code; a prior until enough were seen), *and* it shows where it went
  instead: the first scan weighs far less than the returned items; a scan in a country that
  is neither the order's nor its centre's; a label not addressed to a return centre (or
  another destination read off the parcel); a "delivered" scan at another postal code than
  the centre's, or scans that move away after reaching it; or "delivered" at the centre and
  never received there. A parcel that was scanned and then went quiet, with none of these,
  is what a parcel the carrier lost looks like and is not alerted here. The judgement is an
  event-time timer at first scan + the route's time (read by a timer at the first scan), on
  the scans and label dated before it, so a receipt or scan dated after the deadline does
  not count, whatever order the events arrived in.

Refunds on receipt are decided after inspection and are never blamed here.

As stages (docs/adr/0004-keyed-state.md): ``empty_box_orders`` (key: order) keeps the entry
(``empty_box_evidence``) and judges it; ``empty_box_routes`` (key: route) learns the routes'
transit times from the receipts the order stage reports (``ParcelReceived``) and answers,
within the timer that asks, when a parcel is due and whether its route is established
(``TransitAsked`` -> ``TransitAnswered``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from vigil.detectors.base import Signal
from vigil.detectors.order_facts import earliest_route
from vigil.detectors.route_transit import RouteTransitStage
from vigil.detectors.sequences._common import refund_facts
from vigil.detectors.sequences.empty_box_evidence import (
    EMPTY_TAIL,
    FIRST_RECEIPT,
    FTID,
    LABEL,
    LAST,
    MAX_SCANS,
    NAME,
    PLACED,
    REASON_AWAY,
    REASON_BAD_CONDITION,
    REASON_DELIVERED_NOT_RECEIVED,
    REASON_FIRST_SCAN_POLICY,
    REASON_FOREIGN_SCAN,
    REASON_FTID,
    REASON_ITEMS_MISMATCH,
    REASON_LABEL_ELSEWHERE,
    REASON_LIGHT_SCAN,
    REASON_RECEIPT_MISMATCH,
    REASON_WEIGHT_MISMATCH,
    RECEIPT,
    REFUNDS,
    ROUTE,
    SCAN,
    SCANS,
    SKUS,
    VERSION,
    Judge,
    new_entry,
)
from vigil.detectors.settings import EmptyBoxSettings
from vigil.events.derived import ParcelReceived, TransitAnswered, TransitAsked
from vigil.events.schemas import (
    CarrierScan,
    OrderPlaced,
    RefundIssued,
    ReturnLabelCreated,
    ReturnReceived,
    ReturnRequested,
)
from vigil.state.keyed.pipeline import StagePipeline
from vigil.state.keyed.spec import StateSpec, ValueSpec
from vigil.state.keyed.stage import KeyKind, Output, StageContext

#: timer at the earliest receipt: teach the route its first-scan-to-receipt time
_TRANSIT = "transit"
#: timer at the first scan: ask the route when the parcel is due, then set the deadline
_ROUTE = "route"
#: timer at the deadline: judge a parcel not received by then
_DEADLINE = "deadline"
#: what a ``TransitAsked`` is for (handed back in the answer)
_ASK_DUE = "empty_box_due"
_ASK_KNOWN = "empty_box_known"


class EmptyBoxOrdersStage:
    """Per order: what was bought, asked back, labelled, scanned, received and refunded."""

    name: ClassVar[str] = "empty_box_orders"
    version: ClassVar[int] = 1
    reads: ClassVar[frozenset[str]] = frozenset(
        {"order_placed", "return_requested", "return_label_created", "carrier_scan",
         "return_received", "refund_issued", "transit_answered"}
    )  # fmt: skip
    key: ClassVar[KeyKind] = "order"

    def __init__(self, settings: EmptyBoxSettings | None = None) -> None:
        self.settings = settings or EmptyBoxSettings()

    @property
    def judge(self) -> Judge:
        return Judge(self.settings)  # stages hold their settings only

    def state(self) -> Sequence[StateSpec]:
        # the entry (``empty_box_evidence``), kept ``retention_ms`` after its last activity
        return (ValueSpec("order", ttl_ms=self.settings.retention_ms),)

    def key_of(self, event: Any) -> str | None:
        return event.order_id  # type: ignore[no-any-return]

    # --- the entry --------------------------------------------------------------------------

    def _load(self, ctx: StageContext, time_ms: int) -> list[Any]:
        """The order's entry as a new list to change (made if none), ``time_ms`` its activity."""
        found: Any = ctx.value("order").get()
        if found is None:
            return new_entry(time_ms)
        if type(found) is tuple:  # short form of an order only placed so far
            return [max(found[0], time_ms), (found[1], found[2]), *EMPTY_TAIL]
        entry = list(found)
        if time_ms > entry[LAST]:
            entry[LAST] = time_ms
        return entry

    def _store(self, ctx: StageContext, entry: list[Any]) -> None:
        ctx.value("order").set(entry, at_ms=entry[LAST])

    def _loaded(self, ctx: StageContext, first_scan_ms: int) -> list[Any] | None:
        """The stored entry if its earliest scan is still ``first_scan_ms`` (a timer or an
        answer about a later scan is stale: the earlier scan's own timer decides)."""
        found: Any = ctx.value("order").get()
        if type(found) is not list or found[SCAN] is None or found[SCAN][0] != first_scan_ms:
            return None
        return list(found)

    # --- events -----------------------------------------------------------------------------

    def on_event(self, event: Any, ctx: StageContext) -> Sequence[Output]:
        tp = type(event)
        t = event.event_time_ms
        if tp is OrderPlaced:
            if ctx.value("order").get() is None:
                # a new order has no refund yet: nothing to check; kept in short form
                ctx.value("order").set((t, event.country, event.items), at_ms=t)
                return ()
            entry = self._load(ctx, t)
            entry[PLACED] = (event.country, event.items)
        elif tp is CarrierScan:
            entry = self._load(ctx, t)
            self._note_scan(ctx, entry, event)
            self._store(ctx, entry)
            return ()  # a scan alone never completes evidence
        elif tp is ReturnLabelCreated:
            entry = self._load(ctx, t)
            label = (
                t,
                event.destination_id or "",
                event.destination_postal_code or "",
                event.destination_country or "",
            )
            if entry[LABEL] is None or label < entry[LABEL]:
                entry[LABEL] = label
            self._store(ctx, entry)
            return ()
        elif tp is ReturnRequested:
            entry = self._load(ctx, t)
            skus: tuple[str, ...] = entry[SKUS] or ()
            for sku in event.skus:
                if sku not in skus:
                    skus = (*skus, sku)
            entry[SKUS] = skus
        elif tp is ReturnReceived:
            entry = self._load(ctx, t)
            if entry[FIRST_RECEIPT] is None or t < entry[FIRST_RECEIPT]:
                entry[FIRST_RECEIPT] = t
                ctx.timer(t, f"{_TRANSIT}|{t}")  # teaches the route
            receipt = (t, event.weight_g, event.items_matched, event.condition)
            old = entry[RECEIPT]
            judge = self.judge
            if old is None or (
                judge.receipt_mismatch(entry, receipt) and not judge.receipt_mismatch(entry, old)
            ):
                entry[RECEIPT] = receipt
        elif tp is RefundIssued:
            if event.policy == "on_receipt" or event.amount_cents < self.settings.min_amount_cents:
                return ()
            entry = self._load(ctx, t)
            entry[REFUNDS] = (*(entry[REFUNDS] or ()), refund_facts(event))
        elif tp is TransitAnswered:
            return self._answered(event, ctx)
        else:
            return ()
        signals = self.judge.check(entry)
        self._store(ctx, entry)
        return signals

    def _note_scan(self, ctx: StageContext, entry: list[Any], event: CarrierScan) -> None:
        t = event.event_time_ms
        scan = entry[SCAN]
        entry[ROUTE] = earliest_route(scan[0] if scan else None, entry[ROUTE], event)
        first = (t, event.weight_g, event.location_country)
        if scan is None or first < scan:  # of two at one instant, the smaller: arrival-proof
            entry[SCAN] = first
            if scan is None or t < scan[0]:
                ctx.timer(t, f"{_ROUTE}|{t}")
        row = (
            t,
            event.scan_type,
            event.location_country,
            event.postal_code or "",
            event.destination_postal_code or "",
        )
        scans: tuple[tuple[int, str, str, str, str], ...] | None = entry[SCANS]
        if scans is None:
            entry[SCANS] = (row,)
        elif row not in scans and (len(scans) < MAX_SCANS or row < scans[-1]):
            entry[SCANS] = tuple(sorted((*scans, row))[:MAX_SCANS])

    # --- timers and the route's answers ------------------------------------------------------

    def on_timer(self, name: str, fired_at_ms: int, ctx: StageContext) -> Sequence[Output]:
        kind, _, at = name.partition("|")
        t = int(at)
        if kind == _TRANSIT:
            found: Any = ctx.value("order").get()
            if type(found) is list and found[FIRST_RECEIPT] == t and found[SCAN]:
                return (
                    ParcelReceived(
                        event_time_ms=t, route=found[ROUTE], first_scan_ms=found[SCAN][0],
                        received_ms=t,
                    ),
                )  # fmt: skip
            return ()
        entry = self._loaded(ctx, t)
        if entry is None:
            return ()
        if kind == _ROUTE:
            return (self._ask(ctx, entry, t, fired_at_ms, _ASK_DUE),)
        # the deadline: a receipt dated by then means the parcel arrived
        received = entry[FIRST_RECEIPT]
        if received is not None and received <= fired_at_ms:
            return ()
        if self.judge.needs_route(entry):
            return (self._ask(ctx, entry, t, fired_at_ms, _ASK_KNOWN),)
        return self._judge_ftid(ctx, entry, fired_at_ms, known_route=False)

    def _ask(
        self, ctx: StageContext, entry: list[Any], first_scan_ms: int, at_ms: int, purpose: str
    ) -> TransitAsked:
        return TransitAsked(
            event_time_ms=at_ms,
            route=entry[ROUTE],
            order_id=ctx.key or "",
            refund_id="",
            first_scan_ms=first_scan_ms,
            deadline_ms=at_ms,
            purpose=purpose,
        )

    def _answered(self, event: TransitAnswered, ctx: StageContext) -> Sequence[Output]:
        entry = self._loaded(ctx, event.first_scan_ms)
        if entry is None:
            return ()
        if event.purpose == _ASK_DUE:
            ctx.timer(event.due_ms, f"{_DEADLINE}|{event.first_scan_ms}")
            return ()
        if event.purpose == _ASK_KNOWN:
            return self._judge_ftid(ctx, entry, event.deadline_ms, known_route=event.known)
        return ()

    def _judge_ftid(
        self, ctx: StageContext, entry: list[Any], due_ms: int, known_route: bool
    ) -> list[Signal]:
        reasons, notes = self.judge.ftid_evidence(entry, due_ms, known_route)
        entry[FTID] = (due_ms, tuple(reasons), "; ".join(notes))
        signals = self.judge.check(entry)
        self._store(ctx, entry)
        return signals


class EmptyBoxRoutesStage(RouteTransitStage):
    name: ClassVar[str] = "empty_box_routes"


def empty_box_stages(settings: EmptyBoxSettings) -> list[Any]:
    """The order stage and its route stage."""
    return [EmptyBoxOrdersStage(settings), EmptyBoxRoutesStage(settings, (_ASK_DUE, _ASK_KNOWN))]


class EmptyBoxDetector(StagePipeline):
    """Refund before inspection, then a mismatching receipt or no receipt after a fake scan:
    ``empty_box_stages`` as one detector."""

    name: ClassVar[str] = NAME
    version: ClassVar[int] = VERSION

    def __init__(self, settings: EmptyBoxSettings | None = None) -> None:
        s = settings or EmptyBoxSettings()
        super().__init__(empty_box_stages(s), s)


__all__ = [
    "REASON_AWAY",
    "REASON_BAD_CONDITION",
    "REASON_DELIVERED_NOT_RECEIVED",
    "REASON_FIRST_SCAN_POLICY",
    "REASON_FOREIGN_SCAN",
    "REASON_FTID",
    "REASON_ITEMS_MISMATCH",
    "REASON_LABEL_ELSEWHERE",
    "REASON_LIGHT_SCAN",
    "REASON_RECEIPT_MISMATCH",
    "REASON_WEIGHT_MISMATCH",
    "EmptyBoxDetector",
    "EmptyBoxOrdersStage",
    "EmptyBoxRoutesStage",
    "empty_box_stages",
]

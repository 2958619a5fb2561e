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
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, ClassVar

from vigil.detectors.base import BaseDetector, Context, Signal
from vigil.detectors.order_facts import (
    TRANSIT_TIMER,
    TransitModel,
    earliest_route,
    normal_transit_ms,
    route_is_known,
    teach_transit,
)
from vigil.detectors.return_centres import ReturnCentre, ReturnCentres
from vigil.detectors.sequences._common import (
    GC_PREFIX,
    RefundFacts,
    days,
    file_for_sweep,
    logistic,
    money,
    refund_facts,
    refund_signal,
    sweep,
)
from vigil.detectors.settings import EmptyBoxSettings
from vigil.events.schemas import (
    CarrierScan,
    EventBase,
    LineItem,
    OrderPlaced,
    RefundIssued,
    ReturnLabelCreated,
    ReturnReceived,
    ReturnRequested,
)

REASON_RECEIPT_MISMATCH = "receipt_mismatch_after_refund"
REASON_ITEMS_MISMATCH = "items_not_matched"
REASON_BAD_CONDITION = "receipt_condition_empty_or_wrong"
REASON_WEIGHT_MISMATCH = "receipt_weight_below_expected"
REASON_FTID = "scanned_but_never_received"
REASON_LIGHT_SCAN = "first_scan_weight_below_expected"
REASON_FOREIGN_SCAN = "scan_in_unexpected_country"
REASON_LABEL_ELSEWHERE = "label_not_addressed_to_return_centre"
REASON_AWAY = "scanned_away_from_return_centre"
REASON_DELIVERED_NOT_RECEIVED = "delivered_per_carrier_but_never_received"
REASON_FIRST_SCAN_POLICY = "refund_on_first_scan"

_ORDERS = "orders"
#: at the first scan: read the route's normal transit time, set the deadline
_ROUTE_TIMER = "route|"
_DEADLINE = "deadline|"
#: scans kept per parcel (the earliest ones in event time)
_MAX_SCANS = 16

# Order entry (a list, mutated in place), or (time_ms, country, items) for an order only
# placed so far (short for [time_ms, (country, items), None, ..., False]):
_LAST = 0  # last activity (event time), for retention
_PLACED = 1  # (country, [LineItem, ...]) of the order_placed event | None
_SKUS = 2  # skus asked to be returned (union over the order's returns) | None if none
_SCAN = 3  # earliest scan (time_ms, weight_g, country) | None
#: the earliest scans, sorted: (time_ms, type, country, postal code, destination read) with
#: "" for a field the carrier did not give | None if none
_SCANS = 4
_RECEIPT = 5  # (time_ms, weight_g, items_matched, condition) | None; a mismatching one wins
_REFUNDS = 6  # refund facts (see RefundFacts), refunds paid before inspection | None
_ALERTED = 7  # refund ids already alerted | None
#: the FTID deadline passed with no receipt: (deadline_ms, reasons, notes) | None
_FTID = 8
_LABEL = 9  # earliest label (time_ms, destination id, postal code, country), "" if not given
_ROUTE = 10  # route of the earliest scan (``order_facts.route_of``) | None
_FIRST_RECEIPT = 11  # earliest receipt time | None


#: a new entry after its first two slots (the lists are made when first needed)
_EMPTY_TAIL = (None, None, None, None, None, None, None, None, None, None)


@lru_cache(maxsize=8)
def _centres(centres: tuple[ReturnCentre, ...]) -> ReturnCentres:
    """The lookups over the configured return centres (built once per configuration)."""
    return ReturnCentres(centres)


def _new_entry(time_ms: int) -> list[Any]:
    return [time_ms, None, *_EMPTY_TAIL]


class EmptyBoxDetector(BaseDetector):
    """Refund before inspection, then a mismatching receipt or no receipt after a fake scan."""

    name: ClassVar[str] = "empty_box"
    version: ClassVar[int] = 2
    subscribes: ClassVar[frozenset[str]] = frozenset(
        {
            "order_placed",
            "return_requested",
            "return_label_created",
            "carrier_scan",
            "return_received",
            "refund_issued",
        }
    )

    def __init__(self, settings: EmptyBoxSettings | None = None) -> None:
        self.settings = settings or EmptyBoxSettings()

    # --- events -----------------------------------------------------------------------------

    def on_event(self, event: EventBase, ctx: Context) -> Sequence[Signal]:
        if type(event) is OrderPlaced:
            orders = ctx.keyed(_ORDERS)
            t = event.event_time_ms
            if event.order_id not in orders:
                # a new order has no refund yet: nothing to check; kept in short form
                orders[event.order_id] = (t, event.country, event.items)
                file_for_sweep(ctx, (_ORDERS, event.order_id), t + self.settings.retention_ms)
                return ()
            entry = self._entry(ctx, event.order_id, t)
            entry[_PLACED] = (event.country, event.items)
        elif type(event) is CarrierScan:
            self._note_scan(ctx, event)
            return ()  # a scan alone never completes evidence
        elif type(event) is ReturnLabelCreated:
            entry = self._entry(ctx, event.order_id, event.event_time_ms)
            label = (
                event.event_time_ms,
                event.destination_id or "",
                event.destination_postal_code or "",
                event.destination_country or "",
            )
            if entry[_LABEL] is None or label < entry[_LABEL]:
                entry[_LABEL] = label
            return ()
        elif type(event) is ReturnRequested:
            entry = self._entry(ctx, event.order_id, event.event_time_ms)
            skus: list[str] | None = entry[_SKUS]
            if skus is None:
                skus = entry[_SKUS] = []
            skus.extend(s for s in event.skus if s not in skus)
        elif type(event) is ReturnReceived:
            entry = self._entry(ctx, event.order_id, event.event_time_ms)
            t = event.event_time_ms
            if entry[_FIRST_RECEIPT] is None or t < entry[_FIRST_RECEIPT]:
                entry[_FIRST_RECEIPT] = t
                ctx.set_timer(t, TRANSIT_TIMER + event.order_id, t)  # teaches the route
            receipt = (t, event.weight_g, event.items_matched, event.condition)
            old = entry[_RECEIPT]
            if old is None or (
                self._receipt_mismatch(entry, receipt) and not self._receipt_mismatch(entry, old)
            ):
                entry[_RECEIPT] = receipt
        elif type(event) is RefundIssued:
            if event.policy == "on_receipt" or event.amount_cents < self.settings.min_amount_cents:
                return ()
            entry = self._entry(ctx, event.order_id, event.event_time_ms)
            facts = refund_facts(event)
            refunds: list[RefundFacts] | None = entry[_REFUNDS]
            if refunds is None:
                entry[_REFUNDS] = [facts]
            else:
                refunds.append(facts)
        else:
            return ()
        return self._check(entry, ctx)

    def _entry(self, ctx: Context, order_id: str, time_ms: int) -> list[Any]:
        orders = ctx.keyed(_ORDERS)
        entry: Any = orders.get(order_id)
        if entry is None:
            entry = orders[order_id] = _new_entry(time_ms)
            file_for_sweep(ctx, (_ORDERS, order_id), time_ms + self.settings.retention_ms)
        elif type(entry) is tuple:  # short form of an order only placed so far
            entry = orders[order_id] = [
                max(entry[0], time_ms),
                (entry[1], entry[2]),
                *_EMPTY_TAIL,
            ]
        elif time_ms > entry[_LAST]:
            entry[_LAST] = time_ms
        return entry  # type: ignore[no-any-return]

    def _note_scan(self, ctx: Context, event: CarrierScan) -> None:
        t = event.event_time_ms
        entry = self._entry(ctx, event.order_id, t)
        scan = entry[_SCAN]
        entry[_ROUTE] = earliest_route(scan[0] if scan else None, entry[_ROUTE], event)
        first = (t, event.weight_g, event.location_country)
        if scan is None or first < scan:  # of two at one instant, the smaller: arrival-proof
            entry[_SCAN] = first
            if scan is None or t < scan[0]:
                ctx.set_timer(t, _ROUTE_TIMER + event.order_id, t)
        row = (
            t,
            event.scan_type,
            event.location_country,
            event.postal_code or "",
            event.destination_postal_code or "",
        )
        scans: list[tuple[int, str, str, str, str]] | None = entry[_SCANS]
        if scans is None:
            entry[_SCANS] = [row]
        elif row not in scans and (len(scans) < _MAX_SCANS or row < scans[-1]):
            scans.append(row)
            scans.sort()
            del scans[_MAX_SCANS:]

    # --- timers -----------------------------------------------------------------------------

    def _transit(self) -> TransitModel:
        s = self.settings
        return TransitModel(
            s.transit_quantile, s.transit_margin, s.transit_prior_ms, s.transit_min_parcels
        )

    def on_timer(self, key: str, payload: Any, fired_at_ms: int, ctx: Context) -> Sequence[Signal]:
        if key.startswith(GC_PREFIX):
            sweep(ctx, key, fired_at_ms, self.settings.retention_ms)
            return ()
        if key.startswith(TRANSIT_TIMER):
            entry: Any = ctx.keyed(_ORDERS).get(key[len(TRANSIT_TIMER) :])
            if type(entry) is list and entry[_FIRST_RECEIPT] == payload and entry[_SCAN]:
                teach_transit(ctx, entry[_ROUTE], entry[_SCAN][0], payload)
            return ()
        if key.startswith(_ROUTE_TIMER):
            order_id = key[len(_ROUTE_TIMER) :]
            entry = ctx.keyed(_ORDERS).get(order_id)
            if type(entry) is not list or entry[_SCAN] is None or entry[_SCAN][0] != payload:
                return ()  # an earlier scan turned up since; its own timer decides
            normal = normal_transit_ms(ctx, entry[_ROUTE], fired_at_ms, self._transit())
            ctx.set_timer(payload + normal, _DEADLINE + order_id, payload)
            return ()
        if not key.startswith(_DEADLINE):
            return ()
        entry = ctx.keyed(_ORDERS).get(key[len(_DEADLINE) :])
        if (
            entry is None
            or type(entry) is tuple  # only placed: no scan
            or entry[_SCAN] is None
            or entry[_SCAN][0] != payload
        ):
            return ()  # an earlier scan turned up since; its own timer decides
        received = entry[_FIRST_RECEIPT]
        if received is not None and received <= fired_at_ms:
            return ()
        reasons, notes = self._ftid_evidence(ctx, entry, fired_at_ms)
        entry[_FTID] = (fired_at_ms, tuple(reasons), "; ".join(notes))
        return self._check(entry, ctx)

    # --- evidence ---------------------------------------------------------------------------

    def _expected_weight_g(self, entry: list[Any]) -> int | None:
        placed = entry[_PLACED]
        if placed is None:
            return None
        items: list[LineItem] = placed[1]
        skus: list[str] | None = entry[_SKUS]
        chosen = [i.weight_g * i.quantity for i in items if i.sku in skus] if skus else []
        total = sum(chosen) if chosen else sum(i.weight_g * i.quantity for i in items)
        return total if total > 0 else None

    def _receipt_mismatch(self, entry: list[Any], receipt: tuple[int, int, bool, str]) -> bool:
        return bool(self._receipt_reasons(entry, receipt))

    def _receipt_reasons(self, entry: list[Any], receipt: tuple[int, int, bool, str]) -> list[str]:
        reasons: list[str] = []
        _, weight, matched, condition = receipt
        if not matched:
            reasons.append(REASON_ITEMS_MISMATCH)
        if condition in self.settings.mismatch_conditions:
            reasons.append(REASON_BAD_CONDITION)
        expected = self._expected_weight_g(entry)
        if expected is not None and weight < self.settings.receipt_weight_ratio * expected:
            reasons.append(REASON_WEIGHT_MISMATCH)
        return reasons

    def _ftid_evidence(
        self, ctx: Context, entry: list[Any], due_ms: int
    ) -> tuple[list[str], list[str]]:
        """What the parcel shows by ``due_ms`` besides not being received: (reasons, notes).

        Only scans and the label dated at or before the deadline count."""
        s = self.settings
        centres = _centres(s.return_centres)
        reasons: list[str] = []
        notes: list[str] = []
        scans = [sc for sc in entry[_SCANS] or () if sc[0] <= due_ms]
        scan = entry[_SCAN]
        expected = self._expected_weight_g(entry)
        if expected is not None and scan[1] < s.ftid_weight_ratio * expected:
            reasons.append(REASON_LIGHT_SCAN)
            notes.append(f"first scan {scan[1]} g for about {expected} g of goods")
        label = entry[_LABEL] if entry[_LABEL] is not None and entry[_LABEL][0] <= due_ms else None
        centre: ReturnCentre | None = None
        elsewhere = ""
        if label is not None and (label[1] or label[2]):
            centre = centres.centre_of_label(label[1] or None, label[2] or None, label[3] or None)
            if centre is None:
                elsewhere = f"the label goes to {label[2] or label[1]}, not a return centre"
        read = sorted({sc[4] for sc in scans if sc[4]})
        if centre is None and not elsewhere and read:
            # no label seen: the destination the carrier read off the parcel says
            found = [c for c in (centres.centre_of_label(None, code, None) for code in read) if c]
            centre = found[0] if len(found) == len(read) else None
            if centre is None:
                elsewhere = f"the carrier read {read[0]} off the parcel, not a return centre"
        elif centre is not None:
            other = [code for code in read if not centres.same_place(centre, code)]
            if other:
                elsewhere = (
                    f"the carrier read {other[0]} off the parcel, not {centre.centre_id}'s "
                    f"{centre.postal_code}"
                )
        if elsewhere:
            reasons.append(REASON_LABEL_ELSEWHERE)
            notes.append(elsewhere)
        placed = entry[_PLACED]
        if placed is not None:
            allowed = {placed[0]}
            if scan[2] != placed[0] and route_is_known(ctx, entry[_ROUTE], due_ms, self._transit()):
                # the customer sends from elsewhere than they ordered (a traveller ships from
                # home), on a route plenty of received parcels take
                allowed.add(scan[2])
            if centre is not None:
                allowed.add(centre.country)
            elif label is not None and label[3]:
                allowed.add(label[3])
            else:
                allowed.update(c.country for c in centres.centres)
            foreign = sorted({sc[2] for sc in scans} - allowed)
            if foreign:
                reasons.append(REASON_FOREIGN_SCAN)
                notes.append(f"scanned in {', '.join(foreign)}")
        if centre is not None:
            away = _away(scans, centre, centres)
            if away:
                reasons.append(REASON_AWAY)
                notes.append(f"{away}, away from {centre.centre_id} ({centre.postal_code})")
            elif any(sc[1] == "delivered" and _at(sc, centre, centres) for sc in scans):
                reasons.append(REASON_DELIVERED_NOT_RECEIVED)
                notes.append(f"reported delivered at {centre.centre_id}, never received there")
        return reasons, notes

    def _check(self, entry: list[Any], ctx: Context) -> list[Signal]:
        refunds: list[RefundFacts] | None = entry[_REFUNDS]
        if not refunds:
            return []
        alerted: list[str] | None = entry[_ALERTED]
        pending = [r for r in refunds if r[0] not in alerted] if alerted else refunds
        if not pending:
            return []
        receipt = entry[_RECEIPT]
        evidence: list[str] = self._receipt_reasons(entry, receipt) if receipt is not None else []
        kind = "mismatch"
        if not evidence and entry[_FTID] is not None:
            # no receipt dated within the route's time (a later one does not count)
            evidence = list(entry[_FTID][1])
            kind = "ftid"
        if not evidence:
            return []
        if alerted is None:
            alerted = entry[_ALERTED] = []
        out: list[Signal] = []
        for facts in pending:
            alerted.append(facts[0])
            out.append(self._signal(kind, evidence, facts, entry))
        return out

    def _signal(
        self, kind: str, evidence: list[str], facts: RefundFacts, entry: list[Any]
    ) -> Signal:
        s = self.settings
        refund_id, order_id, customer_id, amount, policy, _, _, _, t_refund = facts
        money_term = s.money_weight * math.log2(max(1, amount) / s.money_ref_cents)
        reasons: list[str]
        if kind == "mismatch":
            receipt = entry[_RECEIPT]
            logit = s.mismatch_bias + money_term
            if REASON_ITEMS_MISMATCH in evidence or REASON_BAD_CONDITION in evidence:
                logit += s.items_mismatch_weight
            if REASON_WEIGHT_MISMATCH in evidence:
                logit += s.weight_mismatch_weight
            reasons = [REASON_RECEIPT_MISMATCH, *evidence]
            when = max(t_refund, receipt[0])
            expected = self._expected_weight_g(entry)
            what = (
                f"warehouse received {receipt[1]} g ({receipt[3]}, items "
                f"{'matched' if receipt[2] else 'not matched'}"
                + (f", expected about {expected} g)" if expected is not None else ")")
            )
        else:
            scan = entry[_SCAN]
            due, _, notes = entry[_FTID]
            logit = s.ftid_bias + money_term
            for reason, weight in (
                (REASON_FOREIGN_SCAN, s.foreign_scan_weight),
                (REASON_LIGHT_SCAN, s.weight_mismatch_weight),
                (REASON_LABEL_ELSEWHERE, s.label_elsewhere_weight),
                (REASON_AWAY, s.away_from_centre_weight),
                (REASON_DELIVERED_NOT_RECEIVED, s.delivered_not_received_weight),
            ):
                if reason in evidence:
                    logit += weight
            reasons = [REASON_FTID, *evidence]
            when = max(t_refund, due)
            what = (
                f"return parcel first scanned {scan[1]} g in {scan[2]}, not received within "
                f"{days(due - scan[0])} (its route's normal time): {notes}"
            )
        if policy == "on_first_scan":
            logit += s.first_scan_policy_weight
            reasons.append(REASON_FIRST_SCAN_POLICY)
        explanation = (
            f"refund {refund_id} of {money(amount)} on order {order_id} for customer "
            f"{customer_id} ({policy}): {what}"
        )
        score = logistic(logit)
        return refund_signal(self.name, self.version, facts, score, reasons, explanation, when)


def _at(scan: tuple[int, str, str, str, str], centre: ReturnCentre, centres: ReturnCentres) -> bool:
    """Was the scan at the centre? By postal code, or (none given) by country."""
    if scan[3]:
        return scan[2] == centre.country and centres.same_place(centre, scan[3])
    return scan[2] == centre.country


def _away(
    scans: list[tuple[int, str, str, str, str]], centre: ReturnCentre, centres: ReturnCentres
) -> str:
    """How the scans moved away from the centre ("" if they did not): a "delivered" scan
    elsewhere, or a scan elsewhere after one at the centre (scans without a postal code say
    nothing about where they were)."""
    reached = False
    for sc in scans:
        if not sc[3]:
            continue
        here = _at(sc, centre, centres)
        if sc[1] == "delivered" and not here:
            return f"reported delivered at {sc[3]} ({sc[2]})"
        if reached and not here:
            return f"scanned at {sc[3]} ({sc[2]}) after reaching the centre"
        reached = reached or here
    return ""

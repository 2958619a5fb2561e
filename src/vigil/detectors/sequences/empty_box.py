"""Empty box / swapped item: money left on first scan, then the parcel did not match.

Per order the detector keeps what was bought (item weights and prices from
``order_placed``), which items the customer asked to return, the earliest carrier scan,
the warehouse receipt and the refunds paid before inspection (any policy but
``on_receipt``). Two patterns:

* **Mismatch** — a warehouse receipt whose items do not match, whose condition is
  ``empty`` / ``wrong_item``, or whose weight is far below the expected parcel weight,
  for an order refunded before inspection. Alerted as soon as the receipt and the refund
  have both been seen (in either arrival order).
* **FTID** (fake tracking id) — the earliest scan weighs far less than the returned items,
  or a scan happened in another country than the order's, and no warehouse receipt has an
  event time within ``receipt_wait_ms`` of that scan. Checked by an event-time timer at
  scan time + wait, so a receipt that exists but is dated after the deadline does not
  count, whatever order the events arrived in.

Refunds on receipt are decided after inspection and are never blamed here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

from vigil.detectors.base import BaseDetector, Context, Signal
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
REASON_FIRST_SCAN_POLICY = "refund_on_first_scan"

_ORDERS = "orders"
_DEADLINE = "deadline|"

# Order entry (a list, mutated in place), or (time_ms, country, items) for an order only
# placed so far (short for [time_ms, (country, items), None, ..., False]):
_LAST = 0  # last activity (event time), for retention
_PLACED = 1  # (country, [LineItem, ...]) of the order_placed event | None
_SKUS = 2  # skus asked to be returned (union over the order's returns) | None if none
_SCAN = 3  # earliest scan (time_ms, weight_g, country) | None
_SCAN_COUNTRIES = 4  # every country the return parcel was scanned in | None if none
_RECEIPT = 5  # (time_ms, weight_g, items_matched, condition) | None; a mismatching one wins
_REFUNDS = 6  # refund facts (see RefundFacts), refunds paid before inspection | None
_ALERTED = 7  # refund ids already alerted | None
_FTID_EXPIRED = 8  # the FTID deadline passed with no receipt in time


#: a new entry after its first two slots (the lists are made when first needed)
_EMPTY_TAIL = (None, None, None, None, None, None, False)


def _new_entry(time_ms: int) -> list[Any]:
    return [time_ms, None, *_EMPTY_TAIL]


class EmptyBoxDetector(BaseDetector):
    """Refund before inspection, then a mismatching receipt or no receipt after a fake scan."""

    name: ClassVar[str] = "empty_box"
    version: ClassVar[int] = 1
    subscribes: ClassVar[frozenset[str]] = frozenset(
        {"order_placed", "return_requested", "carrier_scan", "return_received", "refund_issued"}
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
            entry = self._entry(ctx, event.order_id, event.event_time_ms)
            t = event.event_time_ms
            countries: list[str] | None = entry[_SCAN_COUNTRIES]
            if countries is None:
                entry[_SCAN_COUNTRIES] = [event.location_country]
            elif event.location_country not in countries:
                countries.append(event.location_country)
            scan = entry[_SCAN]
            if scan is None or t < scan[0]:
                entry[_SCAN] = (t, event.weight_g, event.location_country)
                ctx.set_timer(t + self.settings.receipt_wait_ms, _DEADLINE + event.order_id, t)
            return ()  # a scan alone never completes evidence
        elif type(event) is ReturnRequested:
            entry = self._entry(ctx, event.order_id, event.event_time_ms)
            skus: list[str] | None = entry[_SKUS]
            if skus is None:
                skus = entry[_SKUS] = []
            skus.extend(s for s in event.skus if s not in skus)
        elif type(event) is ReturnReceived:
            entry = self._entry(ctx, event.order_id, event.event_time_ms)
            receipt = (event.event_time_ms, event.weight_g, event.items_matched, event.condition)
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

    # --- timers -----------------------------------------------------------------------------

    def on_timer(self, key: str, payload: Any, fired_at_ms: int, ctx: Context) -> Sequence[Signal]:
        if key.startswith(GC_PREFIX):
            sweep(ctx, key, fired_at_ms, self.settings.retention_ms)
            return ()
        if not key.startswith(_DEADLINE):
            return ()
        entry: Any = ctx.keyed(_ORDERS).get(key[len(_DEADLINE) :])
        if (
            entry is None
            or type(entry) is tuple  # only placed: no scan
            or entry[_SCAN] is None
            or entry[_SCAN][0] != payload
        ):
            return ()  # an earlier scan turned up since; its own timer decides
        deadline = entry[_SCAN][0] + self.settings.receipt_wait_ms
        receipt = entry[_RECEIPT]
        if receipt is not None and receipt[0] <= deadline:
            return ()
        entry[_FTID_EXPIRED] = True
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

    def _ftid_reasons(self, entry: list[Any]) -> list[str]:
        reasons: list[str] = []
        scan = entry[_SCAN]
        expected = self._expected_weight_g(entry)
        if (
            scan is not None
            and expected is not None
            and scan[1] < self.settings.ftid_weight_ratio * expected
        ):
            reasons.append(REASON_LIGHT_SCAN)
        placed = entry[_PLACED]
        if placed is not None and any(c != placed[0] for c in entry[_SCAN_COUNTRIES] or ()):
            reasons.append(REASON_FOREIGN_SCAN)
        return reasons

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
        if not evidence and entry[_FTID_EXPIRED]:
            # no receipt dated within the wait (a later one does not count)
            evidence = self._ftid_reasons(entry)
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
            logit = s.ftid_bias + money_term
            if REASON_FOREIGN_SCAN in evidence:
                logit += s.foreign_scan_weight
            if REASON_LIGHT_SCAN in evidence:
                logit += s.weight_mismatch_weight
            reasons = [REASON_FTID, *evidence]
            when = max(t_refund, scan[0] + s.receipt_wait_ms)
            countries = ",".join(entry[_SCAN_COUNTRIES] or ())
            what = (
                f"first scan {scan[1]} g in {countries}, no warehouse receipt within "
                f"{days(s.receipt_wait_ms)}"
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

"""What ``empty_box`` concludes from one order: the receipt's and the parcel's evidence, and
the score (the detector and its stages are in ``empty_box``; this module keeps no state).

The order entry (``empty_box``'s order stage stores it, one per order) is a list, or for an
order only placed so far the short tuple ``(time_ms, country, items)``. Its containers are
tuples: a stored entry is copied before it changes and written back whole.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

from vigil.detectors.base import Signal
from vigil.detectors.return_centres import ReturnCentre, ReturnCentres
from vigil.detectors.sequences._common import (
    RefundFacts,
    days,
    logistic,
    money,
    refund_signal,
)
from vigil.detectors.settings import EmptyBoxSettings
from vigil.events.schemas import (
    LineItem,
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

NAME = "empty_box"
VERSION = 2

#: scans kept per parcel (the earliest ones in event time)
MAX_SCANS = 16

# Order entry (a list), or (time_ms, country, items) for an order only
# placed so far (short for [time_ms, (country, items), None, ..., False]):
LAST = 0  # last activity (event time), for retention
PLACED = 1  # (country, [LineItem, ...]) of the order_placed event | None
SKUS = 2  # skus asked to be returned (union over the order's returns), a tuple | None
SCAN = 3  # earliest scan (time_ms, weight_g, country) | None
#: the earliest scans, sorted: (time_ms, type, country, postal code, destination read) with
#: "" for a field the carrier did not give | None if none
SCANS = 4  # a tuple
RECEIPT = 5  # (time_ms, weight_g, items_matched, condition) | None; a mismatching one wins
REFUNDS = 6  # refund facts (see RefundFacts) of refunds paid before inspection, a tuple | None
ALERTED = 7  # refund ids already alerted, a tuple | None
#: the FTID deadline passed with no receipt: (deadline_ms, reasons, notes) | None
FTID = 8
LABEL = 9  # earliest label (time_ms, destination id, postal code, country), "" if not given
ROUTE = 10  # route of the earliest scan (``order_facts.route_of``) | None
FIRST_RECEIPT = 11  # earliest receipt time | None


#: a new entry after its first two slots (the lists are made when first needed)
EMPTY_TAIL = (None, None, None, None, None, None, None, None, None, None)


@lru_cache(maxsize=8)
def _centres(centres: tuple[ReturnCentre, ...]) -> ReturnCentres:
    """The lookups over the configured return centres (built once per configuration)."""
    return ReturnCentres(centres)


def new_entry(time_ms: int) -> list[Any]:
    return [time_ms, None, *EMPTY_TAIL]


class Judge:
    """What ``empty_box`` concludes from one order's entry (no state of its own: the order
    stage hands it the entry)."""

    def __init__(self, settings: EmptyBoxSettings) -> None:
        self.settings = settings

    # --- evidence ---------------------------------------------------------------------------

    def _expected_weight_g(self, entry: list[Any]) -> int | None:
        placed = entry[PLACED]
        if placed is None:
            return None
        items: list[LineItem] = placed[1]
        skus: list[str] | None = entry[SKUS]
        chosen = [i.weight_g * i.quantity for i in items if i.sku in skus] if skus else []
        total = sum(chosen) if chosen else sum(i.weight_g * i.quantity for i in items)
        return total if total > 0 else None

    def receipt_mismatch(self, entry: list[Any], receipt: tuple[int, int, bool, str]) -> bool:
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

    def needs_route(self, entry: list[Any]) -> bool:
        """Does ``ftid_evidence`` need to know whether the route is established? (the parcel
        was first scanned elsewhere than the order's country)"""
        placed = entry[PLACED]
        return placed is not None and entry[SCAN][2] != placed[0] and entry[ROUTE] is not None

    def ftid_evidence(
        self, entry: list[Any], due_ms: int, known_route: bool
    ) -> tuple[list[str], list[str]]:
        """What the parcel shows by ``due_ms`` besides not being received: (reasons, notes).

        Only scans and the label dated at or before the deadline count. ``known_route``: the
        route of the first scan had enough received parcels by ``due_ms`` (asked of the route
        stage when ``needs_route``)."""
        s = self.settings
        centres = _centres(s.return_centres)
        reasons: list[str] = []
        notes: list[str] = []
        scans = [sc for sc in entry[SCANS] or () if sc[0] <= due_ms]
        scan = entry[SCAN]
        expected = self._expected_weight_g(entry)
        if expected is not None and scan[1] < s.ftid_weight_ratio * expected:
            reasons.append(REASON_LIGHT_SCAN)
            notes.append(f"first scan {scan[1]} g for about {expected} g of goods")
        label = entry[LABEL] if entry[LABEL] is not None and entry[LABEL][0] <= due_ms else None
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
        placed = entry[PLACED]
        if placed is not None:
            allowed = {placed[0]}
            if scan[2] != placed[0] and known_route:
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

    def check(self, entry: list[Any]) -> list[Signal]:
        """Signals for the refunds of the order not yet alerted, if the evidence is complete
        (marks them alerted in ``entry``)."""
        refunds: list[RefundFacts] | None = entry[REFUNDS]
        if not refunds:
            return []
        alerted: tuple[str, ...] | None = entry[ALERTED]
        pending = [r for r in refunds if r[0] not in alerted] if alerted else refunds
        if not pending:
            return []
        receipt = entry[RECEIPT]
        evidence: list[str] = self._receipt_reasons(entry, receipt) if receipt is not None else []
        kind = "mismatch"
        if not evidence and entry[FTID] is not None:
            # no receipt dated within the route's time (a later one does not count)
            evidence = list(entry[FTID][1])
            kind = "ftid"
        if not evidence:
            return []
        entry[ALERTED] = (*(alerted or ()), *(facts[0] for facts in pending))
        return [self._signal(kind, evidence, facts, entry) for facts in pending]

    def _signal(
        self, kind: str, evidence: list[str], facts: RefundFacts, entry: list[Any]
    ) -> Signal:
        s = self.settings
        refund_id, order_id, customer_id, amount, policy, _, _, _, t_refund = facts
        money_term = s.money_weight * math.log2(max(1, amount) / s.money_ref_cents)
        reasons: list[str]
        if kind == "mismatch":
            receipt = entry[RECEIPT]
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
            scan = entry[SCAN]
            due, _, notes = entry[FTID]
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
        return refund_signal(NAME, VERSION, facts, score, reasons, explanation, when)


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

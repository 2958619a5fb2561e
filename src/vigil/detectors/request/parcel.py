"""``empty_box`` at request time: what the return parcel looks like when the refund is asked.

A refund on first scan is asked for minutes after the carrier's first scan, long before the
warehouse opens the box. What is already in view: the first scan's weight against the goods
being refunded (an empty or junk box); scans in a country that is neither the order's nor a
return centre's; a label addressed to somewhere that is not a return centre, or a label the
carrier reads as another destination than the retailer's label record (a second, fake label
on the parcel); a parcel "delivered" at another postal code than its centre's, or scanned
again away from it (FTID); a parcel the carrier delivered to its centre that the centre has
not received days later (``centre_receipt_grace_ms``); a receipt that already failed
inspection. A cheaper look-alike of the right weight, or a parcel that will be "delivered"
at the centre and never received, shows nothing yet: only the receipt, or its absence,
tells (the stream's ``empty_box``).
"""

from __future__ import annotations

import math

from vigil.detectors.base import Signal
from vigil.detectors.request._signal import money, request_signal
from vigil.detectors.return_centres import ReturnCentre, ReturnCentres
from vigil.detectors.sequences._common import logistic
from vigil.detectors.settings import ParcelCheckSettings
from vigil.events.schemas import RefundRequested
from vigil.features.facts import OrderFacts, RequestFacts, goods_back

DETECTOR = "empty_box"
REASON_LIGHT_SCAN = "first_scan_weight_below_expected"
REASON_FOREIGN_SCAN = "scan_in_unexpected_country"
REASON_LABEL_ELSEWHERE = "label_not_addressed_to_return_centre"
REASON_AWAY = "parcel_delivered_away_from_return_centre"
REASON_RECEIPT_MISMATCH = "receipt_failed_inspection"
REASON_DELIVERED_NOT_RECEIVED = "delivered_to_centre_not_received"
#: the bias: one clear sign, on a refund of about ``money_ref_cents``, makes about 0.5
_BIAS = -3.0


def goods_weight_g(order: OrderFacts, skus: list[str]) -> int:
    """Weight of the goods refunded: the request's SKUs, else the return's, else all."""
    wanted = set(skus) or (set(order.parcel.return_skus) if order.parcel else set())
    lines = [i.weight_g * i.quantity for i in order.items if i.sku in wanted] if wanted else []
    return sum(lines) if lines else sum(i.weight_g * i.quantity for i in order.items)


def parcel_finding(
    req: RefundRequested, facts: RequestFacts, s: ParcelCheckSettings, centres: ReturnCentres
) -> Signal | None:
    if req.amount_cents < s.min_amount_cents:
        return None
    t = req.event_time_ms
    order = facts.order(req.order_id, t)
    if order is None or order.parcel is None:
        return None
    parcel = order.parcel
    scans = [sc for sc in parcel.scans if sc[0] <= t]
    logit = _BIAS
    reasons: list[str] = []
    notes: list[str] = []
    received = parcel.receipt_by(t)
    if received is not None:
        if goods_back(received):
            return None  # inspected and matched: whatever the route looked like, it arrived
        logit += 2 * s.label_elsewhere_logit
        reasons.append(REASON_RECEIPT_MISMATCH)
        notes.append(f"the warehouse found the parcel {received[2]}, items matched: {received[1]}")
    goods = goods_weight_g(order, req.skus)
    if scans and received is None and goods >= s.min_goods_weight_g:
        first_weight = scans[0][2]
        if first_weight < s.light_scan_ratio * goods:
            logit += s.light_scan_logit
            reasons.append(REASON_LIGHT_SCAN)
            notes.append(f"first scan weighed {first_weight} g for {goods} g of goods")
    centre = centres.centre_of_label(
        parcel.destination_id, parcel.destination_postal_code, parcel.destination_country
    )
    addressed = parcel.destination_id is not None or parcel.destination_postal_code is not None
    read = [d for k, d in parcel.scan_destinations if k <= t]
    if centre is not None:
        misread = [d for d in read if not centres.same_place(centre, d)]
    else:
        misread = [d for d in read if not centres.is_centre_postal_code(d)]
    if addressed and centre is None:
        logit += s.label_elsewhere_logit
        reasons.append(REASON_LABEL_ELSEWHERE)
        where = parcel.destination_postal_code or parcel.destination_id
        notes.append(f"the label goes to {where}, not a return centre")
    elif misread:
        logit += s.label_elsewhere_logit
        reasons.append(REASON_LABEL_ELSEWHERE)
        expected = f"return centre {centre.centre_id}" if centre is not None else "a return centre"
        notes.append(f"the carrier reads the parcel's label as {misread[0]}, not {expected}")
    allowed = {order.country, parcel.destination_country, *(c.country for c in centres.centres)}
    foreign = sorted({sc[3] for sc in scans} - allowed)
    if foreign:
        logit += s.foreign_scan_logit
        reasons.append(REASON_FOREIGN_SCAN)
        notes.append(f"scanned in {', '.join(foreign)}")
    if centre is not None and _away(scans, centre, centres):
        logit += s.away_from_centre_logit
        reasons.append(REASON_AWAY)
        notes.append(f"scanned away from return centre {centre.centre_id}")
    elif centre is not None and received is None:
        at_centre = [
            sc[0]
            for sc in scans
            if sc[1] == "delivered" and sc[4] is not None and centres.same_place(centre, sc[4])
        ]
        if at_centre and t - at_centre[0] >= s.centre_receipt_grace_ms:
            logit += s.delivered_not_received_logit
            reasons.append(REASON_DELIVERED_NOT_RECEIVED)
            hours = (t - at_centre[0]) / 3_600_000
            notes.append(
                f"the carrier delivered it to {centre.centre_id} {hours:.0f} h ago; not received"
            )
    if not reasons:
        return None
    logit += s.money_weight * math.log2(max(1, req.amount_cents) / s.money_ref_cents)
    explanation = (
        f"refund {req.refund_id} of {money(req.amount_cents)} on order {req.order_id} "
        f"({req.policy}): " + "; ".join(notes)
    )
    return request_signal(DETECTOR, req, logistic(logit), reasons, explanation)


def _away(
    scans: list[tuple[int, str, int, str, str | None]],
    centre: ReturnCentre,
    centres: ReturnCentres,
) -> bool:
    """A "delivered" scan not at the centre, or a scan elsewhere after one at the centre."""
    at_centre = False
    for _, kind, _, _, postal in scans:
        if postal is None:
            continue
        here = centres.same_place(centre, postal)
        if (kind == "delivered" or at_centre) and not here:
            return True
        at_centre = at_centre or here
    return False

"""Refund and no return: a refund whose goods were not received back in time.

For every refund that does not wait for the goods (any policy but ``on_receipt``) an
event-time timer is set at refund time + ``wait_ms``. When the watermark passes it, the
detector looks at the order's return parcel as of that deadline (event times only):

* received by the return centre by then: the return exists (it may precede the refund);
* scanned by the carrier but not received: the parcel counts as *on its way* only until
  its route's normal transit time has passed (first scan + ``normal_transit_ms``: a quantile
  of the first scan -> receipt times of the route's received parcels, learned online per
  origin country and destination, with a prior until enough were seen). If that is later
  than the deadline the refund is judged again then; a parcel still not received is scored
  as a return that never arrived. A scan alone is not a return: a fake tracking id scans
  fine and never arrives;
* never scanned: scored as a refund with no return at all.

A scan or receipt that arrives before a timer fires but whose event time is after the
deadline does not count, so the result depends on event times only, never on arrival
order. Refunds on receipt are never alerted: the receipt came first by construction.

Score (logistic of a sum of logits, weights in ``RefundWithoutReturnSettings``): money,
in robust standard deviations of ln(amount) above the *typical refund without return of
the same issuer* (agent or system), so the cheap returnless refunds and small goodwill
gestures that make up normal traffic score low; a manual override and an agent as issuer
add risk; an order never reported delivered subtracts strongly (a parcel the carrier lost
is a common, honest reason for a high-value refund without return, while "item not
received" claims by rings and corrupt agents are made on orders the carrier *did* deliver),
and so does a return parcel that was scanned and then went quiet (carriers lose a fraction
of a percent of return parcels; a scanned parcel that the carrier reports *delivered* and
the centre never received is not discounted, and ``empty_box`` weighs where it went).
The money term is capped (``max_money_z``), so that a very dear lost parcel cannot
outweigh the missing delivery on amount alone. The typical amount is learned from the refunds
that reached their deadline without a return (median and inter-quartile spread of a
decayed histogram, robust to the few fraudulent ones among them), with a prior until
enough have been seen.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

from vigil.detectors.base import BaseDetector, Context, Signal, clamp01
from vigil.detectors.order_facts import (
    TRANSIT_TIMER,
    TransitModel,
    learn_transit,
    normal_transit_ms,
    note_delivery,
    note_receipt,
    note_return_scan,
    return_status,
)
from vigil.detectors.sequences._common import (
    GC_PREFIX,
    AmountBaseline,
    RefundFacts,
    days,
    file_for_sweep,
    is_young,
    logistic,
    money,
    note_signup,
    refund_facts,
    refund_signal,
    sweep,
)
from vigil.detectors.settings import RefundWithoutReturnSettings
from vigil.events.schemas import (
    CarrierScan,
    CustomerSignup,
    EventBase,
    RefundIssued,
    ReturnReceived,
    ShipmentDelivered,
)

REASON_NO_RETURN = "no_return_scan_or_receipt"
REASON_NOT_RECEIVED = "return_scanned_but_never_received"
REASON_DELIVERED_NOT_RECEIVED = "return_delivered_per_carrier_but_never_received"
REASON_MANUAL_OVERRIDE = "manual_override"
REASON_AGENT_ISSUED = "agent_issued"
REASON_HIGH_AMOUNT = "amount_above_typical_no_return_refund"
REASON_RETURNLESS = "returnless_policy"
REASON_NOT_DELIVERED = "order_not_delivered"
REASON_YOUNG_ACCOUNT = "young_account"
REASON_REPEAT_CUSTOMER = "same_agent_refunded_customer_before"

# order_id -> delivered ms, or the parcel entry of ``vigil.detectors.order_facts``
_ORDERS = "orders"
# issuer ("agent" / "system") -> AmountBaseline state
_BASELINE = "baseline"
_REFUND_TIMER = "refund|"
#: a refund judged again once its scanned parcel's route time has passed
_TRANSIT_TIMER = "in_transit|"
# customer_id -> sign-up time (kept while the account is young)
_SIGNUPS = "signups"
# "agent_id|customer_id" -> [last refund ms, refund times ...] (agent refunds only)
_PAIRS = "agent_customer"
#: refund times kept per agent and customer (a corrupt agent's few clients come back often)
_PAIR_TIMES = 8

# payload of a refund timer: the refund facts the score needs, as plain data
# (refund_id, order_id, customer_id, amount_cents, policy, issued_by, agent_id, session_id,
#  refund_time_ms)


class RefundWithoutReturnDetector(BaseDetector):
    """A refund with no carrier scan and no warehouse receipt within ``wait_ms``."""

    name: ClassVar[str] = "refund_without_return"
    version: ClassVar[int] = 3
    subscribes: ClassVar[frozenset[str]] = frozenset(
        {
            "refund_issued",
            "carrier_scan",
            "return_received",
            "shipment_delivered",
            "customer_signup",
        }
    )

    def __init__(self, settings: RefundWithoutReturnSettings | None = None) -> None:
        self.settings = settings or RefundWithoutReturnSettings()

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
            if event.policy != "on_receipt" and event.amount_cents > 0:
                facts = refund_facts(event)
                deadline = event.event_time_ms + self.settings.wait_ms
                ctx.set_timer(deadline, _REFUND_TIMER + event.refund_id, facts)
                if event.agent_id:
                    self._note_pair(ctx, event.agent_id, event.customer_id, event.event_time_ms)
            return ()
        elif type(event) is CustomerSignup:
            note_signup(
                ctx,
                _SIGNUPS,
                event.customer_id,
                event.event_time_ms,
                self.settings.young_account_ms,
            )
        return ()

    def _note_pair(self, ctx: Context, agent_id: str, customer_id: str, t: int) -> None:
        pairs = ctx.keyed(_PAIRS)
        key = agent_id + "|" + customer_id
        entry: list[int] | None = pairs.get(key)
        if entry is None:
            pairs[key] = [t, t]
            file_for_sweep(ctx, (_PAIRS, key), t + self.settings.repeat_window_ms)
            return
        if t > entry[0]:
            entry[0] = t
        if t not in entry[1:]:
            entry.append(t)
            if len(entry) > _PAIR_TIMES + 1:
                # keep the latest times: the earliest ones are the first to leave the window
                times = sorted(entry[1:])[-_PAIR_TIMES:]
                entry[1:] = times

    def _customer_facts(self, ctx: Context, facts: RefundFacts) -> tuple[bool, bool]:
        """(young account, same agent refunded this customer before) as of the refund.

        Read when the timer fires, a week after the refund, so a sign-up or an earlier
        refund that arrived late still counts: the result depends on event times only.
        """
        s = self.settings
        t = facts[8]
        young = is_young(ctx.keyed(_SIGNUPS).get(facts[2]), t, s.young_account_ms)
        repeat = False
        if facts[6]:
            entry = ctx.keyed(_PAIRS).get(facts[6] + "|" + facts[2])
            if entry is not None:
                repeat = any(t - s.repeat_window_ms <= x < t for x in entry[1:])
        return young, repeat

    # --- timers -----------------------------------------------------------------------------

    def on_timer(self, key: str, payload: Any, fired_at_ms: int, ctx: Context) -> Sequence[Signal]:
        if key.startswith(GC_PREFIX):
            sweep(ctx, key, fired_at_ms, self.settings.retention_ms)
            return ()
        if key.startswith(TRANSIT_TIMER):
            learn_transit(ctx, _ORDERS, key, payload)
            return ()
        if key.startswith(_REFUND_TIMER) and isinstance(payload, tuple):
            return self._judge(payload, payload[8] + self.settings.wait_ms, ctx, again=False)
        if key.startswith(_TRANSIT_TIMER) and isinstance(payload, tuple):
            return self._judge(payload, fired_at_ms, ctx, again=True)
        return ()

    def _judge(
        self, facts: RefundFacts, deadline: int, ctx: Context, *, again: bool
    ) -> Sequence[Signal]:
        """Judge a refund at ``deadline`` (the refund's, or later its parcel's route time)."""
        s = self.settings
        status = return_status(ctx.keyed(_ORDERS).get(facts[1]), deadline)
        if status.received:
            return ()
        if status.first_scan_ms is not None and not again:
            # scanned: on its way until the route's normal transit time has passed
            model = TransitModel(
                s.transit_quantile, s.transit_margin, s.transit_prior_ms, s.transit_min_parcels
            )
            due = status.first_scan_ms + normal_transit_ms(ctx, status.route, deadline, model)
            if due > deadline:
                ctx.set_timer(due, _TRANSIT_TIMER + facts[0], facts)
                return ()
        delivered = status.delivered
        if status.first_scan_ms is None:
            parcel = ""
        elif status.scan_delivered_ms is None:
            parcel = "lost"  # scanned, then nothing: what a parcel the carrier lost looks like
        else:
            parcel = "delivered"  # the carrier says it arrived; the centre says it did not
        # score against the baseline of earlier deadlines, then teach it this refund
        baselines = ctx.keyed(_BASELINE)
        issuer = facts[5]
        base: list[Any] | None = baselines.get(issuer)
        if base is None:
            base = baselines[issuer] = AmountBaseline.new()
        AmountBaseline.fold(base, deadline, s.baseline_decay_per_day)
        prior = s.prior_agent_typical_cents if issuer == "agent" else s.prior_system_typical_cents
        typical = AmountBaseline.typical(base, s.baseline_min_weight, prior, s.prior_log_sd)
        AmountBaseline.add(base, deadline, facts[3])
        if facts[3] < s.min_amount_cents:
            return ()
        young, repeat = self._customer_facts(ctx, facts)
        signal = self._score(
            facts, delivered, parcel, young, repeat, typical[0], typical[1], deadline
        )
        return (signal,) if signal is not None else ()

    # --- scoring ----------------------------------------------------------------------------

    def _score(
        self,
        facts: RefundFacts,
        delivered: bool,
        parcel: str,
        young: bool,
        repeat: bool,
        mean: float,
        sd: float,
        deadline: int,
    ) -> Signal | None:
        s = self.settings
        refund_id, order_id, customer_id, amount, policy, issued_by, agent_id, _, _ = facts
        z = (math.log(max(1, amount)) - mean) / sd
        logit = s.bias + s.money_weight * min(z, s.max_money_z)
        if parcel == "lost":
            reasons = [REASON_NOT_RECEIVED]
            logit += s.lost_in_transit_weight
            what = "was scanned by the carrier and then never delivered or received"
        elif parcel == "delivered":
            reasons = [REASON_NOT_RECEIVED, REASON_DELIVERED_NOT_RECEIVED]
            what = "was reported delivered by the carrier but never received by the centre"
        else:
            reasons = [REASON_NO_RETURN]
            what = f"had no carrier scan or warehouse receipt within {days(s.wait_ms)}"
        if z >= 2.0:
            reasons.append(REASON_HIGH_AMOUNT)
        if policy == "manual_override":
            logit += s.manual_override_weight
            reasons.append(REASON_MANUAL_OVERRIDE)
        if issued_by == "agent":
            logit += s.agent_issued_weight
            reasons.append(REASON_AGENT_ISSUED)
        if policy == "returnless":
            reasons.append(REASON_RETURNLESS)
        if not delivered:
            logit += s.undelivered_weight
            reasons.append(REASON_NOT_DELIVERED)
        if young:
            logit += s.young_account_weight
            reasons.append(REASON_YOUNG_ACCOUNT)
        if repeat:
            logit += s.repeat_customer_weight
            reasons.append(REASON_REPEAT_CUSTOMER)
        score = clamp01(logistic(logit))
        if score < s.min_emit_score:
            return None
        by = f"agent {agent_id}" if issued_by == "agent" else "the system"
        subject = "its return parcel " if parcel else ""
        explanation = (
            f"refund {refund_id} of {money(amount)} on order {order_id} for customer "
            f"{customer_id} ({policy} by {by}): {subject}{what}; typical refund without a "
            f"return by {issued_by} "
            f"{money(round(math.exp(mean)))} (z {z:.1f})"
            + ("; account signed up recently" if young else "")
            + (f"; agent {agent_id} refunded this customer before" if repeat else "")
        )
        return refund_signal(self.name, self.version, facts, score, reasons, explanation, deadline)

"""``refund_without_return`` on the keyed-state contract: five stages, one key each.

The detector used to read five kinds of state at once when a refund's deadline passed: the
order's parcels, the route's normal transit, the customer's sign-up, the agent|customer
pair and the issuer's typical amount. As stages (docs/adr/0004-keyed-state.md):

1. ``orders`` (key: order; shared with ``agent_refunds``, ``order_stage``): the order's
   deliveries, return scans and receipt, and, in this detector's part, its refunds; a
   timer at each refund's deadline judges the parcel as of then. A scanned, unreceived
   parcel asks its route when it is due (``TransitAsked``); a received one teaches its
   route (``ParcelReceived``); a refund with no return goes on (``UnreturnedRefund``).
2. ``routes`` (key: route; shared too): the learned transit times; answers
   ``TransitAnswered`` with this detector's transit settings, and the order's part judges
   again at the due time if that is later.
3. ``signups`` (key: customer; shared with ``agent_refunds``, ``signup_stage``): was the
   account young at the refund?
4. ``refund_pairs`` (key: agent|customer): had this agent refunded this customer before?
5. ``refund_issuers`` (key: issuer, "agent" or "system"): the typical refund without return
   of the issuer, and the score (``refund_without_return._score``).

Every derived event is handled within the timer that started it, before the next timer, so
each step reads what the one detector read at that moment: the findings are the same.
Times-to-live replace the day-bucketed sweeps; an entry lives until the end of the day its
retention from its latest activity ends in (``basis``: the latest time an entry was
touched, as the sweeps re-filed by it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from vigil.detectors.order_facts import (
    return_status,
)
from vigil.detectors.order_stage import OrdersStage
from vigil.detectors.route_transit import RouteTransitStage, copy_hist
from vigil.detectors.sequences._common import (
    AmountBaseline,
    is_young,
    refund_facts,
)
from vigil.detectors.settings import RefundWithoutReturnSettings
from vigil.detectors.signup_stage import SignupsStage
from vigil.events.derived import TransitAsked, UnreturnedRefund
from vigil.events.schemas import (
    RefundIssued,
)
from vigil.state.keyed.spec import MapSpec, StateSpec, ValueSpec
from vigil.state.keyed.stage import KeyKind, Output, StageContext

#: what this detector's route questions say (the route stage answers each with its model)
_PURPOSE = "refund"
_REFUND = "refund|"
_IN_TRANSIT = "in_transit|"
#: refund times kept per agent and customer
_PAIR_TIMES = 8


class _Stage:
    version: ClassVar[int] = 1

    def __init__(self, settings: RefundWithoutReturnSettings | None = None) -> None:
        self.settings = settings or RefundWithoutReturnSettings()

    def on_timer(self, name: str, fired_at_ms: int, ctx: StageContext) -> Sequence[Output]:
        return ()


class RefundOrderPart:
    """This detector's part of the shared order stage (``order_stage.OrdersStage``): the
    order's refunds, each judged at its deadline against the order's parcels."""

    prefix = "refund"
    reads: frozenset[str] = frozenset({"refund_issued", "transit_answered"})

    def __init__(self, settings: RefundWithoutReturnSettings) -> None:
        self.settings = settings

    @property
    def retention_ms(self) -> int:
        return self.settings.retention_ms

    def state(self) -> Sequence[StateSpec]:
        # refund id -> its facts, until judged
        return (MapSpec("refunds", ttl_ms=None),)

    def on_event(self, event: Any, ctx: StageContext, orders: OrdersStage) -> Sequence[Output]:
        if type(event) is RefundIssued:
            t = event.event_time_ms
            if event.policy != "on_receipt" and event.amount_cents > 0:
                facts = refund_facts(event)
                ctx.map("refunds").put(event.refund_id, facts)
                orders.part_timer(self, ctx, t + self.settings.wait_ms, _REFUND + event.refund_id)
            return ()
        if event.purpose != _PURPOSE:
            return ()  # another detector's question
        facts = ctx.map("refunds").get(event.refund_id)
        if facts is None:
            return ()
        if event.due_ms > event.deadline_ms:
            orders.part_timer(self, ctx, event.due_ms, _IN_TRANSIT + event.refund_id)
            return ()
        return self._unreturned(ctx, orders, facts, event.deadline_ms)

    def on_timer(
        self, name: str, fired_at_ms: int, ctx: StageContext, orders: OrdersStage
    ) -> Sequence[Output]:
        again = name.startswith(_IN_TRANSIT)
        refund_id = name[len(_IN_TRANSIT if again else _REFUND) :]
        facts = ctx.map("refunds").get(refund_id)
        if facts is None:
            return ()
        deadline = fired_at_ms if again else facts[8] + self.settings.wait_ms
        entry, _basis = orders.parcel(ctx)
        status = return_status(entry, deadline)
        if status.received:
            ctx.map("refunds").remove(refund_id)
            return ()
        if status.first_scan_ms is not None and not again:
            # scanned: on its way until the route's normal transit time has passed
            if status.route is None:
                due = status.first_scan_ms + self.settings.transit_prior_ms
                if due > deadline:
                    orders.part_timer(self, ctx, due, _IN_TRANSIT + refund_id)
                    return ()
                return self._unreturned(ctx, orders, facts, deadline)
            return (
                TransitAsked(
                    event_time_ms=deadline,
                    route=status.route,
                    order_id=facts[1],
                    refund_id=refund_id,
                    first_scan_ms=status.first_scan_ms,
                    deadline_ms=deadline,
                    purpose=_PURPOSE,
                ),
            )
        return self._unreturned(ctx, orders, facts, deadline)

    def _unreturned(
        self, ctx: StageContext, orders: OrdersStage, facts: Any, deadline: int
    ) -> Sequence[Output]:
        ctx.map("refunds").remove(facts[0])
        entry, _basis = orders.parcel(ctx)
        status = return_status(entry, deadline)
        if status.first_scan_ms is None:
            parcel = ""
        elif status.scan_delivered_ms is None:
            parcel = "lost"  # scanned, then nothing: what a parcel the carrier lost looks like
        else:
            parcel = "delivered"  # the carrier says it arrived; the centre says it did not
        return (
            UnreturnedRefund(
                event_time_ms=deadline,
                step="customer",
                facts=tuple(facts),
                delivered=status.delivered,
                parcel=parcel,
                deadline_ms=deadline,
            ),
        )


class RefundSignupPart:
    """This detector's question to the shared sign-up stage (``signup_stage``): was the
    account of an unreturned refund young at the refund?"""

    reads: frozenset[str] = frozenset({"unreturned_refund"})

    def __init__(self, settings: RefundWithoutReturnSettings) -> None:
        self.settings = settings

    @property
    def ttl_ms(self) -> int:
        # kept while the account is young and, as the sweeps this replaces did, at least the
        # detector's retention
        return max(self.settings.young_account_ms, self.settings.retention_ms)

    def key_of(self, event: Any) -> str | None:
        return event.facts[2] if event.step == "customer" else None

    def answer(self, event: Any, signup_ms: int | None) -> Sequence[Output]:
        facts = event.facts
        young = is_young(signup_ms, facts[8], self.settings.young_account_ms)
        return (_next(event, "pair" if facts[6] else "issuer", young=young),)


class RefundPairsStage(_Stage):
    name: ClassVar[str] = "refund_pairs"
    reads: ClassVar[frozenset[str]] = frozenset({"refund_issued", "unreturned_refund"})
    key: ClassVar[KeyKind] = "pair"

    def state(self) -> Sequence[StateSpec]:
        # (last refund ms, refund times ...), kept for the repeat window and, as the sweeps
        # this replaces did, at least the detector's retention; and the pair's refunds that
        # reached their deadline unreturned: ((refund id, refund ms, amount), ...)
        s = self.settings
        ttl = max(s.repeat_window_ms, s.retention_ms)
        return (ValueSpec("times", ttl_ms=ttl), ValueSpec("unreturned", ttl_ms=ttl))

    def key_of(self, event: Any) -> str | None:
        if type(event) is UnreturnedRefund:
            facts = event.facts
            return facts[6] + "|" + facts[2] if event.step == "pair" and facts[6] else None
        if event.policy == "on_receipt" or event.amount_cents <= 0 or not event.agent_id:
            return None
        return event.agent_id + "|" + event.customer_id  # type: ignore[no-any-return]

    def on_event(self, event: Any, ctx: StageContext) -> Sequence[Output]:
        handle = ctx.value("times")
        entry: tuple[int, ...] | None = handle.get()
        if type(event) is RefundIssued:
            t = event.event_time_ms
            if entry is None:
                handle.set((t, t), at_ms=t)
                return ()
            last = max(entry[0], t)
            times = list(entry[1:])
            if t not in times:
                times.append(t)
                if len(times) > _PAIR_TIMES:
                    # keep the latest times: the earliest ones are the first to leave the window
                    times = sorted(times)[-_PAIR_TIMES:]
            handle.set((last, *times), at_ms=last)
            return ()
        facts = event.facts
        t = facts[8]
        window = self.settings.repeat_window_ms
        repeat = entry is not None and any(t - window <= x < t for x in entry[1:])
        kept = ctx.value("unreturned")
        before: tuple[tuple[str, int, int], ...] = kept.get() or ()
        earlier = tuple((rid, amount) for rid, x, amount in before if t - window <= x < t)
        if event.parcel != "lost":  # a parcel the carrier lost is an honest return
            mine = (facts[0], t, facts[3])
            kept.set(tuple(sorted((*before, mine), key=lambda e: e[1])[-_PAIR_TIMES:]), at_ms=t)
        return (_next(event, "issuer", repeat=repeat, earlier=earlier if repeat else ()),)


class RefundIssuersStage(_Stage):
    name: ClassVar[str] = "refund_issuers"
    reads: ClassVar[frozenset[str]] = frozenset({"unreturned_refund"})
    key: ClassVar[KeyKind] = "issuer"

    def state(self) -> Sequence[StateSpec]:
        return (ValueSpec("baseline", ttl_ms=None),)  # AmountBaseline

    def key_of(self, event: Any) -> str | None:
        return event.facts[5] if event.step == "issuer" else None

    def on_event(self, event: Any, ctx: StageContext) -> Sequence[Output]:
        from vigil.detectors.sequences.refund_without_return import score_unreturned

        s = self.settings
        facts = event.facts
        deadline = event.deadline_ms
        # score against the baseline of earlier deadlines, then teach it this refund
        handle = ctx.value("baseline")
        found = handle.get()
        base = AmountBaseline.new() if found is None else copy_hist(found)
        AmountBaseline.fold(base, deadline, s.baseline_decay_per_day)
        issuer = facts[5]
        prior = s.prior_agent_typical_cents if issuer == "agent" else s.prior_system_typical_cents
        typical = AmountBaseline.typical(base, s.baseline_min_weight, prior, s.prior_log_sd)
        AmountBaseline.add(base, deadline, facts[3])
        handle.set(base)
        if facts[3] < s.min_amount_cents:
            return ()
        signal = score_unreturned(
            s, facts, event.delivered, event.parcel, event.young, event.repeat,
            typical[0], typical[1], deadline, event.earlier,
        )  # fmt: skip
        return (signal,) if signal is not None else ()


def _next(
    event: UnreturnedRefund,
    step: str,
    young: bool | None = None,
    repeat: bool | None = None,
    earlier: tuple[tuple[str, int], ...] | None = None,
) -> UnreturnedRefund:
    return UnreturnedRefund(
        event_time_ms=event.event_time_ms,
        step=step,
        facts=event.facts,
        delivered=event.delivered,
        parcel=event.parcel,
        deadline_ms=event.deadline_ms,
        young=event.young if young is None else young,
        repeat=event.repeat if repeat is None else repeat,
        earlier=event.earlier if earlier is None else earlier,
    )


def refund_stages(settings: RefundWithoutReturnSettings) -> list[Any]:
    """The five stages, in the order a refund goes through them."""
    return [
        OrdersStage((RefundOrderPart(settings),)),
        RouteTransitStage(settings, (_PURPOSE,)),
        SignupsStage((RefundSignupPart(settings),)),
        RefundPairsStage(settings),
        RefundIssuersStage(settings),
    ]

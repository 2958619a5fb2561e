"""The rules on the keyed-state contract (docs/adr/0004-keyed-state.md): three stages.

A rule may read aggregates keyed by several ids of its trigger (the customer's refunds and
the agent's in one expression), so its evaluation cannot live under one key. It is a
scatter and a gather:

* ``RuleEventStage`` (keyed by the event's id) sees every event. It hands what the rules
  record of it to each id's history (``RuleHistoryRecorded``, one per id), evaluates the
  rules that read only the event at once, and keeps the others pending until their timer
  (event time + 1 ms, or + the ``after`` window: the state is complete then). At the timer
  it asks each id's history for the namespaces the pending rules read
  (``RuleHistoryAsked``), gathers the answers (``RuleHistoryAnswered``) and evaluates once
  the last one is in.
* ``RuleHistoryStage`` (keyed by ``field=value``: whatever id field a rule aggregates or
  looks up by) keeps, per namespace, the time-sorted ``(event time, value)`` entries and
  answers what it is asked.
* ``RuleSetStage`` (the global key) records which rule set is in effect, at batch
  boundaries (hot reload, ``RulesDetector.refresh``).

What is recorded is keyed by what was recorded (event type, key, field, filter), not by
rule, so a reload keeps it and new rules share it.
"""

from __future__ import annotations

from bisect import bisect_right, insort
from collections.abc import Sequence
from typing import Any, ClassVar

from vigil.detectors.base import Signal
from vigil.detectors.rules.catalog import EVENT_FIELDS
from vigil.detectors.rules.compiler import MAX_WINDOW_MS, Entries, Env, entry_time
from vigil.detectors.rules.ruleset import CompiledRule, RuleSet
from vigil.events.derived import (
    RuleHistoryAnswered,
    RuleHistoryAsked,
    RuleHistoryRecorded,
    RuleRecord,
)
from vigil.events.schemas import EventBase, RefundIssued
from vigil.state.keyed.spec import MapSpec, StateSpec, ValueSpec
from vigil.state.keyed.stage import KeyKind, Output, StageContext

__all__ = ["LOOKUP_KEEP", "RuleEventStage", "RuleHistoryStage", "RuleSetStage"]

#: a lookup keeps this many of the latest related events per id (by event time)
LOOKUP_KEEP = 4
#: the longest an entry can matter: a window, plus an ``after`` wait of a window, plus the
#: lateness (idle ids are forgotten after this; a lookup older than it is gone too)
_HISTORY_TTL_MS = 2 * MAX_WINDOW_MS
_IDS = ("customer_id", "agent_id", "order_id", "session_id")


class RuleEventStage:
    """Scatters an event's records to its ids' histories; evaluates its rules."""

    name: ClassVar[str] = "rules_event"
    version: ClassVar[int] = 1
    #: every event type (a reload may add rules about any of them), and the answers
    reads: ClassVar[frozenset[str]] = frozenset(EVENT_FIELDS) | {"rule_history_answered"}
    key: ClassVar[KeyKind] = "event"

    def __init__(self, rules: RuleSet, lateness_ms: int) -> None:
        #: the rule set in effect (``RulesDetector`` swaps it at a reload)
        self.rules = rules
        self._ttl = _HISTORY_TTL_MS + lateness_ms

    def state(self) -> Sequence[StateSpec]:
        return (
            # timer name -> ((rule ident, when key), ...), the trigger event)
            MapSpec("pending", ttl_ms=self._ttl),
            # timer name -> (ids asked, ((namespace, entries), ...) answered so far)
            MapSpec("answers", ttl_ms=self._ttl),
        )

    def key_of(self, event: Any) -> str | None:
        tp = type(event)
        if tp is RuleHistoryAnswered:
            return event.asker  # type: ignore[no-any-return]
        # most events concern no rule: not even bound to their key
        return event.event_id if tp in self.rules.plans else None

    def on_event(self, event: Any, ctx: StageContext) -> Sequence[Output]:
        if type(event) is RuleHistoryAnswered:
            return self._answered(event, ctx)
        plan = self.rules.plans.get(type(event))
        if plan is None:
            return ()
        t = event.event_time_ms
        out: list[Output] = []
        if plan.sources or plan.lookups:
            out.extend(_records(plan, event, t, ctx.horizon_ms))
        if plan.immediate:
            out.extend(_matches(plan.immediate, Env({}, event, t), t))
        if plan.delayed:
            pending = ctx.map("pending")
            for offset, rules in plan.delayed:
                name = str(offset)
                pending.put(name, (tuple((r.ident, r.when_key) for r in rules), event))
                ctx.timer(t + offset, name)
        return out

    def on_timer(self, name: str, fired_at_ms: int, ctx: StageContext) -> Sequence[Output]:
        pending = ctx.map("pending")
        found = pending.get(name)
        if found is None:
            return ()
        idents, event = found
        rules = self._still_there(idents)
        by_key: dict[str, list[str]] = {}
        for rule in rules:
            for ns, field in rule.reads:
                k = getattr(event, field)
                if k is not None:
                    by_key.setdefault(f"{field}={k}", []).append(ns)
        if not by_key:
            pending.remove(name)
            return _matches(rules, Env({}, event, event.event_time_ms), fired_at_ms - 1)
        ctx.map("answers").put(name, (len(by_key), ()))
        asker = ctx.key
        assert asker is not None
        return [
            RuleHistoryAsked(
                event_time_ms=fired_at_ms,
                key=k,
                asker=asker,
                timer=name,
                namespaces=tuple(dict.fromkeys(nss)),
            )
            for k, nss in by_key.items()
        ]

    def _answered(self, answer: RuleHistoryAnswered, ctx: StageContext) -> Sequence[Output]:
        """One id's history came back; evaluate once every id asked has answered (all
        answers arrive within the timer's call: derived events are handled at once)."""
        answers = ctx.map("answers")
        found = answers.get(answer.timer)
        if found is None:
            return ()
        waiting, got = found
        got = (*got, *answer.histories)
        if waiting > 1:
            answers.put(answer.timer, (waiting - 1, got))
            return ()
        answers.remove(answer.timer)
        pending = ctx.map("pending")
        idents, event = pending.get(answer.timer)
        pending.remove(answer.timer)
        env = Env(dict(got), event, event.event_time_ms)
        return _matches(self._still_there(idents), env, ctx.now_ms - 1)

    def _still_there(self, idents: tuple[tuple[str, str], ...]) -> list[CompiledRule]:
        """The pending rules that still exist with the same expression (a reload since they
        were scheduled may have removed or changed them)."""
        by_ident = self.rules.by_ident
        out = []
        for ident, when_key in idents:
            rule = by_ident.get(ident)
            if rule is not None and rule.when_key == when_key:
                out.append(rule)
        return out


def _matches(rules: Sequence[CompiledRule], env: Env, t_alert: int) -> list[Output]:
    """The findings of the ``rules`` whose expression is true in ``env`` (alert time
    ``t_alert``: the event's for a rule read on it, the timer's less 1 ms for one that
    waited)."""
    out: list[Output] = []
    for rule in rules:
        if rule.predicate(env) is True:
            sig = _signal(rule, env.event, t_alert)
            if sig is not None:
                out.append(sig)
    return out


def _records(plan: Any, event: EventBase, t: int, watermark_ms: int) -> list[Output]:
    """What the plan records of ``event``, one derived event per id it is recorded under."""
    by_key: dict[str, list[RuleRecord]] = {}
    for spec, retention in plan.sources:
        k = getattr(event, spec.key)
        if k is None:
            continue
        if spec.filter is not None and spec.filter(Env(None, event, t)) is not True:
            continue
        v = getattr(event, spec.field) if spec.field is not None else None
        if spec.field is not None and v is None:
            continue
        by_key.setdefault(f"{spec.key}={k}", []).append(
            (spec.namespace, t, v, watermark_ms - retention)
        )
    for lk in plan.lookups:
        k = getattr(event, lk.key)
        if k is not None:
            by_key.setdefault(f"{lk.key}={k}", []).append(
                (lk.namespace, t, getattr(event, lk.field), None)
            )
    return [
        RuleHistoryRecorded(event_time_ms=t, key=k, records=tuple(rs)) for k, rs in by_key.items()
    ]


class RuleHistoryStage:
    """The entries the rules keep under one id (``field=value``), per namespace."""

    name: ClassVar[str] = "rules_history"
    version: ClassVar[int] = 1
    reads: ClassVar[frozenset[str]] = frozenset({"rule_history_recorded", "rule_history_asked"})
    key: ClassVar[KeyKind] = "field"

    def __init__(self, lateness_ms: int) -> None:
        self._ttl = _HISTORY_TTL_MS + lateness_ms

    def state(self) -> Sequence[StateSpec]:
        # namespace -> ((event time, value), ...) sorted by time
        return (MapSpec("history", ttl_ms=self._ttl),)

    def key_of(self, event: Any) -> str | None:
        return event.key  # type: ignore[no-any-return]

    def on_event(self, event: Any, ctx: StageContext) -> Sequence[Output]:
        history = ctx.map("history")
        if type(event) is RuleHistoryAsked:
            return (
                RuleHistoryAnswered(
                    event_time_ms=event.event_time_ms,
                    asker=event.asker,
                    timer=event.timer,
                    histories=tuple((ns, history.get(ns) or ()) for ns in event.namespaces),
                ),
            )
        for ns, t, v, cut in event.records:
            entries: Entries | None = history.get(ns)
            kept = _remember(entries, t, v) if cut is None else _record(entries, t, v, cut)
            if kept:
                history.put(ns, kept)
            elif entries is not None:
                history.remove(ns)
        return ()

    def on_timer(self, name: str, fired_at_ms: int, ctx: StageContext) -> Sequence[Output]:
        return ()


def _record(entries: Entries | None, t: int, v: Any, cut: int) -> Entries:
    """``(t, v)`` added to time-sorted ``entries``, those at or before ``cut`` forgotten."""
    if entries is None:
        return ((t, v),) if t > cut else ()
    if entries[-1][0] <= t:
        kept = [*entries, (t, v)]
    else:
        kept = list(entries)
        insort(kept, (t, v), key=entry_time)
    if kept[0][0] <= cut:
        del kept[: bisect_right(kept, cut, key=entry_time)]
    return tuple(kept)


def _remember(entries: Entries | None, t: int, v: Any) -> Entries:
    """``(t, v)`` added to a lookup's latest ``LOOKUP_KEEP`` entries."""
    if entries is None:
        return ((t, v),)
    kept = list(entries)
    insort(kept, (t, v), key=entry_time)
    return tuple(kept[-LOOKUP_KEEP:])


class RuleSetStage:
    """Which rule set is in effect, and since when: written at batch boundaries only."""

    name: ClassVar[str] = "rules_set"
    version: ClassVar[int] = 1
    reads: ClassVar[frozenset[str]] = frozenset()
    key: ClassVar[KeyKind] = "global"

    def state(self) -> Sequence[StateSpec]:
        # {"fingerprint", "versions": {ident: version}, "history": ((watermark, fp), ...)}
        return (ValueSpec("log", ttl_ms=None),)

    def key_of(self, event: Any) -> str | None:
        return None

    def on_event(self, event: Any, ctx: StageContext) -> Sequence[Output]:
        return ()

    def on_timer(self, name: str, fired_at_ms: int, ctx: StageContext) -> Sequence[Output]:
        return ()


def _signal(rule: CompiledRule, event: EventBase, t_alert: int) -> Signal | None:
    subject = getattr(event, rule.subject_field, None)
    if subject is None:
        return None  # e.g. an agent rule on a refund no agent issued
    d = rule.definition
    ids = {f: getattr(event, f, None) for f in _IDS}
    refund_ids: tuple[str, ...] = ()
    amount = 0
    what = f"{rule.trigger} {event.event_id}"
    if isinstance(event, RefundIssued):
        refund_ids = (event.refund_id,)
        amount = event.amount_cents
        what = f"refund {event.refund_id} of ${amount / 100:,.2f}"
    return Signal(
        detector=rule.detector_name,
        version=rule.version,
        subject_type=d.subject,  # type: ignore[arg-type]  # checked at load
        subject_id=str(subject),
        score=d.score,
        reasons=d.reasons,
        explanation=f"rule {d.name} v{rule.version}: {d.description} ({what})",
        event_time_ms=t_alert,
        refund_ids=refund_ids,
        amount_cents=amount,
        customer_id=ids["customer_id"],
        agent_id=ids["agent_id"],
        order_id=ids["order_id"],
        session_id=ids["session_id"],
    )

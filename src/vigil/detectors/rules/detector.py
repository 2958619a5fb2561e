"""``RulesDetector``: evaluates a compiled rule set as one detector of the runtime.

Per event, the detector records what the rules read later (event histories per key for
aggregates and sequences, related events for lookups) in the runtime's keyed state, then
evaluates the rules that run on this event type:

* rules that read only the event itself are evaluated on the event;
* rules that read state are evaluated on an event-time timer: at event time + 1 ms for
  aggregates and lookups (once the watermark has passed the event, every event at or before
  it within the out-of-orderness bound has been recorded), at event time + window + 1 ms
  for ``after`` sequences. So results do not depend on arrival order within the bound.

Alerts are named ``rule:<name>`` with the rule's version; shadow rules' alerts are named
``shadow:rule:<name>``, which the runtime writes to ``shadow_alerts.jsonl`` instead of
``alerts.jsonl``. The rule set can be swapped between batches (``refresh``, hot reload):
recorded state is keyed by what was recorded (event type, key, field, filter), not by rule,
so unchanged and new rules share it; a pending evaluation runs if its rule still exists with
the same expression (a new score, reasons or mode apply), and is dropped otherwise.
"""

from __future__ import annotations

import operator
from bisect import bisect_right, insort
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from vigil.detectors.base import BaseDetector, Context, Signal
from vigil.detectors.rules.catalog import EVENT_FIELDS
from vigil.detectors.rules.compiler import Env, entry_time
from vigil.detectors.rules.ruleset import CompiledRule, RuleSet
from vigil.events.schemas import EventBase, RefundIssued

__all__ = ["LOOKUP_KEEP", "RuleSource", "RulesDetector", "RulesSettings"]

#: a lookup keeps this many of the latest related events per id (by event time)
LOOKUP_KEEP = 4
_EVAL = "eval"
#: keyed-state namespace where the detector records which rule set is in effect
RULESET_NAMESPACE = "ruleset"


@dataclass(frozen=True)
class RulesSettings:
    """Engine settings that change results (part of the checkpoint fingerprint)."""

    #: events are kept this long past the longest window that reads them, so that a late
    #: trigger (up to the runtime's allowed lateness) still sees its whole window
    lateness_ms: int = 2 * 86_400_000


class RuleSource:
    """Where a new rule set comes from between batches (a watched file); see ``watch.py``."""

    def poll(self) -> RuleSet | None:  # pragma: no cover - interface
        """A new, valid rule set if the source changed since the last poll, else None."""
        raise NotImplementedError

    def resumed_with_other_rules(self, previous: dict[str, int], current: RuleSet) -> None:
        """The checkpoint was made with other rules (``previous``: ident -> version)."""


class RulesDetector(BaseDetector):
    """Runs a rule set; all memory goes through the runtime's ``Context``."""

    name: ClassVar[str] = "rules"
    version: ClassVar[int] = 1
    #: every event type: a reload may add rules about any of them
    subscribes: ClassVar[frozenset[str]] = frozenset(EVENT_FIELDS)

    def __init__(
        self,
        rules: RuleSet,
        settings: RulesSettings | None = None,
        source: RuleSource | None = None,
    ) -> None:
        self.settings = settings or RulesSettings()
        self.rules = rules
        self.source = source

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickles as its rule set (as data) and settings; a file watcher is not carried."""
        return (RulesDetector, (self.rules, self.settings))

    # --- reload -------------------------------------------------------------------------------

    def refresh(self, ctx: Context) -> None:
        """At a batch boundary: take a changed rule set, and record the one in effect."""
        new = self.source.poll() if self.source is not None else None
        if new is not None:
            self.rules = new
        log = ctx.keyed(RULESET_NAMESPACE)
        if log.get("fingerprint") != self.rules.fingerprint:
            if new is None and "fingerprint" in log and self.source is not None:
                # not a reload: restored from a checkpoint made with other rules
                self.source.resumed_with_other_rules(dict(log["versions"]), self.rules)
            log["fingerprint"] = self.rules.fingerprint
            log["versions"] = self.rules.versions()
            history: list[tuple[int, str]] = log.setdefault("history", [])
            history.append((ctx.watermark_ms, self.rules.fingerprint))

    # --- events -------------------------------------------------------------------------------

    def on_event(self, event: EventBase, ctx: Context) -> Sequence[Signal]:
        plan = self.rules.plans.get(type(event))
        if plan is None:
            return ()
        t = event.event_time_ms
        if plan.sources or plan.lookups:
            wm = ctx.watermark_ms
            for spec, retention in plan.sources:
                k = getattr(event, spec.key)
                if k is None:
                    continue
                if spec.filter is not None and spec.filter(Env(None, event, t)) is not True:
                    continue
                v = getattr(event, spec.field) if spec.field is not None else None
                if spec.field is not None and v is None:
                    continue
                _record(ctx.keyed(spec.namespace), k, t, v, wm - retention)
            for lk in plan.lookups:
                k = getattr(event, lk.key)
                if k is not None:
                    _remember(ctx.keyed(lk.namespace), k, t, getattr(event, lk.field))
        out: list[Signal] = []
        if plan.immediate:
            env = Env(ctx, event, t)
            for rule in plan.immediate:
                if rule.predicate(env) is True:
                    sig = _signal(rule, event, t)
                    if sig is not None:
                        out.append(sig)
        for offset, rules in plan.delayed:
            pending = tuple((r.ident, r.when_key) for r in rules)
            ctx.set_timer(t + offset, _EVAL, (pending, event))
        return out

    def on_timer(self, key: str, payload: Any, fired_at_ms: int, ctx: Context) -> Sequence[Signal]:
        if key != _EVAL or not isinstance(payload, tuple) or len(payload) != 2:
            return ()
        pending, event = payload
        by_ident = self.rules.by_ident
        env = Env(ctx, event, event.event_time_ms)
        out: list[Signal] = []
        for ident, when_key in pending:
            rule = by_ident.get(ident)
            if rule is None or rule.when_key != when_key:
                continue  # removed or changed by a reload since it was scheduled
            if rule.predicate(env) is True:
                sig = _signal(rule, event, fired_at_ms - 1)
                if sig is not None:
                    out.append(sig)
        return out


def _record(store: dict[Any, Any], k: Any, t: int, v: Any, cut: int) -> None:
    """Add ``(t, v)`` to the key's time-sorted history; forget entries at or before ``cut``."""
    entries: list[tuple[int, Any]] | None = store.get(k)
    if entries is None:
        if t > cut:
            store[k] = [(t, v)]
        return
    if entries[-1][0] <= t:
        entries.append((t, v))
    else:
        insort(entries, (t, v), key=entry_time)
    if entries[0][0] <= cut:
        del entries[: bisect_right(entries, cut, key=entry_time)]
        if not entries:
            del store[k]


def _remember(store: dict[Any, Any], k: Any, t: int, v: Any) -> None:
    entries: list[tuple[int, Any]] | None = store.get(k)
    if entries is None:
        store[k] = [(t, v)]
        return
    insort(entries, (t, v), key=entry_time)
    if len(entries) > LOOKUP_KEEP:
        del entries[0]


_IDS: tuple[tuple[str, Callable[[Any], Any]], ...] = tuple(
    (f, operator.attrgetter(f)) for f in ("customer_id", "agent_id", "order_id", "session_id")
)


def _signal(rule: CompiledRule, event: EventBase, t_alert: int) -> Signal | None:
    subject = getattr(event, rule.subject_field, None)
    if subject is None:
        return None  # e.g. an agent rule on a refund no agent issued
    d = rule.definition
    ids = {f: getattr(event, f, None) for f, _ in _IDS}
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

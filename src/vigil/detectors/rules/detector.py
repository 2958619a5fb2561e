"""``RulesDetector``: evaluates a compiled rule set as one detector of the runtime.

Per event, the detector records what the rules read later (event histories per key for
aggregates and sequences, related events for lookups) in the keyed state of each id's
history stage (``stages.py``: the rules on the keyed-state contract), then evaluates the
rules that run on this event type:

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

from dataclasses import dataclass
from typing import Any, ClassVar

from vigil.detectors.base import Context
from vigil.detectors.rules.ruleset import RuleSet
from vigil.detectors.rules.stages import (
    LOOKUP_KEEP,
    RuleEventStage,
    RuleHistoryStage,
    RuleSetStage,
)
from vigil.state.keyed.pipeline import StagePipeline

__all__ = ["LOOKUP_KEEP", "RuleSource", "RulesDetector", "RulesSettings"]


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


class RulesDetector(StagePipeline):
    """Runs a rule set as three stages (an event's, its ids' histories, the rule set's)."""

    name: ClassVar[str] = "rules"
    version: ClassVar[int] = 1

    def __init__(
        self,
        rules: RuleSet,
        settings: RulesSettings | None = None,
        source: RuleSource | None = None,
    ) -> None:
        settings = settings or RulesSettings()
        self._events = RuleEventStage(rules, settings.lateness_ms)
        super().__init__(
            (self._events, RuleHistoryStage(settings.lateness_ms), RuleSetStage()), settings
        )
        self.source = source

    @property
    def rules(self) -> RuleSet:
        return self._events.rules

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickles as its rule set (as data) and settings; a file watcher is not carried."""
        return (RulesDetector, (self.rules, self.settings))

    # --- reload -------------------------------------------------------------------------------

    def refresh(self, ctx: Context) -> None:
        """At a batch boundary: take a changed rule set, and record the one in effect."""
        new = self.source.poll() if self.source is not None else None
        if new is not None:
            self._events.rules = new
        rules = self.rules
        with self.bound(RuleSetStage.name, "global", ctx) as sctx:
            handle = sctx.value("log")
            log: dict[str, Any] = handle.get() or {}
            if log.get("fingerprint") == rules.fingerprint:
                return
            if new is None and "fingerprint" in log and self.source is not None:
                # not a reload: restored from a checkpoint made with other rules
                self.source.resumed_with_other_rules(dict(log["versions"]), rules)
            history = (*log.get("history", ()), (ctx.watermark_ms, rules.fingerprint))
            handle.set(
                {"fingerprint": rules.fingerprint, "versions": rules.versions(), "history": history}
            )

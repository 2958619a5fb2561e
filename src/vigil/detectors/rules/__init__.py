"""Rules as data: a small expression language over events, named features, windowed
aggregates and sequences; versioned in a store, hot-reloaded, backtested. See docs/rules.md.
"""

from vigil.detectors.rules.detector import RulesDetector, RuleSource, RulesSettings
from vigil.detectors.rules.loader import (
    LoadedRules,
    RuleLoadError,
    RuleProblem,
    load_rules,
    load_rules_text,
)
from vigil.detectors.rules.ruleset import CompiledRule, RuleDef, RuleSet, compile_rules
from vigil.detectors.rules.store import HistoryRecord, RuleStore
from vigil.detectors.rules.watch import RuleFileWatcher, load_versioned

__all__ = [
    "CompiledRule",
    "HistoryRecord",
    "LoadedRules",
    "RuleDef",
    "RuleFileWatcher",
    "RuleLoadError",
    "RuleProblem",
    "RuleSet",
    "RuleSource",
    "RuleStore",
    "RulesDetector",
    "RulesSettings",
    "compile_rules",
    "load_rules",
    "load_rules_text",
    "load_versioned",
]

"""Small helpers shared by the rule tests: a rule file from expressions, a run in one call."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from vigil.detectors.base import Alert, alert_decoder
from vigil.detectors.rules import RulesDetector, RuleSet, load_rules_text
from vigil.events.codec import encode_one
from vigil.events.schemas import EventBase
from vigil.ingest.sources import FileSource
from vigil.runtime.embedded import EmbeddedRuntime, RuntimeSettings
from vigil.runtime.stats import RunStats


def rule_yaml(
    name: str,
    when: str,
    *,
    subject: str = "refund",
    mode: str = "active",
    score: float = 0.8,
    on: str | None = None,
) -> str:
    on_line = f"    on: {on}\n" if on else ""
    return (
        f"  - name: {name}\n"
        f"    description: test rule {name}\n"
        f"{on_line}"
        f"    when: '{when}'\n"
        f"    score: {score}\n"
        f"    reasons: [{name}]\n"
        f"    subject: {subject}\n"
        f"    mode: {mode}\n"
    )


def ruleset(*rules: str, features: str = "") -> RuleSet:
    text = (f"features:\n{features}" if features else "") + "rules:\n" + "".join(rules)
    return load_rules_text(text, "test.yaml").ruleset


def one_rule(when: str, **kw: object) -> RuleSet:
    return ruleset(rule_yaml("r", when, **kw))  # type: ignore[arg-type]


def run(
    rules: RuleSet, events: Sequence[EventBase], out: Path, settings: RuntimeSettings | None = None
) -> tuple[list[Alert], list[Alert], RunStats]:
    """Run events (in this arrival order) through the runtime; (alerts, shadow alerts, stats)."""
    out.mkdir(parents=True, exist_ok=True)
    inp = out / "events.jsonl"
    inp.write_bytes(b"".join(encode_one(e) + b"\n" for e in events))
    stats = EmbeddedRuntime(
        [RulesDetector(rules)], out / "out", settings or RuntimeSettings(analytics=False)
    ).run(FileSource(inp))
    return (
        read_alerts(out / "out" / "alerts.jsonl"),
        read_alerts(out / "out" / "shadow_alerts.jsonl"),
        stats,
    )


def read_alerts(path: Path) -> list[Alert]:
    if not path.exists():
        return []
    return [alert_decoder.decode(x) for x in path.read_bytes().splitlines() if x.strip()]


def fired(alerts: Sequence[Alert]) -> set[tuple[str, str]]:
    return {(a.detector, a.subject_id) for a in alerts}

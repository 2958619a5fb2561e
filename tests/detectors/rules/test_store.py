"""The rule store: every change kept, with author and time; show, diff, versions."""

from __future__ import annotations

from pathlib import Path

import pytest

from vigil.detectors.rules import RuleStore, load_rules_text
from vigil.errors import ConfigError

from ._helpers import rule_yaml


def _defs(*rules: str) -> tuple:  # type: ignore[type-arg]
    return load_rules_text("rules:\n" + "".join(rules), "f.yaml").definitions


def test_history_keeps_every_version(tmp_path: Path) -> None:
    store = RuleStore(tmp_path)
    a1 = rule_yaml("a", "refund.amount_cents > $500")
    b1 = rule_yaml("b", "refund.amount_cents > $1")
    written = store.record(_defs(a1, b1), author="alice", now="T1", source="f.yaml")
    assert [(r.rule, r.version, r.action) for r in written] == [("a", 1, "add"), ("b", 1, "add")]
    first_bytes = store.path.read_bytes()
    # unchanged content: nothing written
    assert store.record(_defs(a1, b1), author="bob", now="T2", source="f.yaml") == []
    a2 = rule_yaml("a", "refund.amount_cents > $400")
    written = store.record(
        _defs(a2), author="bob", now="T3", source="f.yaml", message="lower", remove_missing=True
    )
    assert [(r.rule, r.version, r.action, r.author) for r in written] == [
        ("a", 2, "change", "bob"),
        ("b", 1, "remove", "bob"),
    ]
    assert store.path.read_bytes().startswith(first_bytes)  # append-only
    assert store.get("a", 1).definition["when"] == "refund.amount_cents > $500"
    assert store.get("a").version == 2 and store.get("a").message == "lower"
    assert store.versions_for(_defs(a2, b1)) == {"a": 2, "b": 1}
    assert store.versions_for(_defs(rule_yaml("a", "refund.amount_cents > 3"))) == {"a": 0}
    diff = store.diff("a")
    assert "-when: refund.amount_cents > $500" in diff
    assert "+when: refund.amount_cents > $400" in diff
    assert "a v1 (alice, T1)" in diff and "a v2 (bob, T3)" in diff
    # re-adding a removed rule continues its numbering
    (rec,) = store.record(_defs(b1), author="carol", now="T4", source="other.yaml")
    assert (rec.version, rec.action) == (2, "add")
    assert [r.seq for r in store.records()] == [1, 2, 3, 4, 5]


def test_errors_name_what_exists(tmp_path: Path) -> None:
    store = RuleStore(tmp_path)
    store.record(_defs(rule_yaml("a", "refund.amount_cents > 1")), author="x", now="T", source="f")
    with pytest.raises(ConfigError, match=r"no rule 'nope'.*rules: a"):
        store.get("nope")
    with pytest.raises(ConfigError, match="stored versions: 1"):
        store.get("a", 7)
    with pytest.raises(ConfigError, match="needs an author"):
        store.record(
            _defs(rule_yaml("b", "refund.amount_cents > 1")), author=" ", now="T", source="f"
        )
    assert "nothing to compare" in store.diff("a")
    store.path.write_text(store.path.read_text() + "not json\n")
    with pytest.raises(Exception, match="line 2: not a history record"):
        store.records()


def test_a_stored_version_is_self_contained(tmp_path: Path) -> None:
    """A version keeps the features it used, so it compiles the same later."""
    from vigil.detectors.rules import compile_rules

    text = "features:\n  big: refund.amount_cents > $500\nrules:\n" + rule_yaml("a", "big")
    defs = load_rules_text(text, "f.yaml").definitions
    store = RuleStore(tmp_path)
    store.record(defs, author="x", now="T", source="f.yaml")
    rec = store.get("a")
    assert rec.definition["features"] == {"big": "refund.amount_cents > $500"}
    ruleset, problems = compile_rules([rec.rule_def()], {}, [rec.version], version_suffix=True)
    assert ruleset is not None and not problems
    assert [r.detector_name for r in ruleset] == ["rule:a@v1"]

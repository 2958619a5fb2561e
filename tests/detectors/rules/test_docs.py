"""Every YAML example in docs/rules.md loads; so does rules/examples.yaml."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from vigil.detectors.rules import load_rules, load_rules_text

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "rules.md"
BLOCKS = re.findall(r"```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)


def test_the_doc_has_examples() -> None:
    assert len(BLOCKS) >= 3


@pytest.mark.parametrize("block", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_doc_example_loads(block: str) -> None:
    loaded = load_rules_text(block, "docs/rules.md")
    assert loaded.ruleset.rules


def test_shipped_examples_load() -> None:
    loaded = load_rules(ROOT / "rules" / "examples.yaml")
    assert 4 <= len(loaded.ruleset) <= 6
    assert {r.definition.mode for r in loaded.ruleset} == {"active", "shadow"}

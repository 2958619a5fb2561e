"""Checks shared by the tests of a decision-threshold change in the middle of a stream."""

from __future__ import annotations

import json
from pathlib import Path

from vigil.decisions.policy import DecisionPolicy


def assert_policy_applies_from(
    decisions: Path, offset: int, before: DecisionPolicy, after: DecisionPolicy
) -> None:
    """Lines of ``decisions.jsonl`` before ``offset`` follow ``before``, the rest ``after``,
    and at least one later line would have been decided otherwise under ``before``."""
    text = decisions.read_bytes()
    old = [json.loads(x) for x in text[:offset].splitlines()]
    new = [json.loads(x) for x in text[offset:].splitlines()]
    assert old and new
    assert all(d["decision"] == before.level(d["score"]) for d in old)
    assert all(d["decision"] == after.level(d["score"]) for d in new)
    assert any(after.level(d["score"]) != before.level(d["score"]) for d in new)

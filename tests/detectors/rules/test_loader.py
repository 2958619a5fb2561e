"""Loading a rules file: every problem of every rule at once, with file positions."""

from __future__ import annotations

from pathlib import Path

import pytest

from vigil.detectors.rules import RuleLoadError, load_rules, load_rules_text

from ._helpers import rule_yaml, ruleset

BAD = """\
features:
  broken_feature: count(refund by nope within 1h)
rules:
  - name: unknown_event
    description: x
    when: refnd.amount_cents > 5
    score: 0.5
    reasons: [x]
    subject: refund
    mode: active
  - name: unknown_field
    description: x
    when: |
      refund.policy == "manual_override"
        and refund.amount > 5
    score: 0.5
    reasons: [x]
    subject: refund
    mode: active
  - name: type_mismatch
    description: x
    when: refund.amount_cents > "5" and refund.policy == "manual_overide"
    score: 0.5
    reasons: [x]
    subject: refund
    mode: active
  - name: bad_window
    description: x
    when: count(refund by agent_id within 0s) > 1 or count(refund by agent_id within 400d) > 1
    score: 0.5
    reasons: [x]
    subject: refund
    mode: active
  - name: bad_fields
    description: x
    when: refund.amount_cents > 1 and broken_feature > 1
    score: 1.5
    reasons: [Not_Snake]
    subject: refund
    mode: live
    colour: red
"""


def test_every_problem_is_reported_at_once_with_positions(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(BAD)
    with pytest.raises(RuleLoadError) as info:
        load_rules(path)
    got = {(p.line, p.col, p.rule) for p in info.value.problems}
    text = str(info.value)
    assert f"rules file '{path}' has {len(info.value.problems)} problems" in text
    # unknown event type: the position of `refnd` in the file
    assert (6, 11, "unknown_event") in got
    assert "unknown event type 'refnd'" in text
    # unknown field in a literal block: line 2 of the expression is line 15 of the file
    assert (15, 13, "unknown_field") in got
    assert "unknown field 'amount' of refund_issued" in text
    # type mismatch and a misspelt enumerated value, both in one expression
    assert (22, 33, "type_mismatch") in got
    assert (22, 58, "type_mismatch") in got
    assert "'manual_overide' is never a value here" in text.replace('"', "'")
    # bad windows (zero, too long)
    assert "bad window 'within 0s'" in text and "bad window 'within 400d'" in text
    # structure: score, reasons, mode, unknown key; and the feature's own problem
    for fragment in (
        "score: 1.5 must be a number from 0 to 1",
        "reasons: must be a non-empty list",
        "mode: 'live' must be active",
        "unknown key 'colour'",
        "feature 'broken_feature' (used by rule 'bad_fields')",
        "refund_issued has no field 'nope'",
    ):
        assert fragment in text, fragment
    assert [p.line for p in info.value.problems] == sorted(p.line for p in info.value.problems)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("rules: [", "not valid YAML"),
        ("- a\n- b\n", "must be a mapping with a `rules:` list"),
        ("rules: {}", "`rules:` must be a list"),
        ("rules: [1]", "each rule must be a mapping"),
        ("rulez: []", "unknown top-level key 'rulez'"),
        (
            "rules:\n" + rule_yaml("a", "1 == 1", subject="agent"),
            "cannot tell which event the rule runs on",
        ),
        ("rules:\n" + rule_yaml("a", "refund.amount_cents"), "must be true/false"),
        ("rules:\n" + rule_yaml("a", "refund.amount_cents > 1") * 2, "used by an earlier rule"),
        (
            "rules:\n" + rule_yaml("a", "session.mfa == false", subject="refund", on="session"),
            "subject 'refund' needs 'refund_id'",
        ),
        ("rules:\n" + rule_yaml("a", "x > 1", on="nope"), "unknown event type 'nope'"),
        ("rules:\n" + rule_yaml("a", "order.items == 1"), "is a list"),
        ("rules:\n" + rule_yaml("a", "ad_click.cost_micros > 1"), "no id field relates"),
        (
            "rules:\n"
            + rule_yaml("a", "no scan for order_id within 7d after order", on="refund_issued"),
            "a sequence is anchored on the event the rule runs on",
        ),
        (
            "rules:\n" + rule_yaml("a", "count(refund.amount_cents by agent_id within 1h) > 1"),
            "count counts events",
        ),
        (
            "rules:\n" + rule_yaml("a", "sum(refund.policy by agent_id within 1h) > 1"),
            "sum needs a number field",
        ),
        (
            "rules:\n"
            + rule_yaml(
                "a",
                "count(refund where count(refund by agent_id within 1h) "
                "> 1 by agent_id within 1h) > 1",
            ),
            "aggregates cannot be used inside a where filter",
        ),
        (
            "rules:\n"
            + rule_yaml("a", "count(refund where session.mfa by agent_id within 1h) > 1"),
            "a where filter can only use fields of refund_issued",
        ),
        (
            "rules:\n" + rule_yaml("a", "refund.amount_cents > 1 and loop"),
            "uses itself",
        ),
        ("rules:\n" + rule_yaml("a", "refund.agent_id > 1"), "needs numbers on both sides"),
        ("rules:\n" + rule_yaml("a", "refund.amount_cents and 1 == 1"), "needs true/false"),
        ("rules:\n" + rule_yaml("a", "refund.policy in [1, 2]"), "list item 1"),
    ],
)
def test_problems(text: str, fragment: str) -> None:
    if "loop" in text:
        text = "features:\n  loop: loop2\n  loop2: loop\n" + text
    with pytest.raises(RuleLoadError) as info:
        load_rules_text(text, "t.yaml")
    assert fragment in str(info.value), str(info.value)


def test_trigger_is_inferred_or_given() -> None:
    rs = ruleset(
        rule_yaml("by_subject", "session.mfa == false and refund.amount_cents > 1"),
        rule_yaml("by_anchor", "no scan for order_id within 7d after refund"),
        rule_yaml("explicit", "mfa == false", subject="session", on="agent_session_started"),
        rule_yaml("feature", "account_age_days < 3"),
    )
    assert {r.name: r.trigger for r in rs} == {
        "by_subject": "refund_issued",
        "by_anchor": "refund_issued",
        "explicit": "agent_session_started",
        "feature": "refund_issued",
    }
    by = {r.name: r for r in rs}
    assert by["explicit"].fire_offset_ms == 0  # reads only its own event: on the event
    assert by["by_subject"].fire_offset_ms == 1  # a lookup: once the watermark passed it
    assert by["by_anchor"].fire_offset_ms == 7 * 86_400_000 + 1
    assert dict(by["feature"].definition.features) == {
        "account_age_days": "(event_time_ms - customer_signup.event_time_ms) / 1d"
    }


def test_file_features_override_builtins_and_are_kept_with_the_rule() -> None:
    rs = ruleset(
        rule_yaml("r", "big and account_age_days < 1"),
        features="  big: refund.amount_cents > $500\n  account_age_days: 1\n",
    )
    (rule,) = rs
    assert dict(rule.definition.features) == {
        "big": "refund.amount_cents > $500",
        "account_age_days": "1",
    }


def test_unreadable_file_is_an_input_error(tmp_path: Path) -> None:
    from vigil.errors import InputError

    with pytest.raises(InputError, match="cannot read rules file"):
        load_rules(tmp_path / "missing.yaml")

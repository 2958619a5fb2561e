"""The expression language: parse errors with positions, and every operator's meaning."""

from __future__ import annotations

import pytest

from vigil.detectors.rules.compiler import Env, ExprCompiler
from vigil.detectors.rules.syntax import Lit, ParseProblem, parse
from vigil.events.schemas import EventBase

from .._factories import T0, Events


@pytest.mark.parametrize(
    ("text", "line", "col", "fragment"),
    [
        ("refund.amount_cents >", 1, 22, "the end of the expression"),
        ("refund.amount_cents > > 3", 1, 23, "unexpected '>'"),
        ('refund.policy == "x', 1, 18, "unexpected character"),
        ("count(refund by agent_id within 1x) > 1", 1, 33, "'1x' is not a number"),
        ("count(refund by agent_id within 1h > 1", 1, 36, "expected ')'"),
        ("a and\n  b or\n  (c", 3, 5, "the end of the expression"),
        ("no return_received for order_id within 7d", 1, 42, "after, before"),
        ("refund.amount_cents @ 3", 1, 21, "unexpected character '@'"),
        ("", 1, 1, "empty"),
    ],
)
def test_parse_errors_name_line_and_column(text: str, line: int, col: int, fragment: str) -> None:
    with pytest.raises(ParseProblem) as info:
        parse(text)
    assert (info.value.line, info.value.col) == (line, col), info.value.message
    assert fragment in info.value.message


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("7d", 7 * 86_400_000),
        ("1.5h", 5_400_000),
        ("30m", 1_800_000),
        ("10s", 10_000),
        ("250ms", 250),
        ("2w", 14 * 86_400_000),
        ("$500", 50_000),
        ("$12.50", 1_250),
        ("$1_000", 100_000),
        ("100_000", 100_000),
        ("2.5", 2.5),
        ('"manual_override"', "manual_override"),
        ("'single'", "single"),
        ("true", True),
        ("false", False),
        ("null", None),
    ],
)
def test_literals(text: str, value: object) -> None:
    node = parse(text)
    assert isinstance(node, Lit) and node.value == value


def _eval(text: str, event: EventBase | None = None) -> object:
    ev = event or Events().refund("r1", "o1", T0, amount_cents=60_000)
    comp = ExprCompiler("refund_issued", {})
    _, fn = comp.compile_rule(parse(text))
    assert not comp.problems, comp.problems
    return fn(Env(None, ev, ev.event_time_ms))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("refund.amount_cents == 60000", True),
        ("refund.amount_cents != 60000", False),
        ("refund.amount_cents > $500", True),
        ("refund.amount_cents >= $600", True),
        ("refund.amount_cents < $600", False),
        ("refund.amount_cents <= $600", True),
        ("refund.amount_cents + 1 == 60001", True),
        ("refund.amount_cents - 1 == 59999", True),
        ("refund.amount_cents * 2 == $1200", True),
        ("refund.amount_cents / 100 == 600", True),
        ("refund.amount_cents % 7 == 60000 % 7", True),
        ("-refund.amount_cents < 0", True),
        ("2 + 3 * 4 == 14", True),
        ("(2 + 3) * 4 == 20", True),
        ('refund.policy in ["manual_override", "returnless"]', True),
        ('refund.policy not in ["manual_override", "returnless"]', False),
        ('refund.policy == "manual_override" and refund.issued_by == "agent"', True),
        ('refund.policy == "returnless" or refund.issued_by == "agent"', True),
        ('not refund.policy == "returnless"', True),
        ("not (1 == 1 and 2 == 3)", True),
        ("1 == 1 or 1 == 2 and 1 == 2", True),  # and binds tighter than or
        ("refund.return_id == null", True),
        ("refund.return_id != null", False),
        ('refund.agent_id == "a1"', True),
        ("refund.event_time_ms + 7d > refund.event_time_ms", True),
        ("refund.amount_cents / 0 == null", True),  # division by zero is null
        ("amount_cents > 5", True),  # bare names are fields of the trigger
    ],
)
def test_operators(text: str, expected: object) -> None:
    assert _eval(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # three-valued logic: a missing value is neither true nor false
        ("session.mfa == false", False),  # no session seen: null == false is false
        ("session.mfa == null", True),
        ("not session.mfa", None),
        ("session.mfa and 1 == 2", False),
        ("session.mfa or 1 == 1", True),
        ("session.mfa or 1 == 2", None),
        ("order.total_cents > 5", None),
        ("order.total_cents + 5 == null", True),
    ],
)
def test_missing_values_use_three_valued_logic(text: str, expected: object) -> None:
    assert _eval(text) is expected


def test_comments_and_newlines_are_ignored() -> None:
    assert _eval("refund.amount_cents > 5  # a comment\n  and 1 == 1") is True

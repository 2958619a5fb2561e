"""The rule expression language: grammar (lark, LALR), syntax tree, parse errors with positions.

An expression is parsed once at load time into a small tree of frozen nodes; every node
keeps its line and column inside the expression so later checks (unknown field, type
mismatch, bad window) can point at it. The grammar is printed in ``docs/rules.md``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import lark

__all__ = [
    "GRAMMAR",
    "Aggregate",
    "Arith",
    "Compare",
    "InList",
    "Lit",
    "Logic",
    "Neg",
    "Node",
    "Not",
    "ParseProblem",
    "Ref",
    "Sequence",
    "parse",
]

GRAMMAR = r"""
?start: expr

?expr: and_expr
     | expr "or" and_expr                  -> or_
?and_expr: not_expr
     | and_expr "and" not_expr             -> and_
?not_expr: "not" not_expr                  -> not_
     | comparison
?comparison: arith
     | arith COMPARE arith                 -> compare
     | arith "in" lits                     -> in_
     | arith "not" "in" lits               -> not_in
?arith: term
     | arith ADD_OP term                   -> arith
?term: factor
     | term MUL_OP factor                  -> arith
?factor: "-" factor                        -> neg
     | atom
?atom: literal
     | ref
     | aggregate
     | sequence
     | "(" expr ")"

literal: NUMBER | DURATION | MONEY | STRING | TRUE | FALSE | NULL
lits: "[" [literal ("," literal)*] "]"
ref: NAME ("." NAME)*

aggregate: agg_fn "(" ref where? "by" NAME "within" DURATION ")"
sequence: quant NAME where? "for" NAME "within" DURATION direction NAME
where: "where" expr
!agg_fn: "count" | "sum" | "min" | "max" | "avg" | "distinct"
!quant: "no" | "any"
!direction: "after" | "before"
TRUE: "true"
FALSE: "false"
NULL: "null"
COMPARE: "==" | "!=" | "<=" | ">=" | "<" | ">"
ADD_OP: "+" | "-"
MUL_OP: "*" | "/" | "%"
DURATION.3: /\d+(\.\d+)?(ms|s|m|h|d|w)(?![A-Za-z0-9_])/
MONEY.3: /\$\d[\d_]*(\.\d\d?)?(?![\d_])/
NUMBER.2: /\d[\d_]*(\.\d+)?(?![A-Za-z_])/
STRING: /"([^"\\]|\\.)*"/ | /'([^'\\]|\\.)*'/
NAME: /[A-Za-z_][A-Za-z0-9_]*/
COMMENT: /#[^\n]*/

%import common.WS
%ignore WS
%ignore COMMENT
"""

_DURATION_MS = {
    "ms": 1,
    "s": 1_000,
    "m": 60_000,
    "h": 3_600_000,
    "d": 86_400_000,
    "w": 604_800_000,
}


@dataclass(frozen=True)
class Lit:
    value: int | float | str | bool | None
    #: how it was written (``7d``, ``$500``, ``"x"``), for messages
    text: str
    line: int
    col: int


@dataclass(frozen=True)
class Ref:
    """A dotted name: a trigger field (``refund.amount_cents``), a field of a related event
    (``session.mfa``), a named feature (``account_age_days``) or, in a filter, a field."""

    parts: tuple[str, ...]
    line: int
    col: int


@dataclass(frozen=True)
class Neg:
    operand: Node
    line: int
    col: int


@dataclass(frozen=True)
class Arith:
    op: str
    left: Node
    right: Node
    line: int
    col: int


@dataclass(frozen=True)
class Compare:
    op: str
    left: Node
    right: Node
    line: int
    col: int


@dataclass(frozen=True)
class InList:
    operand: Node
    items: tuple[Lit, ...]
    negated: bool
    line: int
    col: int


@dataclass(frozen=True)
class Logic:
    op: str  # "and" | "or"
    left: Node
    right: Node
    line: int
    col: int


@dataclass(frozen=True)
class Not:
    operand: Node
    line: int
    col: int


@dataclass(frozen=True)
class Aggregate:
    """``fn(event[.field] [where filter] by key within window)``."""

    fn: str
    source: Ref
    where: Node | None
    by: str
    within_ms: int
    within_text: str
    line: int
    col: int


@dataclass(frozen=True)
class Sequence:
    """``no|any event [where filter] for key within window after|before anchor``."""

    quant: str
    event: str
    where: Node | None
    key: str
    within_ms: int
    within_text: str
    direction: str
    anchor: str
    line: int
    col: int


Node = Lit | Ref | Neg | Arith | Compare | InList | Logic | Not | Aggregate | Sequence


@dataclass(frozen=True)
class ParseProblem(Exception):
    """The expression is not in the language; ``line``/``col`` are 1-based in the text."""

    message: str
    line: int
    col: int


def duration_ms(text: str) -> int:
    for unit in ("ms", "s", "m", "h", "d", "w"):
        if text.endswith(unit) and text[: -len(unit)].replace(".", "", 1).isdigit():
            return int(float(text[: -len(unit)]) * _DURATION_MS[unit])
    raise ValueError(text)


def _pos(meta_or_tok: Any) -> tuple[int, int]:
    return int(getattr(meta_or_tok, "line", 1) or 1), int(getattr(meta_or_tok, "column", 1) or 1)


class _Build(lark.Transformer[lark.Token, "Node"]):
    """Lark tree -> frozen nodes with positions."""

    def literal(self, items: list[lark.Token]) -> Lit:
        tok = items[0]
        line, col = _pos(tok)
        text = str(tok)
        kind = tok.type
        value: int | float | str | bool | None
        if kind == "NUMBER":
            plain = text.replace("_", "")
            value = float(plain) if "." in plain else int(plain)
        elif kind == "DURATION":
            value = duration_ms(text)
        elif kind == "MONEY":
            value = round(float(text[1:].replace("_", "")) * 100)
        elif kind == "STRING":
            value = bytes(text[1:-1], "utf-8").decode("unicode_escape")
        elif kind == "TRUE":
            value = True
        elif kind == "FALSE":
            value = False
        else:
            value = None
        return Lit(value, text, line, col)

    def ref(self, items: list[lark.Token]) -> Ref:
        line, col = _pos(items[0])
        return Ref(tuple(str(t) for t in items), line, col)

    def lits(self, items: list[Lit | None]) -> tuple[Lit, ...]:
        return tuple(x for x in items if x is not None)

    def where(self, items: list[Node]) -> Node:
        return items[0]

    def agg_fn(self, items: list[lark.Token]) -> str:
        return str(items[0])

    quant = agg_fn
    direction = agg_fn

    @lark.v_args(meta=True)
    def compare(self, meta: Any, items: list[Any]) -> Compare:
        return Compare(str(items[1]), items[0], items[2], *_pos(meta))

    @lark.v_args(meta=True)
    def arith(self, meta: Any, items: list[Any]) -> Arith:
        return Arith(str(items[1]), items[0], items[2], *_pos(meta))

    @lark.v_args(meta=True)
    def in_(self, meta: Any, items: list[Any]) -> InList:
        return InList(items[0], items[1], False, *_pos(meta))

    @lark.v_args(meta=True)
    def not_in(self, meta: Any, items: list[Any]) -> InList:
        return InList(items[0], items[1], True, *_pos(meta))

    @lark.v_args(meta=True)
    def and_(self, meta: Any, items: list[Any]) -> Logic:
        return Logic("and", items[0], items[1], *_pos(meta))

    @lark.v_args(meta=True)
    def or_(self, meta: Any, items: list[Any]) -> Logic:
        return Logic("or", items[0], items[1], *_pos(meta))

    @lark.v_args(meta=True)
    def not_(self, meta: Any, items: list[Any]) -> Not:
        return Not(items[0], *_pos(meta))

    @lark.v_args(meta=True)
    def neg(self, meta: Any, items: list[Any]) -> Neg:
        return Neg(items[0], *_pos(meta))

    @lark.v_args(meta=True)
    def aggregate(self, meta: Any, items: list[Any]) -> Aggregate:
        fn, source = str(items[0]), items[1]
        where = items[2] if len(items) == 5 else None
        by, within = items[-2], items[-1]
        return Aggregate(
            fn, source, where, str(by), duration_ms(str(within)), str(within), *_pos(meta)
        )

    @lark.v_args(meta=True)
    def sequence(self, meta: Any, items: list[Any]) -> Sequence:
        quant, event = str(items[0]), str(items[1])
        where = items[2] if len(items) == 7 else None
        key, within, direction, anchor = items[-4:]
        return Sequence(
            quant,
            event,
            where,
            str(key),
            duration_ms(str(within)),
            str(within),
            str(direction),
            str(anchor),
            *_pos(meta),
        )


_PARSER = lark.Lark(GRAMMAR, parser="lalr", propagate_positions=True, maybe_placeholders=False)

_TOKEN_NAMES = {
    "RPAR": "')'",
    "LPAR": "'('",
    "RSQB": "']'",
    "LSQB": "'['",
    "COMMA": "','",
    "DOT": "'.'",
    "COMPARE": "a comparison (== != < <= > >=)",
    "ADD_OP": "+ or -",
    "MUL_OP": "* / %",
    "NAME": "a name",
    "NUMBER": "a number",
    "DURATION": "a duration (7d, 1h, 30m)",
    "MONEY": "an amount ($500)",
    "STRING": "a string",
    "DIRECTION": "after or before",
    "AGG_FN": "count/sum/min/max/avg/distinct",
    "QUANT": "no or any",
    "$END": "the end of the expression",
}


def _expected(names: set[str]) -> str:
    shown = sorted({_TOKEN_NAMES.get(n, n.lower().strip("_")) for n in names})
    if len(shown) > 8:
        shown = [*shown[:8], "..."]
    return ", ".join(shown)


def parse(text: str) -> Node:
    """Parse one expression; raises ``ParseProblem`` naming the line and column."""
    if not text.strip():
        raise ParseProblem("the expression is empty", 1, 1)
    try:
        tree = _PARSER.parse(text)
    except lark.exceptions.UnexpectedToken as exc:
        tok = exc.token
        shown = "the end of the expression" if tok.type == "$END" else repr(str(tok))
        accepts = getattr(exc, "accepts", None) or exc.expected
        end = tok.type == "$END" or exc.line < 1
        raise ParseProblem(
            f"unexpected {shown}; expected {_expected(set(accepts))}",
            text.count("\n") + 1 if end else exc.line,
            len(text.rsplit("\n", 1)[-1]) + 1 if end else exc.column,
        ) from None
    except lark.exceptions.UnexpectedCharacters as exc:
        at = exc.pos_in_stream or 0
        char = text[at]
        message = f"unexpected character {char!r}"
        if char.isdigit() or char == "$":
            word = re.match(r"[$\w.]+", text[at:])
            message = (
                f"{word.group(0) if word else char!r} is not a number, amount or duration "
                "(write 12, 1.5, $500, $12.50, 500ms, 30s, 10m, 6h, 7d, 2w)"
            )
        raise ParseProblem(message, exc.line, exc.column) from None
    except lark.exceptions.UnexpectedEOF as exc:
        raise ParseProblem(
            f"the expression ends too early; expected {_expected(set(exc.expected))}",
            text.count("\n") + 1,
            len(text.rsplit("\n", 1)[-1]) + 1,
        ) from None
    node: Node = _Build().transform(tree)
    return node

"""Type-checking and compiling one expression into a plain Python closure.

``ExprCompiler.compile`` walks the syntax tree once at load time: it resolves every name
(trigger field, related event's field, named feature), checks types (numbers with
numbers, strings against the allowed values of enumerated fields, booleans for and/or/not),
checks windows, and returns a closure ``fn(env) -> value``. It keeps going after a problem
so that one load reports every problem of every rule.

Run-time values: numbers, strings, booleans and ``None`` (missing: a related event not seen,
an optional field left empty). ``None`` propagates through arithmetic; ``<``/``>`` with
``None`` give ``None``; ``==``/``!=`` treat ``None`` as a value (``session.mfa == null`` tests
that no session was found); and/or/not use three-valued (Kleene) logic; a rule matches only
when its expression is ``true``.

State the expressions read (event histories per key for aggregates and sequences, the
latest related event per id for lookups) is declared here as ``SourceSpec``/``LookupSpec``,
recorded by the rules' history stages (``stages.py``) and handed to an evaluation as
``Env.state``: the entries of each namespace under the trigger event's own id.
"""

from __future__ import annotations

import operator
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from vigil.detectors.rules.catalog import (
    BOOL,
    ERROR,
    EVENT_FIELDS,
    NULL,
    NUM,
    STR,
    FieldType,
    join_key,
    resolve_event,
)
from vigil.detectors.rules.syntax import (
    Aggregate,
    Arith,
    Compare,
    InList,
    Lit,
    Logic,
    Neg,
    Node,
    Not,
    Ref,
    Sequence,
)
from vigil.events.schemas import EventBase

__all__ = [
    "MAX_WINDOW_MS",
    "Entries",
    "Env",
    "ExprCompiler",
    "ExprProblem",
    "FeatureDef",
    "Fn",
    "LookupSpec",
    "SourceSpec",
    "canon",
    "entry_time",
]

DAY_MS = 86_400_000
#: the longest window an aggregate or sequence may use (state is kept this long)
MAX_WINDOW_MS = 366 * DAY_MS


#: time-sorted ``(event time, value)`` entries of one namespace, under one id
Entries = tuple[tuple[int, Any], ...]


class Env:
    """What an expression sees: the event it runs on, its time, and the state its rule reads
    (namespace -> the entries under the event's id for that namespace's key; None in
    filters, which read no state)."""

    __slots__ = ("event", "state", "t")

    def __init__(self, state: Mapping[str, Entries] | None, event: EventBase, t: int) -> None:
        self.state = state
        self.event = event
        self.t = t


Fn = Callable[[Env], Any]


def entry_time(entry: tuple[int, Any]) -> int:
    return entry[0]


@dataclass(frozen=True)
class SourceSpec:
    """Events of one type kept per key value, as sorted ``(event time, value)`` entries."""

    namespace: str
    event_type: str
    key: str
    field: str | None
    filter: Fn | None


@dataclass(frozen=True)
class LookupSpec:
    """One field of the latest events of one type per id (``session.mfa`` by session id)."""

    namespace: str
    event_type: str
    key: str
    field: str


@dataclass(frozen=True)
class FeatureDef:
    """A named feature: an expression rules use by name (``account_age_days``)."""

    name: str
    text: str
    node: Node | None  # None: it did not parse (reported where it is defined)
    where: str  # "built in" or "file.yaml:12"


@dataclass(frozen=True)
class ExprProblem:
    message: str
    line: int
    col: int
    #: the named feature whose expression has the problem (None: the rule's own ``when``)
    feature: FeatureDef | None = None


def canon(node: Node | None) -> str:
    """A canonical text of a tree (no positions): equal meaning, equal text (state keys)."""
    if node is None:
        return ""
    if isinstance(node, Lit):
        return repr(node.value)
    if isinstance(node, Ref):
        return ".".join(node.parts)
    if isinstance(node, Neg):
        return f"(-{canon(node.operand)})"
    if isinstance(node, Arith | Compare | Logic):
        return f"({canon(node.left)} {node.op} {canon(node.right)})"
    if isinstance(node, InList):
        items = ", ".join(repr(i.value) for i in node.items)
        return f"({canon(node.operand)} {'not in' if node.negated else 'in'} [{items}])"
    if isinstance(node, Not):
        return f"(not {canon(node.operand)})"
    if isinstance(node, Aggregate):
        return (
            f"{node.fn}({canon(node.source)} where {canon(node.where)} by {node.by} "
            f"within {node.within_ms})"
        )
    return (
        f"({node.quant} {node.event} where {canon(node.where)} for {node.key} "
        f"within {node.within_ms} {node.direction} {node.anchor})"
    )


def _const(value: Any) -> Fn:
    return lambda env: value


_ARITH: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "%": operator.mod,
}
_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


@dataclass
class _Scope:
    #: the event type fields resolve against
    event_type: str
    #: True inside ``where`` filters: only that event's own fields, no state
    in_filter: bool = False
    feature: FeatureDef | None = None
    expanding: tuple[str, ...] = ()


@dataclass
class ExprCompiler:
    """Compiles the expressions of one rule, collecting problems and the state they read."""

    trigger: str
    features: Mapping[str, FeatureDef]
    problems: list[ExprProblem] = field(default_factory=list)
    sources: dict[str, tuple[SourceSpec, int]] = field(default_factory=dict)
    lookups: dict[str, LookupSpec] = field(default_factory=dict)
    #: longest ``after`` window (the rule is evaluated once it has passed)
    after_ms: int = 0
    #: the expression reads state (aggregates, sequences, lookups): evaluate on a timer
    stateful: bool = False
    #: named features the expression used (they are versioned with the rule)
    used_features: dict[str, str] = field(default_factory=dict)

    def compile_rule(self, node: Node) -> tuple[FieldType, Fn]:
        return self._compile(node, _Scope(self.trigger))

    # --- problems --------------------------------------------------------------------------

    def _problem(self, node: Node, scope: _Scope, message: str) -> tuple[FieldType, Fn]:
        self.problems.append(ExprProblem(message, node.line, node.col, scope.feature))
        return ERROR, _const(None)

    # --- the walk --------------------------------------------------------------------------

    def _compile(self, node: Node, scope: _Scope) -> tuple[FieldType, Fn]:
        if isinstance(node, Lit):
            return _lit_type(node.value), _const(node.value)
        if isinstance(node, Ref):
            return self._ref(node, scope)
        if isinstance(node, Neg):
            t, f = self._compile(node.operand, scope)
            if t.kind not in ("num", "error"):
                return self._problem(node, scope, f"'-' needs a number; got {t.describe()}")
            return FieldType(
                "num", nullable=t.nullable
            ), lambda env: None if (v := f(env)) is None else -v
        if isinstance(node, Arith):
            return self._arith(node, scope)
        if isinstance(node, Compare):
            return self._compare(node, scope)
        if isinstance(node, InList):
            return self._in_list(node, scope)
        if isinstance(node, Logic | Not):
            return self._logic(node, scope)
        if isinstance(node, Aggregate):
            return self._aggregate(node, scope)
        return self._sequence(node, scope)

    def _field(self, node: Ref, scope: _Scope, event_type: str, name: str) -> FieldType | None:
        fields = EVENT_FIELDS[event_type]
        ftype = fields.get(name)
        if ftype is None:
            self._problem(
                node,
                scope,
                f"unknown field {name!r} of {event_type}; its fields are {', '.join(fields)}",
            )
            return None
        if ftype.kind == "list":
            self._problem(
                node, scope, f"field {name!r} of {event_type} is a list; rules cannot use lists"
            )
            return None
        return ftype

    def _ref(self, node: Ref, scope: _Scope) -> tuple[FieldType, Fn]:
        parts = node.parts
        if len(parts) > 2:
            return self._problem(
                node, scope, f"{'.'.join(parts)!r}: write event.field (one dot), e.g. refund.policy"
            )
        if scope.in_filter:
            if len(parts) == 2 and resolve_event(parts[0]) != scope.event_type:
                return self._problem(
                    node,
                    scope,
                    f"{'.'.join(parts)!r}: a where filter can only use fields of "
                    f"{scope.event_type} (write them bare, e.g. policy)",
                )
            return self._trigger_field(node, scope, parts[-1])
        if len(parts) == 1:
            name = parts[0]
            feature = self.features.get(name)
            if feature is not None:
                return self._feature(node, scope, feature)
            if name in EVENT_FIELDS[scope.event_type]:
                return self._trigger_field(node, scope, name)
            known = ", ".join(sorted(self.features)) or "none"
            return self._problem(
                node,
                scope,
                f"unknown name {name!r}: not a feature (known: {known}) nor a field of "
                f"{scope.event_type} (write event.field, e.g. refund.amount_cents)",
            )
        event_type = resolve_event(parts[0])
        if event_type is None:
            return self._problem(node, scope, _unknown_event(parts[0]))
        if event_type == scope.event_type:
            return self._trigger_field(node, scope, parts[1])
        return self._lookup(node, scope, event_type, parts[1])

    def _trigger_field(self, node: Ref, scope: _Scope, name: str) -> tuple[FieldType, Fn]:
        ftype = self._field(node, scope, scope.event_type, name)
        if ftype is None:
            return ERROR, _const(None)
        get = operator.attrgetter(name)
        return ftype, lambda env: get(env.event)

    def _lookup(self, node: Ref, scope: _Scope, event_type: str, name: str) -> tuple[FieldType, Fn]:
        ftype = self._field(node, scope, event_type, name)
        if ftype is None:
            return ERROR, _const(None)
        key = join_key(scope.event_type, event_type)
        if key is None:
            return self._problem(
                node,
                scope,
                f"{'.'.join(node.parts)!r}: no id field relates {scope.event_type} to "
                f"{event_type}, so the rule cannot tell which {event_type} is meant",
            )
        ns = f"lk|{event_type}|{key}|{name}"
        self.lookups[ns] = LookupSpec(ns, event_type, key, name)
        self.stateful = True
        get_key = operator.attrgetter(key)

        def lookup(env: Env) -> Any:
            if get_key(env.event) is None or env.state is None:
                return None
            entries = env.state.get(ns)
            if not entries:
                return None
            i = bisect_right(entries, env.t, key=entry_time) - 1
            return entries[i][1] if i >= 0 else None

        return FieldType(ftype.kind, ftype.values, nullable=True), lookup

    def _feature(self, node: Ref, scope: _Scope, feature: FeatureDef) -> tuple[FieldType, Fn]:
        if feature.name in scope.expanding:
            chain = " -> ".join((*scope.expanding, feature.name))
            return self._problem(node, scope, f"feature {feature.name!r} uses itself ({chain})")
        if feature.node is None:
            return self._problem(
                node, scope, f"feature {feature.name!r} ({feature.where}) does not parse"
            )
        self.used_features[feature.name] = feature.text
        inner = _Scope(scope.event_type, False, feature, (*scope.expanding, feature.name))
        return self._compile(feature.node, inner)

    def _arith(self, node: Arith, scope: _Scope) -> tuple[FieldType, Fn]:
        lt, lf = self._compile(node.left, scope)
        rt, rf = self._compile(node.right, scope)
        for side, t in ((node.left, lt), (node.right, rt)):
            if t.kind not in ("num", "error"):
                return self._problem(
                    side, scope, f"{node.op!r} needs numbers on both sides; got {t.describe()}"
                )
        op = _ARITH[node.op]
        divides = node.op in ("/", "%")

        def arith(env: Env) -> Any:
            a = lf(env)
            b = rf(env)
            if a is None or b is None or (divides and b == 0):
                return None
            return op(a, b)

        return FieldType("num", nullable=True), arith

    def _compare(self, node: Compare, scope: _Scope) -> tuple[FieldType, Fn]:
        lt, lf = self._compile(node.left, scope)
        rt, rf = self._compile(node.right, scope)
        if "error" in (lt.kind, rt.kind):
            return ERROR, _const(None)
        if node.op in ("==", "!="):
            if lt.kind != rt.kind and "null" not in (lt.kind, rt.kind):
                return self._problem(
                    node,
                    scope,
                    f"{node.op!r} compares {lt.describe()} with {rt.describe()}; "
                    "both sides must have the same type",
                )
            for a, b in ((node.left, rt), (node.right, lt)):
                if isinstance(a, Lit) and isinstance(a.value, str):
                    self._check_value(a, b, scope)
            if node.op == "==":
                return BOOL, lambda env: lf(env) == rf(env)
            return BOOL, lambda env: lf(env) != rf(env)
        for side, t in ((node.left, lt), (node.right, rt)):
            if t.kind != "num":
                return self._problem(
                    side, scope, f"{node.op!r} needs numbers on both sides; got {t.describe()}"
                )
        op = _ORDER[node.op]

        def order(env: Env) -> bool | None:
            a = lf(env)
            b = rf(env)
            if a is None or b is None:
                return None
            return op(a, b)

        return FieldType("bool", nullable=lt.nullable or rt.nullable), order

    def _check_value(self, lit: Lit, other: FieldType, scope: _Scope) -> None:
        if other.values is not None and lit.value not in other.values:
            self._problem(lit, scope, f"{lit.text} is never a value here; {other.describe()}")

    def _in_list(self, node: InList, scope: _Scope) -> tuple[FieldType, Fn]:
        t, f = self._compile(node.operand, scope)
        if t.kind == "error":
            return ERROR, _const(None)
        for item in node.items:
            it = _lit_type(item.value)
            if it.kind != t.kind:
                return self._problem(
                    item,
                    scope,
                    f"list item {item.text} is {it.describe()}; the value is {t.describe()}",
                )
            if isinstance(item.value, str):
                self._check_value(item, t, scope)
        values = frozenset(i.value for i in node.items)
        negated = node.negated

        def in_list(env: Env) -> bool | None:
            v = f(env)
            if v is None:
                return None
            return (v in values) != negated

        return FieldType("bool", nullable=t.nullable), in_list

    def _logic(self, node: Logic | Not, scope: _Scope) -> tuple[FieldType, Fn]:
        operands = [node.operand] if isinstance(node, Not) else [node.left, node.right]
        compiled = [self._compile(x, scope) for x in operands]
        for x, (t, _) in zip(operands, compiled, strict=True):
            if t.kind not in ("bool", "error"):
                word = "not" if isinstance(node, Not) else node.op
                return self._problem(x, scope, f"{word!r} needs true/false; this is {t.describe()}")
        nullable = any(t.nullable for t, _ in compiled)
        if isinstance(node, Not):
            f = compiled[0][1]
            return FieldType(
                "bool", nullable=nullable
            ), lambda env: None if (v := f(env)) is None else not v
        lf, rf = compiled[0][1], compiled[1][1]
        if node.op == "and":

            def and_(env: Env) -> bool | None:
                a = lf(env)
                if a is False:
                    return False
                b = rf(env)
                if b is False:
                    return False
                return None if a is None or b is None else True

            return FieldType("bool", nullable=nullable), and_

        def or_(env: Env) -> bool | None:
            a = lf(env)
            if a is True:
                return True
            b = rf(env)
            if b is True:
                return True
            return None if a is None or b is None else False

        return FieldType("bool", nullable=nullable), or_

    # --- state: aggregates and sequences -----------------------------------------------------

    def _window_ok(self, node: Aggregate | Sequence, scope: _Scope) -> bool:
        if node.within_ms <= 0 or node.within_ms > MAX_WINDOW_MS:
            self._problem(
                node,
                scope,
                f"bad window 'within {node.within_text}': it must be longer than 0 and at "
                "most 366d",
            )
            return False
        return True

    def _key_ok(self, node: Aggregate | Sequence, scope: _Scope, event_type: str, key: str) -> bool:
        word = "by" if isinstance(node, Aggregate) else "for"
        for et in (event_type, scope.event_type):
            if key not in EVENT_FIELDS[et]:
                self._problem(
                    node,
                    scope,
                    f"'{word} {key}': {et} has no field {key!r}; the key must be a field of "
                    f"both {event_type} and {scope.event_type}",
                )
                return False
        return True

    def _source(
        self,
        event_type: str,
        key: str,
        value: str | None,
        where: Node | None,
        scope: _Scope,
        window_ms: int,
    ) -> str:
        filter_fn: Fn | None = None
        if where is not None:
            inner = _Scope(event_type, True, scope.feature, scope.expanding)
            ft, filter_fn = self._compile(where, inner)
            if ft.kind not in ("bool", "error"):
                self._problem(
                    where, inner, f"a where filter must be true/false; got {ft.describe()}"
                )
        ns = f"src|{event_type}|{key}|{value or ''}|{canon(where)}"
        spec = SourceSpec(ns, event_type, key, value, filter_fn)
        old = self.sources.get(ns)
        self.sources[ns] = (spec, max(window_ms, old[1] if old else 0))
        self.stateful = True
        return ns

    def _aggregate(self, node: Aggregate, scope: _Scope) -> tuple[FieldType, Fn]:
        if scope.in_filter:
            return self._problem(node, scope, "aggregates cannot be used inside a where filter")
        parts = node.source.parts
        event_type = resolve_event(parts[0])
        if event_type is None:
            return self._problem(node.source, scope, _unknown_event(parts[0]))
        value: str | None = None
        if len(parts) > 2:
            return self._problem(node.source, scope, "write event or event.field")
        if len(parts) == 2:
            value = parts[1]
            ftype = self._field(node.source, scope, event_type, value)
            if ftype is None:
                return ERROR, _const(None)
            if node.fn == "count":
                return self._problem(
                    node, scope, f"count counts events: write count({parts[0]} by ...)"
                )
            if node.fn != "distinct" and ftype.kind != "num":
                return self._problem(
                    node, scope, f"{node.fn} needs a number field; {value} is {ftype.describe()}"
                )
        elif node.fn != "count":
            return self._problem(
                node, scope, f"{node.fn} needs a field: {node.fn}({parts[0]}.<field> by ...)"
            )
        if not (self._window_ok(node, scope) and self._key_ok(node, scope, event_type, node.by)):
            return ERROR, _const(None)
        ns = self._source(event_type, node.by, value, node.where, scope, node.within_ms)
        return _aggregate_fn(node.fn, ns, node.by, node.within_ms)

    def _sequence(self, node: Sequence, scope: _Scope) -> tuple[FieldType, Fn]:
        if scope.in_filter:
            return self._problem(node, scope, "sequences cannot be used inside a where filter")
        event_type = resolve_event(node.event)
        anchor = resolve_event(node.anchor)
        if event_type is None:
            return self._problem(node, scope, _unknown_event(node.event))
        if anchor != scope.event_type:
            return self._problem(
                node,
                scope,
                f"'{node.direction} {node.anchor}': a sequence is anchored on the event the rule "
                f"runs on ({scope.event_type})",
            )
        if not (self._window_ok(node, scope) and self._key_ok(node, scope, event_type, node.key)):
            return ERROR, _const(None)
        ns = self._source(event_type, node.key, None, node.where, scope, node.within_ms)
        within = node.within_ms
        after = node.direction == "after"
        if after:
            self.after_ms = max(self.after_ms, within)
        want = node.quant == "any"
        get_key = operator.attrgetter(node.key)

        def sequence(env: Env) -> bool:
            if get_key(env.event) is None or env.state is None:
                return not want
            entries = env.state.get(ns)
            if not entries:
                return not want
            lo, hi = (env.t, env.t + within) if after else (env.t - within, env.t)
            i = bisect_left(entries, lo, key=entry_time)
            found = i < len(entries) and entries[i][0] <= hi
            return found == want

        return BOOL, sequence


def _aggregate_fn(fn: str, ns: str, by: str, within: int) -> tuple[FieldType, Fn]:
    get_key = operator.attrgetter(by)
    empty: Any = 0 if fn in ("count", "sum", "distinct") else None

    def window(env: Env) -> Entries | None:
        if get_key(env.event) is None or env.state is None:
            return None
        entries = env.state.get(ns)
        if not entries:
            return None
        t = env.t
        lo = bisect_right(entries, t - within, key=entry_time)
        hi = bisect_right(entries, t, key=entry_time)
        return entries[lo:hi] if hi > lo else None

    def aggregate(env: Env) -> Any:
        w = window(env)
        if w is None:
            return empty
        if fn == "count":
            return len(w)
        if fn == "distinct":
            return len({v for _, v in w})
        values = [v for _, v in w]
        if fn == "sum":
            return sum(values)
        if fn == "min":
            return min(values)
        if fn == "max":
            return max(values)
        return sum(values) / len(values)

    nullable = empty is None
    return FieldType("num", nullable=nullable), aggregate


def _lit_type(value: Any) -> FieldType:
    if value is None:
        return NULL
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, int | float):
        return NUM
    return STR


def _unknown_event(name: str) -> str:
    from vigil.detectors.rules.catalog import ALIASES

    return (
        f"unknown event type {name!r}; use one of {', '.join(EVENT_FIELDS)} "
        f"or a short name ({', '.join(ALIASES)})"
    )

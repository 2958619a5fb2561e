"""Rule definitions (what a person writes and the store versions) and compiled rule sets.

``RuleDef`` is the rule as data; ``compile_rules`` checks every rule (trigger event,
subject, expression types, windows) and turns the set into a ``RuleSet``: per event type,
what to record (event histories for aggregates and sequences, related events for lookups)
and which rules to evaluate on the event itself or on an event-time timer.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from vigil.detectors.rules.catalog import EVENT_FIELDS, resolve_event
from vigil.detectors.rules.compiler import (
    ExprCompiler,
    ExprProblem,
    FeatureDef,
    Fn,
    LookupSpec,
    SourceSpec,
)
from vigil.detectors.rules.syntax import (
    Arith,
    Compare,
    InList,
    Logic,
    Neg,
    Node,
    Not,
    ParseProblem,
    Ref,
    parse,
)
from vigil.detectors.rules.syntax import (
    Sequence as SeqNode,
)
from vigil.events.schemas import EVENT_TYPES, EventBase, type_name

__all__ = [
    "MODES",
    "SUBJECT_FIELDS",
    "CompiledRule",
    "Plan",
    "RuleDef",
    "RuleSet",
    "SetProblem",
    "compile_rules",
]

SNAKE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
MODES = ("active", "shadow")
#: subject type -> the field of the trigger event that names the subject
SUBJECT_FIELDS: Mapping[str, str] = {
    "refund": "refund_id",
    "agent": "agent_id",
    "session": "session_id",
    "order": "order_id",
    "account": "customer_id",
}
_CLASS_OF = {type_name(c): c for c in EVENT_TYPES}


@dataclass(frozen=True)
class RuleDef:
    """One rule as written. Equal content, equal fingerprint (whatever the file layout)."""

    name: str
    description: str
    when: str
    score: float
    reasons: tuple[str, ...]
    subject: str
    mode: str = "active"
    on: str | None = None
    #: named features the rule uses (name, expression), kept with every stored version
    features: tuple[tuple[str, str], ...] = ()

    def content(self) -> dict[str, Any]:
        """The rule as plain data (YAML/JSON), in a fixed key order."""
        d: dict[str, Any] = {"name": self.name, "description": self.description}
        if self.on is not None:
            d["on"] = self.on
        d.update(
            when=self.when,
            score=self.score,
            reasons=list(self.reasons),
            subject=self.subject,
            mode=self.mode,
        )
        if self.features:
            d["features"] = dict(self.features)
        return d

    def fingerprint(self) -> str:
        data = json.dumps(self.content(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(data.encode()).hexdigest()[:16]

    @classmethod
    def from_content(cls, d: Mapping[str, Any]) -> RuleDef:
        return cls(
            name=str(d["name"]),
            description=str(d["description"]),
            when=str(d["when"]),
            score=float(d["score"]),
            reasons=tuple(str(r) for r in d["reasons"]),
            subject=str(d["subject"]),
            mode=str(d.get("mode", "active")),
            on=d.get("on"),
            features=tuple(sorted((str(k), str(v)) for k, v in d.get("features", {}).items())),
        )


@dataclass(frozen=True)
class CompiledRule:
    #: unique in its set: the name, or ``name@vN`` when several versions run side by side
    ident: str
    definition: RuleDef
    version: int
    trigger: str
    predicate: Fn
    #: 0: evaluated on the event; else on a timer at event time + this (state complete)
    fire_offset_ms: int
    #: ``rule:<name>``; ``shadow:rule:<name>`` for shadow rules (recorded, never acted on)
    detector_name: str
    #: hash of what decides a match (trigger, expression, features): pending evaluations
    #: scheduled before a reload still run if it is unchanged
    when_key: str
    subject_field: str
    #: the state it reads: (namespace, the trigger's id field that keys it), sorted
    reads: tuple[tuple[str, str], ...] = ()

    @property
    def name(self) -> str:
        return self.definition.name

    @property
    def shadow(self) -> bool:
        return self.definition.mode == "shadow"


@dataclass(frozen=True)
class Plan:
    """What to do with one event type: record it, evaluate rules now or later."""

    sources: tuple[tuple[SourceSpec, int], ...]  # (spec, retention ms)
    lookups: tuple[LookupSpec, ...]
    immediate: tuple[CompiledRule, ...]
    delayed: tuple[tuple[int, tuple[CompiledRule, ...]], ...]  # (fire offset, rules)


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[CompiledRule, ...]
    plans: Mapping[type[EventBase], Plan]
    #: changes whenever any rule, version or feature changes
    fingerprint: str
    by_ident: Mapping[str, CompiledRule] = field(default_factory=dict)
    #: how it was compiled, so that it pickles as data and recompiles (closures do not pickle)
    lateness_ms: int = 2 * 86_400_000
    version_suffix: bool = False

    def __reduce__(self) -> tuple[Any, ...]:
        defs = tuple(r.definition for r in self.rules)
        versions = tuple(r.version for r in self.rules)
        return (_recompile, (defs, versions, self.lateness_ms, self.version_suffix))

    def versions(self) -> dict[str, int]:
        return {r.ident: r.version for r in self.rules}

    def __iter__(self) -> Iterator[CompiledRule]:
        return iter(self.rules)

    def __len__(self) -> int:
        return len(self.rules)


@dataclass(frozen=True)
class SetProblem:
    """A problem with rule ``index`` (None: the set) in ``part`` (a key such as ``when``)."""

    index: int | None
    part: str
    message: str
    expr: ExprProblem | None = None


def _walk(node: Node | None, features: Mapping[str, FeatureDef], seen: set[str]) -> Iterator[Node]:
    """Nodes in reading order, features expanded, aggregate sources and filters skipped."""
    if node is None:
        return
    yield node
    if isinstance(node, Ref) and len(node.parts) == 1:
        f = features.get(node.parts[0])
        if f is not None and f.name not in seen and f.node is not None:
            yield from _walk(f.node, features, seen | {f.name})
    elif isinstance(node, Neg | Not):
        yield from _walk(node.operand, features, seen)
    elif isinstance(node, Arith | Compare | Logic):
        yield from _walk(node.left, features, seen)
        yield from _walk(node.right, features, seen)
    elif isinstance(node, InList):
        yield from _walk(node.operand, features, seen)


def infer_trigger(node: Node, features: Mapping[str, FeatureDef], subject: str) -> str | None:
    """The event a rule runs on: a sequence's anchor; else, of the events named in
    ``event.field`` references (reading order), the first that has the subject's id field
    (``refund_id`` for refund rules); else the only event type with that field
    (``refund_issued`` for ``refund_id``, which requests carry too); else the first event
    named."""
    nodes = list(_walk(node, features, set()))
    for n in nodes:
        if isinstance(n, SeqNode):
            return resolve_event(n.anchor)
    named = [
        et
        for n in nodes
        if isinstance(n, Ref) and len(n.parts) == 2
        if (et := resolve_event(n.parts[0])) is not None
    ]
    id_field = SUBJECT_FIELDS.get(subject)
    for et in named:
        if id_field in EVENT_FIELDS[et]:
            return et
    having = [et for et, fields in EVENT_FIELDS.items() if id_field in fields]
    if len(having) == 1:
        return having[0]
    if id_field == "refund_id" and "refund_issued" in having:
        return "refund_issued"  # a refund rule runs on the money paid, unless ``on:`` says
    return named[0] if named else None


def _feature(name: str, text: str, where: str) -> FeatureDef:
    try:
        node: Node | None = parse(text)
    except ParseProblem:
        node = None
    return FeatureDef(name, text, node, where)


def _when_key(trigger: str, when: str, used: Mapping[str, str]) -> str:
    text = json.dumps([trigger, " ".join(when.split()), sorted(used.items())])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def compile_rules(
    defs: Sequence[RuleDef],
    features: Mapping[str, FeatureDef],
    versions: Mapping[str, int] | Sequence[int] | None = None,
    *,
    lateness_ms: int = 2 * 86_400_000,
    version_suffix: bool = False,
) -> tuple[RuleSet | None, list[SetProblem]]:
    """Check and compile every rule; return the set, or None and every problem found.

    ``versions``: rule name -> version, or one version per rule in ``defs``; missing names
    get 0 (a draft not in any store). ``version_suffix``: identify rules as ``name@vN`` and
    name their alerts ``rule:name@vN`` so several versions of one rule run side by side.
    ``lateness_ms``: how long past its window an event is kept for late triggers (the
    runtime's allowed lateness).
    """
    problems: list[SetProblem] = []
    compiled: list[CompiledRule] = []
    uses: list[tuple[CompiledRule, dict[str, tuple[SourceSpec, int]], dict[str, LookupSpec]]] = []
    seen: set[str] = set()
    for i, d in enumerate(defs):
        if versions is None:
            version = 0
        elif isinstance(versions, Mapping):
            version = versions.get(d.name, 0)
        else:
            version = versions[i]
        ident = f"{d.name}@v{version}" if version_suffix else d.name
        if ident in seen:
            problems.append(SetProblem(i, "name", f"rule {ident!r} is defined twice"))
            continue
        seen.add(ident)
        try:
            node = parse(d.when)
        except ParseProblem as exc:
            problems.append(
                SetProblem(i, "when", exc.message, ExprProblem(exc.message, exc.line, exc.col))
            )
            continue
        if d.on is not None:
            trigger = resolve_event(d.on)
            if trigger is None:
                problems.append(
                    SetProblem(
                        i,
                        "on",
                        f"unknown event type {d.on!r}; use one of {', '.join(EVENT_FIELDS)}",
                    )
                )
                continue
        else:
            trigger = infer_trigger(node, features, d.subject)
            if trigger is None:
                problems.append(
                    SetProblem(
                        i,
                        "when",
                        "cannot tell which event the rule runs on (no event.field in it); "
                        "add `on: <event type>`, e.g. on: refund_issued",
                    )
                )
                continue
        subject_field = SUBJECT_FIELDS.get(d.subject)
        if subject_field is not None and subject_field not in EVENT_FIELDS[trigger]:
            problems.append(
                SetProblem(
                    i,
                    "subject",
                    f"subject {d.subject!r} needs {subject_field!r}, which {trigger} events "
                    f"do not have; pick one of "
                    + ", ".join(s for s, f in SUBJECT_FIELDS.items() if f in EVENT_FIELDS[trigger]),
                )
            )
            continue
        feats = dict(features)
        for fname, ftext in d.features:  # a stored version carries the features it used
            feats[fname] = _feature(fname, ftext, f"stored with rule {d.name}")
        comp = ExprCompiler(trigger, feats)
        ftype, fn = comp.compile_rule(node)
        for p in comp.problems:
            problems.append(SetProblem(i, "when", p.message, p))
        if not comp.problems and ftype.kind != "bool":
            problems.append(
                SetProblem(
                    i,
                    "when",
                    f"`when` must be true/false (a condition); it is {ftype.describe()}",
                    ExprProblem("", 1, 1),
                )
            )
        if comp.problems or ftype.kind != "bool" or subject_field is None:
            continue
        d = replace(d, features=tuple(sorted(comp.used_features.items())))
        rule = CompiledRule(
            ident=ident,
            definition=d,
            version=version,
            trigger=trigger,
            predicate=fn,
            fire_offset_ms=comp.after_ms + 1 if comp.stateful else 0,
            detector_name=("shadow:" if d.mode == "shadow" else "") + "rule:" + ident,
            when_key=_when_key(trigger, d.when, comp.used_features),
            subject_field=subject_field,
            reads=tuple(
                sorted(
                    {(ns, spec.key) for ns, (spec, _) in comp.sources.items()}
                    | {(ns, lk.key) for ns, lk in comp.lookups.items()}
                )
            ),
        )
        compiled.append(rule)
        uses.append((rule, comp.sources, comp.lookups))
    if problems:
        return None, problems
    return _assemble(compiled, uses, lateness_ms, version_suffix), []


def _recompile(
    defs: tuple[RuleDef, ...], versions: tuple[int, ...], lateness_ms: int, version_suffix: bool
) -> RuleSet:
    ruleset, problems = compile_rules(
        defs, {}, versions, lateness_ms=lateness_ms, version_suffix=version_suffix
    )
    assert ruleset is not None, problems  # it compiled before it was pickled
    return ruleset


def _assemble(
    compiled: list[CompiledRule],
    uses: list[tuple[CompiledRule, dict[str, tuple[SourceSpec, int]], dict[str, LookupSpec]]],
    lateness_ms: int,
    version_suffix: bool,
) -> RuleSet:
    sources: dict[str, tuple[SourceSpec, int]] = {}
    lookups: dict[str, LookupSpec] = {}
    for rule, srcs, lks in uses:
        for ns, (spec, window) in srcs.items():
            keep = window + rule.fire_offset_ms + lateness_ms
            old = sources.get(ns)
            sources[ns] = (spec, max(keep, old[1] if old else 0))
        lookups.update(lks)
    plans: dict[type[EventBase], Plan] = {}
    for tname, cls in _CLASS_OF.items():
        srcs_t = tuple(v for _, v in sorted(sources.items()) if v[0].event_type == tname)
        lks_t = tuple(v for _, v in sorted(lookups.items()) if v.event_type == tname)
        rules_t = [r for r in compiled if r.trigger == tname]
        immediate = tuple(r for r in rules_t if r.fire_offset_ms == 0)
        offsets = sorted({r.fire_offset_ms for r in rules_t if r.fire_offset_ms})
        delayed = tuple(
            (off, tuple(r for r in rules_t if r.fire_offset_ms == off)) for off in offsets
        )
        if srcs_t or lks_t or immediate or delayed:
            plans[cls] = Plan(srcs_t, lks_t, immediate, delayed)
    text = json.dumps(sorted((r.ident, r.version, r.definition.fingerprint()) for r in compiled))
    return RuleSet(
        rules=tuple(compiled),
        plans=plans,
        fingerprint=hashlib.sha256(text.encode()).hexdigest()[:16],
        by_ident={r.ident: r for r in compiled},
        lateness_ms=lateness_ms,
        version_suffix=version_suffix,
    )

"""Reading a rules file (YAML): every problem of every rule, with file positions, at once.

File layout::

    features:            # optional: named features, name -> expression
      big_refund: refund.amount_cents >= $500
    rules:
      - name: override_no_return
        description: Manual override above $500 and no return within 7 days
        on: refund_issued         # optional: inferred from the expression
        when: refund.policy == "manual_override" and big_refund
              and no return_received for order_id within 7d after refund_issued
        score: 0.9
        reasons: [manual_override, no_return_within_7d]
        subject: refund
        mode: active              # or shadow: recorded, never acted on

Problems name the file, the line and column (of the YAML value, or inside the expression),
the rule, and what to do. A file with any problem loads nothing (``RuleLoadError``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from vigil.detectors.rules.compiler import FeatureDef
from vigil.detectors.rules.features import BUILTIN_FEATURES
from vigil.detectors.rules.ruleset import (
    MODES,
    SNAKE,
    SUBJECT_FIELDS,
    RuleDef,
    RuleSet,
    SetProblem,
    compile_rules,
)
from vigil.detectors.rules.syntax import ParseProblem, parse
from vigil.errors import ConfigError, InputError

__all__ = ["LoadedRules", "RuleLoadError", "RuleProblem", "load_rules", "load_rules_text"]

_REQUIRED = ("name", "description", "when", "score", "reasons", "subject", "mode")
_KEYS = (*_REQUIRED, "on")


@dataclass(frozen=True)
class RuleProblem:
    """One problem: where (file, 1-based line and column), which rule, what."""

    file: str
    line: int
    col: int
    rule: str | None
    message: str

    def __str__(self) -> str:
        who = f"rule {self.rule!r}: " if self.rule else ""
        return f"{self.file}:{self.line}:{self.col}: {who}{self.message}"


class RuleLoadError(ConfigError):
    """A rules file has problems; nothing in it was loaded. ``problems`` lists them all."""

    def __init__(self, source: str, problems: list[RuleProblem]) -> None:
        self.problems = tuple(problems)
        n = len(problems)
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(
            f"rules file {source!r} has {n} problem{'s' if n != 1 else ''}; "
            f"nothing in it was loaded:\n{lines}"
        )


@dataclass(frozen=True)
class LoadedRules:
    source: str
    #: the rules as written (with the features each one uses), in file order
    definitions: tuple[RuleDef, ...]
    ruleset: RuleSet


@dataclass
class _RuleNodes:
    rule_node: yaml.Node
    values: dict[str, yaml.Node]


def _at(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _expr_position(node: yaml.Node, line: int, col: int, text_lines: list[str]) -> tuple[int, int]:
    """Map a position inside an expression to the file: exact for single-line plain and
    quoted scalars and for literal blocks (``|``); the value's start otherwise."""
    start_line, start_col = _at(node)
    style = getattr(node, "style", None)
    if style in (None, "", '"', "'") and node.start_mark.line == node.end_mark.line:
        return start_line, start_col + (1 if style in ('"', "'") else 0) + col - 1
    if style == "|" and start_line < len(text_lines):
        first = text_lines[start_line]  # content starts on the line after the indicator
        indent = len(first) - len(first.lstrip(" "))  # the block's indentation
        return start_line + line, indent + col
    return start_line, start_col


def load_rules(
    path: Path, versions: Mapping[str, int] | None = None, lateness_ms: int = 2 * 86_400_000
) -> LoadedRules:
    """Load and check a rules file; raises ``RuleLoadError`` listing every problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read rules file {str(path)!r}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"rules file {str(path)!r} is not UTF-8 text ({exc})") from exc
    return load_rules_text(text, str(path), versions, lateness_ms)


def load_rules_text(
    text: str,
    source: str = "<rules>",
    versions: Mapping[str, int] | None = None,
    lateness_ms: int = 2 * 86_400_000,
) -> LoadedRules:
    """Load and check rules from YAML text (``source`` names it in messages)."""
    problems: list[RuleProblem] = []
    loader = yaml.SafeLoader(text)
    try:
        try:
            root = loader.get_single_node()
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
            line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
            what = getattr(exc, "problem", None) or str(exc)
            raise RuleLoadError(
                source, [RuleProblem(source, line, col, None, f"not valid YAML: {what}")]
            ) from None
        defs, nodes, features, feature_nodes = _read(root, loader, source, problems)
    finally:
        loader.dispose()
    ruleset, set_problems = compile_rules(defs, features, versions, lateness_ms=lateness_ms)
    text_lines = text.splitlines()
    seen = {str(p) for p in problems}
    for sp in set_problems:
        p = _place(sp, defs, nodes, feature_nodes, source, text_lines)
        if str(p) not in seen:
            seen.add(str(p))
            problems.append(p)
    if problems or ruleset is None:
        problems.sort(key=lambda p: (p.line, p.col))
        raise RuleLoadError(source, problems)
    by_name = {r.name: r.definition for r in ruleset}
    return LoadedRules(source, tuple(by_name[d.name] for d in defs), ruleset)


def _place(
    sp: SetProblem,
    defs: list[RuleDef],
    nodes: list[_RuleNodes],
    feature_nodes: dict[str, yaml.Node],
    source: str,
    text_lines: list[str],
) -> RuleProblem:
    assert sp.index is not None
    d, rn = defs[sp.index], nodes[sp.index]
    node = rn.values.get(sp.part, rn.rule_node)
    ep = sp.expr
    if ep is not None and ep.feature is not None and ep.feature.name in feature_nodes:
        fnode = feature_nodes[ep.feature.name]
        line, col = _expr_position(fnode, ep.line, ep.col, text_lines)
        return RuleProblem(
            source,
            line,
            col,
            None,
            f"feature {ep.feature.name!r} (used by rule {d.name!r}), expression line "
            f"{ep.line}, column {ep.col}: {sp.message}",
        )
    if ep is not None and ep.feature is not None:
        return RuleProblem(
            source,
            *_at(node),
            d.name,
            f"built-in feature {ep.feature.name!r} ({ep.feature.text}): {sp.message}",
        )
    if ep is not None:
        line, col = _expr_position(node, ep.line, ep.col, text_lines)
        return RuleProblem(
            source,
            line,
            col,
            d.name,
            f"when (expression line {ep.line}, column {ep.col}): {sp.message}",
        )
    return RuleProblem(source, *_at(node), d.name, f"{sp.part}: {sp.message}")


def _read(
    root: yaml.Node | None, loader: yaml.SafeLoader, source: str, problems: list[RuleProblem]
) -> tuple[list[RuleDef], list[_RuleNodes], dict[str, FeatureDef], dict[str, yaml.Node]]:
    def problem(node: yaml.Node | None, rule: str | None, message: str) -> None:
        line, col = _at(node) if node is not None else (1, 1)
        problems.append(RuleProblem(source, line, col, rule, message))

    def value(node: yaml.Node) -> Any:
        return loader.construct_object(node, deep=True)

    features: dict[str, FeatureDef] = {
        name: FeatureDef(name, text, parse(text), "built in")
        for name, text in BUILTIN_FEATURES.items()
    }
    feature_nodes: dict[str, yaml.Node] = {}
    defs: list[RuleDef] = []
    nodes: list[_RuleNodes] = []
    if not isinstance(root, yaml.MappingNode):
        problem(root, None, "the file must be a mapping with a `rules:` list")
        return defs, nodes, features, feature_nodes
    top = {_key(k): v for k, v in root.value}
    for k, _ in root.value:
        if _key(k) not in ("rules", "features"):
            problem(k, None, f"unknown top-level key {_key(k)!r}; expected rules, features")
    fnode = top.get("features")
    if fnode is not None:
        if not isinstance(fnode, yaml.MappingNode):
            problem(fnode, None, "`features:` must map names to expressions")
        else:
            for k, v in fnode.value:
                name, text = value(k), value(v)
                if not isinstance(name, str) or not SNAKE.match(name):
                    problem(k, None, f"feature name {name!r} must be snake_case")
                    continue
                if not isinstance(text, str | int | float) or isinstance(text, bool):
                    problem(v, None, f"feature {name!r} must be an expression (text)")
                    continue
                text = str(text)
                try:
                    node = parse(text)
                except ParseProblem as exc:
                    line, col = _expr_position(v, exc.line, exc.col, [])
                    problem(v, None, f"feature {name!r}: {exc.message}")
                    problems[-1] = RuleProblem(source, line, col, None, problems[-1].message)
                    continue
                line, _ = _at(v)
                features[name] = FeatureDef(name, text, node, f"{source}:{line}")
                feature_nodes[name] = v
    rnode = top.get("rules")
    if not isinstance(rnode, yaml.SequenceNode):
        problem(rnode or root, None, "`rules:` must be a list of rules")
        return defs, nodes, features, feature_nodes
    names: set[str] = set()
    for item in rnode.value:
        d = _read_rule(item, value, problem, names)
        if d is not None:
            defs.append(d[0])
            nodes.append(d[1])
    return defs, nodes, features, feature_nodes


def _key(node: yaml.Node) -> str:
    """A mapping key as written (YAML 1.1 would read the key ``on`` as true)."""
    return str(node.value) if isinstance(node, yaml.ScalarNode) else "<not a name>"


def _read_rule(
    item: yaml.Node, value: Any, problem: Any, names: set[str]
) -> tuple[RuleDef, _RuleNodes] | None:
    if not isinstance(item, yaml.MappingNode):
        problem(item, None, "each rule must be a mapping (name:, when:, ...)")
        return None
    vals: dict[str, yaml.Node] = {}
    for k, v in item.value:
        key = _key(k)
        if key not in _KEYS:
            problem(k, None, f"unknown key {key!r}; a rule has {', '.join(_KEYS)}")
        vals[key] = v
    raw = {k: value(v) for k, v in vals.items()}
    name = raw.get("name")
    label = name if isinstance(name, str) else None
    ok = True
    for key in _REQUIRED:
        if key not in raw:
            problem(item, label, f"missing `{key}:`")
            ok = False
    if not ok:
        return None

    def bad(key: str, message: str) -> None:
        nonlocal ok
        ok = False
        problem(vals[key], label, f"{key}: {message}")

    if not isinstance(name, str) or not SNAKE.match(name):
        bad("name", f"{name!r} must be snake_case (letters, digits, underscores)")
    elif name in names:
        bad("name", f"{name!r} is used by an earlier rule; names must be unique")
    else:
        names.add(name)
    desc = raw["description"]
    if not isinstance(desc, str) or not desc.strip():
        bad("description", "must be a sentence saying what the rule catches")
    when = raw["when"]
    if not isinstance(when, str):
        bad("when", "must be an expression (text)")
    score = raw["score"]
    if isinstance(score, bool) or not isinstance(score, int | float) or not 0 <= score <= 1:
        bad("score", f"{score!r} must be a number from 0 to 1")
    reasons = raw["reasons"]
    if (
        not isinstance(reasons, list)
        or not reasons
        or not all(isinstance(r, str) and SNAKE.match(r) for r in reasons)
        or len(set(reasons)) != len(reasons)
    ):
        bad("reasons", "must be a non-empty list of distinct snake_case reason codes")
    subject = raw["subject"]
    if subject not in SUBJECT_FIELDS:
        bad("subject", f"{subject!r} must be one of {', '.join(SUBJECT_FIELDS)}")
    mode = raw["mode"]
    if mode not in MODES:
        bad("mode", f"{mode!r} must be active (acts) or shadow (recorded only)")
    on = raw.get("on")
    if "on" in raw and not isinstance(on, str):
        bad("on", "must be an event type, e.g. refund_issued")
    if not isinstance(when, str) or not isinstance(name, str):
        return None
    # a rule with other problems is still compiled, so its expression's problems show too
    d = RuleDef(
        name=name,
        description=" ".join(str(desc).split()),
        when=when.strip(),
        score=float(score) if ok or isinstance(score, int | float) else 0.0,
        reasons=tuple(str(r) for r in reasons) if isinstance(reasons, list) else (),
        subject=str(subject),
        mode=str(mode),
        on=on if isinstance(on, str) else None,
    )
    return d, _RuleNodes(item, vals)

"""The rule store: a directory whose ``history.jsonl`` keeps every version of every rule.

The history is append-only: one JSON line per change (a rule added, changed or removed),
with the rule's full definition (and the named features it used), its version (1, 2, ...
per rule), who made the change, when (UTC), from which file, and an optional message.
Nothing is ever rewritten, so every earlier version can be shown, diffed and backtested.
Writers take an exclusive lock on the history file, and each record is fsynced.

Which version a loaded rule is: the latest stored version with exactly its content
(``versions_for``); a rule whose content is not stored is a draft (version 0) until it is
recorded (``record``: by ``vigil rules commit``, and by ``vigil run --rules`` on load and
on every hot reload, so a rule that raised alerts always has a stored version).
"""

from __future__ import annotations

import contextlib
import difflib
import fcntl
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import msgspec
import yaml

from vigil.detectors.rules.ruleset import RuleDef
from vigil.errors import ConfigError, InputError

__all__ = ["HISTORY_FILE", "HistoryRecord", "RuleStore"]

HISTORY_FILE = "history.jsonl"
Action = Literal["add", "change", "remove"]


class HistoryRecord(msgspec.Struct, frozen=True, kw_only=True):
    seq: int
    rule: str
    version: int
    action: Action
    author: str
    #: ISO 8601 UTC, e.g. 2026-01-05T10:00:00Z
    time: str
    source: str
    fingerprint: str
    definition: dict[str, Any]
    message: str = ""

    def rule_def(self) -> RuleDef:
        return RuleDef.from_content(self.definition)


_decoder = msgspec.json.Decoder(HistoryRecord)
_encoder = msgspec.json.Encoder()


def to_yaml(definition: dict[str, Any]) -> str:
    """A rule as YAML text (for ``show`` and ``diff``)."""
    return yaml.safe_dump(definition, sort_keys=False, allow_unicode=True, width=10_000)


class RuleStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / HISTORY_FILE

    # --- reading ------------------------------------------------------------------------------

    def records(self) -> list[HistoryRecord]:
        """Every record, oldest first; a bad line is an error naming the file and line."""
        if not self.path.exists():
            return []
        out: list[HistoryRecord] = []
        with self.path.open("rb") as fh:
            for n, raw in enumerate(fh, start=1):
                if not raw.strip():
                    continue
                try:
                    out.append(_decoder.decode(raw))
                except (msgspec.ValidationError, msgspec.DecodeError) as exc:
                    raise InputError(
                        f"rule history {str(self.path)!r}, line {n}: not a history record "
                        f"({exc}); the file is append-only: restore it from a backup"
                    ) from exc
        return out

    def latest(self) -> dict[str, HistoryRecord]:
        """The newest record of every rule ever stored (removed ones included)."""
        return {r.rule: r for r in self.records()}

    def versions_for(self, defs: Sequence[RuleDef]) -> dict[str, int]:
        """The stored version of each rule's exact content (0: not stored, a draft)."""
        found: dict[tuple[str, str], int] = {}
        for r in self.records():
            if r.action != "remove":
                found[(r.rule, r.fingerprint)] = r.version
        return {d.name: found.get((d.name, d.fingerprint()), 0) for d in defs}

    def get(self, name: str, version: int | None = None) -> HistoryRecord:
        """One stored version (the latest when ``version`` is None)."""
        history = [r for r in self.records() if r.rule == name and r.action != "remove"]
        if not history:
            known = ", ".join(sorted(self.latest())) or "none yet"
            raise ConfigError(
                f"no rule {name!r} in the store {str(self.directory)!r} (rules: {known})"
            )
        if version is None:
            return history[-1]
        for r in history:
            if r.version == version:
                return r
        have = ", ".join(str(r.version) for r in history)
        raise ConfigError(f"rule {name!r} has no version {version}; stored versions: {have}")

    def diff(self, name: str, old: int | None = None, new: int | None = None) -> str:
        """A unified diff of two versions (default: the previous and the latest)."""
        newer = self.get(name, new)
        if old is None:
            older_versions = [
                r.version
                for r in self.records()
                if r.rule == name and r.action != "remove" and r.version < newer.version
            ]
            if not older_versions:
                return f"rule {name!r} has only version {newer.version}; nothing to compare"
            old = older_versions[-1]
        older = self.get(name, old)
        return "".join(
            difflib.unified_diff(
                to_yaml(older.definition).splitlines(keepends=True),
                to_yaml(newer.definition).splitlines(keepends=True),
                fromfile=f"{name} v{older.version} ({older.author}, {older.time})",
                tofile=f"{name} v{newer.version} ({newer.author}, {newer.time})",
            )
        )

    # --- writing ------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.directory.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as lock:  # lock the history itself: no lock file left over
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    def record(
        self,
        defs: Sequence[RuleDef],
        *,
        author: str,
        now: str,
        source: str,
        message: str = "",
        remove_missing: bool = False,
    ) -> list[HistoryRecord]:
        """Append a version for every rule whose content differs from its latest version.

        ``remove_missing``: also record as removed the rules last stored from ``source``
        that ``defs`` no longer has. Returns the records written (none: nothing changed).
        """
        if not author.strip():
            raise ConfigError("a rule change needs an author: pass --author or set $USER")
        with self._locked():
            history = self.records()
            latest = {r.rule: r for r in history}
            seq = history[-1].seq if history else 0
            new: list[HistoryRecord] = []

            def add(d: dict[str, Any], name: str, fp: str, action: Action, version: int) -> None:
                nonlocal seq
                seq += 1
                new.append(
                    HistoryRecord(
                        seq=seq,
                        rule=name,
                        version=version,
                        action=action,
                        author=author,
                        time=now,
                        source=source,
                        fingerprint=fp,
                        definition=d,
                        message=message,
                    )
                )

            names = {d.name for d in defs}
            for d in defs:
                fp = d.fingerprint()
                last = latest.get(d.name)
                if last is not None and last.action != "remove" and last.fingerprint == fp:
                    continue
                action: Action = "add" if last is None or last.action == "remove" else "change"
                add(d.content(), d.name, fp, action, (last.version if last else 0) + 1)
            if remove_missing:
                for name, last in sorted(latest.items()):
                    if name not in names and last.action != "remove" and last.source == source:
                        add(last.definition, name, last.fingerprint, "remove", last.version)
            if new:
                with self.path.open("ab") as fh:
                    for rec in new:
                        fh.write(_encoder.encode(rec) + b"\n")
                    fh.flush()
                    os.fsync(fh.fileno())
            return new

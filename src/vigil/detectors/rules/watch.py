"""Hot reload: a rules file watched between batches of a running ``vigil run``.

``RuleFileWatcher.poll`` is called by ``RulesDetector.refresh`` at every batch boundary. It
costs one ``stat``; only when the file's modification time or size changed is it read and
hashed, and only when its bytes changed is it loaded. A file with any problem (or caught
half-written) is refused with a message naming every problem, and the rule set in effect
keeps running; the next change is tried again. A good file replaces the whole set at once
(never half of it) and, with a store, is recorded in its history first (so every rule
that raises an alert has a stored version).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

from vigil.detectors.rules.detector import RuleSource
from vigil.detectors.rules.loader import LoadedRules, RuleLoadError, load_rules_text
from vigil.detectors.rules.ruleset import RuleSet
from vigil.detectors.rules.store import RuleStore
from vigil.errors import InputError, VigilError

__all__ = ["RuleFileWatcher", "load_versioned"]


def load_versioned(
    text: str,
    source: str,
    store: RuleStore | None,
    lateness_ms: int,
    record_as: tuple[str, str, str] | None = None,
) -> LoadedRules:
    """Load rules text, give each rule its stored version; ``record_as`` = (author, time,
    message): record changed rules in the store first (drafts get version 0 otherwise)."""
    loaded = load_rules_text(text, source, None, lateness_ms)
    if store is None:
        return loaded
    if record_as is not None:
        author, now, message = record_as
        store.record(loaded.definitions, author=author, now=now, source=source, message=message)
    versions = store.versions_for(loaded.definitions)
    return load_rules_text(text, source, versions, lateness_ms)


class RuleFileWatcher(RuleSource):
    """Loads a rules file now, and again whenever it changes (``poll``, between batches)."""

    def __init__(
        self,
        path: Path,
        *,
        store: RuleStore | None,
        author: str,
        clock: Callable[[], str],
        report: Callable[[str], None],
        lateness_ms: int,
    ) -> None:
        """Load ``path`` (raises ``RuleLoadError`` listing every problem)."""
        self.path = path
        self.store = store
        self.author = author
        self.clock = clock
        self.report = report
        self.lateness_ms = lateness_ms
        self._stat = self._stat_key()
        try:
            data = path.read_bytes()
            text = data.decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read rules file {str(path)!r}: {exc}") from exc
        self._digest = hashlib.sha256(data).hexdigest()
        self.current = load_versioned(
            text, str(path), store, lateness_ms, (author, clock(), "loaded by vigil run")
        )
        self.reloads = 0
        self.refused = 0

    @property
    def ruleset(self) -> RuleSet:
        return self.current.ruleset

    def resumed_with_other_rules(self, previous: dict[str, int], current: RuleSet) -> None:
        was = ", ".join(f"{k} v{v}" for k, v in sorted(previous.items())) or "none"
        now = ", ".join(f"{r.ident} v{r.version}" for r in current) or "none"
        self.report(
            f"the checkpoint was made with other rules ({was}); continuing with the rules "
            f"in {str(self.path)!r} ({now}) as if reloaded at the checkpoint"
        )

    def _stat_key(self) -> tuple[int, int] | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size

    def poll(self) -> RuleSet | None:
        key = self._stat_key()
        if key == self._stat:
            return None
        self._stat = key
        try:
            data = self.path.read_bytes()
        except OSError as exc:
            self.refused += 1
            self.report(
                f"rules file {str(self.path)!r} cannot be read ({exc.strerror}); "
                "the current rule set keeps running"
            )
            return None
        digest = hashlib.sha256(data).hexdigest()
        if digest == self._digest:
            return None
        self._digest = digest
        try:
            text = data.decode("utf-8")
            loaded = load_versioned(
                text,
                str(self.path),
                self.store,
                self.lateness_ms,
                (self.author, self.clock(), "hot reload by vigil run"),
            )
        except (RuleLoadError, UnicodeDecodeError, VigilError) as exc:
            self.refused += 1
            self.report(f"reload refused; the current rule set keeps running. {exc}")
            return None
        old = {r.ident: r.version for r in self.current.ruleset}
        new = {r.ident: r.version for r in loaded.ruleset}
        changes = [
            f"{name} v{old[name]}->v{v}" if name in old else f"+{name} v{v}"
            for name, v in new.items()
            if old.get(name) != v
        ] + [f"-{name}" for name in old if name not in new]
        self.current = loaded
        self.reloads += 1
        self.report(
            f"rules reloaded from {str(self.path)!r}: {len(new)} rules"
            + (f" ({', '.join(changes)})" if changes else " (no rule changed)")
        )
        return loaded.ruleset

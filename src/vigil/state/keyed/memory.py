"""The in-memory backend (the default): dicts, and checkpoints of the keys changed since the last.

Each checkpoint writes one delta file with the entries written or deleted since the previous
checkpoint, so its pause follows the changes, not the total state. When the deltas together
outgrow the last full copy (the base), the next checkpoint writes a new base instead, so a
restore reads at most about twice the state. Expired entries are found through an index by
expiry day, so a sweep touches only what expires.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

from vigil.state.keyed.files import DeltaLog
from vigil.state.keyed.spec import NEVER

PREFIX: Final = "state-mem-"


class MemoryBackend:
    name = "memory"

    def __init__(self) -> None:
        self.values: dict[str, dict[str, tuple[int, Any]]] = {}
        self.maps: dict[str, dict[str, dict[str, tuple[int, Any]]]] = {}
        # changed since the last checkpoint, per namespace: keys, and (key, field) of maps
        self._dirty_v: dict[str, set[str]] = {}
        self._dirty_m: dict[str, set[tuple[str, str]]] = {}
        # expiry -> namespace -> what expires then
        self._exp_v: dict[int, dict[str, set[str]]] = {}
        self._exp_m: dict[int, dict[str, set[tuple[str, str]]]] = {}
        self._log = DeltaLog(PREFIX)

    # --- entries -------------------------------------------------------------------------

    def get(self, ns: str, key: str) -> tuple[int, Any] | None:
        table = self.values.get(ns)
        return None if table is None else table.get(key)

    def put(self, ns: str, key: str, expiry: int, value: Any) -> None:
        table = self.values.get(ns)
        if table is None:
            table = self.values[ns] = {}
        old = table.get(key)
        table[key] = (expiry, value)
        dirty = self._dirty_v.get(ns)
        if dirty is None:
            dirty = self._dirty_v[ns] = set()
        dirty.add(key)
        if old is None:
            if expiry != NEVER:
                _index(self._exp_v, expiry, ns, key)
        elif old[0] != expiry:
            _move(self._exp_v, old[0], expiry, ns, key)

    # every value is resident here: the object stored is the object handed back
    get_resident = get

    def put_resident(self, ns: str, key: str, expiry: int, value: Any) -> None:
        # the hot case (the ring graph, set again after each event): nothing to re-file
        dirty = self._dirty_v.get(ns)
        if dirty is not None and key in dirty:
            old = self.values[ns].get(key)
            if old is not None and old[1] is value and old[0] == expiry:
                return
        self.put(ns, key, expiry, value)

    def delete(self, ns: str, key: str) -> None:
        table = self.values.get(ns)
        old = table.pop(key, None) if table is not None else None
        if old is not None:
            self._dirty_v.setdefault(ns, set()).add(key)
            _move(self._exp_v, old[0], NEVER, ns, key)

    def map_get(self, ns: str, key: str, field: str) -> tuple[int, Any] | None:
        fields = self.maps.get(ns, {}).get(key)
        return None if fields is None else fields.get(field)

    def map_put(self, ns: str, key: str, field: str, expiry: int, value: Any) -> None:
        table = self.maps.get(ns)
        if table is None:
            table = self.maps[ns] = {}
        fields = table.get(key)
        if fields is None:
            fields = table[key] = {}
        old = fields.get(field)
        fields[field] = (expiry, value)
        ref = (key, field)
        self._dirty_m.setdefault(ns, set()).add(ref)
        _move(self._exp_m, NEVER if old is None else old[0], expiry, ns, ref)

    def map_delete(self, ns: str, key: str, field: str) -> None:
        table = self.maps.get(ns)
        fields = table.get(key) if table is not None else None
        old = fields.pop(field, None) if fields is not None else None
        if old is None:
            return
        if not fields and table is not None:
            del table[key]
        ref = (key, field)
        self._dirty_m.setdefault(ns, set()).add(ref)
        _move(self._exp_m, old[0], NEVER, ns, ref)

    def map_items(self, ns: str, key: str) -> Iterator[tuple[str, int, Any]]:
        fields = self.maps.get(ns, {}).get(key)
        if not fields:
            return iter(())
        return ((f, fields[f][0], fields[f][1]) for f in sorted(fields))

    def sweep(self, watermark_ms: int) -> int:
        dropped = 0
        for t in sorted(t for t in self._exp_v if t <= watermark_ms):
            for ns, keys in sorted(self._exp_v.pop(t).items()):
                table = self.values[ns]
                dirty = self._dirty_v.setdefault(ns, set())
                for key in keys:
                    del table[key]
                    dirty.add(key)
                    dropped += 1
        for t in sorted(t for t in self._exp_m if t <= watermark_ms):
            for ns, refs in sorted(self._exp_m.pop(t).items()):
                mtable = self.maps[ns]
                mdirty = self._dirty_m.setdefault(ns, set())
                for key, field in refs:
                    fields = mtable[key]
                    del fields[field]
                    if not fields:
                        del mtable[key]
                    mdirty.add((key, field))
                    dropped += 1
        return dropped

    # --- checkpoints ---------------------------------------------------------------------

    def changed(self) -> int:
        return sum(map(len, self._dirty_v.values())) + sum(map(len, self._dirty_m.values()))

    def checkpoint(self, directory: Path) -> dict[str, Any]:
        manifest = self._log.write(directory, lambda: (self.values, self.maps), self._changes)
        self._dirty_v, self._dirty_m = {}, {}
        return {"backend": self.name, **manifest}

    def _changes(self) -> list[tuple[str, str, str, str, Any]]:
        records: list[tuple[str, str, str, str, Any]] = []
        for ns, keys in sorted(self._dirty_v.items()):
            records.extend(("v", ns, key, "", self.get(ns, key)) for key in sorted(keys))
        for ns, refs in sorted(self._dirty_m.items()):
            records.extend(
                ("m", ns, key, field, self.map_get(ns, key, field)) for key, field in sorted(refs)
            )
        return records

    def committed(
        self, directory: Path, manifest: dict[str, Any], previous: dict[str, Any] | None = None
    ) -> None:
        self._log.committed(directory, manifest, previous)

    def restore(self, directory: Path, manifest: dict[str, Any]) -> None:
        (self.values, self.maps), deltas = self._log.read(directory, manifest)
        for records in deltas:
            for kind, ns, key, field, now in records:
                if kind == "v":
                    if now is None:
                        self.values.get(ns, {}).pop(key, None)
                    else:
                        self.values.setdefault(ns, {})[key] = now
                elif now is None:
                    fields = self.maps.get(ns, {}).get(key)
                    if fields is not None:
                        fields.pop(field, None)
                        if not fields:
                            del self.maps[ns][key]
                else:
                    self.maps.setdefault(ns, {}).setdefault(key, {})[field] = now
        self._exp_v, self._exp_m = {}, {}
        for ns, table in self.values.items():
            for key, (expiry, _v) in table.items():
                if expiry != NEVER:
                    _index(self._exp_v, expiry, ns, key)
        for ns, mtable in self.maps.items():
            for key, fields in mtable.items():
                for field, (expiry, _v) in fields.items():
                    if expiry != NEVER:
                        _index(self._exp_m, expiry, ns, (key, field))
        self._dirty_v, self._dirty_m = {}, {}

    def close(self) -> None:
        return None


def _index(index: dict[int, dict[str, set[Any]]], expiry: int, ns: str, ref: Any) -> None:
    by_ns = index.get(expiry)
    if by_ns is None:
        by_ns = index[expiry] = {}
    refs = by_ns.get(ns)
    if refs is None:
        refs = by_ns[ns] = set()
    refs.add(ref)


def _move(index: dict[int, dict[str, set[Any]]], old: int, new: int, ns: str, ref: Any) -> None:
    """Re-file ``ref`` from expiry ``old`` to ``new`` (``NEVER``: not filed)."""
    if old == new:
        return
    if old != NEVER:
        by_ns = index.get(old)
        if by_ns is not None:
            refs = by_ns.get(ns)
            if refs is not None:
                refs.discard(ref)
                if not refs:
                    del by_ns[ns]
                    if not by_ns:
                        del index[old]
    if new != NEVER:
        _index(index, new, ns, ref)

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

from vigil.state.keyed.files import fsync_dir, read_file, write_file
from vigil.state.keyed.spec import NEVER

#: a changed entry: ("v", ns, key, "") for values and lists, ("m", ns, key, field) for maps
Ref = tuple[str, str, str, str]
PREFIX: Final = "state-mem-"


class MemoryBackend:
    name = "memory"

    def __init__(self) -> None:
        self.values: dict[str, dict[str, tuple[int, Any]]] = {}
        self.maps: dict[str, dict[str, dict[str, tuple[int, Any]]]] = {}
        self._dirty: set[Ref] = set()
        self._expiring: dict[int, set[Ref]] = {}
        self._seq = 0
        self._files: list[dict[str, Any]] = []

    # --- entries -------------------------------------------------------------------------

    def get(self, ns: str, key: str) -> tuple[int, Any] | None:
        table = self.values.get(ns)
        return None if table is None else table.get(key)

    def put(self, ns: str, key: str, expiry: int, value: Any) -> None:
        table = self.values.get(ns)
        if table is None:
            table = self.values[ns] = {}
        ref = ("v", ns, key, "")
        old = table.get(key)
        table[key] = (expiry, value)
        self._dirty.add(ref)
        if old is None or old[0] != expiry:
            self._reindex(ref, old[0] if old is not None else None, expiry)

    def delete(self, ns: str, key: str) -> None:
        table = self.values.get(ns)
        old = table.pop(key, None) if table is not None else None
        if old is not None:
            ref = ("v", ns, key, "")
            self._dirty.add(ref)
            self._reindex(ref, old[0], None)

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
        ref = ("m", ns, key, field)
        old = fields.get(field)
        fields[field] = (expiry, value)
        self._dirty.add(ref)
        self._reindex(ref, old[0] if old is not None else None, expiry)

    def map_delete(self, ns: str, key: str, field: str) -> None:
        table = self.maps.get(ns)
        fields = table.get(key) if table is not None else None
        old = fields.pop(field, None) if fields is not None else None
        if old is None:
            return
        if not fields and table is not None:
            del table[key]
        ref = ("m", ns, key, field)
        self._dirty.add(ref)
        self._reindex(ref, old[0], None)

    def map_items(self, ns: str, key: str) -> Iterator[tuple[str, int, Any]]:
        fields = self.maps.get(ns, {}).get(key)
        if not fields:
            return iter(())
        return ((f, fields[f][0], fields[f][1]) for f in sorted(fields))

    def _reindex(self, ref: Ref, old: int | None, new: int | None) -> None:
        if old == new:
            return
        if old is not None and old != NEVER:
            bucket = self._expiring.get(old)
            if bucket is not None:
                bucket.discard(ref)
                if not bucket:
                    del self._expiring[old]
        if new is not None and new != NEVER:
            self._expiring.setdefault(new, set()).add(ref)

    def sweep(self, watermark_ms: int) -> int:
        due = sorted(t for t in self._expiring if t <= watermark_ms)
        dropped = 0
        for t in due:
            for kind, ns, key, field in sorted(self._expiring.pop(t)):
                if kind == "v":
                    self.values[ns].pop(key, None)
                else:
                    fields = self.maps[ns][key]
                    fields.pop(field, None)
                    if not fields:
                        del self.maps[ns][key]
                self._dirty.add((kind, ns, key, field))
                dropped += 1
        return dropped

    def __len__(self) -> int:
        return sum(map(len, self.values.values())) + sum(
            len(f) for t in self.maps.values() for f in t.values()
        )

    # --- checkpoints ---------------------------------------------------------------------

    def changed(self) -> int:
        return len(self._dirty)

    def checkpoint(self, directory: Path) -> dict[str, Any]:
        directory.mkdir(parents=True, exist_ok=True)
        self._seq += 1
        deltas = sum(int(f["bytes"]) for f in self._files[1:])
        base = int(self._files[0]["bytes"]) if self._files else 0
        if not self._files or deltas > base:
            entry = write_file(directory, f"{PREFIX}{self._seq:08d}.base", (self.values, self.maps))
            self._files = [entry]
        else:
            records = []
            for kind, ns, key, field in sorted(self._dirty):
                now = self.get(ns, key) if kind == "v" else self.map_get(ns, key, field)
                records.append((kind, ns, key, field, now))
            self._files.append(write_file(directory, f"{PREFIX}{self._seq:08d}.delta", records))
        fsync_dir(directory)
        self._dirty.clear()
        return {"backend": self.name, "seq": self._seq, "files": list(self._files)}

    def committed(self, directory: Path, manifest: dict[str, Any]) -> None:
        keep = {str(f["name"]) for f in manifest["files"]}
        for path in directory.glob(PREFIX + "*"):
            if path.name not in keep:
                path.unlink(missing_ok=True)

    def restore(self, directory: Path, manifest: dict[str, Any]) -> None:
        files: list[dict[str, Any]] = list(manifest["files"])
        self.values, self.maps = read_file(directory, files[0])
        for entry in files[1:]:
            for kind, ns, key, field, now in read_file(directory, entry):
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
        self._expiring = {}
        for ns, table in self.values.items():
            for key, (expiry, _v) in table.items():
                self._reindex(("v", ns, key, ""), None, expiry)
        for ns, mtable in self.maps.items():
            for key, fields in mtable.items():
                for field, (expiry, _v) in fields.items():
                    self._reindex(("m", ns, key, field), None, expiry)
        self._dirty.clear()
        self._seq = int(manifest["seq"])
        self._files = files

    def close(self) -> None:
        return None

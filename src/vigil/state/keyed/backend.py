"""The contract every state backend keeps (``tests/state/test_keyed_contract.py``).

Entries are addressed by a namespace (``<stage>@<version>/<state name>``), the stage's key,
and for maps a field. Each stored entry carries its expiry (``spec.expiry_of``); reading an
entry at or past its expiry is the stage context's business (``stage.StageContext``), so a
backend stores and returns, and drops expired entries only when ``sweep`` is called.

Checkpoints are incremental: ``checkpoint(directory)`` makes what changed since the last
checkpoint durable in ``directory`` and returns a small JSON-able manifest, which the runtime
keeps in its own atomic snapshot. ``restore(directory, manifest)`` brings the state back to
that checkpoint; ``committed(directory, manifest)`` (after the snapshot holding the manifest
is durable) removes files no manifest needs any more.

Values are plain data, treated as immutable: a stage writes a new value to change one (a
backend may hand back the object it holds, or a copy).

One exception, for a value too large to copy at every event (the one global stage's ring
graph): a *resident* value (``ValueSpec(..., resident=True)``) is a live object the backend
keeps in memory. ``get_resident`` hands back that same object every time, the stage changes
it in place and calls ``put_resident`` to say so, and the backend writes it out at the next
checkpoint (the RocksDB backend keeps it in its heap between checkpoints; the in-memory
backend holds every value that way). Its cost is its size at each checkpoint that follows a
change, so only a handful of keys should be resident.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final, Literal, Protocol

from vigil.errors import ConfigError

BackendName = Literal["memory", "rocksdb"]
#: the RocksDB backend's working database, beside the checkpoints (not a checkpoint: it is
#: rebuilt from the checkpoint at every start)
LIVE_DIR: Final = "state-live"
BACKENDS: tuple[BackendName, ...] = ("memory", "rocksdb")


class StateBackend(Protocol):
    name: str

    def get(self, ns: str, key: str) -> tuple[int, Any] | None:
        """(expiry, value) of a value or list entry, or None."""
        ...

    def put(self, ns: str, key: str, expiry: int, value: Any) -> None: ...

    def delete(self, ns: str, key: str) -> None: ...

    def get_resident(self, ns: str, key: str) -> tuple[int, Any] | None:
        """(expiry, value) of a resident value: the same object until a restore."""
        ...

    def put_resident(self, ns: str, key: str, expiry: int, value: Any) -> None:
        """Store, or mark as changed, a resident value (written out at the next checkpoint)."""
        ...

    def map_get(self, ns: str, key: str, field: str) -> tuple[int, Any] | None: ...

    def map_put(self, ns: str, key: str, field: str, expiry: int, value: Any) -> None: ...

    def map_delete(self, ns: str, key: str, field: str) -> None: ...

    def map_items(self, ns: str, key: str) -> Iterator[tuple[str, int, Any]]:
        """(field, expiry, value) of one key's map, fields in sorted order."""
        ...

    def sweep(self, watermark_ms: int) -> int:
        """Drop entries whose expiry is at or before ``watermark_ms``; how many."""
        ...

    def changed(self) -> int:
        """Entries written or deleted since the last checkpoint."""
        ...

    def checkpoint(self, directory: Path) -> dict[str, Any]: ...

    def committed(
        self, directory: Path, manifest: dict[str, Any], previous: dict[str, Any] | None = None
    ) -> None:
        """``manifest`` is the newest checkpoint's; files of neither it nor ``previous`` (the
        one a resume falls back to) may go."""
        ...

    def restore(self, directory: Path, manifest: dict[str, Any]) -> None: ...

    def close(self) -> None: ...


def open_backend(name: str, work_dir: Path | None = None) -> StateBackend:
    """A fresh, empty backend. RocksDB keeps its live database in ``work_dir``."""
    if name == "memory":
        from vigil.state.keyed.memory import MemoryBackend

        return MemoryBackend()
    if name == "rocksdb":
        if work_dir is None:
            raise ConfigError("the rocksdb state backend needs a directory for its database")
        from vigil.state.keyed.rocks import RocksBackend

        return RocksBackend(work_dir)
    raise ConfigError(f"unknown state backend {name!r}: choose one of {', '.join(BACKENDS)}")

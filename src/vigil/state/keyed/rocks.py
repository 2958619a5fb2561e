"""The RocksDB backend (``rocksdict``): state larger than memory, on local disk.

Every entry is one RocksDB record: ``v\\x1f<ns>\\x1f<key>`` for values and lists,
``m\\x1f<ns>\\x1f<key>\\x1e<field>`` for map fields (a key's fields are adjacent, so a map is
one range scan), each holding the pickled ``(expiry, value)``. An index record
``x\\x1f<expiry, 16 digits>\\x1f<entry key>`` per expiring entry lets a sweep read only what
expires.

Resident values (``backend``'s docstring: the ring graph) are kept as live objects in
``_resident`` and written as ordinary records, with their index, at each checkpoint that
follows a change (``_flush_resident``), and at a sweep only when they expired.

A checkpoint is RocksDB's own: memtables are flushed (the writes since the last one) and the
live SST files are hard-linked into a new folder, so its cost follows the changes, not the
total. The write-ahead log is off: durability comes from checkpoints, and the runtime replays
its input from the checkpoint's offset, as it does with the in-memory backend.
"""

from __future__ import annotations

import contextlib
import errno
import os
import pickle
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Final, cast

import rocksdict

from vigil.errors import InputError
from vigil.state.keyed.backend import LIVE_DIR
from vigil.state.keyed.files import fsync_dir
from vigil.state.keyed.spec import NEVER

PREFIX: Final = "state-rocks-"
_SEP = b"\x1f"
_FIELD = b"\x1e"


def _vkey(ns: str, key: str) -> bytes:
    return b"v\x1f" + ns.encode() + _SEP + key.encode()


def _mprefix(ns: str, key: str) -> bytes:
    return b"m\x1f" + ns.encode() + _SEP + key.encode() + _FIELD


def _xkey(expiry: int, entry: bytes) -> bytes:
    return b"x\x1f%016d\x1f" % expiry + entry


def _link_or_copy(src: str, dst: str) -> None:
    """SST files never change once written: link them; copy the files RocksDB appends to
    (MANIFEST, OPTIONS), which must not be shared with the checkpoint."""
    if src.endswith(".sst"):
        os.link(src, dst)
    else:
        shutil.copy2(src, dst)


class RocksBackend:
    name = "rocksdb"

    def __init__(self, work_dir: Path) -> None:
        self.work_dir = Path(work_dir)
        self.live = self.work_dir / LIVE_DIR
        self._changed = 0
        self._seq = 0
        #: resident values: record key -> (expiry, live object); and those changed since written
        self._resident: dict[bytes, tuple[int, Any]] = {}
        self._resident_dirty: set[bytes] = set()
        self.db = self._open(fresh=True)

    def _open(self, *, fresh: bool) -> rocksdict.Rdict:
        if fresh and self.live.exists():
            shutil.rmtree(self.live)
        self.live.parent.mkdir(parents=True, exist_ok=True)
        options = rocksdict.Options(raw_mode=True)
        options.create_if_missing(True)
        db = rocksdict.Rdict(str(self.live), options=options)
        write = rocksdict.WriteOptions()
        write.disable_wal = True  # type: ignore[method-assign,assignment]  # a property
        db.set_write_options(write)
        return db

    # --- entries -------------------------------------------------------------------------

    def _scan(self, start: bytes) -> Iterator[tuple[bytes, bytes]]:
        """Records from ``start`` on, in key order (raw mode: keys and values are bytes)."""
        return cast(Iterator[tuple[bytes, bytes]], iter(self.db.items(from_key=start)))

    def _get(self, k: bytes) -> tuple[int, Any] | None:
        raw = self.db.get(k)
        return None if raw is None else pickle.loads(raw)

    def _put(self, k: bytes, expiry: int, value: Any) -> None:
        old = self.db.get(k)
        if old is not None:
            old_expiry = pickle.loads(old)[0]
            if old_expiry != expiry and old_expiry != NEVER:
                self.db.delete(_xkey(old_expiry, k))
        self.db.put(k, pickle.dumps((expiry, value), protocol=pickle.HIGHEST_PROTOCOL))
        if expiry != NEVER:
            self.db.put(_xkey(expiry, k), b"")
        self._changed += 1

    def _delete(self, k: bytes) -> None:
        old = self.db.get(k)
        if old is None:
            return
        expiry = pickle.loads(old)[0]
        if expiry != NEVER:
            self.db.delete(_xkey(expiry, k))
        self.db.delete(k)
        self._changed += 1

    def get(self, ns: str, key: str) -> tuple[int, Any] | None:
        return self._get(_vkey(ns, key))

    def put(self, ns: str, key: str, expiry: int, value: Any) -> None:
        self._put(_vkey(ns, key), expiry, value)

    def delete(self, ns: str, key: str) -> None:
        k = _vkey(ns, key)
        if self._resident:
            self._resident.pop(k, None)
            self._resident_dirty.discard(k)
        self._delete(k)

    def get_resident(self, ns: str, key: str) -> tuple[int, Any] | None:
        k = _vkey(ns, key)
        found = self._resident.get(k)
        if found is None:
            found = self._get(k)
            if found is not None:
                self._resident[k] = found
        return found

    def put_resident(self, ns: str, key: str, expiry: int, value: Any) -> None:
        k = _vkey(ns, key)
        if k not in self._resident_dirty:
            self._resident_dirty.add(k)
            self._changed += 1
        self._resident[k] = (expiry, value)

    def _flush_resident(self, keys: Iterable[bytes]) -> None:
        """Write these resident values, changed since they were last written."""
        for k in sorted(keys):
            expiry, value = self._resident[k]
            self._put(k, expiry, value)
            self._changed -= 1  # counted once, when it was first changed
            self._resident_dirty.discard(k)

    def map_get(self, ns: str, key: str, field: str) -> tuple[int, Any] | None:
        return self._get(_mprefix(ns, key) + field.encode())

    def map_put(self, ns: str, key: str, field: str, expiry: int, value: Any) -> None:
        self._put(_mprefix(ns, key) + field.encode(), expiry, value)

    def map_delete(self, ns: str, key: str, field: str) -> None:
        self._delete(_mprefix(ns, key) + field.encode())

    def map_items(self, ns: str, key: str) -> Iterator[tuple[str, int, Any]]:
        prefix = _mprefix(ns, key)
        out = []
        for k, raw in self._scan(prefix):
            if not k.startswith(prefix):
                break
            expiry, value = pickle.loads(raw)
            out.append((k[len(prefix) :].decode(), expiry, value))
        return iter(out)

    def sweep(self, watermark_ms: int) -> int:
        # a resident value changed since written is written first only if it expired (the
        # scan below then drops it); the others wait for the checkpoint (the ring graph
        # never expires: no pickle of it per sweep)
        self._flush_resident(
            [k for k in self._resident_dirty if self._resident[k][0] <= watermark_ms]
        )
        start = b"x\x1f"
        due: list[tuple[bytes, bytes]] = []
        for k, _raw in self._scan(start):
            if not k.startswith(start) or int(k[2:18]) > watermark_ms:
                break
            due.append((k, k[19:]))
        for index_key, entry in due:
            self.db.delete(index_key)
            raw = self.db.get(entry)
            if raw is not None and pickle.loads(raw)[0] <= watermark_ms:
                self.db.delete(entry)
                live = self._resident.get(entry)
                if live is not None and live[0] <= watermark_ms:
                    del self._resident[entry]  # a newer, unexpired one stays, to be written
                self._changed += 1
        return len(due)

    # --- checkpoints ---------------------------------------------------------------------

    def changed(self) -> int:
        return self._changed

    def checkpoint(self, directory: Path) -> dict[str, Any]:
        self._flush_resident(list(self._resident_dirty))
        directory.mkdir(parents=True, exist_ok=True)
        self._seq += 1
        name = f"{PREFIX}{self._seq:08d}"
        target = directory / name
        if target.exists():  # left by a crash before its manifest was committed
            shutil.rmtree(target)
        try:
            rocksdict.Checkpoint(self.db).create_checkpoint(str(target))
        except Exception as exc:  # rocksdict raises plain Exception for RocksDB's IO errors
            shutil.rmtree(target, ignore_errors=True)
            raise disk_error(exc) from exc
        for path in target.iterdir():
            if path.is_file():
                with open(path, "rb") as fh:
                    os.fsync(fh.fileno())
        fsync_dir(target)
        fsync_dir(directory)
        self._changed = 0
        return {"backend": self.name, "seq": self._seq, "dir": name}

    def committed(
        self, directory: Path, manifest: dict[str, Any], previous: dict[str, Any] | None = None
    ) -> None:
        keep = {str(m["dir"]) for m in (manifest, previous) if m and "dir" in m}
        for path in directory.glob(PREFIX + "*"):
            if path.name not in keep and path.is_dir():
                shutil.rmtree(path, ignore_errors=True)

    def restore(self, directory: Path, manifest: dict[str, Any]) -> None:
        source = directory / str(manifest["dir"])
        if not (source / "CURRENT").is_file():
            raise InputError(
                f"state checkpoint {source} is missing or incomplete: the checkpoint cannot be "
                "restored"
            )
        self.db.close()
        self._resident, self._resident_dirty = {}, set()
        if self.live.exists():
            shutil.rmtree(self.live)
        shutil.copytree(source, self.live, copy_function=_link_or_copy)
        self.db = self._open(fresh=False)
        self._seq = int(manifest["seq"])
        self._changed = 0

    def close(self) -> None:
        # a full disk fails the final flush too; harmless, as every checkpoint is complete and
        # a resume rebuilds the live database from the last one
        with contextlib.suppress(Exception):
            self.db.close()


def disk_error(exc: Exception) -> Exception:
    """RocksDB's IO error as the ``OSError`` it stands for (a full disk above all), so the
    runtime reports it in one line as it does any other write that failed."""
    text = str(exc)
    if "No space left on device" in text:
        return OSError(errno.ENOSPC, "No space left on device")
    if text.startswith("IO error"):
        return OSError(errno.EIO, text)
    return exc

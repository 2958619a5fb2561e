"""Checkpoint files of a backend: written durably, named in a manifest, verified on read."""

from __future__ import annotations

import hashlib
import os
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vigil.errors import InputError

_START_OVER = (
    "use a new --checkpoint-dir or remove this one to start over (the outputs are written "
    "again from the start of the input)"
)


def write_file(directory: Path, name: str, payload: Any) -> dict[str, Any]:
    """Pickle ``payload`` to ``directory/name`` durably; its manifest entry."""
    data = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
    path = directory / name
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)  # a full disk leaves nothing half-written behind
        raise
    return {"name": name, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def read_file(directory: Path, entry: dict[str, Any]) -> Any:
    """The payload of a manifest entry, refused if its bytes are not the ones written."""
    path = directory / str(entry["name"])
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise InputError(
            f"checkpoint file {path} is missing: the checkpoint cannot be restored; {_START_OVER}"
        ) from exc
    if len(data) != entry["bytes"] or hashlib.sha256(data).hexdigest() != entry["sha256"]:
        raise InputError(
            f"checkpoint file {path} is damaged (its checksum does not match the manifest): "
            f"the checkpoint cannot be restored; {_START_OVER}"
        )
    return pickle.loads(data)


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class DeltaLog:
    """One store's checkpoint files: a full copy (the base) and the changes since (deltas).

    Each ``write`` adds a delta holding what changed since the previous one, so its cost
    follows the changes; when the deltas together outgrow the base, it writes a new base
    instead, so a restore reads at most about twice the store. The manifest it returns names
    the files (with their checksums) that make up the store; ``committed`` removes files of
    this log that no kept manifest names. Used by the in-memory state backend and by the
    request-time facts."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.seq = 0
        self.files: list[dict[str, Any]] = []

    def write(
        self, directory: Path, full: Callable[[], Any], changes: Callable[[], Any]
    ) -> dict[str, Any]:
        """Write a delta (``changes()``) or, when the deltas outgrow the base, a new base
        (``full()``); the manifest of the store as it now is."""
        directory.mkdir(parents=True, exist_ok=True)
        self.seq += 1
        deltas = sum(int(f["bytes"]) for f in self.files[1:])
        base = int(self.files[0]["bytes"]) if self.files else 0
        if not self.files or deltas > base:
            self.files = [write_file(directory, f"{self.prefix}{self.seq:08d}.base", full())]
        else:
            name = f"{self.prefix}{self.seq:08d}.delta"
            self.files.append(write_file(directory, name, changes()))
        fsync_dir(directory)
        return {"seq": self.seq, "files": list(self.files)}

    def committed(
        self, directory: Path, manifest: dict[str, Any], previous: dict[str, Any] | None = None
    ) -> None:
        """Remove this log's files that neither ``manifest`` nor ``previous`` names."""
        keep = {str(f["name"]) for m in (manifest, previous) if m for f in m.get("files", ())}
        for path in directory.glob(self.prefix + "*"):
            if path.name not in keep:
                path.unlink(missing_ok=True)

    def read(self, directory: Path, manifest: dict[str, Any]) -> tuple[Any, list[Any]]:
        """The base and the deltas, in order, of a manifest ``write`` returned (each file
        verified); the log continues from there."""
        files: list[dict[str, Any]] = list(manifest["files"])
        base = read_file(directory, files[0])
        deltas = [read_file(directory, entry) for entry in files[1:]]
        self.seq, self.files = int(manifest["seq"]), files
        return base, deltas

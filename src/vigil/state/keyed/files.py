"""Checkpoint files of a backend: written durably, named in a manifest, verified on read."""

from __future__ import annotations

import hashlib
import os
import pickle
from pathlib import Path
from typing import Any

from vigil.errors import InputError


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
            f"state checkpoint file {path} is missing: the checkpoint cannot be restored"
        ) from exc
    if len(data) != entry["bytes"] or hashlib.sha256(data).hexdigest() != entry["sha256"]:
        raise InputError(
            f"state checkpoint file {path} is damaged (its checksum does not match the "
            "manifest): the checkpoint cannot be restored"
        )
    return pickle.loads(data)


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

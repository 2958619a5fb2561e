"""Checkpoints on local disk: one atomic snapshot of state, input position and output positions.

A checkpoint is written to a temporary file, fsynced, then renamed over the previous one,
so a crash at any instant leaves either the old or the new checkpoint, never half of one.
Outputs are fsynced *before* the snapshot that records their length, so on restart the
runtime truncates every output to the recorded length and replays the input from the
recorded offset: what follows is byte-identical to an uninterrupted run.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import re
from pathlib import Path
from typing import Any

import msgspec

from vigil.decisions.policy import THRESHOLDS
from vigil.errors import CheckpointError

CHECKPOINT_FILE = "checkpoint.pkl"
FORMAT_VERSION = 2
#: bytes of a checkpoint written between two fdatasyncs (see ``save``)
SYNC_SLICE_BYTES = 1 << 20


class CheckpointMeta(msgspec.Struct, frozen=True, kw_only=True):
    """What a checkpoint belongs to, so it is never resumed against the wrong run."""

    format_version: int
    input_name: str
    input_fingerprint: str
    settings_fingerprint: str


def input_fingerprint(path: Path | None, length: int = 1 << 16) -> str:
    """``<n>:<hash>`` of the input's first ``n`` bytes (at most 64 KiB): a file that grows
    keeps its fingerprint, because a resume re-hashes only the first ``n`` bytes."""
    if path is None:
        return "stdin"
    with path.open("rb") as fh:
        head = fh.read(length)
    return f"{len(head)}:{hashlib.sha256(head).hexdigest()[:16]}"


def save(directory: Path, meta: CheckpointMeta, payload: dict[str, Any]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    tmp = directory / (CHECKPOINT_FILE + ".tmp")
    data = pickle.dumps((msgspec.to_builtins(meta), payload), protocol=pickle.HIGHEST_PROTOCOL)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        # written and made durable a slice at a time: a single large flush would hold the
        # filesystem's journal for every other writer's fsync meanwhile (the API's, under
        # vigil serve), while a slice costs them a few milliseconds at most
        view = memoryview(data)
        for start in range(0, len(view), SYNC_SLICE_BYTES):
            chunk = view[start : start + SYNC_SLICE_BYTES]
            while chunk:
                chunk = chunk[os.write(fd, chunk) :]
            os.fdatasync(fd)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, directory / CHECKPOINT_FILE)
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def load(
    directory: Path, expected: CheckpointMeta, input_path: Path | None = None
) -> dict[str, Any] | None:
    """The saved payload, None if there is no checkpoint yet; raises if it belongs elsewhere."""
    path = directory / CHECKPOINT_FILE
    if not path.exists():
        return None
    try:
        with path.open("rb") as fh:
            raw_meta, payload = pickle.load(fh)
        meta = msgspec.convert(raw_meta, CheckpointMeta)
    except Exception as exc:
        raise CheckpointError(
            f"checkpoint {str(path)!r} cannot be read ({exc}); remove the directory to start over"
        ) from exc
    saved_len = meta.input_fingerprint.partition(":")[0]
    if input_path is not None and saved_len.isdigit():
        # the input may have grown since: compare the prefix the checkpoint hashed
        prefix = input_fingerprint(input_path, int(saved_len))
        expected = msgspec.structs.replace(expected, input_fingerprint=prefix)
    if meta.settings_fingerprint != expected.settings_fingerprint:
        meta = msgspec.structs.replace(
            meta, settings_fingerprint=_without_thresholds(meta.settings_fingerprint)
        )
    for field in ("format_version", "input_fingerprint", "settings_fingerprint"):
        was, now = getattr(meta, field), getattr(expected, field)
        if was != now:
            raise CheckpointError(
                f"checkpoint {str(path)!r} was made with a different {field.replace('_', ' ')} "
                f"({_difference(str(was), str(now))}); use a new --checkpoint-dir or remove "
                "this one to start over"
            )
    assert isinstance(payload, dict)
    return payload


def _without_thresholds(fingerprint: str) -> str:
    """A settings fingerprint written before the decision thresholds could change at a resume
    (they were part of it then), as it is written now; any other fingerprint unchanged."""
    head, sep, tail = fingerprint.partition("|")
    try:
        settings = msgspec.json.decode(head)
        policy = settings["decision_policy"]
        for name in THRESHOLDS:
            policy.pop(name)
    except (msgspec.DecodeError, KeyError, TypeError, AttributeError):
        return fingerprint
    return msgspec.json.encode(settings).decode() + sep + tail


def _difference(was: str, now: str) -> str:
    """The first differing setting of two fingerprints, not two screenfuls of settings."""
    parts_was = re.split(r"[|,]\s*", was)
    parts_now = re.split(r"[|,]\s*", now)
    for a, b in zip(parts_was, parts_now, strict=False):
        if a != b:
            return f"{a!r} then, {b!r} now"
    return f"{was[:80]!r} then, {now[:80]!r} now"

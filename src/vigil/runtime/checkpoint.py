"""Checkpoints on local disk: one atomic snapshot of state, input position and output positions.

A checkpoint is written to a temporary file, fsynced, then renamed over the previous one,
so a crash at any instant leaves either the old or the new checkpoint, never half of one.
Outputs are fsynced *before* the snapshot that records their length, so on restart the
runtime truncates every output to the recorded length and replays the input from the
recorded offset: what follows is byte-identical to an uninterrupted run.

Checkpoints prove themselves: the file starts with a magic and the SHA-256 of what follows,
so a damaged one is refused, never loaded into different results. The previous good one is
kept beside it (``checkpoint.prev.pkl``, with its state files) and used, with a warning,
when the newest cannot be read. The snapshot also records a digest of each output's
committed bytes and of the input just before its position: a resume checks both
(``verify_input``; ``outputs.JsonlSink``).
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import re
from pathlib import Path
from typing import Any

import msgspec

from vigil.decisions.policy import THRESHOLDS
from vigil.errors import CheckpointError, write_failure

CHECKPOINT_FILE = "checkpoint.pkl"
#: the checkpoint before the newest (used when the newest cannot be read)
PREVIOUS_FILE = "checkpoint.prev.pkl"
#: a newest checkpoint that could not be read, moved aside when the previous one is used
DAMAGED_FILE = "checkpoint.damaged.pkl"
FORMAT_VERSION = 3
_MAGIC = b"VIGILCK3"
#: bytes of input before the position whose digest a checkpoint records
INPUT_TAIL_BYTES = 4096

_log = logging.getLogger(__name__)
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


def input_tail_digest(path: Path | None, offset: int) -> str | None:
    """SHA-256 of the ``INPUT_TAIL_BYTES`` of input before ``offset`` (None: not a file)."""
    if path is None or offset <= 0:
        return None
    start = max(0, offset - INPUT_TAIL_BYTES)
    with path.open("rb") as fh:
        fh.seek(start)
        return hashlib.sha256(fh.read(offset - start)).hexdigest()


def verify_input(path: Path | None, offset: int, digest: str | None) -> None:
    """Refuse to resume when the input no longer holds what the checkpoint read up to
    ``offset``: shorter than it, or different just before it."""
    if path is None or offset <= 0:
        return
    size = path.stat().st_size
    if size < offset:
        raise CheckpointError(
            f"input {str(path)!r} has {size:,} bytes but the checkpoint read it up to byte "
            f"{offset:,}: it was truncated or replaced. Restore it, or use a new "
            "--checkpoint-dir to start over"
        )
    if digest is not None and input_tail_digest(path, offset) != digest:
        raise CheckpointError(
            f"input {str(path)!r} changed before byte {offset:,}, where the checkpoint read "
            "it up to: it was edited or replaced. Restore it, or use a new --checkpoint-dir "
            "to start over"
        )


def save(directory: Path, meta: CheckpointMeta, payload: dict[str, Any]) -> None:
    """Write the checkpoint atomically; the one it replaces becomes the previous one. A
    failure (a full disk) leaves the checkpoints as they were and no temporary file."""
    directory.mkdir(parents=True, exist_ok=True)
    tmp = directory / (CHECKPOINT_FILE + ".tmp")
    data = frame(msgspec.to_builtins(meta), payload)
    try:
        _write(tmp, data)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise CheckpointError(_write_failure(directory, exc)) from exc
    current = directory / CHECKPOINT_FILE
    if current.exists():
        os.replace(current, directory / PREVIOUS_FILE)
    os.replace(tmp, current)
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def frame(raw_meta: Any, payload: dict[str, Any]) -> bytes:
    """A checkpoint file's bytes: the magic, the SHA-256 of the pickle, the pickle."""
    body = pickle.dumps((raw_meta, payload), protocol=pickle.HIGHEST_PROTOCOL)
    return _MAGIC + hashlib.sha256(body).digest() + body


def _write_failure(directory: Path, exc: OSError) -> str:
    return write_failure(
        exc,
        f"in {str(directory)!r} while writing a checkpoint",
        "the previous checkpoint is intact",
        "Free space and run the same command again to resume from it",
    )


def _write(tmp: Path, data: bytes) -> None:
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


def load(
    directory: Path,
    expected: CheckpointMeta,
    input_path: Path | None = None,
    newest_unusable: str | None = None,
) -> dict[str, Any] | None:
    """The saved payload, None if there is no checkpoint yet; raises if it belongs elsewhere.

    A newest checkpoint that cannot be read (damaged, cut short), or whose own state files
    turned out damaged or missing (``newest_unusable`` says how), gives way to the previous
    one, with a warning; if that fails too, the error names both."""
    path = directory / CHECKPOINT_FILE
    previous = directory / PREVIOUS_FILE
    if not path.exists() and not previous.exists():
        return None
    problems: list[str] = []
    for candidate in (path, previous):
        if not candidate.exists():
            problems.append(f"{candidate.name} is missing")
            continue
        if candidate == path and newest_unusable is not None:
            problems.append(f"{candidate.name}: {newest_unusable}")
            continue
        try:
            raw_meta, payload = read_snapshot(candidate)
            meta = msgspec.convert(raw_meta, CheckpointMeta)
        except _Unreadable as exc:
            problems.append(f"{candidate.name}: {exc}")
            continue
        if problems:
            if path.exists():  # kept for a post-mortem, out of the way of the next save
                os.replace(path, directory / DAMAGED_FILE)
            _log.warning(
                "checkpoint %s cannot be used (%s): resuming from the previous checkpoint, "
                "%s; what came after it is processed again",
                path, "; ".join(problems), candidate.name,
            )  # fmt: skip
        _check(candidate, meta, expected, input_path)
        assert isinstance(payload, dict)
        return payload
    raise CheckpointError(
        f"no checkpoint in {str(directory)!r} can be read ({'; '.join(problems)}); remove the "
        "directory (and the outputs) to start over"
    )


class _Unreadable(CheckpointError):
    pass


def read_snapshot(path: Path) -> tuple[Any, Any]:
    """(meta as plain data, payload) of a checkpoint file, checked against its checksum."""
    data = path.read_bytes()
    head = len(_MAGIC) + 32
    if len(data) < head or not data.startswith(_MAGIC):
        if data[:2] == b"\x80\x05" or data[:2] == b"\x80\x04":
            raise _Unreadable("written by an older Vigil (no checksum); start over")
        raise _Unreadable("not a Vigil checkpoint, or cut short")
    body = data[head:]
    if hashlib.sha256(body).digest() != data[len(_MAGIC) : head]:
        raise _Unreadable(f"damaged: its {len(body):,} bytes do not match their checksum")
    try:
        raw_meta, payload = pickle.loads(body)
    except Exception as exc:  # a checksum-valid pickle that still does not load
        raise _Unreadable(f"cannot be read ({exc})") from exc
    return raw_meta, payload


def _check(
    path: Path, meta: CheckpointMeta, expected: CheckpointMeta, input_path: Path | None
) -> None:
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


def _named_difference(was: str, now: str) -> str | None:
    """``setting: X then, Y now`` for the first runtime setting (the JSON head of a settings
    fingerprint) that differs; None when the heads are not settings or do not differ. The
    state backend is left out of the head when it is the default, memory."""
    try:
        a, b = msgspec.json.decode(was), msgspec.json.decode(now)
    except msgspec.DecodeError:
        return None
    if not isinstance(a, dict) or not isinstance(b, dict):
        return None
    for d in (a, b):
        d.setdefault("state_backend", "memory")
    for key in sorted(a.keys() | b.keys()):
        x, y = a.get(key), b.get(key)
        if x == y:
            continue
        if isinstance(x, dict) and isinstance(y, dict):  # one level down: the setting itself
            sub = next(k for k in sorted(x.keys() | y.keys()) if x.get(k) != y.get(k))
            key, x, y = f"{key}.{sub}", x.get(sub), y.get(sub)
        return f"{key}: {x!r} then, {y!r} now"
    return None


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
    named = _named_difference(was.partition("|")[0], now.partition("|")[0])
    if named is not None:
        return named
    parts_was = re.split(r"[|,]\s*", was)
    parts_now = re.split(r"[|,]\s*", now)
    for a, b in zip(parts_was, parts_now, strict=False):
        if a != b:
            return f"{a!r} then, {b!r} now"
    return f"{was[:80]!r} then, {now[:80]!r} now"

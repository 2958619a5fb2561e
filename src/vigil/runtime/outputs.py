"""Append-only JSON Lines outputs whose length is part of every checkpoint."""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO, Any

import msgspec

from vigil.errors import CheckpointError

_encoder = msgspec.json.Encoder()


class JsonlSink:
    """Buffered appender; ``flush`` makes the bytes durable and returns the file length."""

    def __init__(self, path: Path, resume_at: int | None) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh: IO[bytes]
        if resume_at is None:
            self._fh = path.open("wb")
        else:
            size = path.stat().st_size if path.exists() else -1
            if size < resume_at:
                found = "is missing" if size < 0 else f"has {size} bytes"
                raise CheckpointError(
                    f"output {str(path)!r} {found} but the checkpoint recorded {resume_at}: "
                    "outputs were moved or changed since; restore them, or remove the "
                    "checkpoint directory to start over"
                )
            self._fh = path.open("r+b")
            self._fh.truncate(resume_at)
            self._fh.seek(resume_at)
        self._buf = bytearray()
        self.count = 0

    def write(self, record: Any) -> None:
        _encoder.encode_into(record, self._buf, len(self._buf))
        self._buf.extend(b"\n")
        self.count += 1
        if len(self._buf) > 1 << 20:
            self._fh.write(self._buf)
            self._buf.clear()

    def write_line(self, line: bytes) -> None:
        """Append one line that is already JSON (without its newline)."""
        self._buf.extend(line)
        self._buf.extend(b"\n")
        self.count += 1
        if len(self._buf) > 1 << 20:
            self._fh.write(self._buf)
            self._buf.clear()

    def flush(self, durable: bool = True) -> int:
        if self._buf:
            self._fh.write(self._buf)
            self._buf.clear()
        self._fh.flush()
        if durable:
            os.fsync(self._fh.fileno())
        return self._fh.tell()

    def close(self) -> int:
        pos = self.flush()
        self._fh.close()
        return pos

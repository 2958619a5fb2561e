"""Buffered writers for ``events.jsonl`` and ``truth.jsonl``.

Why buffered by hand: the simulator writes tens of millions of short lines; appending them to one
``bytearray`` and handing the file 256 KiB at a time keeps the writer off the profile. Progress
(cumulative lines written) is reported at those flushes once ``progress_every`` more lines are
out, so roughly every ``progress_every`` lines (give or take one buffer, ~1,000 lines).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

import msgspec

from vigil.events.truth import TruthRecord

FLUSH_AT = 1 << 18


class LineWriter:
    """Appends lines (no trailing newline given) to a file, in large writes."""

    def __init__(
        self,
        path: Path,
        progress: Callable[[int], None] | None = None,
        progress_every: int = 50_000,
    ) -> None:
        self._f: BinaryIO = path.open("wb")
        self.buf = bytearray()
        self.lines = 0
        self._progress = progress
        self._every = progress_every
        self._next_report = progress_every

    def write(self, line: bytes) -> None:
        buf = self.buf
        buf += line
        buf += b"\n"
        self.lines += 1
        if len(buf) >= FLUSH_AT:
            self.flush()

    def flush(self) -> None:
        """Hand the buffer to the file; report progress. Hot loops that append to ``buf`` and
        count ``lines`` themselves call this once ``buf`` holds ``FLUSH_AT`` bytes."""
        self._f.write(self.buf)
        self.buf.clear()
        if self._progress is not None and self.lines >= self._next_report:
            while self._next_report <= self.lines:
                self._next_report += self._every
            self._progress(self.lines)

    def close(self) -> None:
        if self.buf:
            self._f.write(self.buf)
            self.buf.clear()
        self._f.close()

    def __enter__(self) -> LineWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class TruthWriter(LineWriter):
    """``truth.jsonl``: one :class:`TruthRecord` per line."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self._encode = msgspec.json.Encoder().encode

    def add(self, record: TruthRecord) -> None:
        self.write(self._encode(record))

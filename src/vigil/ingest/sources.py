"""Line sources with byte positions, so a checkpoint can say exactly where input stopped.

``FileSource`` reads a JSON Lines file in large chunks (one ``read`` per few MB, not per
line) and can resume at a byte offset; in follow mode it tails a growing file and only
hands out complete lines. ``StdinSource`` reads standard input and cannot resume.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, Protocol

from vigil.errors import InputError

CHUNK_BYTES = 4 << 20


class LineSource(Protocol):
    """Yields batches of (raw line without newline, byte offset just after it)."""

    name: str
    resumable: bool

    def batches(self, start_offset: int) -> Iterator[list[tuple[bytes, int]]]: ...


class FileSource:
    resumable = True

    def __init__(
        self,
        path: Path,
        *,
        follow: bool = False,
        poll_s: float = 0.2,
        idle_timeout_s: float | None = None,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> None:
        if not path.is_file():
            raise InputError(f"input file {str(path)!r} does not exist or is not a file")
        self.path = path
        self.name = str(path)
        self.follow = follow
        self.poll_s = poll_s
        self.idle_timeout_s = idle_timeout_s
        self.should_stop = should_stop

    def batches(self, start_offset: int) -> Iterator[list[tuple[bytes, int]]]:
        with self.path.open("rb") as fh:
            fh.seek(start_offset)
            yield from _read_batches(fh, start_offset, self._wait_for_more)

    def _wait_for_more(self, idle_since: float) -> bool:
        """In follow mode, sleep and say whether to try reading again."""
        if not self.follow or self.should_stop():
            return False
        if self.idle_timeout_s is not None and time.monotonic() - idle_since > self.idle_timeout_s:
            return False
        time.sleep(self.poll_s)
        return True


class StdinSource:
    resumable = False
    name = "<stdin>"

    def batches(self, start_offset: int) -> Iterator[list[tuple[bytes, int]]]:
        yield from _read_batches(sys.stdin.buffer, 0, lambda _since: False)


def _read_batches(
    fh: BinaryIO, offset: int, wait_for_more: Callable[[float], bool]
) -> Iterator[list[tuple[bytes, int]]]:
    pending = b""
    idle_since = time.monotonic()
    while True:
        chunk = fh.read(CHUNK_BYTES)
        if not chunk:
            if wait_for_more(idle_since):
                continue
            if pending:  # a last line with no newline: hand it out as it is
                yield [(pending.rstrip(b"\r"), offset + len(pending))]
            return
        idle_since = time.monotonic()
        data = pending + chunk if pending else chunk
        cut = data.rfind(b"\n")
        if cut < 0:
            pending = data
            continue
        pending = data[cut + 1 :]
        batch: list[tuple[bytes, int]] = []
        pos = offset
        for line in data[: cut + 1].split(b"\n")[:-1]:
            pos += len(line) + 1
            batch.append((line[:-1] if line.endswith(b"\r") else line, pos))
        offset = pos
        yield batch

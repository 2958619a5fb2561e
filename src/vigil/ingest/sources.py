"""Line sources with byte positions, so a checkpoint can say exactly where input stopped.

``FileSource`` reads a JSON Lines file in large chunks (one ``read`` per few MiB, not per
line) and hands out batches of complete lines with the byte offset just after the batch;
it can resume at such an offset. In follow mode it tails a growing file and only hands out
complete lines. ``StdinSource`` reads standard input and cannot resume. Lines keep a
trailing ``\\r`` (CRLF files): JSON treats it as whitespace.
"""

from __future__ import annotations

import io
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple, Protocol, cast

from vigil.errors import InputError

CHUNK_BYTES = 4 << 20


#: where input stopped: a byte offset in a file, or the next offset per ``topic/partition``
#: of a Kafka input (``vigil.kafka.source``)
Position = int | dict[str, int]


class Batch(NamedTuple):
    """Complete lines (without ``\\n``) and the input position just after the last one."""

    lines: list[bytes]
    end_offset: Position


class LineSource(Protocol):
    name: str
    resumable: bool

    def batches(self, start_offset: Position) -> Iterator[Batch]: ...


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
        chunk_bytes: int = CHUNK_BYTES,
        idle_batches: bool = False,
    ) -> None:
        if not path.is_file():
            raise InputError(f"input file {str(path)!r} does not exist or is not a file")
        self.path = path
        self.name = str(path)
        self.follow = follow
        self.poll_s = poll_s
        self.idle_timeout_s = idle_timeout_s
        self.should_stop = should_stop
        self.chunk_bytes = chunk_bytes
        #: in follow mode, yield an empty batch after every idle poll, so the consumer gets
        #: control while nothing arrives (the runtime checkpoints what it published)
        self.idle_batches = idle_batches

    def batches(self, start_offset: Position) -> Iterator[Batch]:
        if not isinstance(start_offset, int):
            raise InputError(
                f"{self.name}: a file is resumed from a byte offset, not {start_offset!r}"
            )
        with self.path.open("rb") as fh:
            fh.seek(start_offset)
            yield from _read_batches(
                fh.read,
                start_offset,
                self._wait_for_more,
                self.chunk_bytes,
                not self.follow,
                self.idle_batches,
            )

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

    def batches(self, start_offset: Position) -> Iterator[Batch]:
        # read1: hand out what a pipe has now instead of waiting for a full chunk
        stdin = cast(io.BufferedReader, sys.stdin.buffer)
        yield from _read_batches(stdin.read1, 0, lambda _since: False, 1 << 16, True)


def _read_batches(
    read: Callable[[int], bytes],
    offset: int,
    wait_for_more: Callable[[float], bool],
    chunk_bytes: int,
    emit_partial_last_line: bool,
    idle_batches: bool = False,
) -> Iterator[Batch]:
    """A last line without newline is handed out at the end of a bounded input; when a
    followed file stops growing it is left unread (its writer may not have finished it)."""
    pending = b""
    idle_since = time.monotonic()
    while True:
        chunk = read(chunk_bytes)
        if not chunk:
            if wait_for_more(idle_since):
                if idle_batches:
                    yield Batch([], offset)
                continue
            if pending and emit_partial_last_line:
                yield Batch([pending], offset + len(pending))
            return
        idle_since = time.monotonic()
        data = pending + chunk if pending else chunk
        cut = data.rfind(b"\n")
        if cut < 0:
            pending = data
            continue
        pending = data[cut + 1 :]
        offset += cut + 1
        yield Batch(data[:cut].split(b"\n"), offset)

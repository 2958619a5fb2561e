"""The settled figures of a running run, summed per campaign and day: what the API serves.

A reader of ``ad_figures.jsonl`` sums its rows, so it must never read a row twice or one that
will be taken back: it reads up to the length ``progress.json`` states at the runtime's last
checkpoint (a resume cuts the file back to that length, never below, and writes the rest
again, possibly split into other rows). Rows are read on demand, at most
``READ_SLICE_BYTES`` per call.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Final

from vigil.ads.figures import AdFigures, Sums, rows_of, settled_length
from vigil.ads.settings import DAY_MS

#: bytes read from the file per call at most (the rest on the next one)
READ_SLICE_BYTES: Final = 8 << 20


class AdsBook:
    """Settled rows of ``ad_figures.jsonl``, summed per campaign and day."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.path = out_dir / "ad_figures.jsonl"
        self._offset = 0
        #: sums per campaign and day
        self._days = Sums()
        self._lock = threading.Lock()

    def rows(self) -> list[AdFigures]:
        """One row per campaign and day (its ``minute_ms`` is the day's start)."""
        with self._lock:
            self._read()
            return self._days.rows()

    def _read(self) -> None:
        upto = settled_length(self.out_dir)
        if upto is None or upto <= self._offset:
            return
        with self.path.open("rb") as fh:
            fh.seek(self._offset)
            data = fh.read(min(upto - self._offset, READ_SLICE_BYTES))
        end = data.rfind(b"\n") + 1
        for row in rows_of(data[:end], self.path):
            self._days.add(row, row.minute_ms - row.minute_ms % DAY_MS)
        self._offset += end

"""Embedded DuckDB store of every processed event (key columns), features and alerts.

The hot path only keeps each processed event's raw JSON line. Every 100k events the lines
go to a scratch file and a separate loader *process* (``analytics.loader``) has DuckDB's own
JSON reader load them into ``events``. A process, not a thread: DuckDB's Python binding
holds the GIL while it loads, which starved the stream loop (measured: the main thread got
~7% of its time back with a loader thread). Rows carry the sequence number of the
checkpoint they belong to, so after a crash the loader deletes rows newer than the last
checkpoint and the runtime replays: exactly once.
"""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path
from typing import Any

import msgspec

from vigil.analytics import loader
from vigil.detectors.base import Alert
from vigil.errors import RESUME_AFTER_FULL_DISK, CheckpointError, VigilError, write_failure

#: ship event lines to the loader every this many events, even between checkpoints
FLUSH_EVERY_EVENTS = 100_000

_encoder = msgspec.json.Encoder()


class AnalyticsError(VigilError):
    """The analytics loader failed; the message says why and on which scratch file."""


class AnalyticsStore:
    def __init__(self, path: Path, resume_after_flush: int | None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        if resume_after_flush is None:
            for stale in (path, path.with_name(path.name + ".wal")):
                if stale.exists():
                    stale.unlink()
        elif not path.exists():
            raise CheckpointError(
                f"analytics store {str(path)!r} is missing but the checkpoint expects it: "
                "restore it, or remove the checkpoint directory to start over"
            )
        self.path = path
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(
            target=loader.serve,
            args=(str(path), resume_after_flush, child),
            name="vigil-analytics",
            daemon=True,
        )
        self._proc.start()
        child.close()
        self._lines: list[bytes] = []
        self._alerts = bytearray()
        self._in_flight = 0
        self._scratch_no = 0
        self._seq = resume_after_flush or 0

    def add_event(self, raw: bytes) -> None:
        """Keep one processed event's JSON line (already validated)."""
        lines = self._lines
        lines.append(raw)
        if len(lines) >= FLUSH_EVERY_EVENTS:
            self._ship_events(self._seq + 1)

    def add_alert(self, line_no: int, alert: Alert) -> None:
        row: dict[str, Any] = msgspec.structs.asdict(alert)
        row["line_no"] = line_no
        _encoder.encode_into(row, self._alerts, len(self._alerts))
        self._alerts.extend(b"\n")

    def flush(self, seq: int, wait: bool) -> None:
        """Load everything kept so far as part of checkpoint ``seq``."""
        self._seq = seq
        self._ship_events(seq)
        if self._alerts:
            self._send("alerts", self._scratch(bytes(self._alerts)), seq)
            self._alerts.clear()
        if wait:
            self.wait()

    def wait(self) -> None:
        """Block until the loader has committed everything sent so far."""
        while self._in_flight:
            try:
                reply = self._conn.recv()
            except EOFError as exc:
                raise AnalyticsError(
                    f"the analytics loader for {self.path} exited unexpectedly "
                    f"(exit code {self._proc.exitcode})"
                ) from exc
            self._in_flight -= 1
            if reply != "ok":
                raise AnalyticsError(f"analytics loader failed: {reply}")

    def write_features(self, rows: list[tuple[str, str, str, float]]) -> None:
        names = ("entity_type", "entity_id", "feature", "value")
        data = b"".join(_encoder.encode(dict(zip(names, row, strict=True))) + b"\n" for row in rows)
        self._send("features", self._scratch(data), 0)
        self.wait()

    def close(self) -> None:
        try:
            if self._proc.is_alive():
                self.wait()
                self._conn.send(("close", "", 0))
        finally:
            self._proc.join(timeout=60)
            self._conn.close()

    def _ship_events(self, seq: int) -> None:
        if not self._lines:
            return
        data = b"\n".join(self._lines)
        self._lines = []
        self._send("events", self._scratch(data), seq)

    def _scratch(self, data: bytes) -> str:
        self._scratch_no += 1
        scratch = self.path.with_name(f".{self.path.name}.load-{self._scratch_no}.jsonl")
        try:
            scratch.write_bytes(data)
        except OSError as exc:
            scratch.unlink(missing_ok=True)
            raise AnalyticsError(_write_failure(self.path.parent, exc)) from exc
        return str(scratch)

    def _send(self, kind: str, scratch: str, seq: int) -> None:
        self._conn.send((kind, scratch, seq))
        self._in_flight += 1


def _write_failure(directory: Path, exc: OSError) -> str:
    """One line for a scratch file that could not be written (a full disk, most often)."""
    place = f"in {str(directory)!r} while loading analytics"
    return write_failure(exc, place, *RESUME_AFTER_FULL_DISK)

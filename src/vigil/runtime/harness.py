"""Run a whole pipeline in-process on a list of events or lines, in one call (for tests)."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

from vigil.detectors.base import Alert, Detector, alert_decoder
from vigil.events.codec import encode_one
from vigil.events.schemas import EventBase
from vigil.ingest.sources import FileSource
from vigil.runtime.embedded import EmbeddedRuntime, RuntimeSettings
from vigil.runtime.stats import RunStats


def run_lines(
    detectors: Sequence[Detector],
    lines: Sequence[bytes],
    settings: RuntimeSettings | None = None,
) -> tuple[list[Alert], RunStats]:
    """Feed raw JSON lines through a fresh runtime; return the alerts and the stats."""
    settings = settings or RuntimeSettings(analytics=False)
    with tempfile.TemporaryDirectory(prefix="vigil-harness-") as tmp:
        inp = Path(tmp) / "events.jsonl"
        inp.write_bytes(b"".join(line + b"\n" for line in lines))
        out = Path(tmp) / "out"
        stats = EmbeddedRuntime(detectors, out, settings).run(FileSource(inp))
        alerts = [alert_decoder.decode(x) for x in (out / "alerts.jsonl").read_bytes().splitlines()]
    return alerts, stats


def run_events(
    detectors: Sequence[Detector],
    events: Sequence[EventBase],
    settings: RuntimeSettings | None = None,
) -> tuple[list[Alert], RunStats]:
    """Feed events (in the given arrival order) through a fresh runtime."""
    return run_lines(detectors, [encode_one(e) for e in events], settings)

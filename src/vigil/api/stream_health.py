"""What the runtime says of the stream (its ``progress.json``), for ``/metrics`` and ``/healthz``.

The runtime child rewrites ``progress.json`` after every batch with its counters: lines
read, events processed, dead letters by reason, alerts by detector, the watermark. This
module reads it when it changed, keeps the last few minutes of samples, and tells an
operator two things a rate cannot hide in a total:

- **dead letters jumped**: over the last minutes (at least ``MIN_LINES`` lines), the share
  of dead-lettered lines is above ``JUMP_SHARE`` and ten times what it was before (a
  producer started sending bad records, or a schema changed under it);
- **the watermark jumped**: it moved more than ``JUMP_MS`` of event time between two
  samples, and more than ``JUMP_MS / MIN_LINES`` per line read between them (a clock that
  jumped, or a burst of far-future records let through; not a runtime catching up on a
  backlog of thousands of lines), which a burst of late data never does (late data is
  behind the watermark, not ahead of it);
- **the watermark stalled**: for ``STALL_S`` or more, at least ``MIN_LINES`` lines came in
  and none moved it (a producer re-sending old data, or a clock that jumped ahead earlier,
  so that everything since is too late). A burst of late or bad records between on-time
  ones does not: the on-time ones keep moving it.

A runtime that is down or behind is what ``/healthz`` already reports (runtime down, stale
index).
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import msgspec

Gauge = tuple[str, str, float, dict[str, str]]

#: how far back samples are kept
WINDOW_S = 300.0
MIN_LINES = 1_000
JUMP_SHARE = 0.05
JUMP_MS = 7 * 86_400_000
#: how long a watermark jump keeps ``/healthz`` degraded
JUMP_HOLD_S = 600.0
#: lines arriving this long without moving the watermark: stalled
STALL_S = 60.0


class Progress(msgspec.Struct):
    input_offset: int = 0
    lines: int = 0
    processed: int = 0
    duplicates: int = 0
    dead_letters: dict[str, int] = {}
    alerts_by_detector: dict[str, int] = {}
    watermark_ms: int | None = None


_decode = msgspec.json.Decoder(Progress).decode


class StreamHealth:
    def __init__(self, path: Path, clock_s: Callable[[], float] = time.time) -> None:
        self.path = path
        self.clock_s = clock_s
        self.last: Progress | None = None
        self._mtime_ns = -1
        #: (wall s, lines, dead letters, watermark) of each progress seen, newest last
        self._samples: collections.deque[tuple[float, int, int, int | None]] = collections.deque()
        #: (wall s, lines, dead letters, duplicates) when the watermark last moved
        self._moved: tuple[float, int, int, int] | None = None
        self._jump: tuple[float, str] | None = None

    def refresh(self) -> Progress | None:
        """Read ``progress.json`` if it changed since the last read."""
        try:
            mtime = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            return self.last
        if mtime == self._mtime_ns:
            return self.last
        try:
            progress = _decode(self.path.read_bytes())
        except (OSError, msgspec.DecodeError, msgspec.ValidationError):
            return self.last  # replaced while read: the next read gets it
        self._mtime_ns = mtime
        self.observe(progress)
        return progress

    def observe(self, progress: Progress) -> None:
        now = self.clock_s()
        previous = self._samples[-1] if self._samples else None
        dead = sum(progress.dead_letters.values())
        wm = progress.watermark_ms
        if previous is not None and previous[3] is not None and wm is not None:
            step = wm - previous[3]
            lines = max(1, progress.lines - previous[1])
            # far ahead for the data that came: a runtime catching up on a backlog reads
            # thousands of lines between two publishes and may move weeks, honestly
            if step > JUMP_MS and step / lines > JUMP_MS / MIN_LINES:
                self._jump = (
                    now,
                    f"the watermark jumped {step / 86_400_000:,.1f} days ahead at line "
                    f"{progress.lines:,}",
                )
        if previous is None or wm != previous[3]:
            self._moved = (now, progress.lines, dead, progress.duplicates)
        self._samples.append((now, progress.lines, dead, wm))
        while len(self._samples) > 2 and now - self._samples[1][0] > WINDOW_S:
            self._samples.popleft()
        self.last = progress

    def problems(self) -> list[str]:
        """Why the stream is not healthy now (empty: it is)."""
        self.refresh()
        out: list[str] = []
        if len(self._samples) >= 2:
            first, last = self._samples[0], self._samples[-1]
            lines = last[1] - first[1]
            dead = last[2] - first[2]
            before = first[2] / first[1] if first[1] else 0.0
            share = dead / lines if lines else 0.0
            if lines >= MIN_LINES and share > JUMP_SHARE and share > 10 * before:
                out.append(
                    f"dead letters jumped: {share:.1%} of the last {lines:,} lines "
                    f"({before:.1%} before)"
                )
        if self._jump is not None and self.clock_s() - self._jump[0] <= JUMP_HOLD_S:
            out.append(self._jump[1])
        stalled = self._stalled()
        if stalled:
            out.append(stalled)
        return out

    def _stalled(self) -> str | None:
        last, moved = self.last, self._moved
        if last is None or moved is None or last.watermark_ms is None:
            return None
        since_s = self.clock_s() - moved[0]
        lines = last.lines - moved[1]
        if since_s < STALL_S or lines < MIN_LINES:
            return None
        dead = sum(last.dead_letters.values()) - moved[2]
        dups = last.duplicates - moved[3]
        at = time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime(last.watermark_ms / 1000))
        return (
            f"the watermark stalled at {at}: {lines:,} lines over the last {since_s:,.0f} s "
            f"did not move it ({dead:,} dead letters, {dups:,} duplicates): a producer "
            "re-sending old data, or a clock that jumped ahead before"
        )

    def gauges(self) -> Iterator[Gauge]:
        progress = self.refresh()
        if progress is None:
            return
        yield "vigil_runtime_lines", "Input lines the runtime has read", float(progress.lines), {}
        yield (
            "vigil_runtime_events_processed",
            "Events the runtime processed",
            float(progress.processed),
            {},
        )
        yield (
            "vigil_runtime_duplicates",
            "Events dropped as exact duplicates",
            float(progress.duplicates),
            {},
        )
        for reason, n in sorted(progress.dead_letters.items()):
            yield (
                "vigil_runtime_dead_letters",
                "Records kept as dead letters, by reason",
                float(n),
                {"reason": reason},
            )
        for detector, n in sorted(progress.alerts_by_detector.items()):
            yield (
                "vigil_runtime_alerts",
                "Alerts raised, by detector",
                float(n),
                {"detector": detector},
            )
        if progress.watermark_ms is not None:
            wm = progress.watermark_ms
            yield (
                "vigil_runtime_watermark_ms",
                "The runtime's watermark (event time)",
                float(wm),
                {},
            )
            yield (
                "vigil_runtime_watermark_lag_seconds",
                "Wall clock minus the watermark (large during a replay of history)",
                self.clock_s() - wm / 1000,
                {},
            )

"""Progress for long commands: a rich bar on a terminal, a plain line every 10% otherwise."""

from __future__ import annotations

import time
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

#: soft wrap: a long line stays one line in a log file or a pipe (rich breaks at 80 columns
#: when it is not writing to a terminal)
stderr = Console(stderr=True, soft_wrap=True)


class Reporter:
    def __init__(self, description: str, total: int, unit: str) -> None:
        self.description = description
        self.total = max(total, 1)
        self.unit = unit
        self._next_pct = 10
        self._started = time.perf_counter()
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> Reporter:
        if stderr.is_terminal:
            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TextColumn("{task.percentage:>3.0f}%"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=stderr,
            )
            self._progress.__enter__()
            self._task = self._progress.add_task(self.description, total=self.total)
        return self

    def update(self, completed: int) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, completed=completed)
            return
        pct = completed * 100 // self.total
        if pct >= self._next_pct:
            self._next_pct = (pct // 10 + 1) * 10
            elapsed = time.perf_counter() - self._started
            stderr.print(f"{self.description}: {pct}% ({completed:,} {self.unit}, {elapsed:.1f}s)")

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.__exit__(exc_type, exc, tb)

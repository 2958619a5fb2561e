"""What every engine's runner shares: its arguments, and the result file it writes.

A runner is a script run in a child process of bench/ysb.py, pinned to the cores it is
given, in one of two modes:

* ``throughput``: ``--input`` is the events file; process all of it as fast as possible.
* ``paced``: ``--input`` is a directory that the feeder adds a file of JSON lines to every
  50 ms (written elsewhere, then renamed in); the runner writes ``--ready`` once it is
  listening and stops once ``--stop`` exists (the feeder is done and a grace has passed).

Either way it writes ``--out``: ``{"run_s", "startup_s", "windows": [[campaign_id,
window_start_ms, count, last_write_ms], ...], "write_times"}``, where a window's count is
the last one the engine wrote, ``last_write_ms`` the wall-clock time of that write (the time
its sink got the row) and ``write_times`` when each write that carried rows happened. The
runners import nothing from Vigil but the Vigil runner itself.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from pathlib import Path
from typing import Any


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=("throughput", "paced"), required=True)
    parser.add_argument("--input", type=Path, required=True)
    parser.add_argument("--table", type=Path, required=True, help="JSON {ad_id: campaign_id}")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--ready", type=Path, default=None)
    parser.add_argument("--stop", type=Path, default=None)
    parser.add_argument("--cores", type=int, default=1)
    return parser.parse_args()


def campaign_of(path: Path) -> dict[str, str]:
    table: dict[str, str] = json.loads(path.read_text())
    return table


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def write_result(
    out: Path,
    run_s: float,
    startup_s: float,
    windows: dict[tuple[str, int], tuple[int, int]],
    write_times: list[int],
) -> None:
    rows: list[list[Any]] = [[c, w, n, t] for (c, w), (n, t) in sorted(windows.items())]
    result = {"run_s": run_s, "startup_s": startup_s, "windows": rows, "write_times": write_times}
    out.write_text(json.dumps(result))


def wait_for(path: Path, poll_s: float = 0.05) -> None:
    while not path.exists():
        time.sleep(poll_s)


def finish_when_told(
    args: argparse.Namespace,
    t0: float,
    startup_s: float,
    windows: dict[tuple[str, int], tuple[int, int]],
    write_times: list[int],
) -> None:
    """For an engine whose watched directory never ends (paced mode): say it is ready, and
    once ``--stop`` exists write what it wrote so far as the result and exit."""

    def stop_when_told() -> None:
        wait_for(args.stop)
        write_result(
            args.out, time.perf_counter() - t0, startup_s, dict(windows), list(write_times)
        )
        os._exit(0)

    threading.Thread(target=stop_when_told, daemon=True).start()
    args.ready.touch()

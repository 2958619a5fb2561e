"""Run the embedded runtime over one file; ``test_kill_restart.py`` starts and kills it.

usage: python _driver.py INPUT OUT_DIR CHECKPOINT_DIR EVERY CHUNK_BYTES [POINT:N]
(the state backend: ``VIGIL_TEST_STATE_BACKEND``, default memory)

With ``POINT:N`` the process SIGKILLs itself at the N-th pass through a crash point:

* ``store_sent``        analytics rows handed to the loader, not yet committed (before ``wait``)
* ``store_flush``       after the analytics store flushed for a checkpoint, before outputs
* ``sink_flush``        after an output file was flushed, before the checkpoint is saved
* ``checkpoint_tmp``    after the checkpoint's temporary file is written, before the rename
                        (the N-th ``os.replace``: a state backend's files count too)
* ``state_saved``       after the state backend wrote its checkpoint files, before the
                        snapshot that names them
* ``checkpoint_saved``  right after a checkpoint was saved
* ``features``          after the features table was written at the end of the run
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _detectors import make_detectors  # run as a script: this directory is on sys.path

from vigil.analytics.store import AnalyticsStore
from vigil.detectors.rules import RulesDetector, load_rules_text
from vigil.ingest.sources import FileSource
from vigil.runtime import checkpoint, outputs
from vigil.runtime.embedded import EmbeddedRuntime, RuntimeSettings

#: a rule whose evaluation gathers two ids' histories (the customer's refunds, the order's
#: receipts), so the rules' stages and their pending evaluations go through every kill too
RULES = """
rules:
  - name: refunds_twice_no_receipt
    description: the customer's second refund within 2 hours, no receipt within 30 minutes
    when: >-
      count(refund_issued by customer_id within 2h) >= 2
      and no return_received for order_id within 30m after refund_issued
    score: 0.7
    reasons: [repeat_refund]
    subject: refund
    mode: active
"""

SETTINGS = {
    "max_out_of_orderness_ms": 10 * 60_000,
    "allowed_lateness_ms": 60 * 60_000,
    "analytics": True,
}


def _die_at(owner: Any, attr: str, n: int, before: bool = False) -> None:
    original: Callable[..., Any] = getattr(owner, attr)
    calls = 0

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if before and calls == n:
            os.kill(os.getpid(), signal.SIGKILL)
        result = original(*args, **kwargs)
        if not before and calls == n:
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    setattr(owner, attr, wrapper)


def _install_crash_point(spec: str) -> None:
    point, _, n_text = spec.partition(":")
    n = int(n_text)
    if point == "store_sent":
        _die_at(AnalyticsStore, "wait", n, before=True)
    elif point == "store_flush":
        _die_at(AnalyticsStore, "flush", n)
    elif point == "sink_flush":
        _die_at(outputs.JsonlSink, "flush", n)
    elif point == "checkpoint_tmp":
        _die_at(checkpoint.os, "replace", n, before=True)
    elif point == "state_saved":
        from vigil.state.keyed.memory import MemoryBackend
        from vigil.state.keyed.rocks import RocksBackend

        _die_at(MemoryBackend, "checkpoint", n)
        _die_at(RocksBackend, "checkpoint", n)
    elif point == "checkpoint_saved":
        _die_at(checkpoint, "save", n)
    elif point == "features":
        _die_at(AnalyticsStore, "write_features", n)
    else:
        raise SystemExit(f"unknown crash point {point!r}")


def main(argv: list[str]) -> int:
    inp, out, ckpt = Path(argv[0]), Path(argv[1]), Path(argv[2])
    every, chunk_bytes = int(argv[3]), int(argv[4])
    if len(argv) > 5:
        _install_crash_point(argv[5])
    # prune ids at a period unrelated to the checkpoints, so restarts land between prunes
    settings = RuntimeSettings(
        checkpoint_every_events=every,
        dedup_prune_every=3 * every + 1,
        # the test runs every kill on each state backend (test_kill_restart.py)
        state_backend=os.environ.get("VIGIL_TEST_STATE_BACKEND", "memory"),
        **SETTINGS,
    )
    rules = RulesDetector(load_rules_text(RULES, "kill-test.yaml").ruleset)
    runtime = EmbeddedRuntime([*make_detectors(), rules], out, settings, checkpoint_dir=ckpt)
    stats = runtime.run(FileSource(inp, chunk_bytes=chunk_bytes))
    return 0 if stats.reconciles() else 3


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

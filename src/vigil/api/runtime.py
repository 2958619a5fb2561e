"""The runtime as a child process of ``vigil serve``: started, watched, restarted, stopped.

The child is ``vigil run --input input.jsonl --follow --checkpoint-dir ... --out ...``,
the same command an operator would run by hand (``vigil serve --external-runtime`` then
only tails its outputs). It runs at a lower CPU priority (``nice``) than the API: when
the two share a core, the decision API's latency is what must not suffer. In follow mode it
publishes its outputs after every input batch (written, not fsynced, then
``progress.json``), which is when they become visible to the API, and checkpoints durably
every ``checkpoint_interval_s`` (``--checkpoint-interval``); a crashed child is restarted,
cuts its outputs back to the checkpoint and writes the same lines again.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from vigil.decisions.policy import DecisionPolicy


@dataclass(frozen=True, kw_only=True)
class RuntimeCommand:
    input_log: Path
    out_dir: Path
    checkpoint_dir: Path
    policy: DecisionPolicy
    #: a durable checkpoint (state pickled, outputs and snapshot fsynced) at most this often;
    #: outputs are published after every batch regardless
    checkpoint_interval_s: float = 2.0
    analytics: bool = False
    rules: Path | None = None
    #: the return centres file (``vigil run --return-centres``)
    return_centres: Path | None = None
    #: data-centre IP ranges for the ad analytics (``vigil run --datacentre-ranges``)
    datacentre_ranges: Path | None = None
    #: the ad analytics at all (``vigil run --no-ads``), and platforms' attribution windows
    ads: bool = True
    ad_windows: tuple[str, ...] = ()
    #: the request model's artifact folder (``vigil run --request-model``)
    request_model: Path | None = None
    #: where stages keep their state (``vigil run --state-backend``)
    state_backend: str = "memory"
    nice: int = 10
    log_path: Path | None = None

    def argv(self) -> list[str]:
        argv = [
            sys.executable,
            "-m",
            "vigil.cli.main",
            "run",
            "--input",
            str(self.input_log),
            "--out",
            str(self.out_dir),
            "--checkpoint-dir",
            str(self.checkpoint_dir),
            "--checkpoint-interval",
            repr(self.checkpoint_interval_s),
            "--follow",
            "--review-threshold",
            repr(self.policy.review_threshold),
            "--deny-threshold",
            repr(self.policy.deny_threshold),
        ]
        if not self.analytics:
            argv.append("--no-analytics")
        if self.rules is not None:
            argv += ["--rules", str(self.rules)]
        if self.return_centres is not None:
            argv += ["--return-centres", str(self.return_centres)]
        if self.request_model is not None:
            argv += ["--request-model", str(self.request_model)]
        if self.datacentre_ranges is not None:
            argv += ["--datacentre-ranges", str(self.datacentre_ranges)]
        if not self.ads:
            argv.append("--no-ads")
        for window in self.ad_windows:
            argv += ["--ad-window", window]
        if self.state_backend != "memory":
            argv += ["--state-backend", self.state_backend]
        return argv


RESTART_KINDS = ("crash", "killed", "exited", "policy")


class RuntimeProcess:
    """One managed runtime child; ``check`` restarts it if it died."""

    managed = True

    def __init__(self, command: RuntimeCommand) -> None:
        self.command = command
        self.proc: subprocess.Popen[bytes] | None = None
        self.restarts = 0
        #: restarts by why: ``crash`` (the child exited with an error), ``killed`` (by a
        #: signal: the OOM killer, an operator), ``exited`` (it ended by itself, code 0),
        #: ``policy`` (new decision thresholds, ``use_policy``)
        self.restarts_by_kind: dict[str, int] = dict.fromkeys(RESTART_KINDS, 0)
        self.exit_code: int | None = None
        self._next_start = 0.0
        self._stopping = False
        #: ``check`` (the API's watcher) and ``use_policy`` (an approval) never overlap
        self._lock = threading.Lock()

    def start(self) -> None:
        cmd = self.command
        self.exit_code = None  # the code of an earlier child says nothing about this one
        cmd.input_log.parent.mkdir(parents=True, exist_ok=True)
        cmd.input_log.touch(exist_ok=True)
        cmd.out_dir.mkdir(parents=True, exist_ok=True)
        log = (cmd.log_path or cmd.out_dir / "runtime.log").open("ab")
        nice = cmd.nice
        try:
            self.proc = subprocess.Popen(
                cmd.argv(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=(lambda: os.nice(nice)) if nice else None,
                env={**os.environ, "COLUMNS": "200"},
            )
        finally:
            log.close()

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def check(self) -> bool:
        """Restart a dead child (after a growing pause); return whether it is alive now."""
        # never waits: it runs on the API's event loop, and a policy change may be stopping
        # the child meanwhile (it is alive again, or ``check`` restarts it, next time)
        if not self._lock.acquire(blocking=False):
            return True
        try:
            return self._check()
        finally:
            self._lock.release()

    def use_policy(self, policy: DecisionPolicy, timeout_s: float = 15.0) -> bool:
        """Run the stream at new decision thresholds: the child checkpoints and stops (SIGTERM),
        and starts again with them; it resumes where it stopped, and its decisions from there
        on use them. Returns whether a running child was restarted (False: none runs yet, and
        the next start uses them)."""
        with self._lock:
            self.command = dataclasses.replace(self.command, policy=policy)
            if self.proc is None or self._stopping or self.proc.poll() is not None:
                return False
            self.stop(timeout_s)
            self._stopping = False
            self.start()
            self.restarts_by_kind["policy"] += 1
            return True

    def _check(self) -> bool:
        if self._stopping or self.proc is None:
            return self.alive()
        code = self.proc.poll()
        if code is None:
            return True
        self.exit_code = code
        now = time.monotonic()
        if now < self._next_start:
            return False
        self.restarts += 1
        kind = "crash" if code > 0 else "killed" if code < 0 else "exited"
        self.restarts_by_kind[kind] += 1
        self._next_start = now + min(30.0, 0.5 * 2 ** min(self.restarts, 6))
        self.start()
        return self.alive()

    def stop(self, timeout_s: float = 15.0) -> None:
        """SIGTERM: the runtime checkpoints and exits; SIGKILL if it does not in time."""
        self._stopping = True
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            self.exit_code = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            self.exit_code = proc.wait()

"""The channel between the API process and the runtime process, and the API's own state.

Two processes, two append-only files each way, no shared memory:

- API -> runtime: ``input.jsonl``. ``POST /v1/events`` and ``POST /v1/refunds/decide``
  append to it (``appender.DurableAppender``: written at once, fsynced by group commit);
  the runtime follows it (``vigil run --input input.jsonl --follow``), and resumes from its
  checkpoint after a crash, so nothing appended is lost or processed twice.
- runtime -> API: ``alerts.jsonl``, ``decisions.jsonl`` and ``facts.jsonl`` (the request-time
  facts each batch changed, ``vigil.features.facts``). In follow mode the runtime
  publishes them after every input batch (written, not fsynced, then ``progress.json``
  replaced) and checkpoints durably every few seconds; ``OutputTailer`` reads new complete
  lines every ``tail_interval_s`` into the ``RiskIndex``, in slices small enough not to
  hold the event loop. A resumed runtime cuts its outputs back to its checkpoint and
  writes the same lines again (deterministic ids): the index replaces, never duplicates.

How stale the index can be (``Staleness``): the API notes the wall time of every append.
The runtime reads its input in a loop (read what is there, process, publish); a publish at
time M_k (the modification time of ``progress.json``, or of the checkpoint for a runtime
that does not write one) reflects everything appended before the *previous* publish
M_(k-1), since the batch ending at M_k was read after M_(k-1). When the tailer has read
the outputs of publish M_k, appends before M_(k-1) are reflected; their "append -> visible"
time is observed into a histogram, and the oldest append not yet known to be reflected
gives ``pending_s``. This is an upper bound, except when the runtime has more than one
read chunk (4 MiB) of backlog.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import gc
import hashlib
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import msgspec
from fastapi import Request

from vigil.ads.book import AdsBook
from vigil.api.appender import DurableAppender
from vigil.api.auth import Authenticator
from vigil.api.index import RiskIndex
from vigil.api.runtime import RuntimeProcess
from vigil.api.settings import ApiSettings
from vigil.api.stream_health import StreamHealth
from vigil.api.telemetry import ApiMetrics
from vigil.cases.outbox import flush_outbox
from vigil.decisions.book import RefundDecision, decision_decoder
from vigil.detectors.base import Alert, alert_decoder
from vigil.features.facts import FACTS_FILE
from vigil.security.db import Database

#: bytes read from one output per slice; ~300 alerts, a few ms of decoding
TAIL_SLICE_BYTES = 256 << 10


class TailedFile:
    """New complete lines of a file that another process appends to.

    ``offset`` is how far the file has been read; ``line_offset`` where the first line not
    yet handed out starts (what a reader that keeps its place across restarts saves). A file
    cut back (a runtime that resumed from its checkpoint cuts its outputs to the lengths it
    recorded, then writes the same lines again) is read on from its new end."""

    def __init__(self, path: Path, start_offset: int = 0) -> None:
        self.path = path
        self.offset = start_offset
        self._pending = b""

    @property
    def line_offset(self) -> int:
        return self.offset - len(self._pending)

    def read_lines(self, limit: int) -> tuple[list[bytes], bool]:
        """Up to ``limit`` bytes of new complete lines; and whether the end was reached."""
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return [], True
        if size < self.offset:
            # the runtime resumed from a checkpoint and cut its output back to the length the
            # checkpoint recorded; it rewrites the same lines (deterministic ids), re-read them
            self.offset = size
            self._pending = b""
        if size == self.offset:
            return [], True
        with self.path.open("rb") as fh:
            fh.seek(self.offset)
            chunk = fh.read(min(limit, size - self.offset))
        self.offset += len(chunk)
        data = self._pending + chunk
        cut = data.rfind(b"\n")
        if cut < 0:
            self._pending = data
            return [], self.offset >= size
        self._pending = data[cut + 1 :]
        return data[:cut].split(b"\n"), self.offset >= size


class Staleness:
    """Append times against runtime checkpoints: how stale the index may be."""

    def __init__(self, clock_ns: Callable[[], int] = time.time_ns) -> None:
        self._clock_ns = clock_ns
        self._appends: collections.deque[int] = collections.deque()
        self._last_ckpt_ns = 0
        self._prev_ckpt_ns = 0
        self.last_tail_ns = clock_ns()
        self.observed: list[float] = []

    def appended(self) -> None:
        # appends within 5 ms count as one; a dead runtime cannot make the queue grow
        # without bound (the oldest pending append, the one that matters, is kept)
        now = self._clock_ns()
        appends = self._appends
        if (not appends or now - appends[-1] > 5_000_000) and len(appends) < 200_000:
            appends.append(now)

    def checkpoint_seen(self, mtime_ns: int) -> list[float]:
        """A new publish (or checkpoint) was read; return the staleness of what it covers."""
        if mtime_ns <= self._last_ckpt_ns:
            return []
        self._prev_ckpt_ns, self._last_ckpt_ns = self._last_ckpt_ns, mtime_ns
        now = self._clock_ns()
        out: list[float] = []
        appends = self._appends
        while appends and appends[0] < self._prev_ckpt_ns:
            out.append((now - appends.popleft()) / 1e9)
        return out

    def pending_s(self) -> float:
        return (self._clock_ns() - self._appends[0]) / 1e9 if self._appends else 0.0

    def tail_age_s(self) -> float:
        return (self._clock_ns() - self.last_tail_ns) / 1e9


_NO_EVENT = msgspec.Raw(b"null")  # msgspec decodes no ``Raw | None``: ``null`` stands for none


class _JournalLine(msgspec.Struct, frozen=True, omit_defaults=True):
    refund_id: str
    request_sha256: str
    response: msgspec.Raw
    #: the ``refund_requested`` line ``decide`` appended to the input log, and the input log's
    #: length just after it: the journal is what makes that event durable (see below)
    event: msgspec.Raw = _NO_EVENT
    event_end: int | None = None
    #: with ``record_event: false`` (no event): the request as it was asked (order, customer,
    #: agent, session: what a hold needs, and the insider rule)
    request: msgspec.Raw = _NO_EVENT


_journal_line = msgspec.json.Decoder(_JournalLine)


@dataclass(frozen=True, slots=True)
class JournalEntry:
    request_sha256: str
    #: where the decision's line is in the journal: its response is read back from there
    #: when the same request comes again, so memory holds no response (a few hundred bytes
    #: per refund, not the answer's kilobytes)
    offset: int
    length: int
    #: the journal write that must be durable before the answer is given again
    seq: int


class EventClock:
    """The time to stamp an event the API makes itself (a refund ``decide`` records without
    ``event_time_ms``, an analyst's label): the wall clock on a live stream; the newest event
    time seen when the stream runs more than ``REPLAY_GAP_MS`` behind the wall clock (a
    replay, a backfill, the demo's simulated January). Stamped "now" there, one event would
    push the runtime's watermark past everything still to come, and the rest of the stream
    would be dead-lettered as too late.
    """

    #: how far behind the wall clock the stream may run and still be called live
    REPLAY_GAP_MS = 86_400_000

    def __init__(self, input_log: Path, clock_ms: Callable[[], int] | None = None) -> None:
        self._clock_ms = clock_ms or (lambda: time.time_ns() // 1_000_000)
        self.newest_ms: int | None = _newest_event_ms(input_log)

    def observe(self, event_time_ms: int) -> None:
        if self.newest_ms is None or event_time_ms > self.newest_ms:
            self.newest_ms = event_time_ms

    def wall_ms(self) -> int:
        return self._clock_ms()

    def now_ms(self) -> int:
        wall = self._clock_ms()
        if self.newest_ms is not None and wall - self.newest_ms > self.REPLAY_GAP_MS:
            return self.newest_ms
        return wall


def _newest_event_ms(path: Path, tail_bytes: int = 1 << 20) -> int | None:
    """The newest event time in the last MiB of the input log (a restart's starting point)."""
    try:
        with path.open("rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            start = max(0, size - tail_bytes)
            fh.seek(start)
            tail = fh.read()
    except FileNotFoundError:
        return None
    lines = tail.splitlines()
    newest: int | None = None
    for line in lines[1:] if start > 0 else lines:  # from the middle: the first is a part
        try:
            t = _event_time.decode(line).event_time_ms
        except (msgspec.DecodeError, msgspec.ValidationError):
            continue
        newest = t if newest is None or t > newest else newest
    return newest


class _EventTime(msgspec.Struct):
    event_time_ms: int


_event_time = msgspec.json.Decoder(_EventTime)


class DecisionJournal:
    """Synchronous decisions by refund id: the same request gets the same bytes back.

    A decision's ``refund_issued`` event goes into the input log at once but is not fsynced
    there: its journal line carries a copy and where it ended in the input log, and only the
    journal line is waited for. Input and journal are both append-only, so after a machine
    crash an input log shorter than an event's end has lost that event and everything after
    it; ``lost_events`` finds those from the journal, and ``ApiState`` appends them again,
    durably, before serving. One fsync per decision instead of two (docs/api.md).
    """

    def __init__(self, path: Path, *, fsync: bool, input_log: Path | None = None) -> None:
        self.path = path
        self.entries: dict[str, JournalEntry] = {}
        #: events the journal holds that the input log lost (a crash before its fsync)
        self.lost_events: list[bytes] = []
        input_size = input_log.stat().st_size if input_log and input_log.exists() else 0
        if path.exists():
            with path.open("rb") as fh:
                offset = 0
                for line in fh:
                    start, offset = offset, offset + len(line)
                    if not line.strip():
                        continue
                    try:
                        rec = _journal_line.decode(line)
                    except msgspec.DecodeError:
                        continue  # a last line cut short by a crash: never answered
                    self.entries[rec.refund_id] = JournalEntry(
                        rec.request_sha256, start, len(line), 0
                    )
                    if rec.event != _NO_EVENT and (rec.event_end or 0) > input_size:
                        self.lost_events.append(bytes(rec.event))
        self.log = DurableAppender(path, fsync=fsync)

    def record(
        self,
        refund_id: str,
        request_sha256: str,
        response: bytes,
        event: bytes | None = None,
        event_end: int | None = None,
        request: bytes | None = None,
    ) -> JournalEntry:
        raw_event = _NO_EVENT if event is None else msgspec.Raw(event.rstrip(b"\n"))
        raw_request = _NO_EVENT if request is None or event is not None else msgspec.Raw(request)
        line = msgspec.json.encode(
            _JournalLine(
                refund_id, request_sha256, msgspec.Raw(response), raw_event, event_end, raw_request
            )
        )
        seq, end = self.log.write_end(line + b"\n")
        entry = JournalEntry(request_sha256, end - len(line) - 1, len(line) + 1, seq)
        self.entries[refund_id] = entry
        return entry

    def response(self, entry: JournalEntry) -> bytes:
        """The answer given for ``entry``'s request, read back from its journal line."""
        fd = os.open(self.path, os.O_RDONLY)
        try:
            line = os.pread(fd, entry.length, entry.offset)
        finally:
            os.close(fd)
        return bytes(_journal_line.decode(line).response)


_encode_sorted = msgspec.json.Encoder(order="sorted").encode


class _Progress(msgspec.Struct):
    input_offset: int = 0


_progress_decoder = msgspec.json.Decoder(_Progress)


#: request fields added after journals existed: left out of the fingerprint at their default,
#: so a request journalled before them is still "the same request"
_LATER_FIELDS: dict[str, object] = {"skus": [], "reason": None, "channel": None}
#: how long to wait for the index is not part of the request
_NOT_THE_REQUEST = frozenset({"wait_ms"})


def request_fingerprint(body: object) -> str:
    """sha256 of a request's fields (defaults included, but for ``_LATER_FIELDS``) with
    sorted keys: the journal's key for "the same request" (a dict or a msgspec struct of the
    same fields give the same)."""
    fields = body if isinstance(body, dict) else msgspec.structs.asdict(body)  # type: ignore[arg-type]
    trimmed = {
        k: v
        for k, v in fields.items()
        if k not in _NOT_THE_REQUEST and not (k in _LATER_FIELDS and v == _LATER_FIELDS[k])
    }
    return hashlib.sha256(_encode_sorted(trimmed)).hexdigest()


#: how often the tailing task moves what the index holds out of the cyclic collector's reach
FREEZE_INTERVAL_S = 5.0


def freeze_heap() -> None:
    """Collect the young generations, then freeze what survives (``gc.freeze``).

    The index only grows between prunes, and a full collection rescans all of it: measured at
    1,000 decisions/s, the API's full collections took 58-92 ms each and found almost nothing
    (the index holds no cycles), so every one held the event loop and the requests queued
    behind it (p99 100-350 ms with durable writes in most 10-second windows). Frozen objects
    are still freed by reference counting when the index drops them; only cyclic garbage that
    was already old when frozen would stay, and the index makes none."""
    gc.collect(1)
    gc.freeze()


class OutputTailer:
    """Reads the runtime's outputs into the index; tracks how stale the index is."""

    def __init__(
        self,
        settings: ApiSettings,
        index: RiskIndex,
        staleness: Staleness,
        on_staleness: Callable[[float], None] = lambda _s: None,
    ) -> None:
        self.settings = settings
        self.index = index
        self.staleness = staleness
        self.on_staleness = on_staleness
        self._alerts = TailedFile(settings.out_dir / "alerts.jsonl")
        self._decisions = TailedFile(settings.out_dir / "decisions.jsonl")
        self._facts = TailedFile(settings.out_dir / FACTS_FILE)
        self.bad_lines = 0
        #: the input log offset up to which the runtime's outputs are all in the index (from
        #: ``progress.json``, read before the outputs were read to their end)
        self.reflected_offset = 0
        # one reader at a time: the server's tailing task and a ``catch_up`` from another
        # thread (a test's, or an embedding program's) would otherwise both read a slice
        # and both advance the offset past it, losing lines
        self._reading = threading.Lock()

    def _published_mtime_ns(self) -> int:
        """When the runtime last published: ``progress.json`` (replaced after each batch in
        follow mode) or, for a runtime that does not write it, the checkpoint."""
        best = 0
        for path in (self.settings.progress_path, self.settings.checkpoint_path):
            with contextlib.suppress(FileNotFoundError):
                best = max(best, os.stat(path).st_mtime_ns)
        return best

    def _published_offset(self) -> int:
        """The input offset of the runtime's last publish (0: none yet)."""
        try:
            progress = _progress_decoder.decode(self.settings.progress_path.read_bytes())
        except (OSError, msgspec.DecodeError, msgspec.ValidationError):
            return 0
        return progress.input_offset

    def runtime_publishing(self) -> bool:
        """Whether a runtime (one the API did not start) published within the healthy
        staleness (``/healthz``'s bound)."""
        mtime = self._published_mtime_ns()
        return bool(mtime) and time.time_ns() - mtime <= self.settings.max_healthy_staleness_s * 1e9

    async def wait_reflected(self, offset: int, timeout_s: float) -> bool:
        """Wait (polling the outputs) until everything before ``offset`` in the input log is
        in the index, or ``timeout_s`` passed; whether it is."""
        deadline = time.monotonic() + timeout_s
        while self.reflected_offset < offset:
            if time.monotonic() >= deadline:
                return False
            if not self.poll_once():
                continue
            if self.reflected_offset < offset:
                await asyncio.sleep(0.005)
        return True

    def poll_once(self, limit: int = TAIL_SLICE_BYTES) -> bool:
        """Read one slice of each output; True when both are read to the end."""
        with self._reading:
            return self._poll_once(limit)

    def _poll_once(self, limit: int) -> bool:
        # the publish time is taken before reading: the outputs it published are then
        # certainly in the files when they are read
        mtime = self._published_mtime_ns()
        published = self._published_offset()
        lines, done_a = self._alerts.read_lines(limit)
        add_alert = self.index.add_alert
        for line in lines:
            try:
                alert: Alert = alert_decoder.decode(line)
            except msgspec.DecodeError:
                self.bad_lines += 1
                continue
            add_alert(alert)
        lines, done_d = self._decisions.read_lines(limit)
        add_decision = self.index.add_decision
        for line in lines:
            try:
                decision: RefundDecision = decision_decoder.decode(line)
            except msgspec.DecodeError:
                self.bad_lines += 1
                continue
            add_decision(decision)
        lines, done_f = self._facts.read_lines(limit)
        add_fact = self.index.add_fact_line
        for line in lines:
            try:
                add_fact(line)
            except (msgspec.DecodeError, ValueError):
                self.bad_lines += 1
        done = done_a and done_d and done_f
        if done:
            self.reflected_offset = max(self.reflected_offset, published)
            self.staleness.last_tail_ns = time.time_ns()
            for s in self.staleness.checkpoint_seen(mtime):
                self.on_staleness(s)
        return done

    def catch_up(self) -> None:
        """Read everything there is now (startup, tests)."""
        while not self.poll_once(1 << 24):
            pass

    async def run(self, stop: asyncio.Event) -> None:
        interval = self.settings.tail_interval_s
        frozen_at = 0.0
        while not stop.is_set():
            while not self.poll_once():
                await asyncio.sleep(0)  # let requests in between slices
            now = time.monotonic()
            if now - frozen_at >= FREEZE_INTERVAL_S:
                frozen_at = now
                freeze_heap()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)


class ApiState:
    """Everything a request handler reaches, built once per app (``app.state.vigil``)."""

    def __init__(
        self,
        settings: ApiSettings,
        auth: Authenticator,
        metrics: ApiMetrics,
        runtime: RuntimeProcess | None = None,
        db: Database | None = None,
    ) -> None:
        settings.state_dir.mkdir(parents=True, exist_ok=True)
        self.settings = settings
        self.auth = auth
        self.metrics = metrics
        self.runtime = runtime
        #: the case and key database (None: case endpoints answer 503)
        self.db = db
        #: alerts of the index handed to the case service so far
        self.alerts_fed_to_cases = 0
        self.index = RiskIndex(settings.index_retention_ms)
        self.staleness = Staleness()
        self.clock = EventClock(settings.input_log)
        #: the runtime's counters and what they say of the stream (``stream_health``)
        self.stream = StreamHealth(settings.progress_path)
        self.tailer = OutputTailer(settings, self.index, self.staleness, metrics.staleness.observe)
        self.input_log = DurableAppender(settings.input_log, fsync=settings.fsync_events)
        self.decision_log = DurableAppender(settings.input_log, fsync=settings.fsync_decisions)
        self.dead_letters = DurableAppender(settings.dead_letter_path, fsync=settings.fsync_events)
        self.journal = DecisionJournal(
            settings.decision_journal, fsync=settings.fsync_decisions, input_log=settings.input_log
        )
        if self.journal.lost_events:  # a crash took them from the input log: put them back
            self.decision_log.write(b"".join(e + b"\n" for e in self.journal.lost_events))
            self.decision_log.sync_now()
        self.batches = 0
        #: the campaigns' settled figures (``/v1/ads/figures``)
        self.ads_book = AdsBook(settings.out_dir)

    def deliver_label_events(self) -> None:
        """After a label is committed: its ``analyst_decision`` events go from the case
        outbox into the runtime's input log (the models read them)."""
        if self.db is None:
            return
        flush_outbox(self.db, self.settings.input_log)
        self.staleness.appended()

    def sync(self) -> None:
        """Make every append durable (the app stops; it may be started again, as tests do)."""
        for log in (self.input_log, self.decision_log, self.dead_letters, self.journal.log):
            log.sync_now()

    def close(self) -> None:
        for log in (self.input_log, self.decision_log, self.dead_letters, self.journal.log):
            log.close()


def get_state(request: Request) -> ApiState:
    state: ApiState = request.app.state.vigil
    return state

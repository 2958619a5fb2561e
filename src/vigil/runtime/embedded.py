"""The embedded runtime: one process, event time, keyed state, timers, windows, checkpoints.

One record flows: source line -> decode (bad: dead letter) -> dedup by event id
(duplicate: counted, dropped) -> lateness check (older than watermark - allowed lateness:
dead letter ``too_late``) -> subscribed detectors (``on_event``) -> watermark advance ->
due windows (``on_window``) and timers (``on_timer``) in event-time order -> alerts.

Watermark = highest event time seen - max out-of-orderness. Timers and windows fire once
the watermark reaches them; with every event inside the bound, results do not depend on
arrival order. See docs/adr/0001-runtime-semantics.md for the late-event policy.
"""

from __future__ import annotations

import gc
import logging
import shutil
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol
from zlib import crc32

import msgspec

from vigil.analytics.store import AnalyticsStore
from vigil.decisions.book import DecisionBook, RefundDecision
from vigil.decisions.evidence import AlertIndex
from vigil.decisions.policy import THRESHOLDS, DecisionPolicy
from vigil.decisions.request import decide_request
from vigil.detectors.base import Alert, Detector, Record, Signal
from vigil.detectors.request import ProfileScorer
from vigil.detectors.return_centres import ReturnCentres
from vigil.detectors.settings import DetectorSettings
from vigil.errors import (
    RESUME_AFTER_FULL_DISK,
    CheckpointError,
    ConfigError,
    InputError,
    write_failure,
)
from vigil.events.codec import MAX_RECORD_BYTES, DecodeFailure, decode_one, decode_strict
from vigil.events.codec import encode_one as encode_event
from vigil.events.schemas import (
    EVENT_TYPES,
    AnalystDecision,
    Event,
    EventBase,
    RefundRequested,
    type_name,
)
from vigil.features.entity import TRACKED_TYPES as _FEATURE_TYPES
from vigil.features.entity import EntityFeatures
from vigil.features.facts import FACTS_FILE, FactsSettings, RequestFacts
from vigil.ingest import event_time
from vigil.ingest.dead_letter import DeadLetter, DeadReason
from vigil.ingest.sources import FileSource, LineSource, Position
from vigil.runtime import checkpoint
from vigil.runtime.outputs import JsonlSink
from vigil.runtime.stats import RunStats
from vigil.state.keyed import StateBackend, open_backend
from vigil.state.keyed.backend import LIVE_DIR
from vigil.state.timers import TimerQueue
from vigil.state.windows import Window, WindowStore

MINUTE_MS = 60_000
#: facts are pruned at every this many dedup prunes (a full pass over them: rarely; reads
#: ignore idle entries anyway, so when it runs changes nothing but memory)
FACTS_PRUNE_EVERY = 10
DAY_MS = 86_400_000
NO_WATERMARK = -(1 << 62)
#: ``_early_at`` when no event can be early (no clock yet, or held events being processed)
_NEVER_EARLY = 1 << 62
#: output names of the runtime's own (a pipeline's record channel may not take one)
_CORE_OUTPUTS = frozenset(
    {"alerts", "dead_letter", "decisions", "shadow_alerts", "facts", "stats", "progress"}
)
NO_DUE = 1 << 62
_CLASS_BY_TYPE = {type_name(cls): cls for cls in EVENT_TYPES}
#: signals of detectors named with this prefix (shadow rules) are recorded in
#: ``shadow_alerts.jsonl``, never in ``alerts.jsonl``, the analytics store or decisions
SHADOW_PREFIX = "shadow:"
#: with ``publish_every_batch``: ``{"input_offset", "lines", "published_at_ms"}`` of the last
#: publish, replaced (not fsynced) after the outputs of every batch are in their files
PROGRESS_FILE = "progress.json"


_log = logging.getLogger("vigil.runtime")


@dataclass(frozen=True)
class RuntimeSettings:
    """How the embedded runtime treats time and durability."""

    max_out_of_orderness_ms: int = event_time.MAX_OUT_OF_ORDERNESS_MS
    allowed_lateness_ms: int = event_time.ALLOWED_LATENESS_MS
    #: an event more than this ahead of the wall clock cannot have happened yet: it is kept
    #: as a ``too_early`` dead letter and never moves the watermark (one record dated in the
    #: year 3000 would otherwise turn every later event into a late one). None: no bound
    #: (``vigil.ingest.event_time``)
    max_future_ms: int | None = event_time.MAX_FUTURE_MS
    #: opt-in (replays of history, where the wall clock says little): an event more than
    #: this ahead of the stream's clock (the latest event time accepted) is held, not
    #: processed; None: off
    max_clock_skew_ms: int | None = None
    #: held events are processed once this many arrive in a row, all ahead of the clock (the
    #: stream really moved on: a producer back after an outage); the first event within the
    #: skew instead shows they were outliers, and they are dead-lettered ``too_early``, as
    #: they are at the end of the input
    clock_jump_events: int = event_time.CLOCK_JUMP_EVENTS
    checkpoint_every_events: int = 500_000
    #: also checkpoint at the first batch boundary this many seconds after the last
    #: checkpoint (None: by line count only); follow mode, where batches are small
    checkpoint_interval_s: float | None = None
    #: after every batch, publish the outputs (flushed to the files, not fsynced) and
    #: ``progress.json`` (input offset, time), so a follower of the outputs sees them at once,
    #: not only at checkpoints; a resume still cuts the outputs back to the checkpoint
    publish_every_batch: bool = False
    #: how often (in input lines) forgotten event ids are pruned from the dedup map
    dedup_prune_every: int = 100_000
    analytics: bool = True
    #: where a refund's combined score becomes review or deny (``decisions.jsonl``)
    decision_policy: DecisionPolicy = field(default_factory=DecisionPolicy)
    #: decide every ``refund_requested`` as it arrives (``vigil.decisions.request``); off for
    #: runs that only need the stream's findings (rule backtests, model datasets)
    request_decisions: bool = True
    #: alerts older than the newest one minus this no longer count as evidence at request
    #: time (the same default as ``vigil serve --index-retention``)
    evidence_retention_ms: int = 90 * DAY_MS
    #: where stages keep their keyed state (``vigil.state.keyed``): "memory" or "rocksdb"
    state_backend: str = "memory"

    def fingerprint(self) -> str:
        """Settings that change results; a checkpoint is only resumed with the same ones.

        The two decision thresholds are not among them: a lead may change them (the console's
        four eyes) while a stream runs. New thresholds apply from the resume point on, the
        decisions already written stand, and the run's stats list the change
        (``decision_policy_changes``).
        """
        d = asdict(self)
        for volatile in (
            "checkpoint_every_events",
            "checkpoint_interval_s",
            "publish_every_batch",
            "analytics",
        ):
            d.pop(volatile)
        for threshold in THRESHOLDS:
            d["decision_policy"].pop(threshold)
        if d["state_backend"] == "memory":
            del d["state_backend"]  # the default: checkpoints from before the setting still match
        return msgspec.json.encode(d).decode()

    def thresholds(self) -> dict[str, float]:
        policy = self.decision_policy
        return {name: float(getattr(policy, name)) for name in THRESHOLDS}


class _DetectorContext:
    """The ``Context`` one detector sees; namespaces its state under the detector's name."""

    __slots__ = ("_cache", "_prefix", "_rt")

    def __init__(self, rt: EmbeddedRuntime, detector: Detector) -> None:
        self._rt = rt
        self._prefix = f"{detector.name}@{detector.version}/"
        self._cache: dict[str, dict[str, Any]] = {}

    @property
    def watermark_ms(self) -> int:
        return self._rt.watermark_ms

    @property
    def state_backend(self) -> StateBackend:
        """Where stages keep their keyed state (``vigil.state.keyed.pipeline``)."""
        return self._rt.state

    def keyed(self, namespace: str) -> dict[str, Any]:
        ns = self._cache.get(namespace)
        if ns is None:
            store = self._rt.keyed_state
            full = self._prefix + namespace
            ns = store.get(full)
            if ns is None:
                ns = store[full] = {}
            self._cache[namespace] = ns
        return ns

    def set_timer(self, fire_at_ms: int, key: str, payload: Any = None, phase: int = 0) -> None:
        rt = self._rt
        rt.timers.set(fire_at_ms, self._prefix, key, payload, phase)
        if fire_at_ms < rt.next_due_ms:
            rt.next_due_ms = fire_at_ms

    def window_add(self, name: str, key: str, time_ms: int, value: Any) -> None:
        rt = self._rt
        store = rt.windows[self._prefix + name]
        missed = store.add(key, time_ms, value, rt.watermark_ms)
        if missed:
            rt.stats.window_late_drops += missed
        end = store.next_end_ms()
        if end is not None and end < rt.next_due_ms:
            rt.next_due_ms = end

    def forget_cache(self) -> None:
        """State was replaced (restore from a checkpoint): look namespaces up again."""
        self._cache.clear()


class OutputPublisher(Protocol):
    """Hands the durable outputs on after each checkpoint (``vigil.kafka.outbox``)."""

    def start(self, saved: Any, resumed: bool) -> None: ...

    def snapshot(self) -> Any: ...

    def publish(self, positions: dict[str, int]) -> None: ...

    def close(self) -> None: ...


class EmbeddedRuntime:
    """Runs detectors over one source into alerts, dead letters, analytics and stats."""

    def __init__(
        self,
        detectors: Sequence[Detector],
        out_dir: Path,
        settings: RuntimeSettings | None = None,
        checkpoint_dir: Path | None = None,
        progress: Callable[[RunStats, int], None] | None = None,
        should_stop: Callable[[], bool] = lambda: False,
        *,
        detector_settings: DetectorSettings | None = None,
        return_centres: ReturnCentres | None = None,
        request_profile: ProfileScorer | None = None,
        publisher: OutputPublisher | None = None,
    ) -> None:
        self.settings = settings or RuntimeSettings()
        #: produces the durable outputs elsewhere (Kafka topics) after each checkpoint
        self.publisher = publisher
        self._source: LineSource | None = None
        #: lines read before the current batch (a dead letter's place in it, ``_where``)
        self._batch_first_line = 0
        #: judges a request's profile in place of ``request_risk`` (the request model)
        self.request_profile = request_profile
        #: what the request-time scorers read (``vigil.decisions.request``)
        self.detector_settings = detector_settings or DetectorSettings()
        self.return_centres = return_centres or ReturnCentres()
        self.detectors = list(detectors)
        self.out_dir = out_dir
        self.checkpoint_dir = checkpoint_dir
        self.progress = progress
        self.should_stop = should_stop
        self.keyed_state: dict[str, dict[str, Any]] = {}
        #: the stages' keyed state, checkpointed incrementally (``vigil.state.keyed``)
        self.state = open_backend(
            self.settings.state_backend, checkpoint_dir or out_dir / ".vigil-state"
        )
        self.timers = TimerQueue()
        self.windows: dict[str, WindowStore] = {}
        self.features = EntityFeatures()
        self.max_event_time_ms = NO_WATERMARK
        self.watermark_ms = NO_WATERMARK
        #: the wall clock in epoch ms, only for ``max_future_ms`` (tests replace it)
        self.wall_clock_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000
        #: the input file (its bytes before a checkpoint's position are checked at a resume)
        self._input_path: Path | None = None
        #: the state manifest of the last checkpoint written or restored (kept at the next)
        self._last_manifest: dict[str, Any] | None = None
        self._last_facts_manifest: dict[str, Any] | None = None
        #: events held ahead of the clock: (line number, raw line, event id, event time)
        self._early: list[tuple[int, bytes, str, int]] = []
        #: processing held events after the stream showed it moved on
        self._replaying_early = False
        #: no timer or window is due before this event time (a lower bound, kept cheaply)
        self.next_due_ms = NO_DUE
        self.stats = RunStats()
        #: one running decision per refund any detector spoke about (``decisions.jsonl``)
        self.decisions = DecisionBook(self.settings.decision_policy)
        #: what has arrived, per entity, for request-time decisions (published under serve)
        self.facts = RequestFacts(
            FactsSettings(allowed_lateness_ms=self.settings.allowed_lateness_ms),
            track_dirty=self.settings.publish_every_batch,
            checkpointed=checkpoint_dir is not None,
        )
        #: the alerts raised so far, by the plain ids they concern (request-time evidence)
        self.alert_index = AlertIndex(self.settings.evidence_retention_ms)
        self._prunes = 0
        # Dedup: ids in two generations; a generation is dropped once every id in it is older
        # than anything still accepted, so whenever pruning runs, results are the same.
        # Each id maps to a checksum of its record (CRC-32 of the line), so that a re-send with
        # another body is told apart from a plain duplicate (``conflicting_duplicate``).
        self._seen_new: dict[str, int] = {}
        self._seen_new_max_ms = NO_WATERMARK
        self._seen_old: dict[str, int] = {}
        self._seen_old_max_ms = NO_WATERMARK
        self._flush_seq = 0
        self._emitted: set[str] = set()
        self._by_prefix: dict[str, tuple[Detector, _DetectorContext]] = {}
        self._routes: dict[type[EventBase], list[tuple[Detector, _DetectorContext]]] = {}
        for det in self.detectors:
            ctx = _DetectorContext(self, det)
            prefix = f"{det.name}@{det.version}/"
            if prefix in self._by_prefix:
                raise ValueError(f"detector {det.name!r} version {det.version} given twice")
            self._by_prefix[prefix] = (det, ctx)
            for spec in det.windows():
                self.windows[prefix + spec.name] = WindowStore(spec)
            unknown = det.subscribes - set(_CLASS_BY_TYPE)
            if unknown:
                raise ValueError(
                    f"detector {det.name!r} subscribes to unknown event types {sorted(unknown)}"
                )
            for tname in sorted(det.subscribes):
                self._routes.setdefault(_CLASS_BY_TYPE[tname], []).append((det, ctx))
        #: detectors with ``refresh(ctx)`` are called before every batch: the one point where
        #: a detector may change its configuration (rules hot reload, docs/rules.md)
        self._refreshers: list[tuple[Callable[[Any], None], _DetectorContext]] = [
            (det.refresh, ctx)  # type: ignore[attr-defined]
            for det, ctx in self._by_prefix.values()
            if callable(getattr(det, "refresh", None))
        ]
        #: detectors with ``on_decision(decision, ctx)`` hear every refund decision written
        #: (the ad analytics take a denied refund's order out of a campaign's net revenue)
        self._decision_readers: list[tuple[Callable[..., Any], _DetectorContext]] = [
            (det.on_decision, ctx)  # type: ignore[attr-defined]
            for det, ctx in self._by_prefix.values()
            if callable(getattr(det, "on_decision", None))
        ]

    # --- the loop -------------------------------------------------------------------------

    def run(self, source: LineSource) -> RunStats:
        """Process the source to its end (or until a follow source stops); return the stats."""
        meta = checkpoint.CheckpointMeta(
            format_version=checkpoint.FORMAT_VERSION,
            input_name=source.name,
            input_fingerprint=getattr(source, "fingerprint", None)
            or checkpoint.input_fingerprint(
                source.path if isinstance(source, FileSource) else None
            ),
            settings_fingerprint=self.settings.fingerprint()
            + "|"
            + ",".join(
                f"{d.name}@{d.version}:{getattr(d, 'settings', None)!r}"
                + (f"[{d.stage_versions}]" if hasattr(d, "stage_versions") else "")
                for d in self.detectors
            )
            + "|request:"
            + self.detector_settings.fingerprint()
            + self.return_centres.fingerprint()
            + (
                ""
                if self.request_profile is None
                else f"|profile:{getattr(self.request_profile, 'version', '?')}"
            ),
        )
        restored = None
        if self.checkpoint_dir is not None:
            if not source.resumable:
                raise ConfigError(
                    f"{source.name} cannot be resumed; use a file input with --checkpoint-dir"
                )
            restored = checkpoint.load(
                self.checkpoint_dir, meta, source.path if isinstance(source, FileSource) else None
            )
        if restored is None and self.checkpoint_dir is not None:
            self._warn_if_started_before(self.checkpoint_dir)
        self._source = source
        offset: Position = 0
        positions: dict[str, int] | None = None
        digests: dict[str, str] = {}
        self._input_path = source.path if isinstance(source, FileSource) else None
        if restored is not None:
            try:
                offset = self._restore(restored)
            except InputError as exc:  # one of its state or facts files is damaged or missing
                assert self.checkpoint_dir is not None
                restored = checkpoint.load(
                    self.checkpoint_dir, meta, self._input_path, newest_unusable=str(exc)
                )
                assert restored is not None
                try:
                    offset = self._restore(restored)
                except InputError as again:
                    raise CheckpointError(
                        f"no checkpoint in {str(self.checkpoint_dir)!r} can be restored: {exc}; "
                        f"and the previous one: {again}"
                    ) from again
            if isinstance(offset, int):  # a file: still holding what the checkpoint read
                checkpoint.verify_input(self._input_path, offset, restored.get("input_tail"))
            positions = restored["outputs"]
            digests = restored.get("output_digests", {})
            self.stats.resumed_from_line = self.stats.lines
            self.stats.stopped_early = False
        out = self.out_dir
        alerts = JsonlSink(
            out / "alerts.jsonl",
            positions["alerts"] if positions else None,
            digest=digests.get("alerts"),
        )
        dead = JsonlSink(
            out / "dead_letter.jsonl",
            positions["dead_letter"] if positions else None,
            digest=digests.get("dead_letter"),
        )
        decisions = JsonlSink(
            out / "decisions.jsonl",
            positions["decisions"] if positions else None,
            digest=digests.get("decisions"),
        )
        store = (
            AnalyticsStore(out / "analytics.duckdb", self._flush_seq if restored else None)
            if self.settings.analytics
            else None
        )
        self._alerts_sink, self._dead_sink, self._store = alerts, dead, store
        self._decisions_sink = decisions
        self._shadow_sink = JsonlSink(
            out / "shadow_alerts.jsonl",
            positions.get("shadow_alerts") if positions else None,
            digest=digests.get("shadow_alerts"),
        )
        self._facts_sink = (
            JsonlSink(
                out / FACTS_FILE, positions.get("facts") if positions else None, durable=False
            )
            if self.settings.publish_every_batch
            else None
        )
        self._drains = [d.drain for d in self.detectors if hasattr(d, "drain")]
        #: the outputs' lengths at the last checkpoint: a resume never cuts below them, so a
        #: reader that sums lines (ad_figures.jsonl) reads up to them (``progress.json``)
        self._durable: dict[str, int] = dict(positions) if positions else {}
        #: rows pipelines write to outputs of their own (``Record``), one file per channel
        self._record_sinks = {
            channel: JsonlSink(
                out / f"{channel}.jsonl",
                positions.get(channel) if positions else None,
                digest=digests.get(channel),
            )
            for channel in self._channels()
        }
        if self._facts_sink is not None and self._facts_sink.lost:
            _log.warning("%s lost its tail in a crash: publishing every fact again", FACTS_FILE)
            self.facts.mark_all_dirty()
        if self.publisher is not None:
            self.publisher.start(
                None if restored is None else restored.get("outbox"), bool(restored)
            )
            if positions is not None:  # what the crashed run had not produced
                self.publisher.publish(positions)
        gc_threshold = gc.get_threshold()
        # State holds millions of small containers; the default thresholds make the cyclic
        # collector rescan them every few thousand allocations (measured on 1M simulated
        # events, one core: about 20% more events/s with these thresholds).
        gc.set_threshold(200_000, 50, 1000)
        try:
            self._loop(source, offset, meta)
            self._finish()
        finally:
            gc.set_threshold(*gc_threshold)
            if store is not None:
                store.close()
            close = getattr(source, "close", None)
            if close is not None:
                close()
            if self.publisher is not None:
                self.publisher.close()
            self.state.close()
            if self.checkpoint_dir is None:  # a database nobody can resume from
                shutil.rmtree(self.out_dir / ".vigil-state", ignore_errors=True)
        return self.stats

    def _channels(self) -> list[str]:
        """The record channels the detectors declare (``channels``), in their order."""
        found: dict[str, None] = {}
        for det in self.detectors:
            for channel in getattr(det, "channels", ()):
                if channel in _CORE_OUTPUTS:
                    raise ValueError(f"{det.name}: channel {channel!r} is one of Vigil's outputs")
                found[channel] = None
        return list(found)

    def _warn_if_started_before(self, directory: Path) -> None:
        """No checkpoint, yet an earlier run left state or outputs: say what happens now."""
        # the RocksDB backend's working database is not something an earlier run left
        leftovers = (
            sorted(p.name for p in directory.iterdir() if p.name != LIVE_DIR)
            if directory.is_dir()
            else []
        )
        outputs = [
            name
            for name in ("alerts.jsonl", "decisions.jsonl", "dead_letter.jsonl")
            if (self.out_dir / name).is_file() and (self.out_dir / name).stat().st_size
        ]
        if leftovers or outputs:
            _log.warning(
                "no checkpoint in %s%s: starting from the beginning of the input; the outputs "
                "in %s are written again from the start",
                directory,
                f" (it holds {', '.join(leftovers[:3])}{'...' if len(leftovers) > 3 else ''})"
                if leftovers
                else "",
                self.out_dir,
            )

    def _loop(self, source: LineSource, offset: Position, meta: checkpoint.CheckpointMeta) -> None:
        stats = self.stats
        started = time.perf_counter()
        every = self.settings.checkpoint_every_events
        next_ckpt = stats.lines + every
        interval = self.settings.checkpoint_interval_s
        next_ckpt_s = started + interval if interval is not None else float("inf")
        publish = self.settings.publish_every_batch
        prune_every = self.settings.dedup_prune_every
        next_prune = stats.lines + prune_every
        name = source.name
        #: input read since the last checkpoint (an idle follow source yields empty batches)
        dirty = False
        for lines, end_offset in source.batches(offset):
            for refresh, ctx in self._refreshers:
                refresh(ctx)
            if lines:
                self._batch_first_line = stats.lines
                line_no = self._run_batch(lines, stats.lines, name)
                stats.lines = line_no
                dirty = True
            else:
                line_no = stats.lines
            offset = end_offset
            if line_no >= next_prune:
                next_prune = line_no + prune_every
                self._prune_dedup()
            now = time.perf_counter()
            if line_no >= next_ckpt or (dirty and now >= next_ckpt_s):
                next_ckpt = line_no + every
                if interval is not None:
                    next_ckpt_s = now + interval
                stats.wall_s += now - started
                started = now
                self._checkpoint(meta, offset)
                dirty = False
            elif publish and lines:
                self._publish(offset)
            if self.progress:
                # a byte offset (a topic has no size to show progress against)
                self.progress(stats, offset if isinstance(offset, int) else 0)
            if self.should_stop():
                stats.stopped_early = True
                break
        stats.wall_s += time.perf_counter() - started
        if not stats.stopped_early and self._early:
            # the end of the input: nothing came to show the stream moved where they point
            self._drop_early(name)
        self._checkpoint(meta, offset)

    def _run_batch(self, lines: list[bytes], line_no: int, source_name: str) -> int:
        """The hot path: every line of one batch. Returns the last line number.

        Written flat, with locals, on purpose: at a few microseconds per event, attribute
        lookups and calls are a measurable share (see bench/). Rare cases (bad lines, too
        late) leave through methods.
        """
        stats = self.stats
        decode = decode_strict
        max_record = MAX_RECORD_BYTES
        seen = self._seen_new
        seen_old = self._seen_old
        seen_max = self._seen_new_max_ms
        max_t = self.max_event_time_ms
        wm = self.watermark_ms
        lateness = self.settings.allowed_lateness_ms
        bound = self.settings.max_out_of_orderness_ms
        feature_types = _FEATURE_TYPES
        update_features = self.features.update
        store_add = self._store.add_event if self._store is not None else None
        routes_of = self._routes.get
        emit = self._emit
        update_facts = self.facts.update_one if self.settings.request_decisions else None
        fact_types = self.facts.tracked_types
        wall_at = self._wall_at()
        early_at = self._early_at(wall_at)
        skew = self.settings.max_clock_skew_ms
        replaying = self._replaying_early or skew is None
        holding = bool(self._early)
        processed = duplicates = late_accepted = 0
        for raw in lines:
            line_no += 1
            try:
                if len(raw) > max_record:
                    raise ValueError("too large")  # kept, with its size (``decode_one``)
                ev: Event = decode(raw)
            except Exception:  # whatever is wrong with a line, it is kept, never fatal
                if raw and not raw.isspace():
                    self._dead_malformed(raw, line_no, source_name)
                else:
                    stats.blank_lines += 1
                continue
            eid = ev.event_id
            t = ev.event_time_ms
            # Too late is judged before duplicate, so a re-send's fate never depends on when
            # old ids were forgotten (only ids that can no longer be accepted are forgotten).
            late = t < wm
            if late and t < wm - lateness:
                self._dead_too_late(raw, line_no, source_name, eid, t, wm)
                continue
            if eid in seen or eid in seen_old:  # (membership first: no call for new ids)
                body = seen[eid] if eid in seen else seen_old[eid]
                if crc32(raw) == body:
                    duplicates += 1
                else:  # the same id with another body: kept for an operator (rare)
                    self._dead_conflicting(raw, line_no, source_name, eid)
                continue
            if t > early_at:  # far ahead of the clocks: kept or held (rare; out of line)
                if t > wall_at:
                    self._dead_too_early(raw, line_no, source_name, eid, t, wall_at)
                    continue
                self._seen_new_max_ms, self.max_event_time_ms = seen_max, max_t
                stats.processed += processed
                stats.duplicates += duplicates
                stats.late_accepted += late_accepted
                processed = duplicates = late_accepted = 0
                self._hold_early(raw, line_no, source_name, eid, t)
                seen_max, max_t, wm = (
                    self._seen_new_max_ms,
                    self.max_event_time_ms,
                    self.watermark_ms,
                )
                early_at = self._early_at(wall_at)
                holding = bool(self._early)
                continue
            if holding:  # an event within the skew: what was held ahead of it were outliers
                self._drop_early(source_name)
                holding = False
            if late:
                late_accepted += 1
            seen[eid] = crc32(raw)
            if t > seen_max:
                seen_max = t
            processed += 1
            # What has arrived so far, before this event moves time: a request is decided
            # from it (``vigil.decisions.request``), and then becomes a fact itself.
            if update_facts is not None and type(ev) in fact_types:
                if type(ev) is RefundRequested:
                    self._decide_request(ev)
                elif type(ev) is AnalystDecision:
                    self._label_from_alert(ev)
                update_facts(ev)
            if t > max_t:
                # Advance time first: whatever was due before this event's time fires
                # before the event is seen, whichever order the stream brought them in.
                max_t = t
                if not replaying:
                    early_at = min(wall_at, t + skew)  # type: ignore[operator]
                if t - bound > wm:
                    wm = self.watermark_ms = t - bound
                    if wm >= self.next_due_ms:
                        self._fire_due(wm, line_no)
            if type(ev) in feature_types:
                update_features(ev)
            if store_add is not None:
                # what was validated, re-encoded: the raw line may carry unknown or repeated
                # keys that the schema ignores but DuckDB's JSON reader would choke on
                store_add(encode_event(ev))
            routes = routes_of(type(ev))
            if routes:
                for det, ctx in routes:
                    signals = det.on_event(ev, ctx)
                    if signals:
                        emit(signals, line_no)
        self._seen_new_max_ms = seen_max
        self.max_event_time_ms = max_t
        stats.processed += processed
        stats.duplicates += duplicates
        stats.late_accepted += late_accepted
        return line_no

    def _wall_at(self) -> int:
        """Events later than this cannot have happened yet (read once per batch)."""
        future = self.settings.max_future_ms
        return _NEVER_EARLY if future is None else self.wall_clock_ms() + future

    def _early_at(self, wall_at: int) -> int:
        """Events later than this are kept (past ``wall_at``) or held (ahead of the stream's
        clock by more than the skew, when that is on, the clock is set and nothing held is
        being processed)."""
        skew = self.settings.max_clock_skew_ms
        if skew is None or self.max_event_time_ms == NO_WATERMARK or self._replaying_early:
            return wall_at
        return min(wall_at, self.max_event_time_ms + skew)

    def _dead_too_early(
        self, raw: bytes, line_no: int, source_name: str, eid: str, t: int, wall_at: int
    ) -> None:
        self.stats.too_early += 1
        self._keep_dead(
            raw, source_name, line_no, eid, "event_time_ms", "too_early",
            f"event time {t} is more than {self.settings.max_future_ms} ms ahead of the wall "
            f"clock (until {wall_at}): it cannot have happened yet",
        )  # fmt: skip

    def _hold_early(self, raw: bytes, line_no: int, source_name: str, eid: str, t: int) -> None:
        """Hold an event ahead of the clock; once ``clock_jump_events`` are held in a row the
        stream has moved on: process them, in their order."""
        self._early.append((line_no, raw, eid, t))
        if len(self._early) < self.settings.clock_jump_events:
            return
        held, self._early = self._early, []
        self.stats.clock_jumps += 1
        _log.warning(
            "the stream's clock jumped from %s to %s: %d events in a row (from line %d) were "
            "more than the clock skew (%d ms) ahead of it; processing them",
            self.max_event_time_ms, held[0][3], len(held), held[0][0],
            self.settings.max_clock_skew_ms,
        )  # fmt: skip
        self._replaying_early = True
        try:
            for ln, line, _eid, _t in held:
                self._run_batch([line], ln - 1, source_name)
        finally:
            self._replaying_early = False

    def _drop_early(self, source_name: str) -> None:
        """The held events were outliers: keep them as ``too_early`` dead letters."""
        held, self._early = self._early, []
        skew = self.settings.max_clock_skew_ms
        for ln, raw, eid, t in held:
            self.stats.too_early += 1
            self._keep_dead(
                raw, source_name, ln, eid, "event_time_ms", "too_early",
                f"event time {t} is more than the clock skew ({skew} ms) ahead of the "
                f"stream's clock {self.max_event_time_ms}, and the stream did not move there",
            )  # fmt: skip

    def _decide_request(self, ev: RefundRequested) -> None:
        """The request-time decision, from what arrived before ``ev`` (``decisions.jsonl``)."""
        decision = decide_request(
            ev,
            self.facts,
            self.alert_index,
            policy=self.settings.decision_policy,
            settings=self.detector_settings,
            centres=self.return_centres,
            profile=self.request_profile,
        )
        counts = self.stats.requests_by_decision
        counts[decision.decision] = counts.get(decision.decision, 0) + 1
        if decision.set_aside:
            self.stats.requests_set_aside += 1
        self.stats.decisions += 1
        self._decisions_sink.write(decision)
        self.decisions.note_request(decision)
        if self._decision_readers:
            self._tell(decision, -1)

    def _tell(self, decision: RefundDecision, line_no: int) -> None:
        for read, ctx in self._decision_readers:
            found = read(decision, ctx)
            if found:
                self._emit(found, line_no)

    def _with_refund_details(self, decision: RefundDecision) -> RefundDecision:
        """A stream decision moved by an alert that is not about the refund alone (a session,
        a ring) does not know the refund's money, customer or order: its request does."""
        if decision.amount_cents and decision.customer_id is not None:
            return decision
        known = self.facts.refund(decision.refund_id, decision.event_time_ms)
        if known is None:
            return decision
        return msgspec.structs.replace(
            decision,
            amount_cents=decision.amount_cents or known.amount_cents,
            customer_id=decision.customer_id or known.customer_id,
            agent_id=decision.agent_id or known.agent_id,
            order_id=decision.order_id or known.order_id,
        )

    def _label_from_alert(self, ev: AnalystDecision) -> None:
        """An analyst's label on an alert labels the customers and the agent it is about."""
        alert = self.alert_index.get(ev.alert_id)
        if alert is None:
            return
        t = ev.event_time_ms
        agent = alert.agent_id if alert.subject_type == "agent" else None
        customers = {alert.customer_id} if alert.customer_id else set()
        if alert.subject_type == "ring":
            customers |= {m[8:] for m in alert.members if m.startswith("account:")}
        if agent is not None:
            self.facts.label(ev.outcome, t, agent_id=agent)
        for customer in sorted(customers):
            self.facts.label(ev.outcome, t, customer_id=customer)

    def _dead_malformed(self, raw: bytes, line_no: int, source_name: str) -> None:
        failure = decode_one(raw, line_no)  # the slow path names line, id and field
        assert isinstance(failure, DecodeFailure)
        self.stats.malformed += 1
        self._dead_sink.write(
            DeadLetter.of(
                raw,
                source=self._where(source_name, line_no),
                line_no=line_no,
                event_id=failure.event_id,
                field=failure.field,
                reason_code="malformed",
                reason=failure.describe(),
            )
        )

    def _dead_conflicting(self, raw: bytes, line_no: int, source_name: str, eid: str) -> None:
        self.stats.conflicting_duplicates += 1
        self._keep_dead(
            raw, source_name, line_no, eid, "event_id", "conflicting_duplicate",
            "an event with this id and another body was already accepted; this one was not "
            "processed",
        )  # fmt: skip

    def _dead_too_late(
        self, raw: bytes, line_no: int, source_name: str, eid: str, t: int, wm: int
    ) -> None:
        self.stats.too_late += 1
        self._keep_dead(
            raw, source_name, line_no, eid, "event_time_ms", "too_late",
            f"event time {t} is more than the allowed lateness behind the watermark {wm}",
        )  # fmt: skip

    def _keep_dead(
        self,
        raw: bytes,
        source_name: str,
        line_no: int,
        eid: str,
        field: str,
        reason_code: DeadReason,
        what: str,
    ) -> None:
        """A decoded record not processed: a dead letter named by line and event id."""
        self._dead_sink.write(
            DeadLetter.of(
                raw,
                source=self._where(source_name, line_no),
                line_no=line_no,
                event_id=eid,
                field=field,
                reason_code=reason_code,
                reason=f"line {line_no}, event {eid!r}: {what}",
            )
        )

    def _where(self, source_name: str, line_no: int) -> str:
        """The source, and for a Kafka input the record's partition and offset (``locate``):
        what an operator needs to find a dead letter's record in its log."""
        locate = getattr(self._source, "locate", None)
        found = None if locate is None else locate(line_no - self._batch_first_line - 1)
        return source_name if found is None else f"{source_name} {found}"

    def _fire_due(self, watermark: int, line_no: int) -> None:
        """Fire windows and timers up to the watermark, in event-time order."""
        timers = self.timers
        while True:
            t_next = timers.next_due_ms()
            w_next, w_name = self._next_window_end()
            if w_next is not None and w_next <= watermark and (t_next is None or w_next <= t_next):
                self._fire_windows(w_name, w_next, line_no)
                continue
            due = timers.pop_due(watermark)
            if due is None:
                self._recompute_next_due()
                return
            fire_at, prefix, key, payload = due
            det, ctx = self._by_prefix[prefix]
            self.stats.timers_fired += 1
            signals = det.on_timer(key, payload, fire_at, ctx)
            if signals:
                self._emit(signals, line_no)

    def _recompute_next_due(self) -> None:
        t_next = self.timers.next_due_ms()
        w_next, _ = self._next_window_end()
        candidates = [x for x in (t_next, w_next) if x is not None]
        self.next_due_ms = min(candidates) if candidates else NO_DUE

    def _next_window_end(self) -> tuple[int | None, str]:
        if not self.windows:
            return None, ""
        best: int | None = None
        best_name = ""
        for name, store in self.windows.items():
            end = store.next_end_ms()
            if end is not None and (best is None or end < best):
                best, best_name = end, name
        return best, best_name

    def _fire_windows(self, full_name: str, end_ms: int, line_no: int) -> None:
        prefix, _, name = full_name.partition("/")
        det, ctx = self._by_prefix[prefix + "/"]
        closed: list[Window] = self.windows[full_name].close_until(end_ms)
        for window in closed:
            self.stats.windows_fired += 1
            signals = det.on_window(name, window, ctx)
            if signals:
                self._emit(signals, line_no)

    def _emit(self, signals: Iterable[Signal | Record], line_no: int) -> None:
        for sig in signals:
            if isinstance(sig, Record):
                self._record_sinks[sig.channel].write(sig)
                continue
            alert_id = f"{sig.detector}:{sig.subject_type}:{sig.subject_id}"
            if alert_id in self._emitted:
                self.stats.alerts_suppressed += 1
                continue
            self._emitted.add(alert_id)
            alert = Alert(alert_id=alert_id, **msgspec.structs.asdict(sig))
            if sig.detector.startswith(SHADOW_PREFIX):
                self._shadow_sink.write(alert)
                continue
            self.stats.alerts += 1
            self.stats.alerts_by_detector[sig.detector] = (
                self.stats.alerts_by_detector.get(sig.detector, 0) + 1
            )
            self._alerts_sink.write(alert)
            self.alert_index.add_alert(alert)
            if self._store is not None:
                self._store.add_alert(line_no, alert)
            for decision in self.decisions.update(alert):
                self.stats.decisions += 1
                decision = self._with_refund_details(decision)
                self._decisions_sink.write(decision)
                if self._decision_readers:
                    self._tell(decision, line_no)

    def _prune_dedup(self) -> None:
        """Forget ids older than anything still accepted; their re-sends are too late anyway.
        Facts idle beyond their retention go too (reads ignore them already)."""
        self._prunes += 1
        if self.watermark_ms > NO_WATERMARK and self._prunes % FACTS_PRUNE_EVERY == 0:
            self.facts.prune(self.watermark_ms)
            self.state.sweep(self.watermark_ms)
        horizon = self.watermark_ms - self.settings.allowed_lateness_ms
        if self._seen_old_max_ms < horizon:
            self._seen_old, self._seen_old_max_ms = self._seen_new, self._seen_new_max_ms
            self._seen_new, self._seen_new_max_ms = {}, NO_WATERMARK

    # --- durability -----------------------------------------------------------------------

    def _publish(self, input_offset: Position) -> None:
        """Hand the batch's outputs to the files (not durably) and say how far input got.

        What is published after the last checkpoint may be lost in a machine crash or cut
        back by a resume, which then writes the same lines again (deterministic ids), so a
        reader replaces, never duplicates. ``progress.json`` is replaced atomically after
        the outputs are written: when a reader sees it, the outputs hold everything produced
        from the input before ``input_offset``.
        """
        self._write_facts()
        self._drain()
        for sink in (
            self._alerts_sink,
            self._dead_sink,
            self._decisions_sink,
            self._shadow_sink,
            *self._record_sinks.values(),
        ):
            sink.flush(durable=False)
        if self._facts_sink is not None:
            self._facts_sink.flush(durable=False)
        self._write_progress(input_offset)

    def _drain(self) -> None:
        """Rows a pipeline gathered for its own outputs (``drain``), written before the
        outputs are flushed: nothing stays in a pipeline across a checkpoint."""
        for drain in self._drains:
            self._emit(drain(), -1)

    def _write_facts(self) -> None:
        sink = self._facts_sink
        if sink is not None:
            for line in self.facts.dirty_lines():
                sink.write_line(line)

    def _write_progress(self, input_offset: Position) -> None:
        path = self.out_dir / PROGRESS_FILE
        tmp = path.with_name(PROGRESS_FILE + ".tmp")
        tmp.write_bytes(
            msgspec.json.encode(
                {
                    # a file's byte offset; for topics, lines read (and the offsets below)
                    "input_offset": input_offset
                    if isinstance(input_offset, int)
                    else self.stats.lines,
                    "input_positions": None if isinstance(input_offset, int) else input_offset,
                    "lines": self.stats.lines,
                    "published_at_ms": int(time.time() * 1000),
                    # what an operator watches (``vigil serve``'s /metrics and /healthz)
                    "processed": self.stats.processed,
                    "duplicates": self.stats.duplicates,
                    "dead_letters": self.stats.dead_letter_reasons(),
                    "alerts_by_detector": self.stats.alerts_by_detector,
                    "watermark_ms": None
                    if self.watermark_ms == NO_WATERMARK
                    else self.watermark_ms,
                    "durable_outputs": self._durable,
                }
            )
        )
        tmp.replace(path)

    def _checkpoint(self, meta: checkpoint.CheckpointMeta, input_offset: Position) -> None:
        """Make outputs durable, then snapshot everything that produced them."""
        self._flush_seq += 1
        if self._store is not None:
            self._store.flush(self._flush_seq, wait=True)
        self._write_facts()
        self._drain()
        sinks = {
            "alerts": self._alerts_sink,
            "dead_letter": self._dead_sink,
            "decisions": self._decisions_sink,
            "shadow_alerts": self._shadow_sink,
            **self._record_sinks,
        }
        try:
            positions = {name: sink.flush() for name, sink in sinks.items()}
            if self._facts_sink is not None:
                positions["facts"] = self._facts_sink.flush()
        except OSError as exc:
            raise CheckpointError(_output_failure(self.out_dir, exc)) from exc
        if self.checkpoint_dir is not None:
            self._durable = positions
            digests = {name: sink.digest() for name, sink in sinks.items()}
            self._save(meta, input_offset, positions, digests)
            committed = getattr(self._source, "committed", None)
            if committed is not None:  # the source may tell its log (a consumer group)
                committed(input_offset)
        if self.publisher is not None:
            self.publisher.publish(positions)
        if self.settings.publish_every_batch:
            self._write_progress(input_offset)

    def _save(
        self,
        meta: checkpoint.CheckpointMeta,
        input_offset: Position,
        positions: dict[str, int],
        digests: dict[str, str],
    ) -> None:
        assert self.checkpoint_dir is not None
        # the stages' state first (what changed since the last checkpoint), then the snapshot
        # that names it: a crash between the two leaves the previous snapshot and its files
        try:
            state_manifest = self.state.checkpoint(self.checkpoint_dir)
            facts_manifest = self.facts.checkpoint(self.checkpoint_dir)
            input_tail = (
                checkpoint.input_tail_digest(self._input_path, input_offset)
                if isinstance(input_offset, int)
                else None
            )
        except OSError as exc:
            raise CheckpointError(_output_failure(self.checkpoint_dir, exc)) from exc
        # counted in the snapshot's own stats, so a resume reports every checkpoint written
        self.stats.checkpoints += 1
        checkpoint.save(
            self.checkpoint_dir,
            meta,
            {
                "input_offset": input_offset,
                "outputs": positions,
                "output_digests": digests,
                "input_tail": input_tail,
                "flush_seq": self._flush_seq,
                "keyed_state": self.keyed_state,
                "timers": self.timers,
                "windows": {k: w.snapshot() for k, w in self.windows.items()},
                "features": self.features,
                "max_event_time_ms": self.max_event_time_ms,
                "watermark_ms": self.watermark_ms,
                "early": self._early,
                "seen": (
                    self._seen_new,
                    self._seen_new_max_ms,
                    self._seen_old,
                    self._seen_old_max_ms,
                ),
                "emitted": self._emitted,
                "decisions": self.decisions.state(),
                "facts": {"files": facts_manifest},
                "alert_index": self.alert_index,
                "decision_policy": self.settings.thresholds(),
                "stats": self.stats,
                "state_manifest": state_manifest,
                "outbox": None if self.publisher is None else self.publisher.snapshot(),
            },
        )
        # the state files of this checkpoint and the previous one stay: the previous is what a
        # resume falls back to when this one cannot be read
        self.state.committed(self.checkpoint_dir, state_manifest, self._last_manifest)
        self._last_manifest = state_manifest
        self.facts.committed(self.checkpoint_dir, facts_manifest, self._last_facts_manifest)
        self._last_facts_manifest = facts_manifest

    def _restore(self, payload: dict[str, Any]) -> Position:
        self.keyed_state = payload["keyed_state"]
        manifest = payload.get("state_manifest")
        if manifest is not None:
            assert self.checkpoint_dir is not None
            self.state.restore(self.checkpoint_dir, manifest)
        self._last_manifest = manifest
        self.timers = payload["timers"]
        for name, snap in payload["windows"].items():
            self.windows[name].restore(snap)
        self.features = payload["features"]
        self.max_event_time_ms = payload["max_event_time_ms"]
        self.watermark_ms = payload["watermark_ms"]
        self._early = payload.get("early", [])
        (
            self._seen_new,
            self._seen_new_max_ms,
            self._seen_old,
            self._seen_old_max_ms,
        ) = payload["seen"]
        self._emitted = payload["emitted"]
        self.decisions.restore(payload["decisions"])
        facts = payload["facts"]
        if isinstance(facts, dict) and "files" in facts:
            assert self.checkpoint_dir is not None
            self.facts.restore_files(self.checkpoint_dir, facts["files"])
            self._last_facts_manifest = facts["files"]
        else:  # a checkpoint from before the facts had files of their own
            self.facts.restore(facts)
        self.alert_index = payload["alert_index"]
        self.stats = payload["stats"]
        if not hasattr(self.stats, "policy_changes"):  # a checkpoint from before the field
            self.stats.policy_changes = []
        was, now = payload.get("decision_policy"), self.settings.thresholds()
        if was is not None and was != now:
            change = {"from_line": self.stats.lines + 1, "before": was, "after": now}
            self.stats.policy_changes.append(change)
            _log.warning("decision thresholds changed at the resume: %s", change)
        self._flush_seq = payload["flush_seq"]
        for _det, ctx in self._by_prefix.values():
            ctx.forget_cache()
        self._recompute_next_due()
        offset = payload["input_offset"]
        assert isinstance(offset, int | dict)
        return offset

    def _finish(self) -> None:
        self.stats.watermark_ms = self.watermark_ms
        self.stats.pending_timers = len(self.timers)
        self.stats.refunds_by_decision = self.decisions.count_by_level()
        self._alerts_sink.close()
        self._dead_sink.close()
        self._decisions_sink.close()
        self._shadow_sink.close()
        for sink in self._record_sinks.values():
            sink.close()
        if self._facts_sink is not None:
            self._facts_sink.close()
        if self._store is not None:
            self._store.write_features(self.features.rows())
        (self.out_dir / "stats.json").write_bytes(
            msgspec.json.format(msgspec.json.encode(self.stats.summary()), indent=2) + b"\n"
        )


def _output_failure(directory: Path, exc: OSError) -> str:
    """One line for an output or checkpoint write that failed (a full disk, most often)."""
    return write_failure(exc, f"in {str(directory)!r}", *RESUME_AFTER_FULL_DISK)

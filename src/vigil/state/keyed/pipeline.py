"""Stages in the embedded runtime: a set of stages run as one detector.

The runtime routes source events by type (``subscribes``: every source type a stage reads);
the pipeline finds each reading stage's key, binds its context to that key and calls it.
Derived events a stage returns go to the stages that read them, at once and in order
(breadth first), before the next source event. Stage timers are the runtime's timers
(``Context.set_timer``), keyed ``<stage>\\x1f<key>\\x1f<name>``, so they fire in event-time
order and are checkpointed with the rest; a stage's optional ``timer_phase`` (default 0)
orders the timers of one instant, for a stage that gathers what others emit at theirs.
State lives in the runtime's state backend (``Context.state_backend``), checkpointed
incrementally.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar

from vigil.detectors.base import BaseDetector, Context, Output, Record, Signal
from vigil.events.derived import DERIVED_TYPES
from vigil.events.schemas import EventBase
from vigil.state.keyed.stage import Stage, StageContext, type_name

_SEP = "\x1f"


class StagePipeline(BaseDetector):
    """Runs ``stages`` (subclasses name the pipeline and build its stages)."""

    name: ClassVar[str] = "stages"
    version: ClassVar[int] = 1

    def __init__(self, stages: Sequence[Stage], settings: Any = None) -> None:
        #: what the pipeline was built from (the runtime fingerprints checkpoints with it)
        self.settings = settings
        self.stages = list(stages)
        names = [s.name for s in self.stages]
        if len(set(names)) != len(names):
            raise ValueError(f"stage names repeat in {self.name}: {names}")
        # the runtime routes source events; derived ones never leave the pipeline
        self.subscribes = frozenset(  # type: ignore[misc]
            tag for s in self.stages for tag in s.reads if tag not in DERIVED_TYPES
        )
        self._contexts: dict[str, StageContext] | None = None
        self._readers: dict[str, list[tuple[Stage, StageContext]]] = {}
        self._by_type: dict[type, list[tuple[Stage, StageContext]]] = {}
        self._host: Context | None = None

    def __getstate__(self) -> dict[str, Any]:
        """The stages only: what is bound to a runtime (contexts, its backend) is not the
        pipeline's and is bound again on first use."""
        return {"stages": self.stages, "settings": self.settings}

    def __setstate__(self, state: dict[str, Any]) -> None:
        StagePipeline.__init__(self, state["stages"], state["settings"])

    @property
    def stage_versions(self) -> str:
        """Its stages and their versions (part of a checkpoint's fingerprint: state kept by
        other stages, or by a detector before it had stages, is never resumed into these)."""
        return "+".join(f"{s.name}@{s.version}" for s in self.stages)

    def __repr__(self) -> str:
        stages = ", ".join(f"{s.name}@{s.version}" for s in self.stages)
        return f"{type(self).__name__}({stages}; {self.settings!r})"

    def _bind_host(self, ctx: Context) -> dict[str, StageContext]:
        if self._contexts is not None and self._host is ctx:
            return self._contexts
        backend = getattr(ctx, "state_backend", None)
        if backend is None:
            raise RuntimeError(
                f"{self.name}: stages run only where the runtime offers a state backend"
            )
        self._host = ctx
        self._contexts = {}
        self._readers = {}
        for stage in self.stages:
            prefix = stage.name + _SEP
            phase = getattr(stage, "timer_phase", 0)

            def set_timer(
                fire_at_ms: int, key: str, name: str, _p: str = prefix, _ph: int = phase
            ) -> None:
                ctx.set_timer(fire_at_ms, _p + key + _SEP + name, None, _ph)

            sctx = StageContext(stage, backend, set_timer, lambda: ctx.watermark_ms)
            self._contexts[stage.name] = sctx
            for tag in stage.reads:
                self._readers.setdefault(tag, []).append((stage, sctx))
        self._by_type = {}
        return self._contexts

    @contextmanager
    def bound(self, stage_name: str, key: str, ctx: Context) -> Iterator[StageContext]:
        """Stage ``stage_name``'s context bound to ``key`` at the watermark, outside any event
        or timer: for a control step at a batch boundary (the rules record which rule set is
        in effect). The handles reach that key's state only, as in an event."""
        sctx = self._bind_host(ctx)[stage_name]
        wm = ctx.watermark_ms
        sctx.bind(key, wm, wm)
        try:
            yield sctx
        finally:
            sctx.bind(None, 0, 0)

    def _readers_of(self, event: Any) -> list[tuple[Stage, StageContext]]:
        tp = type(event)
        found = self._by_type.get(tp)
        if found is None:
            found = self._by_type[tp] = self._readers.get(type_name(event), [])
        return found

    def on_event(self, event: EventBase, ctx: Context) -> Sequence[Output]:
        self._bind_host(ctx)
        return self._run(event, ctx.watermark_ms)

    def _run(self, first: Any, horizon_ms: int) -> list[Output]:
        signals: list[Output] = []
        queue: deque[Any] | None = None
        event = first
        while True:
            for stage, sctx in self._readers_of(event):
                key = stage.key_of(event)
                if key is None:
                    continue
                sctx.key, sctx.now_ms, sctx.horizon_ms = key, event.event_time_ms, horizon_ms
                try:
                    outputs = stage.on_event(event, sctx)
                finally:
                    sctx.key = None
                if outputs:
                    if queue is None:
                        queue = deque()
                    _collect(outputs, signals, queue)
            if not queue:
                return signals
            event = queue.popleft()

    def on_timer(self, key: str, payload: Any, fired_at_ms: int, ctx: Context) -> Sequence[Output]:
        contexts = self._bind_host(ctx)
        parts = key.split(_SEP, 2)
        sctx = contexts.get(parts[0]) if len(parts) == 3 else None
        if sctx is None:
            return ()  # not a stage timer of this pipeline
        stage_name, stage_key, name = parts
        stage = next(s for s in self.stages if s.name == stage_name)
        sctx.bind(stage_key, fired_at_ms, fired_at_ms)
        try:
            outputs = stage.on_timer(name, fired_at_ms, sctx)
        finally:
            sctx.bind(None, 0, 0)
        signals: list[Output] = []
        queue: deque[Any] = deque()
        _collect(outputs, signals, queue)
        while queue:
            signals.extend(self._run(queue.popleft(), fired_at_ms))
        return signals


def _collect(outputs: Sequence[Any], signals: list[Output], queue: deque[Any]) -> None:
    for out in outputs:
        if isinstance(out, (Signal, Record)):
            signals.append(out)
        else:
            queue.append(out)


class SharedPipeline(StagePipeline):
    """Several detectors' pipelines run as one, so that stages they share (one order stage,
    one route stage) hold one state and see each event once (``share_stages``). Its
    findings keep their detectors' names: a signal names its detector, not the pipeline."""

    def __init__(
        self, name: str, stages: Sequence[Stage], settings: Any = None, version: int = 1
    ) -> None:
        self.name = name  # type: ignore[misc]
        self.version = version  # type: ignore[misc]
        super().__init__(stages, settings)

    def __reduce__(self) -> tuple[Any, ...]:
        return (SharedPipeline, (self.name, self.stages, self.settings, self.version))


def share_stages(detectors: Sequence[Any]) -> list[Any]:
    """``detectors`` with the stage pipelines that declare a stage of the same name merged
    into one ``SharedPipeline`` (at the place of the first), those stages merged with their
    ``merged`` method. Other detectors are kept as they are, in their order."""
    out: list[Any] = []
    for det in detectors:
        names = {s.name for s in det.stages} if isinstance(det, StagePipeline) else set()
        at = next(
            (
                i
                for i, d in enumerate(out)
                if names and isinstance(d, StagePipeline) and names & {s.name for s in d.stages}
            ),
            None,
        )
        if at is None:
            out.append(det)
        else:
            out[at] = _merge(out[at], det)
    return out


def _merge(a: StagePipeline, b: StagePipeline) -> SharedPipeline:
    stages = list(a.stages)
    for stage in b.stages:
        i = next((i for i, s in enumerate(stages) if s.name == stage.name), None)
        if i is None:
            stages.append(stage)
            continue
        merge = getattr(stages[i], "merged", None)
        if merge is None:
            raise ValueError(
                f"{a.name} and {b.name} both declare stage {stage.name!r}, which cannot be shared"
            )
        stages[i] = merge(stage)
    members = (a.settings if isinstance(a, SharedPipeline) else ((a.name, a.settings),)) + (
        (b.name, b.settings),
    )
    return SharedPipeline(f"{a.name}+{b.name}", stages, members)


__all__ = ["SharedPipeline", "StagePipeline", "share_stages"]

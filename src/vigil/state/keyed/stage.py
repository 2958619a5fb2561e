"""The stage contract: one key at a time, state through declared handles, timers per key.

Shaped like the stateful operators engines run at scale (Spark's ``StatefulProcessor`` under
``transformWithState``, Flink's ``KeyedProcessFunction``), so the same stage can later run on
them (docs/adr/0004-keyed-state.md):

- ``reads``: the event types it handles (source events and ``DerivedEvent`` types);
- ``key`` and ``key_of(event)``: what it is partitioned by, and the key of one event
  (``None``: not for this stage);
- ``state()``: its handles (``spec.ValueSpec`` / ``ListSpec`` / ``MapSpec``), each with a
  time-to-live in event time;
- ``timer_phase`` (optional, default 0): of the timers due at one instant, a stage's fire
  after those of stages with a lower phase. A stage that gathers what others emit from their
  timers (a team's judgement of its agents' windows) sets a higher phase than theirs;
- ``on_event`` / ``on_timer``: called with a ``StageContext`` bound to one key. Its handles
  reach that key's state and nothing else: there is no way to name another key. What a
  stage knows about other keys reaches it as a ``DerivedEvent`` another stage emitted.

Returns are ``Signal``s (findings, as detectors return), ``Record``s (rows for an output
file of their own) and ``DerivedEvent``s (facts for stages keyed otherwise), handled at
once, before the next source event.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Final, Literal, Protocol, get_args

from vigil.detectors.base import Record, Signal
from vigil.events.derived import DerivedEvent
from vigil.state.keyed.backend import StateBackend
from vigil.state.keyed.spec import StateSpec, expiry_of

KeyKind = Literal[
    "order",
    "customer",
    "agent",
    "pair",
    "session",
    "team",
    "campaign",
    "click",
    "device",
    "ip",
    "refund",
    "route",
    "issuer",
    "event",
    "field",
    "global",
]
KEY_KINDS: Final[tuple[str, ...]] = get_args(KeyKind)


Output = Signal | Record | DerivedEvent


def type_name(event: Any) -> str:
    """The ``type`` tag of a source or derived event."""
    tag = type(event).__struct_config__.tag
    return str(tag)


class Stage(Protocol):
    name: ClassVar[str]
    version: ClassVar[int]
    reads: ClassVar[frozenset[str]]
    key: ClassVar[KeyKind]

    def state(self) -> Sequence[StateSpec]: ...

    def key_of(self, event: Any) -> str | None: ...

    def on_event(self, event: Any, ctx: StageContext) -> Sequence[Output]: ...

    def on_timer(self, name: str, fired_at_ms: int, ctx: StageContext) -> Sequence[Output]: ...


class ScopeError(RuntimeError):
    """A handle used outside a call, or a state name the stage did not declare."""


class StageContext:
    """What a stage sees while it handles one key: its handles, the time, its timers.

    ``now_ms``: the event's time, or the timer's; writes count their time-to-live from it
    (or from the ``at_ms`` a write names). ``horizon_ms``: entries whose expiry is at or
    before it are gone. For an event it is the watermark; for a timer, the timer's own time,
    so a timer reads what was alive when it was due, however far the watermark jumped
    (timers fire in time order, and an expiry is a timer in all but name).
    ``watermark_ms``: the engine's watermark now (Spark's
    ``TimerValues.getCurrentWatermarkInMs``), for a periodic timer that must not fire once
    per empty period across a gap in the stream.
    """

    __slots__ = (
        "_backend",
        "_handles",
        "_lists",
        "_maps",
        "_prefix",
        "_timers",
        "_values",
        "_watermark",
        "horizon_ms",
        "key",
        "now_ms",
    )

    def __init__(
        self,
        stage: Stage,
        backend: StateBackend,
        set_timer: TimerSetter,
        watermark: Callable[[], int] | None = None,
    ) -> None:
        self._backend = backend
        self._watermark = watermark
        self._prefix = f"{stage.name}@{stage.version}/"
        self._timers = set_timer
        self.key: str | None = None
        self.now_ms = 0
        self.horizon_ms = 0
        self._handles: dict[str, Any] = {}
        for spec in stage.state():
            if spec.name in self._handles:
                raise ScopeError(f"stage {stage.name} declares state {spec.name!r} twice")
            cls = {"value": ValueHandle, "list": ListHandle, "map": MapHandle}[spec.kind]
            self._handles[spec.name] = cls(self, spec)
        # one dict per kind: the hot path is a single lookup
        self._values: dict[str, ValueHandle] = {
            n: h for n, h in self._handles.items() if type(h) is ValueHandle
        }
        self._lists: dict[str, ListHandle] = {
            n: h for n, h in self._handles.items() if type(h) is ListHandle
        }
        self._maps: dict[str, MapHandle] = {
            n: h for n, h in self._handles.items() if type(h) is MapHandle
        }

    @property
    def watermark_ms(self) -> int:
        """The engine's watermark (the horizon where the engine gave no watermark)."""
        return self.horizon_ms if self._watermark is None else self._watermark()

    def bind(self, key: str | None, now_ms: int, horizon_ms: int) -> None:
        self.key, self.now_ms, self.horizon_ms = key, now_ms, horizon_ms

    def _current(self) -> str:
        if self.key is None:
            raise ScopeError("state is reachable only while the stage handles an event or timer")
        return self.key

    def value(self, name: str) -> ValueHandle:
        found = self._values.get(name)
        return found if found is not None else self._handle(name, ValueHandle)

    def list(self, name: str) -> ListHandle:
        found = self._lists.get(name)
        return found if found is not None else self._handle(name, ListHandle)

    def map(self, name: str) -> MapHandle:
        found = self._maps.get(name)
        return found if found is not None else self._handle(name, MapHandle)

    def _handle(self, name: str, cls: type) -> Any:
        handle = self._handles.get(name)
        if not isinstance(handle, cls):
            raise ScopeError(f"no {cls.__name__[:-6].lower()} state {name!r} declared")
        return handle

    def timer(self, fire_at_ms: int, name: str = "") -> None:
        """Call ``on_timer(name, ...)`` for this key once the watermark passes ``fire_at_ms``."""
        self._timers(fire_at_ms, self._current(), name)


class TimerSetter(Protocol):
    def __call__(self, fire_at_ms: int, key: str, name: str) -> None: ...


class _Handle:
    __slots__ = ("_ctx", "_ns", "spec")

    def __init__(self, ctx: StageContext, spec: StateSpec) -> None:
        self._ctx = ctx
        self.spec = spec
        self._ns = ctx._prefix + spec.name

    def _expiry(self, at_ms: int | None = None) -> int:
        return expiry_of(self._ctx.now_ms if at_ms is None else at_ms, self.spec.ttl_ms)

    def _live(self, entry: tuple[int, Any] | None) -> Any:
        if entry is None or entry[0] <= self._ctx.horizon_ms:
            return None
        return entry[1]


class ValueHandle(_Handle):
    """One value per key. A resident one (``ValueSpec(..., resident=True)``) goes through
    the backend's ``get_resident`` / ``put_resident``: ``get`` hands back the live object the
    backend keeps, and after changing it in place the stage ``set``s it again to have it
    written at the next checkpoint."""

    __slots__ = ("_read", "_write")

    def __init__(self, ctx: StageContext, spec: StateSpec) -> None:
        super().__init__(ctx, spec)
        backend = ctx._backend
        if spec.resident:
            self._read, self._write = backend.get_resident, backend.put_resident
        else:
            self._read, self._write = backend.get, backend.put

    def get(self) -> Any:
        ctx = self._ctx
        key = ctx.key
        if key is None:
            ctx._current()  # raises
        entry = self._read(self._ns, key)  # type: ignore[arg-type]
        if entry is None or entry[0] <= ctx.horizon_ms:
            return None
        return entry[1]

    def set(self, value: Any, at_ms: int | None = None) -> None:
        """Store ``value``; its time-to-live counts from ``at_ms`` (default: now)."""
        ctx = self._ctx
        key = ctx.key
        if key is None:
            ctx._current()  # raises
        expiry = expiry_of(ctx.now_ms if at_ms is None else at_ms, self.spec.ttl_ms)
        self._write(self._ns, key, expiry, value)  # type: ignore[arg-type]

    def clear(self) -> None:
        self._ctx._backend.delete(self._ns, self._ctx._current())


class ListHandle(_Handle):
    """A list per key, stored whole (``get`` returns a tuple)."""

    __slots__ = ()

    def get(self) -> tuple[Any, ...]:
        found = self._live(self._ctx._backend.get(self._ns, self._ctx._current()))
        return () if found is None else tuple(found)

    def append(self, value: Any) -> None:
        self.set((*self.get(), value))

    def set(self, values: Sequence[Any]) -> None:
        if values:
            self._ctx._backend.put(self._ns, self._ctx._current(), self._expiry(), tuple(values))
        else:
            self.clear()

    def clear(self) -> None:
        self._ctx._backend.delete(self._ns, self._ctx._current())


class MapHandle(_Handle):
    """A map per key; each field expires on its own."""

    __slots__ = ()

    def get(self, field: str) -> Any:
        return self._live(self._ctx._backend.map_get(self._ns, self._ctx._current(), field))

    def put(self, field: str, value: Any, at_ms: int | None = None) -> None:
        """Store ``value`` under ``field``; its time-to-live counts from ``at_ms`` (default:
        now)."""
        self._ctx._backend.map_put(
            self._ns, self._ctx._current(), field, self._expiry(at_ms), value
        )

    def remove(self, field: str) -> None:
        self._ctx._backend.map_delete(self._ns, self._ctx._current(), field)

    def items(self) -> list[tuple[str, Any]]:
        w = self._ctx.horizon_ms
        return [
            (f, v)
            for f, e, v in self._ctx._backend.map_items(self._ns, self._ctx._current())
            if e > w
        ]

"""The detector contract: what a detector sees, what it may touch, what it returns.

A detector holds no state of its own. Everything it remembers lives in keyed state and
timers that the runtime owns (so the runtime can checkpoint, replay and later partition
it), reached through a ``Context``. A detector returns ``Signal``s: small frozen values
with a score in [0, 1], stable reason codes and a one-line explanation. Time comes from
events and the watermark, never from the wall clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Literal, Protocol

import msgspec

from vigil.events.schemas import EventBase
from vigil.state.windows import Window, WindowSpec

SubjectType = Literal["refund", "agent", "session", "order", "account", "ring"]


class Evidence(msgspec.Struct, frozen=True, kw_only=True):
    """One link behind a finding: ``a`` and ``b`` both touched ``via`` (e.g. ``device:d42``)."""

    a: str
    b: str
    via: str
    time_ms: int
    #: how much this link counts (shared by few entities: near 1; by a crowd: near 0)
    weight: float = 1.0


class Signal(msgspec.Struct, frozen=True, kw_only=True):
    """One detector's finding about one subject, with the refunds it puts at risk."""

    detector: str
    version: int
    subject_type: SubjectType
    subject_id: str
    score: float
    reasons: tuple[str, ...]
    explanation: str
    #: event time at which the evidence became complete (when the alert is raised)
    event_time_ms: int
    #: refunds this finding covers (evaluation counts money and truth per refund)
    refund_ids: tuple[str, ...] = ()
    amount_cents: int = 0
    customer_id: str | None = None
    agent_id: str | None = None
    order_id: str | None = None
    session_id: str | None = None
    #: entities the finding is about when there are many (a ring's accounts, devices, ...)
    members: tuple[str, ...] = ()
    #: the links that tie ``members`` together (rings), strongest first
    evidence: tuple[Evidence, ...] = ()


class Record(msgspec.Struct, frozen=True, kw_only=True):
    """A row a pipeline writes to an output file of its own, not a finding: the runtime
    writes it to ``<channel>.jsonl`` beside the alerts, checkpointed with them (the ad
    analytics' campaign figures). Subclasses set ``channel``."""

    channel: ClassVar[str] = "records"


#: what detectors and pipelines return: findings, and rows for outputs of their own
Output = Signal | Record


class Alert(Signal, frozen=True, kw_only=True):
    """A signal the runtime emitted, with a deterministic id (same input, same ids)."""

    alert_id: str


#: decode ``alerts.jsonl``
alert_decoder = msgspec.json.Decoder(Alert)


def refunds_of(alert: Alert) -> tuple[str, ...]:
    """The refunds an alert speaks about: its ``refund_ids``, plus its subject if a refund."""
    if alert.subject_type == "refund" and alert.subject_id not in alert.refund_ids:
        return (*alert.refund_ids, alert.subject_id)
    return alert.refund_ids


class Context(Protocol):
    """What the runtime offers a detector while it handles one event or timer."""

    @property
    def watermark_ms(self) -> int:
        """Event time up to which the input is believed complete."""
        ...

    def keyed(self, namespace: str) -> dict[str, Any]:
        """A named map of per-key state owned and checkpointed by the runtime.

        Values must be picklable plain data (tuples, lists, dicts, numbers, strings,
        msgspec structs). The namespace is private to the calling detector.
        """
        ...

    def set_timer(self, fire_at_ms: int, key: str, payload: Any = None, phase: int = 0) -> None:
        """Call the detector's ``on_timer`` once the watermark passes ``fire_at_ms``; of the
        timers due at one instant, those of a later ``phase`` fire after the others."""
        ...

    def window_add(self, name: str, key: str, time_ms: int, value: Any) -> None:
        """Add ``value`` to the windows of ``name`` (declared in ``windows``) at ``time_ms``."""
        ...


class Detector(Protocol):
    """A stateless scorer of events; all memory goes through ``Context``."""

    name: ClassVar[str]
    version: ClassVar[int]
    #: the event ``type`` names this detector wants to see
    subscribes: ClassVar[frozenset[str]]

    def windows(self) -> Sequence[WindowSpec[Any, Any, Any]]:
        """Windowed aggregates this detector declares (may be empty)."""
        ...

    def on_event(self, event: EventBase, ctx: Context) -> Sequence[Output]:
        """Score one event; may update keyed state and set timers."""
        ...

    def on_timer(self, key: str, payload: Any, fired_at_ms: int, ctx: Context) -> Sequence[Output]:
        """A timer set earlier fired (the watermark passed its time)."""
        ...

    def on_window(self, name: str, window: Window, ctx: Context) -> Sequence[Signal]:
        """A declared window closed (the watermark passed its end)."""
        ...


class BaseDetector:
    """Convenience base: no windows, no timers, nothing on windows."""

    name: ClassVar[str] = "base"
    version: ClassVar[int] = 1
    subscribes: ClassVar[frozenset[str]] = frozenset()

    def windows(self) -> Sequence[WindowSpec[Any, Any, Any]]:
        return ()

    def on_event(self, event: EventBase, ctx: Context) -> Sequence[Output]:
        return ()

    def on_timer(self, key: str, payload: Any, fired_at_ms: int, ctx: Context) -> Sequence[Output]:
        return ()

    def on_window(self, name: str, window: Window, ctx: Context) -> Sequence[Signal]:
        return ()


def clamp01(x: float) -> float:
    """Scores live in [0, 1]."""
    return 0.0 if x < 0.0 else 1.0 if x > 1.0 else x

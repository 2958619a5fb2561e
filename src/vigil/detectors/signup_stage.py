"""One customer stage for the sign-ups the detectors ask about (ADR 0004).

``refund_without_return`` (is the account of an unreturned refund young?) and
``agent_refunds`` (is the customer of a refund it may list young?) each kept every customer's
sign-up in a stage of its own. ``SignupsStage`` keeps it once (``record_signup``'s
``(earliest sign-up, basis)``) and hosts each detector's part: the question it reads and its
answer, with its own idea of young. As with ``order_stage``, each detector builds its own
stage with its one part; ``share_stages`` merges them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from vigil.events.schemas import CustomerSignup
from vigil.state.keyed.spec import StateSpec, ValueSpec
from vigil.state.keyed.stage import KeyKind, Output, StageContext, type_name

__all__ = ["SignupPart", "SignupParts", "SignupsStage"]


class SignupPart(Protocol):
    """A detector's question about a customer's sign-up, and its answer."""

    #: the derived event types it answers
    reads: frozenset[str]

    @property
    def ttl_ms(self) -> int:
        """How long the sign-up must be kept after it."""
        ...

    def key_of(self, event: Any) -> str | None:
        """The customer a question of this part is about (None: not a question for it)."""
        ...

    def answer(self, event: Any, signup_ms: int | None) -> Sequence[Output]:
        """What follows the question, given the earliest sign-up seen (None: none)."""
        ...


@dataclass(frozen=True)
class SignupParts:
    """The parts a sign-up stage hosts (each holds its detector's settings only)."""

    parts: tuple[SignupPart, ...]


def record_signup(handle: Any, t: int) -> None:
    """A stage's sign-up value ``(earliest sign-up, basis)`` once a sign-up at ``t`` is known
    (``handle``: its ``ValueHandle``, bound to the customer). Its time-to-live counts from the
    first sign-up seen (``basis``), as the day-bucketed sweeps it replaces did."""
    found = handle.get()
    if found is None:
        handle.set((t, t), at_ms=t)
    elif t < found[0]:
        handle.set((t, found[1]), at_ms=found[1])


class SignupsStage:
    """Each customer's earliest sign-up, and the detectors' questions about it."""

    name: ClassVar[str] = "signups"
    version: ClassVar[int] = 1
    key: ClassVar[KeyKind] = "customer"

    def __init__(self, parts: Sequence[SignupPart]) -> None:
        self.settings = SignupParts(tuple(parts))

    @property
    def reads(self) -> frozenset[str]:
        return frozenset({"customer_signup"}).union(*(p.reads for p in self.settings.parts))

    def merged(self, other: SignupsStage) -> SignupsStage:
        """One stage with the parts of both (``share_stages``)."""
        return SignupsStage((*self.settings.parts, *other.settings.parts))

    def __repr__(self) -> str:
        return f"SignupsStage({', '.join(type(p).__name__ for p in self.settings.parts)})"

    def state(self) -> Sequence[StateSpec]:
        # (earliest sign-up, basis), kept as long as the part that needs it longest
        return (ValueSpec("signup", ttl_ms=max(p.ttl_ms for p in self.settings.parts)),)

    def key_of(self, event: Any) -> str | None:
        if type(event) is CustomerSignup:
            return event.customer_id
        tag = type_name(event)
        for part in self.settings.parts:
            if tag in part.reads:
                return part.key_of(event)
        return None

    def on_event(self, event: Any, ctx: StageContext) -> Sequence[Output]:
        handle = ctx.value("signup")
        if type(event) is CustomerSignup:
            record_signup(handle, event.event_time_ms)
            return ()
        found = handle.get()
        tag = type_name(event)
        for part in self.settings.parts:
            if tag in part.reads:
                return part.answer(event, found[0] if found is not None else None)
        return ()

    def on_timer(self, name: str, fired_at_ms: int, ctx: StageContext) -> Sequence[Output]:
        return ()

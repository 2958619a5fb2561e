"""What the console knows of the raw events: timelines per entity, live counters, agents.

The API process writes every event into ``input.jsonl`` (the runtime's input); the console
tails the same file (``TimelineStore.run``) instead of hooking the ingest path, so the
decision API pays nothing for it. From each event it keeps:

* the event itself under the keys it names (``order:o1``, ``customer:c1``, ``agent:a1``,
  ``session:s1``, ``refund:r1``), newest ``per_key`` per key and ``max_keys`` keys in all,
  least recently touched dropped first: a case page shows the order, return, refund and
  session events of its subjects without a database of events;
* refunds and refund money per wall-clock minute of their arrival (the live dashboard's
  first chart): only events that arrive after the store has read the log as it was at start
  are counted there, so a restarted server's history does not land in its first minute;
* per agent: refunds, money, refunds with no return behind them, refunds to accounts under
  30 days old, manual-override refunds; and the agent's team, so the case page
  can put an agent against the median of its team.

Memory is bounded by ``max_keys * per_key`` events (defaults: 200k keys x 50).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from vigil.api.state import TailedFile
from vigil.events.codec import decode_strict
from vigil.events.schemas import (
    AgentRostered,
    AgentSessionStarted,
    CustomerSignup,
    EventBase,
    RefundIssued,
)

__all__ = ["KEY_KINDS", "AgentStats", "PeerRow", "TimelineStore"]

YOUNG_ACCOUNT_MS = 30 * 86_400_000
#: fields that name an entity an analyst looks up, and the key prefix for each
_KEY_FIELDS = (
    ("order_id", "order"),
    ("customer_id", "customer"),
    ("agent_id", "agent"),
    ("session_id", "session"),
    ("refund_id", "refund"),
    ("return_id", "return"),
    ("device_id", "device"),
)
#: the kinds of key events are kept under (``kind:id``), which a search asks for
KEY_KINDS = tuple(prefix for _, prefix in _KEY_FIELDS)
#: bytes decoded per slice: about 280 events, ~1 ms (measured), so a request never waits long
TAIL_SLICE_BYTES = 64 << 10


@dataclass(slots=True)
class AgentStats:
    team: str = "unknown"
    refunds: int = 0
    money_cents: int = 0
    no_return: int = 0
    young_account: int = 0
    manual: int = 0
    sessions: int = 0
    countries: set[str] = field(default_factory=set)

    def rates(self) -> dict[str, float]:
        n = max(self.refunds, 1)
        return {
            "refunds": float(self.refunds),
            "average refund ($)": self.money_cents / n / 100,
            "share with no return": self.no_return / n,
            "share to accounts < 30 days old": self.young_account / n,
            "share manual override": self.manual / n,
            "session countries": float(len(self.countries)),
        }


@dataclass(frozen=True, slots=True)
class PeerRow:
    metric: str
    agent: float
    team_median: float
    #: the agent's value over the team median (None when the median is 0)
    ratio: float | None
    is_share: bool


class TimelineStore:
    def __init__(
        self,
        input_log: Path,
        *,
        per_key: int = 50,
        max_keys: int = 200_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._file = TailedFile(input_log)
        self.per_key = per_key
        self.max_keys = max_keys
        self._clock = clock
        self._by_key: collections.OrderedDict[str, collections.deque[EventBase]] = (
            collections.OrderedDict()
        )
        self._signup_ms: dict[str, int] = {}
        self.agents: dict[str, AgentStats] = {}
        #: wall-clock minute (epoch // 60) -> [refunds, money cents]
        self.per_minute: dict[int, list[int]] = {}
        self.events_seen = 0
        self.undecodable = 0
        #: False while reading the history the log held at start; then events arrive live
        self.live = False
        #: the wall-clock minute from which arrivals are counted (set when the history read
        #: at start is done)
        self.live_since_minute: int | None = None

    # --- feeding ----------------------------------------------------------------------

    def add(self, event: EventBase) -> None:
        self.events_seen += 1
        for attr, prefix in _KEY_FIELDS:
            value = getattr(event, attr, None)
            if value:
                self._remember(f"{prefix}:{value}", event)
        if isinstance(event, CustomerSignup):
            self._signup_ms[event.customer_id] = event.event_time_ms
            if len(self._signup_ms) > self.max_keys:  # oldest sign-ups first
                self._signup_ms.pop(next(iter(self._signup_ms)))
        elif isinstance(event, AgentRostered):
            self._agent(event.agent_id).team = event.team
        elif isinstance(event, AgentSessionStarted):
            stats = self._agent(event.agent_id)
            stats.sessions += 1
            stats.countries.add(event.country)
        elif isinstance(event, RefundIssued):
            self._refund(event)

    def _refund(self, event: RefundIssued) -> None:
        if self.live:  # arrivals per minute: history read at start arrived earlier
            minute = int(self._clock() // 60)
            slot = self.per_minute.setdefault(minute, [0, 0])
            slot[0] += 1
            slot[1] += event.amount_cents
            if len(self.per_minute) > 120:
                for old in sorted(self.per_minute)[:-120]:
                    del self.per_minute[old]
        if event.agent_id is None:
            return
        stats = self._agent(event.agent_id)
        stats.refunds += 1
        stats.money_cents += event.amount_cents
        stats.no_return += event.return_id is None
        stats.manual += event.policy == "manual_override"
        signup = self._signup_ms.get(event.customer_id)
        stats.young_account += signup is not None and (
            event.event_time_ms - signup < YOUNG_ACCOUNT_MS
        )

    def _agent(self, agent_id: str) -> AgentStats:
        stats = self.agents.get(agent_id)
        if stats is None:
            stats = self.agents[agent_id] = AgentStats()
        return stats

    def _remember(self, key: str, event: EventBase) -> None:
        events = self._by_key.get(key)
        if events is None:
            events = self._by_key[key] = collections.deque(maxlen=self.per_key)
            if len(self._by_key) > self.max_keys:
                self._by_key.popitem(last=False)
        else:
            self._by_key.move_to_end(key)
        events.append(event)

    def feed_lines(self, lines: Iterable[bytes]) -> None:
        for line in lines:
            if not line.strip():
                continue
            try:
                self.add(decode_strict(line))
            except (msgspec.DecodeError, msgspec.ValidationError):
                self.undecodable += 1  # the API only appends valid events; count, never stop

    def catch_up(self, limit_bytes: int = TAIL_SLICE_BYTES) -> bool:
        """Read one slice of new lines; True when the end of the log was reached."""
        lines, at_end = self._file.read_lines(limit_bytes)
        self.feed_lines(lines)
        if at_end and not self.live:
            self.live = True
            self.live_since_minute = int(self._clock() // 60)
        return at_end

    async def run(self, stop: asyncio.Event, interval_s: float = 0.5) -> None:
        while not stop.is_set():
            while not self.catch_up():
                await asyncio.sleep(0)  # let requests run between slices
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval_s)

    # --- reading ----------------------------------------------------------------------

    def events_for(self, keys: Iterable[str], limit: int = 200) -> list[EventBase]:
        """Events naming any of ``keys`` (``order:o1``...), once each, oldest first."""
        seen: dict[str, EventBase] = {}
        for key in keys:
            for event in self._by_key.get(key, ()):
                seen.setdefault(event.event_id, event)
        ordered = sorted(seen.values(), key=lambda e: (e.event_time_ms, e.event_id))
        return ordered[-limit:]

    def minutes(self, count: int = 30) -> list[tuple[int, int | None, int | None]]:
        """(minute, refunds, money cents) for the last ``count`` wall-clock minutes; None
        for the minutes before this server was watching (not zero: nothing was counted then,
        which is not the same as no refunds, and a restart must not look like an outage)."""
        now = int(self._clock() // 60)
        start = self.live_since_minute
        return [
            (m, None, None) if start is None or m < start else (m, *self.per_minute.get(m, [0, 0]))  # type: ignore[misc]
            for m in range(now - count + 1, now + 1)
        ]

    def peers(self, agent_id: str) -> tuple[AgentStats, list[PeerRow], int] | None:
        """The agent's figures against the median of the other agents of its team."""
        stats = self.agents.get(agent_id)
        if stats is None:
            return None
        team = [
            s
            for a, s in self.agents.items()
            if a != agent_id and s.team == stats.team and s.refunds
        ]
        mine = stats.rates()
        rows = []
        for metric, value in mine.items():
            med = statistics.median([s.rates()[metric] for s in team]) if team else 0.0
            rows.append(
                PeerRow(
                    metric=metric,
                    agent=value,
                    team_median=med,
                    ratio=value / med if med else None,
                    is_share=metric.startswith("share"),
                )
            )
        return stats, rows, len(team)

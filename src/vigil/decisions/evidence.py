"""Alerts by the plain entity ids they concern: what a request-time decision looks up.

An alert's subject id has a detector's own format (``ss-9#3`` is a session's third refund,
``ag-7@2026-01-22T00:00Z`` an agent's week), so lookups never go through it. Each alert is
filed under the plain ids in its fields (``alert_entities``): its refunds, the order of a
refund finding, the agent of an agent finding, the session of a session finding, the
customer of an account finding, and every account a ring lists. The runtime keeps one such
index of the alerts it has raised (checkpointed with its state) and the API one of the
alerts it has read, so both look up the same evidence for the same refund request.

**Retention** (``retention_ms``): alerts whose event time is older than the newest event
time seen minus the retention are dropped (oldest first, every ``SWEEP_EVERY`` additions)
and no longer count as evidence. An alert's position (``seq``) never moves: a dropped
alert leaves a hole (``None``), so positions handed out stay valid.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from vigil.detectors.base import Alert, refunds_of
from vigil.detectors.insider.session_scoring import (
    REASON_IMPOSSIBLE_TRAVEL,
    REASON_NEW_COUNTRY,
    REASON_NEW_DEVICE,
    REASON_NEW_IP,
)

__all__ = [
    "SWEEP_EVERY",
    "AlertIndex",
    "Evidence",
    "alert_entities",
    "taken_over_sessions",
    "unlist",
]

ACCOUNT = "account:"
#: additions between two retention sweeps
SWEEP_EVERY = 1_000


def alert_entities(alert: Alert) -> list[tuple[str, str]]:
    """The (kind, plain id) pairs an alert concerns; kinds: refund, order, agent, session,
    customer (an account finding, or a ring that lists the account)."""
    out = [("refund", rid) for rid in refunds_of(alert)]
    kind = alert.subject_type
    if kind == "agent" and alert.agent_id:
        out.append(("agent", alert.agent_id))
    elif kind == "session" and alert.session_id:
        out.append(("session", alert.session_id))
    elif kind == "account" and alert.customer_id:
        out.append(("customer", alert.customer_id))
    elif kind in ("order", "refund") and alert.order_id:
        out.append(("order", alert.order_id))
    elif kind == "ring":
        out.extend(("customer", m[len(ACCOUNT) :]) for m in alert.members if m.startswith(ACCOUNT))
    return out


@dataclass(frozen=True)
class Evidence:
    """The alerts held about one refund and its entities, and which entities had any."""

    alerts: tuple[Alert, ...]
    refund: bool
    agent: bool
    session: bool
    customer: bool
    ring: bool


class AlertIndex:
    """Alerts by seq, by id and by (kind, plain id)."""

    def __init__(self, retention_ms: int | None = None) -> None:
        #: by seq; ``None`` where retention dropped the alert (seqs never move)
        self.alerts: list[Alert | None] = []
        self._pos: dict[str, int] = {}
        self._by_entity: dict[tuple[str, str], list[int]] = {}
        self.retention_ms = retention_ms
        #: the newest event time seen; retention counts back from it
        self.newest_ms = 0
        self.alert_count = 0
        self.dropped_alerts = 0
        self._alert_heap: list[tuple[int, int]] = []  # (event time, seq)
        self._until_sweep = SWEEP_EVERY

    def add_alert(self, alert: Alert) -> None:
        pos = self._pos.get(alert.alert_id)
        if pos is not None:  # the same alert again (a runtime that resumed): replace it
            self.alerts[pos] = alert
            return
        pos = len(self.alerts)
        self.alerts.append(alert)
        self.alert_count += 1
        self._pos[alert.alert_id] = pos
        for key in alert_entities(alert):
            self._by_entity.setdefault(key, []).append(pos)
        if self.retention_ms is not None:
            heapq.heappush(self._alert_heap, (alert.event_time_ms, pos))
            self._added(alert.event_time_ms)

    def _added(self, event_time_ms: int) -> None:
        self.newest_ms = max(self.newest_ms, event_time_ms)
        self._until_sweep -= 1
        if self._until_sweep <= 0:
            self.sweep()

    def sweep(self) -> None:
        """Drop what is older than the retention (see the module doc)."""
        self._until_sweep = SWEEP_EVERY
        if self.retention_ms is None:
            return
        cutoff = self.newest_ms - self.retention_ms
        heap = self._alert_heap
        while heap and heap[0][0] < cutoff:
            _, pos = heapq.heappop(heap)
            alert = self.alerts[pos]
            if alert is not None and alert.event_time_ms < cutoff:
                self._drop_alert(pos, alert)

    def _drop_alert(self, pos: int, alert: Alert) -> None:
        self.alerts[pos] = None
        self.alert_count -= 1
        self.dropped_alerts += 1
        del self._pos[alert.alert_id]
        for key in alert_entities(alert):
            unlist(self._by_entity, key, pos)

    # --- reads -------------------------------------------------------------------------

    def live_alerts(self) -> Iterator[Alert]:
        """The alerts held, oldest seq first (without the holes retention left)."""
        return (a for a in self.alerts if a is not None)

    def seq_of(self, alert_id: str) -> int:
        return self._pos[alert_id]

    def get(self, alert_id: str) -> Alert | None:
        pos = self._pos.get(alert_id)
        return None if pos is None else self.alerts[pos]

    def seqs_about(self, kind: str, key: str) -> list[int]:
        return self._by_entity.get((kind, key), [])

    def oldest_at(self, at_ms: int | None) -> int | None:
        """The oldest event time that still counts as evidence at ``at_ms`` (None: any)."""
        return at_ms - self.retention_ms if at_ms is not None and self.retention_ms else None

    def evidence(
        self,
        refund_id: str,
        *,
        agent_id: str | None,
        session_id: str | None,
        customer_id: str | None,
        order_id: str | None,
        at_ms: int | None = None,
    ) -> Evidence:
        """Every alert about the refund, its order, agent, session, customer or ring; with
        ``at_ms``, only those within the retention before it (so whether a sweep ran yet
        never changes the answer)."""
        by = self._by_entity
        own = [*by.get(("refund", refund_id), ())]
        if order_id is not None:
            own += by.get(("order", order_id), ())
        agent = by.get(("agent", agent_id), ()) if agent_id else ()
        session = by.get(("session", session_id), ()) if session_id else ()
        about_customer = by.get(("customer", customer_id), ()) if customer_id else ()
        alerts = self.alerts
        customer = [s for s in about_customer if (a := alerts[s]) and a.subject_type != "ring"]
        ring = [s for s in about_customer if (a := alerts[s]) and a.subject_type == "ring"]
        seqs = sorted({*own, *agent, *session, *about_customer})
        oldest = self.oldest_at(at_ms)
        return Evidence(
            alerts=tuple(
                a
                for s in seqs
                if (a := alerts[s]) is not None and (oldest is None or a.event_time_ms >= oldest)
            ),
            refund=bool(own),
            agent=bool(agent),
            session=bool(session),
            customer=bool(customer),
            ring=bool(ring),
        )


#: a session finding with one of these says the session may not be its agent's
NOT_THE_AGENT = frozenset(
    {REASON_NEW_DEVICE, REASON_NEW_IP, REASON_NEW_COUNTRY, REASON_IMPOSSIBLE_TRAVEL}
)


def taken_over_sessions(
    alert: Alert, index: AlertIndex, *, min_score: float, at_ms: int | None = None
) -> tuple[str, ...]:
    """The sessions that made every refund of an alert about an agent, when each of those
    refunds is named by a session finding (of the same agent, scoring at least
    ``min_score``, with a reason that says the session may be someone else's); otherwise
    ``()``. Such an alert speaks about whoever took the sessions over, not about the agent:
    a taken-over agent's account looks, against the team, like an insider's. With
    ``at_ms``, only session findings within the retention before it count (as ``evidence``)."""
    refund_ids = refunds_of(alert)
    if not refund_ids or alert.agent_id is None:
        return ()
    oldest_ms = index.oldest_at(at_ms)
    sessions: set[str] = set()
    for rid in refund_ids:
        found = None
        for seq in index.seqs_about("refund", rid):
            a = index.alerts[seq]
            if (
                a is not None
                and a.subject_type == "session"
                and a.session_id is not None
                and a.agent_id == alert.agent_id
                and a.score >= min_score
                and (oldest_ms is None or a.event_time_ms >= oldest_ms)
                and not NOT_THE_AGENT.isdisjoint(a.reasons)
            ):
                found = a.session_id
                break
        if found is None:
            return ()
        sessions.add(found)
    return tuple(sorted(sessions))


def unlist(by_key: dict[Any, list[int]], key: object, pos: int) -> None:
    seqs = by_key.get(key)
    if seqs is None:
        return
    seqs.remove(pos)  # the oldest go first, and they are near the front
    if not seqs:
        del by_key[key]

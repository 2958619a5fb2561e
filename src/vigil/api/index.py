"""The API's in-memory view of the runtime's outputs, and the live decision built on it.

The runtime writes ``alerts.jsonl`` and ``decisions.jsonl``; ``state.OutputTailer`` reads
each new line into this index, which answers in microseconds:

- refund -> the runtime's current decision, and the alerts that cover the refund;
- (subject type, subject id) -> alerts about an agent, a session, an order, an account;
- customer -> ring alerts that list the customer's account among their members.

Alert ids are deterministic (``detector:subject_type:subject_id``) and the runtime never
emits one twice, so a line read again (after the runtime resumed from a checkpoint and
rewrote the tail of its outputs) replaces the alert it repeats instead of adding one.

**Retention** (``retention_ms``, ``vigil serve --index-retention``): a server runs for months,
and an index of every alert and decision ever would grow without bound. Alerts and decisions
whose event time is older than the newest event time seen minus the retention are dropped
(oldest first, from a heap, every ``SWEEP_EVERY`` additions): they no longer count as
evidence or appear in ``/v1/alerts``; cases already opened from them stay in the case
database. An alert's position (its ``seq``, the cursor of ``/v1/alerts``) never moves: a
dropped alert leaves a hole (``None``), so cursors stay valid.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import msgspec

from vigil.decisions.book import DecisionBook, RefundDecision
from vigil.decisions.policy import DecisionPolicy
from vigil.detectors.base import Alert, refunds_of

_ACCOUNT = "account:"
#: additions between two retention sweeps
SWEEP_EVERY = 1_000


@dataclass(frozen=True)
class AlertFilter:
    detector: str | None = None
    subject_type: str | None = None
    subject_id: str | None = None
    refund_id: str | None = None
    customer_id: str | None = None
    agent_id: str | None = None
    min_score: float | None = None
    since_ms: int | None = None
    until_ms: int | None = None

    def matches(self, a: Alert, index: RiskIndex) -> bool:
        if self.detector is not None and a.detector != self.detector:
            return False
        if self.subject_type is not None and a.subject_type != self.subject_type:
            return False
        if self.subject_id is not None and a.subject_id != self.subject_id:
            return False
        if self.min_score is not None and a.score < self.min_score:
            return False
        if self.since_ms is not None and a.event_time_ms < self.since_ms:
            return False
        if self.until_ms is not None and a.event_time_ms >= self.until_ms:
            return False
        if self.agent_id is not None and self.agent_id not in (
            a.agent_id,
            a.subject_id if a.subject_type == "agent" else None,
        ):
            return False
        if self.customer_id is not None and not (
            a.customer_id == self.customer_id
            or (a.subject_type == "account" and a.subject_id == self.customer_id)
            or _ACCOUNT + self.customer_id in a.members
        ):
            return False
        return self.refund_id is None or self.refund_id in refunds_of(a)


@dataclass(frozen=True)
class Evidence:
    """The alerts the index holds about one refund and its entities."""

    alerts: tuple[Alert, ...]
    refund: bool
    agent: bool
    session: bool
    customer: bool
    ring: bool


class RiskIndex:
    def __init__(self, retention_ms: int | None = None) -> None:
        #: by seq; ``None`` where retention dropped the alert (seqs never move)
        self.alerts: list[Alert | None] = []
        self._pos: dict[str, int] = {}
        self._by_refund: dict[str, list[int]] = {}
        self._by_subject: dict[tuple[str, str], list[int]] = {}
        self._rings_of_customer: dict[str, list[int]] = {}
        self.decisions: dict[str, RefundDecision] = {}
        self.decisions_by_level: Counter[str] = Counter()
        self.retention_ms = retention_ms
        #: the newest event time seen; retention counts back from it
        self.newest_ms = 0
        self.alert_count = 0
        self.dropped_alerts = 0
        self.dropped_decisions = 0
        self._alert_heap: list[tuple[int, int]] = []  # (event time, seq)
        self._decision_heap: list[tuple[int, str]] = []  # (event time, refund id)
        self._until_sweep = SWEEP_EVERY

    # --- writes (the tailer) -----------------------------------------------------------

    def add_alert(self, alert: Alert) -> None:
        pos = self._pos.get(alert.alert_id)
        if pos is not None:  # a line read again after the runtime resumed: same alert
            self.alerts[pos] = alert
            return
        pos = len(self.alerts)
        self.alerts.append(alert)
        self.alert_count += 1
        self._pos[alert.alert_id] = pos
        for rid in refunds_of(alert):
            self._by_refund.setdefault(rid, []).append(pos)
        self._by_subject.setdefault((alert.subject_type, alert.subject_id), []).append(pos)
        for customer in _ring_customers(alert):
            self._rings_of_customer.setdefault(customer, []).append(pos)
        if self.retention_ms is not None:
            heapq.heappush(self._alert_heap, (alert.event_time_ms, pos))
            self._added(alert.event_time_ms)

    def add_decision(self, decision: RefundDecision) -> None:
        old = self.decisions.get(decision.refund_id)
        if old is not None:
            if old.revision > decision.revision:
                return
            self.decisions_by_level[old.decision] -= 1
        self.decisions[decision.refund_id] = decision
        self.decisions_by_level[decision.decision] += 1
        if self.retention_ms is not None:
            heapq.heappush(self._decision_heap, (decision.event_time_ms, decision.refund_id))
            self._added(decision.event_time_ms)

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
        dheap = self._decision_heap
        while dheap and dheap[0][0] < cutoff:
            _, rid = heapq.heappop(dheap)
            decision = self.decisions.get(rid)
            if decision is not None and decision.event_time_ms < cutoff:  # not revised since
                del self.decisions[rid]
                self.decisions_by_level[decision.decision] -= 1
                self.dropped_decisions += 1

    def _drop_alert(self, pos: int, alert: Alert) -> None:
        self.alerts[pos] = None
        self.alert_count -= 1
        self.dropped_alerts += 1
        del self._pos[alert.alert_id]
        for rid in refunds_of(alert):
            _unlist(self._by_refund, rid, pos)
        _unlist(self._by_subject, (alert.subject_type, alert.subject_id), pos)
        for customer in _ring_customers(alert):
            _unlist(self._rings_of_customer, customer, pos)

    # --- reads -------------------------------------------------------------------------

    def live_alerts(self) -> Iterator[Alert]:
        """The alerts held, oldest seq first (without the holes retention left)."""
        return (a for a in self.alerts if a is not None)

    def seq_of(self, alert_id: str) -> int:
        return self._pos[alert_id]

    def get(self, alert_id: str) -> Alert | None:
        pos = self._pos.get(alert_id)
        return None if pos is None else self.alerts[pos]

    def page(
        self, flt: AlertFilter, *, cursor: int | None, limit: int, newest_first: bool
    ) -> tuple[list[tuple[int, Alert]], int | None]:
        """Up to ``limit`` matching alerts after ``cursor`` (a seq) and the next cursor."""
        out: list[tuple[int, Alert]] = []
        for seq in self._candidates(flt, cursor, newest_first):
            alert = self.alerts[seq]
            if alert is not None and flt.matches(alert, self):
                if len(out) == limit:
                    return out, out[-1][0]
                out.append((seq, alert))
        return out, None

    def _candidates(
        self, flt: AlertFilter, cursor: int | None, newest_first: bool
    ) -> Iterator[int]:
        if flt.refund_id is not None:
            seqs: list[int] | range = self._by_refund.get(flt.refund_id, [])
        elif flt.subject_type is not None and flt.subject_id is not None:
            seqs = self._by_subject.get((flt.subject_type, flt.subject_id), [])
        else:
            seqs = range(len(self.alerts))
        if newest_first:
            for seq in reversed(seqs):
                if cursor is None or seq < cursor:
                    yield seq
        else:
            for seq in seqs:
                if cursor is None or seq > cursor:
                    yield seq

    def evidence(
        self,
        refund_id: str,
        *,
        agent_id: str | None,
        session_id: str | None,
        customer_id: str | None,
        order_id: str | None,
    ) -> Evidence:
        alerts = self.alerts
        own = self._by_refund.get(refund_id, ())
        if order_id is not None:
            own = [*own, *self._by_subject.get(("order", order_id), ())]
        agent = self._by_subject.get(("agent", agent_id), ()) if agent_id else ()
        session = self._by_subject.get(("session", session_id), ()) if session_id else ()
        customer = self._by_subject.get(("account", customer_id), ()) if customer_id else ()
        ring = self._rings_of_customer.get(customer_id, ()) if customer_id else ()
        seqs = sorted({*own, *agent, *session, *customer, *ring})
        return Evidence(
            alerts=tuple(a for s in seqs if (a := alerts[s]) is not None),
            refund=bool(own),
            agent=bool(agent),
            session=bool(session),
            customer=bool(customer),
            ring=bool(ring),
        )


def _ring_customers(alert: Alert) -> list[str]:
    if alert.subject_type != "ring":
        return []
    return [m[len(_ACCOUNT) :] for m in alert.members if m.startswith(_ACCOUNT)]


def _unlist(by_key: dict[Any, list[int]], key: object, pos: int) -> None:
    seqs = by_key.get(key)
    if seqs is None:
        return
    seqs.remove(pos)  # the oldest go first, and they are near the front
    if not seqs:
        del by_key[key]


def live_decision(refund_id: str, evidence: Evidence, policy: DecisionPolicy) -> RefundDecision:
    """The decision for ``refund_id`` from every finding known now.

    The same ``DecisionBook`` the runtime uses: each detector's strongest finding counts
    once, noisy-OR, the policy's thresholds. A finding about the refund's agent, session,
    customer or ring counts as if it named this refund (the runtime's book will say the
    same once the refund is in the stream and those detectors speak about it).
    """
    book = DecisionBook(policy)
    for alert in evidence.alerts:
        book.update(msgspec.structs.replace(alert, refund_ids=(refund_id,)))
    decision = book.current(refund_id)
    if decision is None:
        return RefundDecision(
            refund_id=refund_id,
            decision=policy.level(0.0),
            score=0.0,
            reasons=(),
            explanation="no finding yet about this refund, its agent, session, customer or ring",
            contributions=(),
            event_time_ms=0,
            revision=0,
        )
    return decision

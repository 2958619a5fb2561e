"""The API's in-memory view of the runtime's outputs: what ``decide`` and ``/v1/alerts`` read.

The runtime writes ``alerts.jsonl``, ``decisions.jsonl`` and (under ``vigil serve``)
``facts.jsonl``; ``state.OutputTailer`` reads each new line into this index, which answers
in microseconds:

- (kind, plain id) -> alerts about a refund, order, agent, session, customer or the rings
  listing a customer (``vigil.decisions.evidence.AlertIndex``: never by a subject id's
  format);
- (subject type, subject id) -> alerts, for ``/v1/alerts`` filters;
- refund -> the runtime's current decision;
- the request-time facts per entity, as the runtime published them, which
  ``vigil.decisions.request.decide_request`` reads with the alerts.

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

from vigil.decisions.book import RefundDecision
from vigil.decisions.evidence import SWEEP_EVERY, AlertIndex, unlist
from vigil.detectors.base import Alert, refunds_of
from vigil.features.facts import RequestFacts

__all__ = ["SWEEP_EVERY", "AlertFilter", "RiskIndex"]

_ACCOUNT = "account:"


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
        if self.agent_id is not None and a.agent_id != self.agent_id:
            return False
        if self.customer_id is not None and not (
            a.customer_id == self.customer_id or _ACCOUNT + self.customer_id in a.members
        ):
            return False
        return self.refund_id is None or self.refund_id in refunds_of(a)


class RiskIndex(AlertIndex):
    """``AlertIndex`` (alerts by plain entity ids, with retention) plus what the API serves:
    alerts by subject for ``/v1/alerts``, the stream's current decision per refund, and the
    request-time facts the runtime published (``facts.jsonl``)."""

    def __init__(self, retention_ms: int | None = None, facts: RequestFacts | None = None) -> None:
        super().__init__(retention_ms)
        self._by_subject: dict[tuple[str, str], list[int]] = {}
        self.decisions: dict[str, RefundDecision] = {}
        self.decisions_by_level: Counter[str] = Counter()
        self.dropped_decisions = 0
        self._decision_heap: list[tuple[int, str]] = []  # (event time, refund id)
        #: the runtime's request-time facts, as published (``vigil.features.facts``)
        self.facts = facts or RequestFacts()
        self.facts_newest_ms = 0
        self._facts_until_prune = SWEEP_EVERY * 100

    # --- writes (the tailer) -----------------------------------------------------------

    def add_alert(self, alert: Alert) -> None:
        new = alert.alert_id not in self._pos
        super().add_alert(alert)
        if new:
            pos = self._pos[alert.alert_id]
            self._by_subject.setdefault((alert.subject_type, alert.subject_id), []).append(pos)

    def _drop_alert(self, pos: int, alert: Alert) -> None:
        super()._drop_alert(pos, alert)
        unlist(self._by_subject, (alert.subject_type, alert.subject_id), pos)

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

    def add_fact_line(self, line: bytes) -> None:
        """One line of the runtime's ``facts.jsonl``; facts idle past their retention are
        dropped now and then (reads ignore them anyway: ``RequestFacts.get``)."""
        _kind, _key, last_ms = self.facts.apply_line(line)
        if last_ms > self.facts_newest_ms:
            self.facts_newest_ms = last_ms
        self._facts_until_prune -= 1
        if self._facts_until_prune <= 0:
            self._facts_until_prune = SWEEP_EVERY * 100
            self.facts.prune(self.facts_newest_ms)

    def sweep(self) -> None:
        """Drop what is older than the retention (see the module doc)."""
        super().sweep()
        if self.retention_ms is None:
            return
        cutoff = self.newest_ms - self.retention_ms
        dheap = self._decision_heap
        while dheap and dheap[0][0] < cutoff:
            _, rid = heapq.heappop(dheap)
            decision = self.decisions.get(rid)
            if decision is not None and decision.event_time_ms < cutoff:  # not revised since
                del self.decisions[rid]
                self.decisions_by_level[decision.decision] -= 1
                self.dropped_decisions += 1

    # --- reads -------------------------------------------------------------------------

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
            seqs: list[int] | range = self.seqs_about("refund", flt.refund_id)
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

"""The API's in-memory view of the runtime's outputs, and the live decision built on it.

The runtime writes ``alerts.jsonl`` and ``decisions.jsonl``; ``state.OutputTailer`` reads
each new line into this index, which answers in microseconds:

- refund -> the runtime's current decision, and the alerts that cover the refund;
- (subject type, subject id) -> alerts about an agent, a session, an order, an account;
- customer -> ring alerts that list the customer's account among their members.

Alert ids are deterministic (``detector:subject_type:subject_id``) and the runtime never
emits one twice, so a line read again (after the runtime resumed from a checkpoint and
rewrote the tail of its outputs) replaces the alert it repeats instead of adding one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import msgspec

from vigil.decisions.book import DecisionBook, RefundDecision
from vigil.decisions.policy import DecisionPolicy
from vigil.detectors.base import Alert, refunds_of

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
    def __init__(self) -> None:
        self.alerts: list[Alert] = []
        self._pos: dict[str, int] = {}
        self._by_refund: dict[str, list[int]] = {}
        self._by_subject: dict[tuple[str, str], list[int]] = {}
        self._rings_of_customer: dict[str, list[int]] = {}
        self.decisions: dict[str, RefundDecision] = {}
        self.decisions_by_level: Counter[str] = Counter()

    # --- writes (the tailer) -----------------------------------------------------------

    def add_alert(self, alert: Alert) -> None:
        pos = self._pos.get(alert.alert_id)
        if pos is not None:  # a line read again after the runtime resumed: same alert
            self.alerts[pos] = alert
            return
        pos = len(self.alerts)
        self.alerts.append(alert)
        self._pos[alert.alert_id] = pos
        for rid in refunds_of(alert):
            self._by_refund.setdefault(rid, []).append(pos)
        self._by_subject.setdefault((alert.subject_type, alert.subject_id), []).append(pos)
        if alert.subject_type == "ring":
            for member in alert.members:
                if member.startswith(_ACCOUNT):
                    self._rings_of_customer.setdefault(member[len(_ACCOUNT) :], []).append(pos)

    def add_decision(self, decision: RefundDecision) -> None:
        old = self.decisions.get(decision.refund_id)
        if old is not None:
            if old.revision > decision.revision:
                return
            self.decisions_by_level[old.decision] -= 1
        self.decisions[decision.refund_id] = decision
        self.decisions_by_level[decision.decision] += 1

    # --- reads -------------------------------------------------------------------------

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
            if flt.matches(alert, self):
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
            alerts=tuple(alerts[s] for s in seqs),
            refund=bool(own),
            agent=bool(agent),
            session=bool(session),
            customer=bool(customer),
            ring=bool(ring),
        )


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

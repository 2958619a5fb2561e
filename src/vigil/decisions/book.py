"""The running decision for every refund that any detector has spoken about.

The runtime hands each alert it emits to ``DecisionBook.update``; the book keeps, per refund,
each detector's strongest finding, recombines them (``combine.combine_scores``) and returns a
new ``RefundDecision`` whenever the combined score changes. The last decision line of a refund
in ``decisions.jsonl`` is its current decision; a refund no detector spoke about is approved.
Everything here is a pure function of the alerts seen, so it is deterministic, independent of
the order alerts arrive in, and its state (plain dicts of tuples) is checkpointed with the rest.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from vigil.decisions.backing import BACKED_ONLY_DETECTORS, backer_present, flagged_agent
from vigil.decisions.combine import combine_scores
from vigil.decisions.policy import DecisionLevel, DecisionPolicy
from vigil.detectors.base import Alert, refunds_of

DecisionStage = Literal["request", "stream"]


class Contribution(msgspec.Struct, frozen=True, kw_only=True):
    """One detector's strongest finding about the refund."""

    detector: str
    score: float
    alert_id: str
    reasons: tuple[str, ...]
    explanation: str


class RefundDecision(msgspec.Struct, frozen=True, kw_only=True):
    """approve / review / deny for one refund, with the score and what drove it."""

    refund_id: str
    decision: DecisionLevel
    score: float
    #: ``detector:reason`` codes, the strongest detector's first
    reasons: tuple[str, ...]
    #: one line for the analyst: the strongest finding, then who else agrees
    explanation: str
    contributions: tuple[Contribution, ...]
    #: event time of the alert that moved the decision here
    event_time_ms: int
    #: 1 for the first decision about this refund, then +1 per change
    revision: int
    amount_cents: int = 0
    customer_id: str | None = None
    agent_id: str | None = None
    order_id: str | None = None
    #: ``request``: the answer at the moment the refund was asked for, from what was known
    #: then (``vigil.decisions.request``; revision 0); ``stream``: the stream's decision,
    #: revised as findings arrive
    stage: DecisionStage = "stream"
    #: request stage: ids of alerts about the agent set aside because every refund they
    #: list was made in a session judged not the agent's (``vigil.decisions.request``)
    set_aside: tuple[str, ...] = ()


#: decode ``decisions.jsonl``
decision_decoder = msgspec.json.Decoder(RefundDecision)

# per refund: [contributions by detector, revision, newest time, amount, customer, agent, order]
_Entry = list[Any]


class DecisionBook:
    """Per-refund combination of every detector's findings."""

    def __init__(self, policy: DecisionPolicy | None = None) -> None:
        self.policy = policy or DecisionPolicy()
        self.entries: dict[str, _Entry] = {}
        #: agents an agent or session finding has flagged (``decisions.backing``)
        self.flagged_agents: set[str] = set()
        #: agent -> refunds holding a backed-only finding that nothing backs yet
        self.held: dict[str, set[str]] = {}

    def state(self) -> tuple[dict[str, _Entry], set[str], dict[str, set[str]]]:
        """What a checkpoint keeps."""
        return self.entries, self.flagged_agents, self.held

    def restore(self, state: Any) -> None:
        if isinstance(state, dict):  # a checkpoint from before backed-only findings
            self.entries, self.flagged_agents, self.held = state, set(), {}
        else:
            self.entries, self.flagged_agents, self.held = state

    def update(self, alert: Alert) -> list[RefundDecision]:
        """Take one alert; return the decisions it changed (one per refund it covers, and
        the refunds whose held findings it backs)."""
        out: list[RefundDecision] = []
        released: set[str] = set()
        agent = flagged_agent(alert)
        if agent is not None and agent not in self.flagged_agents:
            self.flagged_agents.add(agent)
            released = self.held.pop(agent, set())
        covered = refunds_of(alert)
        for rid in covered:
            entry = self.entries.get(rid)
            if entry is None:
                entry = [{}, 0, alert.event_time_ms, 0, None, None, None]
                self.entries[rid] = entry
            by_detector: dict[str, Contribution] = entry[0]
            old = by_detector.get(alert.detector)
            # keep the strongest finding; equal scores keep the smallest alert id, so the
            # combined score does not depend on the order alerts come in
            if old is not None and (old.score, alert.alert_id) >= (alert.score, old.alert_id):
                continue
            by_detector[alert.detector] = Contribution(
                detector=alert.detector,
                score=alert.score,
                alert_id=alert.alert_id,
                reasons=alert.reasons,
                explanation=alert.explanation,
            )
            entry[1] += 1
            entry[2] = alert.event_time_ms
            if alert.subject_type == "refund" and alert.subject_id == rid:
                entry[3] = alert.amount_cents
                entry[4] = alert.customer_id
                entry[5] = alert.agent_id
                entry[6] = alert.order_id
            elif entry[5] is None:
                entry[5] = alert.agent_id
            if alert.detector in BACKED_ONLY_DETECTORS and not self._backed(entry):
                self.held.setdefault(entry[5] or "", set()).add(rid)
            out.append(self._decision(rid, entry))
        for rid in sorted(released - set(covered)):  # the agent's held findings now count
            entry = self.entries[rid]
            entry[1] += 1
            entry[2] = max(entry[2], alert.event_time_ms)
            out.append(self._decision(rid, entry))
        return out

    def note_request(self, decision: RefundDecision) -> None:
        """The request-time decision of a refund (``vigil.decisions.request``): its findings
        stay with the refund, so the stream's later decisions add to them and never read as
        if they had not been made (a request held for its session is not approved again
        because the session's own alert is weaker). Revision 0: the stream's first change is
        revision 1."""
        if not decision.contributions:
            return
        entry = self.entries.get(decision.refund_id)
        if entry is None:
            entry = [
                {},
                0,
                decision.event_time_ms,
                decision.amount_cents,
                decision.customer_id,
                decision.agent_id,
                decision.order_id,
            ]
            self.entries[decision.refund_id] = entry
        by_detector: dict[str, Contribution] = entry[0]
        for c in decision.contributions:
            old = by_detector.get(c.detector)
            if old is None or (c.score, old.alert_id) > (old.score, c.alert_id):
                by_detector[c.detector] = c

    def _backed(self, entry: _Entry) -> bool:
        return entry[5] in self.flagged_agents or backer_present(entry[0])

    def current(self, refund_id: str) -> RefundDecision | None:
        """The refund's decision now (None: no detector spoke about it, so approve)."""
        entry = self.entries.get(refund_id)
        return None if entry is None else self._decision(refund_id, entry)

    def count_by_level(self) -> dict[str, int]:
        """How many refunds stand at each decision level now."""
        counts: dict[str, int] = {}
        for rid in self.entries:
            decision = self.current(rid)
            assert decision is not None
            counts[decision.decision] = counts.get(decision.decision, 0) + 1
        return counts

    def _decision(self, rid: str, entry: _Entry) -> RefundDecision:
        only = self.policy.score_only_detectors
        if not self._backed(entry):  # listed with the decision, not counted (backing.py)
            only = only | BACKED_ONLY_DETECTORS
        parts = sorted(entry[0].values(), key=lambda c: (c.detector in only, -c.score, c.detector))
        score = combine_scores(c.score for c in parts if c.detector not in only)
        top = parts[0]
        explanation = top.explanation
        if len(parts) > 1:
            others = ", ".join(f"{c.detector} {c.score:.2f}" for c in parts[1:])
            explanation = f"{explanation} (also: {others})"
        return RefundDecision(
            refund_id=rid,
            decision=self.policy.level(score),
            score=score,
            reasons=tuple(f"{c.detector}:{r}" for c in parts for r in c.reasons),
            explanation=explanation,
            contributions=tuple(parts),
            event_time_ms=entry[2],
            revision=entry[1],
            amount_cents=entry[3],
            customer_id=entry[4],
            agent_id=entry[5],
            order_id=entry[6],
        )

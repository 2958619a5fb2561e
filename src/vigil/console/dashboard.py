"""The live dashboard's figures, from the risk index, the case database and the timeline.

* refunds and refund money per minute (timeline: what arrived, by wall-clock minute);
* alerts per detector and decisions per level (risk index: what the runtime published);
* money at risk: refunds not paid yet, held or denied at request time, whose hold waits for
  a person (what can still be stopped); paid, then flagged: refunds already paid (approved
  at request time, or released) that the stream now answers review or deny, not in a case
  labelled legitimate (money to recover, not to stop; a fraud label marks them confirmed,
  each refund once however many cases hold it); money saved: refunds a person blocked
  before payout (a label alone saves nothing: the refund was paid, or its hold still waits);
* precision of labelled alerts: of the alerts in labelled cases, the share labelled fraud;
* top risky agents (their strongest alert at or above the review threshold, by plain agent
  id) and open rings (ring cases not resolved).

Computed on demand, at most once per ``ttl_s`` (the page polls every few seconds; several
analysts share one computation).
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from vigil.api.index import RiskIndex
from vigil.cases.holds import OPEN as HOLD_OPEN
from vigil.cases.models import Case, CaseMember, RefundHold
from vigil.cases.service import refund_labels
from vigil.cases.transitions import OPEN
from vigil.console.timeline import TimelineStore
from vigil.security.db import Database

__all__ = ["Dashboard", "DashboardData"]


@dataclass(frozen=True)
class AgentRisk:
    agent_id: str
    score: float
    alerts: int
    detectors: tuple[str, ...]
    #: the agent's newest case: its id and status (``resolved_fraud``...), if it has one
    case_id: int | None = None
    case_status: str | None = None


@dataclass(frozen=True)
class RingRow:
    case_id: int
    title: str
    status: str
    score: float
    amount_cents: int
    alerts: int


@dataclass(frozen=True)
class DashboardData:
    #: (minute label, refunds, money $); None before the server was watching
    minutes: list[tuple[str, int | None, float | None]]
    alerts_by_detector: list[tuple[str, int]]
    decisions: dict[str, int]
    #: money not paid yet that a person can still stop: refunds held or denied at request
    #: time whose hold waits for someone to release or block it
    money_at_risk_cents: int
    #: those holds: the refunds counted in ``money_at_risk_cents``
    holds_waiting: int
    #: refunds already paid (approved at request time, or released) that the stream now
    #: answers review or deny, and no case labelled legitimate: money to recover, not to stop
    flagged_after_payout: int
    flagged_after_payout_cents: int
    #: of those, in cases labelled fraud (confirmed)
    flagged_after_payout_fraud: int
    money_saved_cents: int
    #: refunds a person blocked before payout, and their money
    blocked: int
    blocked_cents: int
    labelled_fraud_alerts: int
    labelled_legit_alerts: int
    top_agents: list[AgentRisk]
    open_rings: list[RingRow]
    open_cases: int
    events_seen: int
    alerts_total: int
    computed_at: float = field(default_factory=time.time)

    @property
    def precision(self) -> float | None:
        total = self.labelled_fraud_alerts + self.labelled_legit_alerts
        return self.labelled_fraud_alerts / total if total else None

    def charts(self) -> dict[str, Any]:
        """What console.js draws: plain lists, no markup."""
        return {
            "minutes": {
                "labels": [m for m, _, _ in self.minutes],
                "refunds": [n for _, n, _ in self.minutes],
                "money": [None if d is None else round(d, 2) for _, _, d in self.minutes],
            },
            "detectors": {
                "labels": [d for d, _ in self.alerts_by_detector],
                "counts": [n for _, n in self.alerts_by_detector],
            },
        }


class Dashboard:
    def __init__(
        self,
        index: RiskIndex,
        timeline: TimelineStore,
        db: Database,
        *,
        ttl_s: float = 1.0,
        risky_score: float = 0.5,
    ) -> None:
        self.index = index
        #: an agent is listed as risky from this alert score on (the review threshold)
        self.risky_score = risky_score
        self.timeline = timeline
        self.db = db
        self.ttl_s = ttl_s
        self._cached: DashboardData | None = None

    def data(self) -> DashboardData:
        cached = self._cached
        if cached is not None and time.time() - cached.computed_at < self.ttl_s:
            return cached
        self._cached = fresh = self._compute()
        return fresh

    def invalidate(self) -> None:
        """After an analyst's action, the next poll shows it at once."""
        self._cached = None

    def _money_saved(self, s: Any) -> int:
        """Refund money stopped before it left: the refunds a person blocked (each hold is
        one refund). A refund labelled fraud after it was paid is not saved money but money
        to recover ("paid, then flagged"), and one labelled fraud whose hold still waits is
        still at risk until someone blocks it. A case labelled fraud that names no refund
        (opened before cases recorded them) adds its own total, as before."""
        blocked = s.execute(
            sa.select(sa.func.coalesce(sa.func.sum(RefundHold.amount_cents), 0)).where(
                RefundHold.status == "blocked"
            )
        ).scalar_one()
        legacy = s.execute(
            sa.select(sa.func.coalesce(sa.func.sum(Case.amount_cents), 0)).where(
                Case.status == "resolved_fraud",
                ~sa.exists().where(
                    CaseMember.case_id == Case.id, CaseMember.entity.like("refund:%")
                ),
            )
        ).scalar_one()
        return int(blocked or 0) + int(legacy or 0)

    def _compute(self) -> DashboardData:
        index = self.index
        per_detector = Counter(a.detector for a in index.live_alerts())
        agents: dict[str, list[Any]] = {}
        for a in index.live_alerts():
            # the plain id: an agent_refunds subject is "ag-10@<window>", one per window
            agent = a.agent_id or (a.subject_id if a.subject_type == "agent" else None)
            if not agent or a.score < self.risky_score:
                continue
            row = agents.setdefault(agent, [0.0, 0, set()])
            row[0] = max(row[0], a.score)
            row[1] += 1
            row[2].add(a.detector)
        top = sorted(agents.items(), key=lambda kv: (-kv[1][0], -kv[1][1], kv[0]))[:10]
        with self.db.transaction() as s:
            unpaid = dict(  # refund -> hold status, for every hold not released
                s.execute(
                    sa.select(RefundHold.refund_id, RefundHold.status).where(
                        RefundHold.status != "released"
                    )
                ).all()
            )
            blocked = s.execute(
                sa.select(
                    sa.func.count(), sa.func.coalesce(sa.func.sum(RefundHold.amount_cents), 0)
                ).where(RefundHold.status == "blocked")
            ).one()
            labels = refund_labels(s)
            agent_cases = {
                key: (cid, status)
                for cid, key, status in s.execute(
                    sa.select(Case.id, Case.group_key, Case.status)
                    .where(Case.group_type == "agent", Case.group_key.in_([a for a, _ in top]))
                    .order_by(Case.id)
                )
            }  # the newest case of each agent wins
            waiting = s.execute(
                sa.select(
                    sa.func.count(), sa.func.coalesce(sa.func.sum(RefundHold.amount_cents), 0)
                ).where(RefundHold.status.in_(tuple(HOLD_OPEN)))
            ).one()
            saved = self._money_saved(s)
            labelled = dict(
                s.execute(
                    sa.select(Case.label, sa.func.sum(Case.alert_count))
                    .where(Case.label.is_not(None))
                    .group_by(Case.label)
                ).all()
            )
            open_cases = s.scalar(
                sa.select(sa.func.count()).select_from(Case).where(Case.status.in_(OPEN))
            )
            rings = s.scalars(
                sa.select(Case)
                .where(Case.group_type == "ring", Case.status.in_(OPEN))
                .order_by(Case.score_max.desc(), Case.id)
                .limit(10)
            ).all()
            ring_rows = [
                RingRow(c.id, c.title, c.status, c.score_max, c.amount_cents, c.alert_count)
                for c in rings
            ]
        flagged = [
            d
            for d in index.decisions.values()
            if d.decision != "approve"
            and d.refund_id not in unpaid  # paid: no hold, or released
            and labels.get(d.refund_id) != "legitimate"
        ]
        minutes = [
            (
                datetime.fromtimestamp(m * 60, UTC).strftime("%H:%M"),
                n,
                None if cents is None else cents / 100,
            )
            for m, n, cents in self.timeline.minutes()
        ]
        return DashboardData(
            minutes=minutes,
            alerts_by_detector=sorted(per_detector.items(), key=lambda kv: (-kv[1], kv[0])),
            decisions=dict(index.decisions_by_level),
            money_at_risk_cents=int(waiting[1] or 0),
            holds_waiting=int(waiting[0]),
            flagged_after_payout=len(flagged),
            flagged_after_payout_cents=sum(d.amount_cents for d in flagged),
            flagged_after_payout_fraud=sum(
                1 for d in flagged if labels.get(d.refund_id) == "fraud"
            ),
            money_saved_cents=int(saved or 0),
            blocked=int(blocked[0]),
            blocked_cents=int(blocked[1] or 0),
            labelled_fraud_alerts=int(labelled.get("fraud") or 0),
            labelled_legit_alerts=int(labelled.get("legitimate") or 0),
            top_agents=[
                AgentRisk(
                    agent,
                    row[0],
                    row[1],
                    tuple(sorted(row[2])),
                    *agent_cases.get(agent, (None, None)),
                )
                for agent, row in top
            ],
            open_rings=ring_rows,
            open_cases=int(open_cases or 0),
            events_seen=self.timeline.events_seen,
            alerts_total=index.alert_count,
        )

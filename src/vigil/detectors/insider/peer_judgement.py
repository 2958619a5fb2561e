"""``agent_refunds``' judgement of one team's window: each agent's unreturned manual refund
money against the median of the team's other agents (no state: the team's stage hands it
what the agents' stages reported)."""

from __future__ import annotations

import math
from typing import ClassVar

from vigil.detectors.base import Signal, clamp01
from vigil.detectors.insider._common import days, logistic, median, money, utc_stamp
from vigil.detectors.settings import AgentRefundsSettings
from vigil.events.derived import AgentRefundValue

REASON_PEER_OUTLIER = "unreturned_manual_refunds_above_team_peers"
REASON_OVERRIDES = "manual_overrides"
REASON_MANY_MANUAL = "many_unreturned_manual_refunds"

NAME = "agent_refunds"
VERSION = 4

#: what the team's stage holds of one agent's window: (agent_id, unreturned manual refunds
#: over the history, manual refunds in the window)
AgentWindow = tuple[str, tuple[AgentRefundValue, ...], int]


class PeerJudgement:
    """Signals for the agents of one team whose unreturned manual money stands out."""

    name: ClassVar[str] = NAME
    version: ClassVar[int] = VERSION

    def __init__(self, settings: AgentRefundsSettings) -> None:
        self.settings = settings

    def judge(
        self,
        team: str,
        agents: list[AgentWindow],
        young_refunds: frozenset[str],
        start_ms: int,
        fired_at_ms: int,
    ) -> list[Signal]:
        """``agents``: the team's agents with refunds in the window; ``young_refunds``: the
        listed refunds whose customer had signed up shortly before."""
        s = self.settings
        cents_of = {a: sum(r[2] for r in unreturned) for a, unreturned, _ in agents}
        out: list[Signal] = []
        for agent_id, unreturned, n_manual in sorted(agents):
            cents = cents_of[agent_id]
            if cents < s.min_unreturned_cents:
                continue
            dear = sum(1 for r in unreturned if r[2] >= s.listed_refund_min_cents)
            if dear < s.min_unreturned_refunds:
                continue
            peers = [float(c) for p, c in cents_of.items() if p != agent_id]
            if len(peers) < s.min_peers:
                continue
            med = median(peers)
            floor = float(s.ratio_floor_cents)
            log2_ratio = math.log2((cents + floor) / (med + floor))
            score = clamp01(logistic(s.log2_ratio_slope * (log2_ratio - s.log2_ratio_at_half)))
            if score < s.min_emit_score:
                continue
            out.append(
                self._signal(
                    agent_id, team, cents, list(unreturned), n_manual, med, len(peers),
                    log2_ratio, score, start_ms, fired_at_ms, young_refunds,
                )
            )  # fmt: skip
        return out

    def _signal(
        self,
        agent_id: str,
        team: str,
        cents: int,
        unreturned: list[AgentRefundValue],
        n_manual: int,
        peer_median: float,
        n_peers: int,
        log2_ratio: float,
        score: float,
        start_ms: int,
        fired_at_ms: int,
        young_refunds: frozenset[str],
    ) -> Signal:
        s = self.settings
        dear = [r for r in unreturned if r[2] >= s.listed_refund_min_cents]
        if s.list_pattern_refunds_only:
            seen: dict[str, int] = {}
            for r in unreturned:
                seen[r[4]] = seen.get(r[4], 0) + 1

            def fits(r: AgentRefundValue) -> bool:
                return (
                    r[1] in young_refunds or seen[r[4]] > 1 or r[2] >= s.list_dear_refunds_min_cents
                )

            listed = sorted((r for r in dear if fits(r)), key=lambda r: r[1])
        else:
            listed = sorted(dear, key=lambda r: r[1])
        reasons = [REASON_PEER_OUTLIER]
        n_overrides = sum(1 for r in unreturned if r[3] == "manual_override")
        if n_overrides:
            reasons.append(REASON_OVERRIDES)
        if len(unreturned) >= 5:
            reasons.append(REASON_MANY_MANUAL)
        start = utc_stamp(start_ms)
        explanation = (
            f"agent {agent_id} (team {team}) issued {len(unreturned)} manual refunds "
            f"({n_overrides} overrides) worth {money(cents)} that never came back, of "
            f"{n_manual} manual refunds in the window from {start} and the "
            f"{days(s.history_ms - s.window_ms)} before it, vs a median of "
            f"{money(round(peer_median))} over {n_peers} team peers "
            f"({2**log2_ratio:.1f}x with floors); at risk: {len(listed)} refunds of "
            f"{money(s.listed_refund_min_cents)} or more worth {money(sum(r[2] for r in listed))}"
            + (
                f" (to new or repeat customers, or of {money(s.list_dear_refunds_min_cents)} "
                f"or more; {len(dear) - len(listed)} more to established one-off customers "
                "not listed)"
                if len(dear) > len(listed)
                else ""
            )
        )
        customers = {r[4] for r in listed}
        return Signal(
            detector=self.name,
            version=self.version,
            subject_type="agent",
            subject_id=f"{agent_id}@{start}",
            score=round(score, 6),
            reasons=tuple(reasons),
            explanation=explanation,
            event_time_ms=fired_at_ms,
            refund_ids=tuple(r[1] for r in listed),
            amount_cents=sum(r[2] for r in listed),
            customer_id=next(iter(customers)) if len(customers) == 1 else None,
            agent_id=agent_id,
        )

"""What a run produced: ``simulation.json`` and the :class:`SimSummary` returned to the caller.

Why both: ``simulation.json`` travels with the stream (config + counts, byte-identical for the
same config, so it holds no wall-clock figures); the summary adds how long the run took.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from vigil.events.schemas import type_name
from vigil.events.truth import HEADLINE_SCENARIOS, SCENARIOS, TRAPS
from vigil.sim.config import SimConfig
from vigil.sim.context import Ctx
from vigil.sim.disorder import Disorder


@dataclass(frozen=True)
class SimSummary:
    """Counts of one simulation run and where its files are."""

    events_path: Path
    truth_path: Path
    summary_path: Path
    #: lines in events.jsonl (duplicates and malformed lines included)
    lines: int
    duplicates: int
    malformed: int
    late: int
    very_late: int
    refunds: int
    #: fraudulent refunds per scenario (all five scenarios)
    fraud_refunds: dict[str, int]
    #: share of refund money that is headline fraud (scenarios 1-4)
    fraud_money_share: float
    seconds: float
    counts: dict[str, Any] = field(repr=False)

    @property
    def lines_per_second(self) -> float:
        return self.lines / self.seconds if self.seconds > 0 else 0.0


def build_counts(
    cfg: SimConfig, ctx: Ctx, disorder: Disorder, lines: int, rostered: int
) -> dict[str, Any]:
    tally = ctx.tally
    by_type = {type_name(cls): n for cls, n in ctx.tl.by_type.items() if n}
    by_type["agent_rostered"] = rostered
    refunds = tally.refunds or 1
    money = tally.refund_cents or 1
    headline_n = sum(tally.by_scenario.get(s, 0) for s in HEADLINE_SCENARIOS)
    fraud_cents = sum(tally.cents_by_scenario.get(s, 0) for s in SCENARIOS)
    return {
        "events_written": lines,
        "unique_events": ctx.tl.lines + rostered,
        "duplicates": disorder.duplicates,
        "malformed": disorder.malformed,
        "malformed_by_kind": dict(sorted(disorder.malformed_by_kind.items())),
        "late": disorder.late,
        "very_late": disorder.very_late,
        "max_arrival_delay_ms": disorder.max_delay_ms,
        "events_by_type": dict(sorted(by_type.items())),
        "ad_lines": ctx.tl.ad_lines,
        "customers": ctx.world.n_regular,
        "fraud_accounts": len(ctx.world.extra) + len(ctx.world.side_extra),
        "agents": len(ctx.roster.agents),
        "first_event_ms": cfg.start_ms,
        "last_event_ms": ctx.tl.last_event_ms,
        "last_refund_ms": tally.last_refund_ms,
        "refunds": tally.refunds,
        "refund_cents": tally.refund_cents,
        "refunds_by_scenario": dict(sorted(tally.by_scenario.items())),
        "refund_cents_by_scenario": dict(sorted(tally.cents_by_scenario.items())),
        "fraud_refunds": {s: tally.by_scenario.get(s, 0) for s in SCENARIOS},
        "headline_fraud_refunds": headline_n,
        "headline_fraud_refund_share": headline_n / refunds,
        "fraud_money_share": tally.headline_cents() / money,
        "fraud_money_share_incl_serial": fraud_cents / money,
        "fraud_subjects": {s: dict(sorted(tally.subjects.get(s, {}).items())) for s in SCENARIOS},
        "trap_subjects": {s: dict(sorted(tally.subjects.get(s, {}).items())) for s in TRAPS},
        "trap_refunds": {s: tally.by_scenario.get(s, 0) for s in TRAPS},
        "variants": {
            name: {"refunds": n, "refund_cents": cents}
            for name, (n, cents) in sorted(tally.variants.items())
        },
        "lost_return_parcels": tally.lost_return_parcels,
    }


def write_simulation_json(path: Path, cfg: SimConfig, counts: dict[str, Any]) -> None:
    doc = {"config": cfg.to_dict(), "counts": counts}
    path.write_bytes(msgspec.json.format(msgspec.json.encode(doc), indent=2) + b"\n")

"""Parameters of the agent profiles and the agent ranking (``vigil agents``).

Frozen dataclasses, built once at the entry point and passed down, like
``vigil.detectors.settings`` (where they may move once the ranking joins the pipeline).
Weights are a priori (how much each kind of evidence should count), not tuned; only the
two calibration coefficients were *fitted*, on simulator seed 1 (see
``AgentRankingSettings.platt_slope`` and ``docs/insider.md``). Seeds 2 and 3 are held out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from vigil.detectors.settings import DAY_MS

#: metric names, in report order (see ``vigil.detectors.insider.profiles``)
METRICS: tuple[str, ...] = (
    "approval_rate",
    "override_rate",
    "high_value_share",
    "new_account_share",
    "linked_account_share",
    "no_return_share",
    "unreturned_money_share",
)


@dataclass(frozen=True)
class MetricSpec:
    """How one profile metric counts towards an agent's peer deviation."""

    name: str
    #: logit-like weight of one robust standard deviation above the peers
    weight: float
    #: the deviation's scale is at least this (in the metric's units), so that a team whose
    #: agents all sit at the same rate does not turn a tiny difference into a huge deviation
    abs_floor: float
    #: ... and at least this share of the peer median
    rel_floor: float = 0.25


def _default_metrics() -> tuple[MetricSpec, ...]:
    return (
        # refunds per contact: busy honest agents vary; weak on its own
        MetricSpec("approval_rate", weight=0.5, abs_floor=0.002),
        # manual refunds (override / returnless) per contact
        MetricSpec("override_rate", weight=0.5, abs_floor=0.002),
        MetricSpec("high_value_share", weight=0.5, abs_floor=0.05),
        MetricSpec("new_account_share", weight=0.5, abs_floor=0.05),
        MetricSpec("linked_account_share", weight=0.5, abs_floor=0.05),
        # the heart of insider refund fraud: money that should have come back and did not
        MetricSpec("no_return_share", weight=1.0, abs_floor=0.05),
        MetricSpec("unreturned_money_share", weight=1.0, abs_floor=0.05),
    )


@dataclass(frozen=True)
class AgentProfileSettings:
    """What the profile collector keeps and how refunds are classified."""

    #: a refund of at least this amount is high-value
    high_value_cents: int = 30_000
    #: an account younger than this at refund time (since its signup event) is new;
    #: accounts whose signup was never seen are taken as established
    new_account_ms: int = 30 * DAY_MS
    #: how long after a refund a carrier scan or warehouse receipt may still arrive
    return_grace_ms: int = 14 * DAY_MS
    #: how long order facts (deliveries, scans, receipts) are kept after the last activity
    retention_ms: int = 60 * DAY_MS


@dataclass(frozen=True)
class AgentRankingSettings:
    """Peer deviations, their combination with session findings, and the calibration."""

    metrics: tuple[MetricSpec, ...] = field(default_factory=_default_metrics)
    #: who an agent is compared with: the other agents of the team, or of the team *and*
    #: the same 8-hour shift band (falls back to the team when that group is too small)
    peer_group: Literal["team", "team_and_shift"] = "team"
    #: peers needed in a group; fewer: compare with every other agent
    min_peers: int = 3
    #: rates are shrunk towards the team's median rate by this many refunds' worth of
    #: evidence ((k + a * p_team) / (n + a)), so an agent with 3 refunds is not 100% anything
    prior_refunds: float = 5.0
    #: a metric's deviation counts up to this many robust standard deviations
    z_cap: float = 8.0
    #: a metric is named among the reasons from this many robust standard deviations
    reason_min_z: float = 2.0
    #: weight of the session finding: ``session_weight * max(0, logit(max session_risk
    #: alert score of the agent))``; a 0.99 takeover session counts about 4.6 * weight
    session_weight: float = 2.0
    #: added once when any of the agent's session pairs is impossible travel
    impossible_travel_weight: float = 1.0
    #: Platt calibration p = 1 / (1 + exp(-(slope * raw + intercept))), fitted on seed 1
    #: (``vigil simulate --seed 1 --events 1000000 --out /tmp/ag1``, then ``vigil agents
    #: --input /tmp/ag1/events.jsonl --truth /tmp/ag1/truth.jsonl --fit-calibration``:
    #: slope 0.277016, intercept -4.41873): positives are corrupt agents and agents whose
    #: sessions were taken over (6 of 100 agents), with Platt's smoothed targets. Refitted
    #: when linked accounts moved to the ring graph (was 0.2768, -4.412; see docs/insider.md)
    platt_slope: float = 0.2770
    platt_intercept: float = -4.419
    #: travel faster than this between two sessions' countries is impossible
    max_travel_speed_kmh: float = 1_000.0
    #: country centres closer than this never make impossible travel
    min_travel_distance_km: float = 800.0

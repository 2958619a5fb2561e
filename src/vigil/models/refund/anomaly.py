"""Cold start: online anomaly scores for refunds and agents that have no labels yet.

Labels come weeks late (a chargeback, an investigation) and a new customer or a newly hired
agent has none at all. Two River half-space-trees models (Tan, Ting & Liu 2011) learn, with
no labels, what ordinary refunds and ordinary agent activity look like, one snapshot at a
time, and say how far each new one is from it (score in [0, 1]; high = rare region).

They run inside the feature tracker, on the same snapshots and in the same event-time order,
so the scores are point-in-time like every other feature (score first, then learn: a refund
never sees itself). They are model *features* (``refund_anomaly``, ``agent_anomaly``): the
supervised model learns how much to trust them, and before the first labels exist they can
be read on their own (``docs/models.md``). Inputs are squashed into [0, 1] with fixed,
documented scales, since half-space trees assume a bounded space.
"""

from __future__ import annotations

import math

from river.anomaly import HalfSpaceTrees

#: half-space-trees settings: 10 trees of height 8, reference window 250 snapshots
N_TREES = 10
HEIGHT = 8
WINDOW = 250


def _squash(x: float, scale: float) -> float:
    """Map [0, inf) to [0, 1): log-scaled, ``scale`` is the value that maps to about 0.5."""
    if math.isnan(x) or x < 0:
        return 0.0
    return math.log1p(x) / (math.log1p(x) + math.log1p(scale))


class ColdStartScorer:
    """Two half-space-trees models: one over refunds, one over the issuing agent's activity.

    Plain picklable object kept in the tracker's keyed state (the runtime checkpoints it).
    """

    def __init__(self, seed: int = 7) -> None:
        self.refunds = HalfSpaceTrees(n_trees=N_TREES, height=HEIGHT, window_size=WINDOW, seed=seed)
        self.agents = HalfSpaceTrees(
            n_trees=N_TREES, height=HEIGHT, window_size=WINDOW, seed=seed + 1
        )

    def score_and_learn(
        self,
        *,
        amount_usd: float,
        account_age_days: float,
        customer_refunds_before: int,
        linked_accounts: int,
        returned: float,
        agent: tuple[float, float, float] | None,
    ) -> tuple[float, float]:
        """(refund score, agent score or NaN without an agent); then learn both."""
        x = {
            "amount": _squash(amount_usd, 150.0),
            # an unknown sign-up is an account older than the data: as old as it gets here
            "age": 1.0 if math.isnan(account_age_days) else _squash(account_age_days, 60.0),
            "refunds": _squash(float(customer_refunds_before), 2.0),
            "linked": _squash(float(linked_accounts), 3.0),
            "returned": returned,
        }
        refund_score = float(self.refunds.score_one(x))  # type: ignore[no-untyped-call]
        self.refunds.learn_one(x)  # type: ignore[no-untyped-call]
        if agent is None:
            return refund_score, float("nan")
        manual, refunds, burst = agent
        y = {
            "manual": _squash(manual, 3.0),
            "refunds": _squash(refunds, 30.0),
            "burst": _squash(0.0 if math.isnan(burst) else burst, 2.0),
            "amount": x["amount"],
        }
        agent_score = float(self.agents.score_one(y))  # type: ignore[no-untyped-call]
        self.agents.learn_one(y)  # type: ignore[no-untyped-call]
        return refund_score, agent_score

"""Fitting and checking the agent ranking's calibration against ground truth.

* :func:`agent_labels`: which agents are positives in the simulator's truth - corrupt
  agents (``kind == "agent"``, fraud) and agents one of whose sessions was taken over
  (``kind == "session"``, fraud); agent records of traps (escalation agents) are kept as
  negatives with their trap name.
* :func:`fit_platt`: Platt scaling by Newton's method on the log loss, with Platt's
  smoothed targets ``(N+ + 1) / (N+ + 2)`` and ``1 / (N- + 2)`` (with 6 positives in 100
  agents, hard 0/1 targets would push probabilities to the extremes).
* :func:`calibration_report`: Brier score, a reliability table, how many positives are in
  the top 10 / 20, and where the trap agents rank.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence

import msgspec

from vigil.detectors.insider._common import logistic
from vigil.detectors.insider.ranking import RankedAgent
from vigil.events.truth import TruthRecord

__all__ = [
    "CalibrationReport",
    "ReliabilityBin",
    "agent_labels",
    "brier_score",
    "calibration_report",
    "fit_platt",
]


def agent_labels(records: Iterable[TruthRecord]) -> dict[str, str]:
    """Agent -> scenario: ``insider_refund`` / ``agent_takeover`` for positives (a corrupt
    agent wins over a takeover), a trap name for trap agents; other agents are absent."""
    labels: dict[str, str] = {}
    for r in records:
        if r.kind == "agent" and r.fraud:
            labels[r.id] = r.scenario or "insider_refund"
        elif r.kind == "session" and r.fraud and r.agent_id is not None:
            if labels.get(r.agent_id) not in ("insider_refund",):
                labels[r.agent_id] = r.scenario or "agent_takeover"
        elif r.kind == "agent" and not r.fraud and r.scenario:
            labels.setdefault(r.id, r.scenario)
    return labels


POSITIVE_SCENARIOS = frozenset({"insider_refund", "agent_takeover"})


def _softplus(z: float) -> float:
    """log(1 + exp(z)) without overflow."""
    return z + math.log1p(math.exp(-z)) if z > 0 else math.log1p(math.exp(z))


def fit_platt(
    raw: Sequence[float], positive: Sequence[bool], iterations: int = 100
) -> tuple[float, float]:
    """(slope, intercept) of ``p = logistic(slope * raw + intercept)`` (Platt 1999).

    Newton's method with a backtracking line search (Lin, Lin and Weng 2007), so it
    converges even when the raw scores separate the classes almost perfectly.
    """
    if len(raw) != len(positive):
        raise ValueError("fit_platt: raw scores and labels differ in length")
    n_pos = sum(1 for y in positive if y)
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError("fit_platt needs both positive and negative examples")
    hi = (n_pos + 1.0) / (n_pos + 2.0)
    lo = 1.0 / (n_neg + 2.0)
    targets = [hi if y else lo for y in positive]
    pairs = list(zip(raw, targets, strict=True))

    def loss(a: float, b: float) -> float:
        # t * -log(p) + (1 - t) * -log(1 - p), with p = logistic(z)
        return sum(t * _softplus(-(a * x + b)) + (1 - t) * _softplus(a * x + b) for x, t in pairs)

    a, b = 0.0, math.log((n_pos + 1.0) / (n_neg + 1.0))
    f = loss(a, b)
    for _ in range(iterations):
        g_a = g_b = 0.0
        h_aa = h_ab = h_bb = 1e-12  # a tiny ridge keeps the Hessian invertible
        for x, t in pairs:
            p = logistic(a * x + b)
            d = p - t
            w = p * (1.0 - p)
            g_a += d * x
            g_b += d
            h_aa += w * x * x
            h_ab += w * x
            h_bb += w
        if abs(g_a) < 1e-9 and abs(g_b) < 1e-9:
            break
        det = h_aa * h_bb - h_ab * h_ab
        step_a = -(h_bb * g_a - h_ab * g_b) / det
        step_b = -(h_aa * g_b - h_ab * g_a) / det
        slope = g_a * step_a + g_b * step_b  # directional derivative (negative)
        size = 1.0
        while size > 1e-10:
            na, nb = a + size * step_a, b + size * step_b
            nf = loss(na, nb)
            if nf <= f + 1e-4 * size * slope:
                break
            size /= 2.0
        else:
            break  # no progress possible
        a, b, f = na, nb, nf
    return a, b


def brier_score(probabilities: Sequence[float], positive: Sequence[bool]) -> float:
    """Mean squared difference between predicted probability and outcome (0 is perfect)."""
    if not probabilities:
        return 0.0
    return sum(
        (p - (1.0 if y else 0.0)) ** 2 for p, y in zip(probabilities, positive, strict=True)
    ) / len(probabilities)


class ReliabilityBin(msgspec.Struct, frozen=True, kw_only=True):
    lower: float
    upper: float
    agents: int
    mean_predicted: float
    observed_rate: float
    positives: int


class TrapRank(msgspec.Struct, frozen=True, kw_only=True):
    agent_id: str
    scenario: str
    team: str
    rank: int
    probability: float


class CalibrationReport(msgspec.Struct, frozen=True, kw_only=True):
    agents: int
    positives: int
    corrupt: int
    taken_over: int
    brier: float
    #: Brier score of always predicting the base rate (a calibrated know-nothing)
    brier_base_rate: float
    log_loss: float
    reliability: tuple[ReliabilityBin, ...]
    positives_in_top_10: int
    positives_in_top_20: int
    corrupt_in_top_10: int
    corrupt_in_top_20: int
    taken_over_in_top_10: int
    taken_over_in_top_20: int
    #: rank of every positive (corrupt / taken over), best first
    positive_ranks: tuple[TrapRank, ...]
    #: rank of every trap agent (e.g. escalation agents), best first
    trap_ranks: tuple[TrapRank, ...]


_BIN_EDGES = (0.0, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)


def calibration_report(ranked: Sequence[RankedAgent], labels: dict[str, str]) -> CalibrationReport:
    """How well the ranking's probabilities match the truth ``labels`` (see ``agent_labels``)."""
    probs = [r.probability for r in ranked]
    pos = [labels.get(r.agent_id) in POSITIVE_SCENARIOS for r in ranked]
    n = len(ranked)
    n_pos = sum(pos)
    base = n_pos / n if n else 0.0
    eps = 1e-6
    log_loss = (
        -sum(
            math.log(max(eps, p)) if y else math.log(max(eps, 1.0 - p))
            for p, y in zip(probs, pos, strict=True)
        )
        / n
        if n
        else 0.0
    )
    bins: list[ReliabilityBin] = []
    for lo, hi in itertools.pairwise(_BIN_EDGES):
        idx = [i for i, p in enumerate(probs) if lo <= p < hi or (hi == 1.0 and p == 1.0)]
        if not idx:
            continue
        k = sum(1 for i in idx if pos[i])
        bins.append(
            ReliabilityBin(
                lower=lo,
                upper=hi,
                agents=len(idx),
                mean_predicted=round(sum(probs[i] for i in idx) / len(idx), 4),
                observed_rate=round(k / len(idx), 4),
                positives=k,
            )
        )

    def count(scenario: str | None, top: int) -> int:
        """Positives of ``scenario`` (None: of any positive scenario) in the first ``top``."""
        wanted = POSITIVE_SCENARIOS if scenario is None else frozenset({scenario})
        return sum(1 for r in ranked[:top] if labels.get(r.agent_id) in wanted)

    def ranks(which: frozenset[str] | None) -> tuple[TrapRank, ...]:
        return tuple(
            TrapRank(
                agent_id=r.agent_id,
                scenario=labels[r.agent_id],
                team=r.team,
                rank=r.rank,
                probability=r.probability,
            )
            for r in ranked
            if r.agent_id in labels
            and (
                labels[r.agent_id] in POSITIVE_SCENARIOS
                if which is None
                else labels[r.agent_id] not in POSITIVE_SCENARIOS
            )
        )

    return CalibrationReport(
        agents=n,
        positives=n_pos,
        corrupt=sum(1 for r in ranked if labels.get(r.agent_id) == "insider_refund"),
        taken_over=sum(1 for r in ranked if labels.get(r.agent_id) == "agent_takeover"),
        brier=round(brier_score(probs, pos), 5),
        brier_base_rate=round(brier_score([base] * n, pos), 5),
        log_loss=round(log_loss, 5),
        reliability=tuple(bins),
        positives_in_top_10=count(None, 10),
        positives_in_top_20=count(None, 20),
        corrupt_in_top_10=count("insider_refund", 10),
        corrupt_in_top_20=count("insider_refund", 20),
        taken_over_in_top_10=count("agent_takeover", 10),
        taken_over_in_top_20=count("agent_takeover", 20),
        positive_ranks=ranks(None),
        trap_ranks=ranks(frozenset()),
    )

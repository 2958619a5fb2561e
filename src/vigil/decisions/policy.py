"""Where a combined score turns into approve, review or deny."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from vigil.errors import ConfigError

DecisionLevel = Literal["approve", "review", "deny"]

#: detectors whose findings are scored, never blocked: policy abuse such as serial returning
#: is reported with the refund's decision as a reason but does not raise its score
SCORE_ONLY_DETECTORS = frozenset({"serial_returner"})

#: the policy's two thresholds: what a lead may change (four eyes) while a stream runs
THRESHOLDS = ("review_threshold", "deny_threshold")


@dataclass(frozen=True)
class DecisionPolicy:
    """Two thresholds on the combined score.

    ``review_threshold`` is the alert threshold: a refund at or above it goes to an analyst
    (0.5, the threshold the detectors' figures are reported at; ``vigil evaluate`` shows the
    threshold an alert budget or the cost of a review would choose instead). ``deny_threshold``
    is where the evidence is strong enough to stop the money without waiting for a person
    (0.95: only refunds that several detectors, or one very sure one, agree on).
    """

    review_threshold: float = 0.5
    deny_threshold: float = 0.95
    #: detectors reported as reasons but left out of the score (``SCORE_ONLY_DETECTORS``)
    score_only_detectors: frozenset[str] = field(default=SCORE_ONLY_DETECTORS)

    def __post_init__(self) -> None:
        for name in THRESHOLDS:
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"{name} {value!r} must be a score in [0, 1]")
        if self.deny_threshold < self.review_threshold:
            raise ConfigError(
                f"deny_threshold {self.deny_threshold} is below review_threshold "
                f"{self.review_threshold}: a refund would be denied before it is reviewed"
            )

    def level(self, score: float) -> DecisionLevel:
        if score >= self.deny_threshold:
            return "deny"
        if score >= self.review_threshold:
            return "review"
        return "approve"

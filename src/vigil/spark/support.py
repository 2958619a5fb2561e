"""Which detectors run on Spark, why the others do not yet, and their pipelines.

Kept apart from ``job`` (and from pyspark): the CLI lists the choices at start-up."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vigil.state.keyed.pipeline import StagePipeline

#: detectors whose stages form a chain Spark runs as one query, and why the others do not yet
ON_SPARK: tuple[str, ...] = ("serial_returner",)
NOT_YET = {
    "refund_without_return": "its order and route stages ask and answer each other (a cycle)",
    "agent_refunds": "it shares the order stage of refund_without_return (a cycle)",
    "empty_box": "its order and route stages ask and answer each other (a cycle)",
    "session_risk": "its session and agent stages tell each other (a cycle)",
    "fraud_ring": (
        "its global stage judges a refund at a timer, which Spark fires two days of events "
        "later than vigil run: the judgement would see links made after it (docs/spark.md)"
    ),
}


def pipelines(names: Sequence[str] = ON_SPARK) -> list[StagePipeline]:
    """The default detectors' stage pipelines of ``names`` (each on Spark), in their order."""
    from vigil.detectors.registry import default_detectors
    from vigil.state.keyed.pipeline import StagePipeline

    blocked = [name for name in names if name not in ON_SPARK]
    if blocked:
        raise ValueError(f"not on Spark: {blocked}")
    return [d for d in default_detectors() if d.name in names and isinstance(d, StagePipeline)]

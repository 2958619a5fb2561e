"""Evaluation: precision, recall and money caught per detector and scenario, at a budget."""

from vigil.evaluation.evaluate import evaluate
from vigil.evaluation.report import (
    DetectorFigures,
    EntityFigures,
    EvaluationReport,
    ScenarioFigures,
    TrapFigures,
)
from vigil.evaluation.truth_index import TruthFormatError

__all__ = [
    "DetectorFigures",
    "EntityFigures",
    "EvaluationReport",
    "ScenarioFigures",
    "TrapFigures",
    "TruthFormatError",
    "evaluate",
]

"""Evaluation: precision, recall and money caught per detector and scenario, at a budget.

The HTML page with plots is ``vigil.evaluation.html.render_html`` (not imported here, so text
and JSON reports never load Matplotlib).
"""

from vigil.evaluation.evaluate import evaluate
from vigil.evaluation.report import (
    AgentFigures,
    DetectorContribution,
    DetectorFigures,
    EntityFigures,
    EvaluationReport,
    ReportData,
    RingSizeCount,
    ScenarioFigures,
    TrapFigures,
)
from vigil.evaluation.truth_index import TruthFormatError

__all__ = [
    "AgentFigures",
    "DetectorContribution",
    "DetectorFigures",
    "EntityFigures",
    "EvaluationReport",
    "ReportData",
    "RingSizeCount",
    "ScenarioFigures",
    "TrapFigures",
    "TruthFormatError",
    "evaluate",
]

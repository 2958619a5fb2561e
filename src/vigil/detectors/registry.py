"""The explicit registry of built-in detectors: names to classes, and the default pipeline.

No magic registration and no class paths in strings: a detector is listed here by hand.
``default_detectors`` returns them in a fixed order (the order their alerts are produced
when several fire on the same event), each built from its part of ``DetectorSettings``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from vigil.detectors.base import Detector
from vigil.detectors.customers.serial_returner import SerialReturnerDetector
from vigil.detectors.graph.rings import FraudRingDetector
from vigil.detectors.insider.agent_refunds import AgentRefundsDetector
from vigil.detectors.insider.session_risk import SessionRiskDetector
from vigil.detectors.sequences.empty_box import EmptyBoxDetector
from vigil.detectors.sequences.refund_without_return import RefundWithoutReturnDetector
from vigil.detectors.settings import DetectorSettings
from vigil.errors import ConfigError
from vigil.state.keyed.pipeline import share_stages

__all__ = ["DETECTORS", "build_detector", "default_detectors", "detector_names"]

#: name -> class of every built-in detector, in the default pipeline order
DETECTORS: Mapping[str, type[Detector]] = MappingProxyType(
    {
        RefundWithoutReturnDetector.name: RefundWithoutReturnDetector,
        EmptyBoxDetector.name: EmptyBoxDetector,
        AgentRefundsDetector.name: AgentRefundsDetector,
        SessionRiskDetector.name: SessionRiskDetector,
        FraudRingDetector.name: FraudRingDetector,
        SerialReturnerDetector.name: SerialReturnerDetector,
    }
)

_BUILDERS: Mapping[str, Callable[[DetectorSettings], Detector]] = MappingProxyType(
    {
        RefundWithoutReturnDetector.name: lambda s: RefundWithoutReturnDetector(
            s.refund_without_return
        ),
        EmptyBoxDetector.name: lambda s: EmptyBoxDetector(s.empty_box),
        AgentRefundsDetector.name: lambda s: AgentRefundsDetector(s.agent_refunds),
        SessionRiskDetector.name: lambda s: SessionRiskDetector(s.session_risk),
        FraudRingDetector.name: lambda s: FraudRingDetector(s.fraud_ring),
        SerialReturnerDetector.name: lambda s: SerialReturnerDetector(s.serial_returner),
    }
)


def detector_names() -> list[str]:
    """Names of the built-in detectors, in pipeline order."""
    return list(DETECTORS)


def build_detector(name: str, settings: DetectorSettings | None = None) -> Detector:
    """One built-in detector by name, configured from ``settings``."""
    builder = _BUILDERS.get(name)
    if builder is None:
        known = ", ".join(DETECTORS)
        raise ConfigError(f"unknown detector {name!r}; known detectors: {known}")
    return builder(settings or DetectorSettings())


def default_detectors(settings: DetectorSettings | None = None) -> list[Detector]:
    """Every built-in detector, in a fixed order, configured from ``settings``; detectors
    whose stages share an order and a route stage run as one pipeline (``share_stages``:
    the order's parcels are kept once)."""
    settings = settings or DetectorSettings()
    return share_stages([build_detector(name, settings) for name in DETECTORS])

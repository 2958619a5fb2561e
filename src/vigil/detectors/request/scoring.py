"""Every request-time scorer, in a fixed order."""

from __future__ import annotations

from typing import Final, Protocol

from vigil.detectors.base import Signal
from vigil.detectors.request.labels import DETECTOR as LABELLED_FRAUD
from vigil.detectors.request.labels import label_finding
from vigil.detectors.request.parcel import parcel_finding
from vigil.detectors.request.profile import REQUEST_RISK, profile_finding
from vigil.detectors.request.session import session_finding
from vigil.detectors.return_centres import ReturnCentres
from vigil.detectors.settings import DetectorSettings
from vigil.events.schemas import RefundRequested
from vigil.features.facts import RequestFacts

#: detectors that speak at request time (their findings carry these names)
REQUEST_DETECTORS: Final = ("session_risk", "empty_box", REQUEST_RISK, LABELLED_FRAUD)


class ProfileScorer(Protocol):
    """What judges a request's own profile in place of ``request_risk``'s hand-set weights:
    the request model (``vigil.models.request``), or what collects its training rows."""

    def finding(
        self,
        req: RefundRequested,
        facts: RequestFacts,
        settings: DetectorSettings,
        agent_flag: float,
    ) -> Signal | None: ...


def score_request(
    req: RefundRequested,
    facts: RequestFacts,
    settings: DetectorSettings,
    centres: ReturnCentres,
    *,
    agent_flag: float = 0.0,
    profile: ProfileScorer | None = None,
) -> list[Signal]:
    """The findings about ``req`` from the facts known now (none below their emit score).

    ``agent_flag``: the strongest score of an alert about the request's agent so far (their
    refunds against their peers'), which ``request_risk`` weighs with the request itself.
    ``profile``: judges the request's profile instead of ``request_risk`` (the request model)."""
    out: list[Signal] = []
    for finding in (
        session_finding(req, facts, settings.session_risk),
        parcel_finding(req, facts, settings.parcel_check, centres),
        profile_finding(req, facts, settings.request_risk, agent_flag)
        if profile is None
        else profile.finding(req, facts, settings, agent_flag),
        label_finding(req, facts, settings.labels),
    ):
        if finding is not None:
            out.append(finding)
    return out

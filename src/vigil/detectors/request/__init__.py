"""Request-time findings: what the facts known when a refund is asked for say about it.

Each scorer is a pure function of the refund request and ``vigil.features.facts`` (what has
arrived so far), so the runtime and the API compute the same findings from the same facts.
``score_request`` runs them all; ``vigil.decisions.request`` combines them with the alerts
raised so far into the request-time decision.
"""

from vigil.detectors.request.scoring import REQUEST_DETECTORS, ProfileScorer, score_request

__all__ = ["REQUEST_DETECTORS", "ProfileScorer", "score_request"]

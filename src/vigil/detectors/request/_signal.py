"""The shape of a request-time finding."""

from __future__ import annotations

from vigil.detectors.base import Signal, clamp01
from vigil.events.schemas import RefundRequested

#: version of the request-time scorers (part of a finding's identity)
REQUEST_VERSION = 1


def request_signal(
    detector: str, req: RefundRequested, score: float, reasons: list[str], explanation: str
) -> Signal:
    """A finding about the refund of ``req``, at the request's time."""
    return Signal(
        detector=detector,
        version=REQUEST_VERSION,
        subject_type="refund",
        subject_id=req.refund_id,
        score=round(clamp01(score), 6),
        reasons=tuple(reasons),
        explanation=explanation,
        event_time_ms=req.event_time_ms,
        refund_ids=(req.refund_id,),
        amount_cents=req.amount_cents,
        customer_id=req.customer_id,
        agent_id=req.agent_id,
        order_id=req.order_id,
        session_id=req.session_id,
    )


def money(cents: int) -> str:
    return f"${cents / 100:,.2f}"

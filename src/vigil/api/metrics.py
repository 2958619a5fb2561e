"""``GET /metrics``: Prometheus text format (needs a key with ``alerts:read``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from vigil.api.auth import needs
from vigil.api.schemas import error_responses
from vigil.api.state import ApiState, get_state
from vigil.security.permissions import Principal

router = APIRouter(tags=["metrics"])

Gauge = tuple[str, str, float, dict[str, str]]


def gauges(st: ApiState) -> Iterator[Gauge]:
    """Values computed at scrape time."""
    yield (
        "vigil_index_pending_seconds",
        "Age of the oldest appended event the index may not reflect yet (0: none)",
        st.staleness.pending_s(),
        {},
    )
    yield (
        "vigil_index_tail_age_seconds",
        "Seconds since the runtime's outputs were last read to the end",
        st.staleness.tail_age_s(),
        {},
    )
    yield "vigil_index_alerts", "Alerts in the index", float(st.index.alert_count), {}
    for level in ("approve", "review", "deny"):
        yield (
            "vigil_stream_refunds",
            "Refunds by the runtime's current decision",
            float(st.index.decisions_by_level.get(level, 0)),
            {"decision": level},
        )
    yield "vigil_input_log_bytes", "Size of the runtime's input log", float(st.input_log.size), {}
    yield (
        "vigil_fsync_rounds",
        "Group-commit fsyncs of the input log and decision journal",
        float(st.input_log.rounds + st.decision_log.rounds + st.journal.log.rounds),
        {},
    )
    yield from st.stream.gauges()
    rt = st.runtime
    if rt is not None:
        yield "vigil_runtime_up", "1 when the runtime child is alive", float(rt.alive()), {}
        for kind, n in rt.restarts_by_kind.items():
            yield (
                "vigil_runtime_restarts",
                "Times the runtime child was restarted, by why (crash, killed, exited, policy)",
                float(n),
                {"kind": kind},
            )


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    responses={
        200: {
            "description": "Prometheus text exposition format",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        },
        **error_responses(401, 403),
    },
)
async def metrics(
    request: Request, principal: Annotated[Principal, Depends(needs("alerts:read"))]
) -> Response:
    """Request latency by route, events accepted/rejected, decisions by level, index
    staleness (a histogram of append -> visible, and the current pending age)."""
    return Response(
        generate_latest(get_state(request).metrics.registry), media_type=CONTENT_TYPE_LATEST
    )

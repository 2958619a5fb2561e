"""``GET /healthz``: is the runtime alive and how stale is the index (no key needed)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from vigil.api.schemas import Health
from vigil.api.state import ApiState, get_state

router = APIRouter(tags=["health"])
_DEGRADED = (
    "The runtime is down, the index is staler than the server's bound, dead letters jumped "
    "or the watermark jumped (``reasons`` says which)"
)


def health_of(st: ApiState) -> Health:
    rt = st.runtime
    alive = None if rt is None else rt.alive()
    pending = st.staleness.pending_s()
    tail_age = st.staleness.tail_age_s()
    bound = st.settings.max_healthy_staleness_s
    reasons = []
    if alive is False:
        reasons.append("the runtime is down")
    if pending > bound or tail_age > bound:
        reasons.append(
            f"the index is {max(pending, tail_age):.1f} s stale (bound {bound:g} s): the "
            "runtime is behind or stalled"
        )
    reasons.extend(st.stream.problems())
    return Health.model_validate(
        {
            "status": "degraded" if reasons else "ok",
            "reasons": reasons,
            "runtime": {
                "managed": rt is not None,
                "alive": alive,
                "pid": None if rt is None else rt.pid,
                "exit_code": None if rt is None else rt.exit_code,
            },
            "index": {
                "alerts": st.index.alert_count,
                "decisions": len(st.index.decisions),
                "dropped_alerts": st.index.dropped_alerts,
                "dropped_decisions": st.index.dropped_decisions,
                "tail_age_s": round(tail_age, 3),
                "pending_s": round(pending, 3),
            },
        }
    )


@router.get(
    "/healthz",
    summary="Liveness and index staleness",
    response_model=Health,
    responses={503: {"model": Health, "description": _DEGRADED}},
)
async def healthz(request: Request) -> Response:
    """200 when the runtime is alive and the index fresh, 503 (same body) otherwise."""
    health = health_of(get_state(request))
    return Response(
        health.model_dump_json(),
        status_code=200 if health.status == "ok" else 503,
        media_type="application/json",
    )

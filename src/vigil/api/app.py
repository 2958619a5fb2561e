"""The FastAPI app factory: routes per domain, one state object, metrics, errors.

``create_app(settings, auth, runtime=..., db=...)`` builds everything from arguments (no
globals, no environment), so a test builds an app on a temporary directory in one call.
While the app runs, background tasks keep it current: the output tailer (runtime -> index),
the runtime watchdog (restarts a dead child) and, when a database is configured, the case
feeder (new alerts into the case service) and the hold feeder (answers of review or deny
into refund holds, ``holds.HoldFeeder``); with a database the analyst console
(``vigil.console``) is mounted under ``/console`` and tails the input log for timelines.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from vigil import __version__
from vigil.api import ads, alerts, cases, decisions, events, health, holds, metrics
from vigil.api.auth import Authenticator
from vigil.api.bounds import BoundedBodies
from vigil.api.docs_pages import add_docs
from vigil.api.errors import status_of
from vigil.api.query import known_query
from vigil.api.runtime import RuntimeProcess
from vigil.api.settings import ApiSettings
from vigil.api.state import ApiState
from vigil.api.telemetry import ApiMetrics, MetricsMiddleware
from vigil.detectors.base import Alert
from vigil.errors import VigilError
from vigil.security.db import Database
from vigil.security.permissions import Principal

DESCRIPTION = """\
Vigil's decision API: ingest events into the running pipeline, ask for a refund decision,
read alerts and decisions, work cases. Every endpoint but `/healthz` needs an API key in
the `X-API-Key` header with the scope the endpoint names. See docs/api.md.
"""

CASE_FEED_INTERVAL_S = 1.0
_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def create_app(
    settings: ApiSettings,
    auth: Authenticator,
    *,
    runtime: RuntimeProcess | None = None,
    db: Database | None = None,
    console: bool = True,
    secure_cookies: bool = False,
) -> FastAPI:
    api_metrics = ApiMetrics()
    state = ApiState(settings, auth, api_metrics, runtime=runtime, db=db)
    api_metrics.add_gauges(lambda: metrics.gauges(state))
    feeder = None if db is None else holds.HoldFeeder(state)
    if feeder is not None:
        api_metrics.add_gauges(feeder.gauges)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        state.tailer.catch_up()
        if runtime is not None and runtime.proc is None:
            runtime.start()
        stop = asyncio.Event()
        tasks = [asyncio.create_task(state.tailer.run(stop), name="vigil-tailer")]
        if runtime is not None:
            tasks.append(asyncio.create_task(_watch_runtime(runtime, stop), name="vigil-watch"))
        if db is not None:
            tasks.append(asyncio.create_task(_feed_cases(state, stop), name="vigil-cases"))
        if feeder is not None:
            tasks.append(asyncio.create_task(feeder.run(stop), name="vigil-holds"))
        timeline = getattr(_app.state, "console_timeline", None)
        if timeline is not None:
            tasks.append(asyncio.create_task(timeline.run(stop), name="vigil-console"))
        try:
            yield
        finally:
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            if runtime is not None:
                await asyncio.to_thread(runtime.stop)
            state.sync()

    app = FastAPI(
        title="Vigil",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served by docs_pages from vendored assets, not a CDN
        redoc_url=None,
        openapi_tags=[
            {"name": "events", "description": "Ingest into the running pipeline"},
            {"name": "decisions", "description": "Synchronous and streamed refund decisions"},
            {"name": "alerts", "description": "What the detectors raised"},
            {"name": "cases", "description": "Alerts grouped into cases, worked by analysts"},
            {
                "name": "holds",
                "description": "Refunds answered review or deny wait for a person to release "
                "or block them (never the agent who issued them)",
            },
            {
                "name": "ads",
                "description": "Campaign figures net of refunds and fraud; an advertiser's key "
                "sees its own campaigns only",
            },
            {"name": "metrics", "description": "Prometheus"},
            {"name": "health", "description": "Liveness (no key needed)"},
        ],
    )
    app.state.vigil = state
    app.state.api_metrics = api_metrics
    add_docs(app)
    app.state.hold_feeder = feeder
    for module in (events, decisions, alerts, cases, holds, ads, metrics, health):
        app.include_router(module.router, dependencies=[Depends(known_query)])
    console = db is not None and console
    if console:
        from vigil.console import mount

        mount(app, state, secure_cookies=secure_cookies)

    @app.exception_handler(VigilError)
    async def vigil_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, VigilError)
        status, code = status_of(exc)
        if console and status != 401 and _console_page(request):
            return _console_error(request, status, str(exc))
        headers = {"WWW-Authenticate": "ApiKey"} if status == 401 else None
        if status == 422:  # one shape for every 422: FastAPI's validation errors
            item = {"type": code, "loc": ["body"], "msg": str(exc), "input": None}
            return JSONResponse({"detail": [item]}, status_code=422)
        return JSONResponse(
            {"error": code, "detail": str(exc)}, status_code=status, headers=headers
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: Exception) -> Response:
        """Framework errors (unknown path, unreadable body) in the same shape as ours."""
        assert isinstance(exc, StarletteHTTPException)
        if console and exc.status_code in (403, 404, 409) and _console_page(request):
            return _console_error(request, exc.status_code, str(exc.detail))
        code = _HTTP_CODES.get(exc.status_code, "error")
        return JSONResponse(
            {"error": code, "detail": str(exc.detail)},
            status_code=exc.status_code,
            headers=exc.headers,
        )

    app.add_middleware(
        BoundedBodies,
        limits=settings.body_limits,
        on_refused=lambda reason: api_metrics.refused.labels(reason).inc(),
    )
    app.add_middleware(MetricsMiddleware, metrics=api_metrics)  # outermost: times the refused too
    return app


async def _watch_runtime(runtime: RuntimeProcess, stop: asyncio.Event) -> None:
    while not stop.is_set():
        runtime.check()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=1.0)


async def _feed_cases(state: ApiState, stop: asyncio.Event) -> None:
    """Hand each new alert of the index to the case service (idempotent by alert id)."""
    from vigil.cases.service import ingest_alerts

    db = state.db
    assert db is not None
    actor = Principal.system("runtime")

    def feed(batch: list[Alert]) -> None:
        with db.transaction() as session:
            ingest_alerts(session, actor, batch)

    while not stop.is_set():
        alerts_now = state.index.alerts
        start = state.alerts_fed_to_cases
        if len(alerts_now) > start:
            window = alerts_now[start : start + 500]
            batch = [a for a in window if a is not None]  # retention may have dropped some
            try:
                if batch:
                    await asyncio.to_thread(feed, batch)
                state.alerts_fed_to_cases = start + len(window)
                continue
            except Exception:  # the database is down: try again later, lose nothing
                pass
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=CASE_FEED_INTERVAL_S)


def _console_page(request: Request) -> bool:
    from vigil.console.form_errors import wants_page

    return wants_page(request)


def _console_error(request: Request, status: int, detail: str) -> Response:
    """A browser on a console page gets a page for an error, not the API's JSON."""
    from vigil.console.form_errors import error_page

    return error_page(request, status, detail)

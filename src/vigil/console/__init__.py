"""The analyst console: server-rendered pages (Jinja2 + htmx), charts and ring graphs.

Served by the same FastAPI app as the decision API, under ``/console``, whenever a
database is configured (people log in as users of the security service). The browser
libraries (htmx, Chart.js, Cytoscape.js) come from the npm registry at the versions in
``web/package-lock.json``; ``scripts/build-console-assets.sh`` installs them and copies the
files served into ``static/vendor/``. See docs/console.md.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from vigil.api.state import ApiState
from vigil.console.ads_page import router as ads_router
from vigil.console.auth import ConsoleAuth
from vigil.console.dashboard import Dashboard
from vigil.console.form_errors import form_validation_error
from vigil.console.holds_page import router as holds_router
from vigil.console.pages import router
from vigil.console.render import TEMPLATES
from vigil.console.rules_page import router as rules_router
from vigil.console.timeline import TimelineStore

__all__ = ["STATIC_DIR", "VENDOR_FILES", "missing_assets", "mount"]

STATIC_DIR = Path(__file__).with_name("static")
VENDOR_FILES = ("htmx.min.js", "chart.umd.min.js", "cytoscape.min.js")


def missing_assets(static_dir: Path = STATIC_DIR) -> list[str]:
    return [name for name in VENDOR_FILES if not (static_dir / "vendor" / name).is_file()]


def mount(app: FastAPI, state: ApiState, *, secure_cookies: bool = False) -> TimelineStore:
    """Add the console to ``app``; returns the timeline whose ``run`` must be scheduled."""
    assert state.db is not None, "the console needs the case database (users, sessions)"
    timeline = TimelineStore(state.settings.input_log)
    app.state.console_auth = ConsoleAuth(state.db, secure_cookies=secure_cookies)
    app.state.console_timeline = timeline
    app.state.console_dashboard = Dashboard(
        state.index,
        timeline,
        state.db,
        risky_score=state.settings.decision_policy.review_threshold,
    )
    TEMPLATES.globals["missing_assets"] = missing_assets()
    app.include_router(router)
    app.include_router(rules_router)
    app.include_router(holds_router)
    app.include_router(ads_router)
    app.add_exception_handler(RequestValidationError, form_validation_error)
    app.mount("/console/static", StaticFiles(directory=STATIC_DIR), name="console-static")

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/console", status_code=303)

    return timeline

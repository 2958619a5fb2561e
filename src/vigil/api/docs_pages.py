"""``/docs`` (Swagger UI) and ``/redoc`` from the server itself: no CDN.

FastAPI's own pages load their scripts from a CDN, so on a machine without internet (where a
fraud system often runs) they stay blank, and every visit tells a third party who reads the
API. Here the same pages load the vendored copies in ``vigil/api/static/`` (installed from
the npm registry by ``scripts/build-console-assets.sh``, ``make assets``), under
``/api-assets``. Without them the pages say how to get them, instead of staying blank.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).resolve().parent / "static"
#: the pages may load only from this server: Redoc's sidebar asks for Redocly's logo on
#: their CDN, which this refuses (the pages' own scripts are inline, as FastAPI writes them)
CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' blob:; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; "
    "worker-src 'self' blob:; connect-src 'self'"
)
ASSETS = ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js")
PREFIX = "/api-assets"


def missing(static_dir: Path = STATIC_DIR) -> list[str]:
    return [name for name in ASSETS if not (static_dir / name).is_file()]


def add_docs(app: FastAPI, static_dir: Path = STATIC_DIR) -> None:
    """Serve ``/docs`` and ``/redoc`` (create the app with ``docs_url=None, redoc_url=None``)."""
    app.mount(PREFIX, StaticFiles(directory=static_dir, check_dir=False), name="api-assets")
    openapi_url = app.openapi_url or "/openapi.json"

    def _absent() -> HTMLResponse | None:
        gone = missing(static_dir)
        if not gone:
            return None
        return HTMLResponse(
            "<!doctype html><title>Vigil API docs</title><p>The API documentation pages need "
            f"{', '.join(gone)} in {static_dir}: run <code>make assets</code> (npm packages "
            f"pinned in web/package-lock.json). The schema itself is at "
            f'<a href="{openapi_url}">{openapi_url}</a>.</p>',
            status_code=503,
        )

    @app.get("/docs", include_in_schema=False)
    async def swagger() -> HTMLResponse:
        return _absent() or _fenced(
            get_swagger_ui_html(
                openapi_url=openapi_url,
                title=f"{app.title} API",
                swagger_js_url=f"{PREFIX}/swagger-ui-bundle.js",
                swagger_css_url=f"{PREFIX}/swagger-ui.css",
                swagger_favicon_url="data:,",
            )
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return _absent() or _fenced(
            get_redoc_html(
                openapi_url=openapi_url,
                title=f"{app.title} API",
                redoc_js_url=f"{PREFIX}/redoc.standalone.js",
                redoc_favicon_url="data:,",
                with_google_fonts=False,
            )
        )


def _fenced(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = CSP
    return page

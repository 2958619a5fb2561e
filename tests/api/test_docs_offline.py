"""``/docs`` and ``/redoc`` of a real ``vigil serve``, in Debian's chromium: they render the
API's own schema and request nothing outside the server (issue 16; no CDN, no web fonts)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.browser import browser_page
from tests.serve_process import served

pytestmark = pytest.mark.slow

KEY = "docs-offline-key-with-every-scope"


def test_the_api_docs_render_from_the_server_alone(tmp_path: Path) -> None:
    with served(tmp_path / "state", KEY, "--no-cases") as (url, _client):
        with browser_page(tmp_path / "profile") as (page, errors):
            requested: list[str] = []
            refused: list[str] = []  # requests the page's policy stopped in the browser
            page.on("request", lambda req: requested.append(req.url))
            page.on(
                "requestfailed",
                lambda req: refused.append(req.url) if req.failure == "csp" else None,
            )
            page.goto(f"{url}/docs")
            page.wait_for_selector(".swagger-ui .info .title", timeout=20_000)
            assert "Vigil" in page.inner_text(".swagger-ui .info .title")
            page.wait_for_selector('[data-path="/v1/refunds/decide"]', timeout=20_000)
            page.goto(f"{url}/redoc")
            page.wait_for_selector("h1", timeout=20_000)
            assert "Vigil" in page.inner_text("h1")
            page.wait_for_selector("h2:has-text('May this refund go through?')", timeout=20_000)
            page.wait_for_load_state("networkidle")
        own = (url, "data:", f"blob:{url}")
        outside = [u for u in requested if not u.startswith(own) and u not in refused]
        assert outside == [], outside
        assert any(u.endswith("/api-assets/swagger-ui-bundle.js") for u in requested)
        assert any(u.endswith("/api-assets/redoc.standalone.js") for u in requested)
        # Redoc's sidebar asks for Redocly's logo on their CDN; the page's policy refuses it
        csp = [e for e in errors if "Content Security Policy" in e and "cdn.redoc.ly" in e]
        assert [e for e in errors if e not in csp] == [], errors
        assert refused == ["https://cdn.redoc.ly/redoc/logo-mini.svg"]

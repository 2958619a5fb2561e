"""Errors a browser meets in the console: pages and messages, not the API's JSON.

FastAPI answers a form field that fails validation (a threshold above 1, a note too long, a
missing field) with its JSON error body: right for the API, a dead end in a browser. Under
``/console`` the answer is a redirect to the page the form was on, with a message naming each
field and what is wrong with it; anywhere else FastAPI's own handler answers as before.
Nothing was changed by the refused request, so nothing needs undoing. Likewise a 403, 404 or
409 on a page a browser opened is a page (``error_page``); htmx and API clients keep JSON.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import Request
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response

from vigil.console.pages import back_to

__all__ = ["error_page", "form_problem", "form_validation_error", "page_of", "wants_page"]


def form_problem(exc: RequestValidationError) -> str:
    """``field: what is wrong`` for each refused field, in one line."""
    parts = []
    for error in exc.errors():
        loc = [str(x) for x in error.get("loc", ()) if x not in ("body", "query", "path")]
        parts.append(f"{'.'.join(loc) or 'form'}: {error.get('msg', 'invalid')}")
    return "not accepted: " + "; ".join(parts)


def page_of(request: Request) -> str:
    """The console page a form was posted from: its same-origin Referer, else its section."""
    referer = urlsplit(request.headers.get("referer", ""))
    if referer.netloc == request.url.netloc and referer.path.startswith("/console"):
        return referer.path
    parts = request.url.path.split("/")  # ["", "console", section, ...]
    if len(parts) > 3 and parts[2] == "cases":
        return "/".join(parts[:4])  # /console/cases/{id}
    if len(parts) > 2 and parts[2] in ("rules", "login", "holds"):
        return f"/console/{parts[2]}"
    return "/console"


_HEADINGS = {403: "Not allowed", 404: "Not found", 409: "Not possible now"}


def wants_page(request: Request) -> bool:
    """A browser's own navigation under /console (not htmx, not an API client)."""
    return (
        request.url.path.startswith("/console")
        and "text/html" in request.headers.get("accept", "")
        and request.headers.get("hx-request") is None
    )


def error_page(request: Request, status: int, detail: str) -> Response:
    """The console's answer to a browser for an error the API would answer in JSON: a page
    with the same status, the reason and a way back (e.g. a form whose CSRF token is stale)."""
    from vigil.console.render import page

    heading = _HEADINGS.get(status, "Something went wrong")
    return page(
        request,
        "error.html",
        None,
        status,
        title=heading,
        heading=heading,
        detail=detail,
        status=status,
        back=page_of(request) if request.method == "POST" else "/console",
    )


async def form_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    if request.method == "POST" and request.url.path.startswith("/console/"):
        return back_to(page_of(request), error=form_problem(exc))
    return await request_validation_exception_handler(request, exc)

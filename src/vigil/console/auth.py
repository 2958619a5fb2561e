"""Who is using the console, and proof that a form was sent by the console's own page.

A console session is a random token in an HttpOnly, SameSite=Strict cookie, checked against
the database on every request (``vigil.security.sessions``). Anything that changes state is
a POST that must carry the session's CSRF token, as the ``csrf_token`` form field or the
``X-CSRF-Token`` header (every page sets it for htmx), and, when the browser sends an
``Origin``, come from this host. The login form, before any session exists, is protected
the same way with a token in a short-lived cookie of its own (double submit).

Without a valid session a page redirects to the login page (htmx requests get 401 with an
``HX-Redirect`` header, so the browser goes there too); nothing else is answered.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import Depends, Request
from starlette.exceptions import HTTPException

from vigil.errors import UnauthorizedError
from vigil.security import sessions
from vigil.security.db import Database
from vigil.security.sessions import LiveSession, SessionPolicy

__all__ = [
    "CSRF_HEADER",
    "LOGIN_CSRF_COOKIE",
    "SESSION_COOKIE",
    "ConsoleAuth",
    "Csrf",
    "User",
    "check_origin",
    "new_login_csrf",
]

SESSION_COOKIE = "vigil_session"
LOGIN_CSRF_COOKIE = "vigil_login_csrf"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"


@dataclass(frozen=True)
class ConsoleAuth:
    db: Database
    policy: SessionPolicy = field(default_factory=SessionPolicy)
    #: set the cookies' Secure flag (behind HTTPS); off on plain-HTTP loopback
    secure_cookies: bool = False

    def live(self, request: Request) -> LiveSession | None:
        token = request.cookies.get(SESSION_COOKIE, "")
        if not token:
            return None
        try:
            with self.db.transaction() as session:
                return sessions.resolve(session, token, self.policy)
        except UnauthorizedError:
            return None


def _auth(request: Request) -> ConsoleAuth:
    auth: ConsoleAuth = request.app.state.console_auth
    return auth


def login_redirect(request: Request) -> HTTPException:
    """Send the browser to the login page, coming back here afterwards (after a POST, to the
    page the form was on: the POST's own path only answers POSTs)."""
    if request.method == "GET":
        target = request.url.path
        if request.url.query:
            target += "?" + request.url.query
    else:
        from vigil.console.form_errors import page_of

        target = page_of(request)
    location = f"/console/login?next={quote(target, safe='')}"
    if request.headers.get("HX-Request"):
        return HTTPException(401, "log in first", headers={"HX-Redirect": location})
    return HTTPException(303, "log in first", headers={"Location": location})


#: the only console pages a person at an advertiser reaches (deny by default: a page added
#: later is refused them until it is listed here)
ADVERTISER_PAGES = frozenset({"/console/ads", "/console/logout"})


def current_user(request: Request) -> LiveSession:
    live = _auth(request).live(request)
    if live is None:
        raise login_redirect(request)
    if live.principal.role == "advertiser" and request.url.path not in ADVERTISER_PAGES:
        if request.method == "GET" and request.url.path == "/console":  # after logging in
            raise HTTPException(303, "your campaigns", headers={"Location": "/console/ads"})
        raise HTTPException(
            403, "an advertiser's account sees its own campaigns only: /console/ads"
        )
    return live


User = Annotated[LiveSession, Depends(current_user)]


def check_origin(request: Request) -> None:
    """Refuse a state change whose ``Origin`` (or ``Referer``) is another site."""
    origin = request.headers.get("origin") or request.headers.get("referer")
    if origin is None:
        return  # old browsers and non-browser clients; the token still has to match
    parts = urlsplit(origin)
    if parts.netloc != request.headers.get("host", ""):
        raise HTTPException(403, f"cross-site request refused (origin {parts.netloc or origin!r})")


async def _sent_token(request: Request) -> str:
    sent = request.headers.get(CSRF_HEADER, "")
    if not sent and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else ""
    return sent


async def csrf_checked(request: Request, live: User) -> LiveSession:
    """The session, if this state-changing request carries its CSRF token."""
    check_origin(request)
    sent = await _sent_token(request)
    if not sent or not secrets.compare_digest(sent, live.csrf_token):
        raise HTTPException(403, "missing or wrong CSRF token: reload the page and try again")
    return live


Csrf = Annotated[LiveSession, Depends(csrf_checked)]


def new_login_csrf() -> str:
    return secrets.token_urlsafe(32)


async def login_csrf_ok(request: Request) -> bool:
    check_origin(request)
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    sent = await _sent_token(request)
    return bool(expected) and bool(sent) and secrets.compare_digest(sent, expected)

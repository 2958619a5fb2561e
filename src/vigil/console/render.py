"""Templates and the headers every console page carries.

Jinja2 with autoescaping on for every template (alert text, notes and ids come from
outside). Pages load scripts only from ``/console/static`` (the Content-Security-Policy
forbids inline and foreign scripts); data for charts and graphs travels as JSON in
``<script type="application/json">`` blocks, which browsers never execute.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse

from vigil.security.permissions import allowed
from vigil.security.sessions import LiveSession

__all__ = ["SECURITY_HEADERS", "TEMPLATES", "money", "page"]

TEMPLATES_DIR = Path(__file__).with_name("templates")
#: signs the one-redirect flash messages (``?msg=``/``?error=``), so a link made elsewhere
#: cannot put its own text on a console page; per process: a message lost to a restart
#: between a redirect and its page is the only cost
_FLASH_KEY = secrets.token_bytes(32)


def flash_signature(msg: str | None, error: str | None) -> str:
    text = f"{msg or ''}\x00{error or ''}".encode()
    return hmac.new(_FLASH_KEY, text, hashlib.sha256).hexdigest()[:32]


def flash_query(msg: str | None, error: str | None) -> str:
    """``msg=...&error=...&flash=<signature>`` (empty when there is nothing to say)."""
    pairs = [(k, v[:300]) for k, v in (("msg", msg), ("error", error)) if v]
    if not pairs:
        return ""
    shown = dict(pairs)
    sig = flash_signature(shown.get("msg"), shown.get("error"))
    return "&".join(f"{k}={quote(v, safe='')}" for k, v in [*pairs, ("flash", sig)])


def flash_of(request: Request) -> dict[str, str | None]:
    """The page's ``msg`` and ``error`` if this console signed them, else nothing."""
    msg, error = request.query_params.get("msg"), request.query_params.get("error")
    sig = request.query_params.get("flash", "")
    if (msg or error) and hmac.compare_digest(sig, flash_signature(msg, error)):
        return {"msg": msg, "error": error}
    return {"msg": None, "error": None}


SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; "
        "form-action 'self'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def money(cents: int | float | None) -> str:
    if cents is None:
        return "-"
    return f"${cents / 100:,.2f}"


def pct(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value * 100:.{digits}f}%"


def when(value: datetime | int | None) -> str:
    """A datetime, or event time in ms, as UTC text."""
    if value is None:
        return "-"
    if isinstance(value, int):
        value = datetime.fromtimestamp(value / 1000, UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def age(value: datetime | None, now: datetime | None = None) -> str:
    """How long ago, in the largest unit that fits: ``40 s``, ``12 min``, ``3 h``, ``2 d``."""
    if value is None:
        return "-"
    seconds = max(0, int(((now or datetime.now(UTC)) - value).total_seconds()))
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def words(code: str) -> str:
    """``resolved_fraud`` -> ``resolved fraud``."""
    return code.replace("_", " ")


TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
TEMPLATES.filters.update(money=money, pct=pct, when=when, words=words, age=age)
#: ``may(user, "cases:reopen")``: offer only what the user is allowed to do
TEMPLATES.globals["may"] = allowed


def page(
    request: Request,
    name: str,
    live: LiveSession | None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """Render ``name`` with the user, their CSRF token and any ``msg``/``error`` flash."""
    html = TEMPLATES.get_template(name).render(
        user=None if live is None else live.principal,
        csrf=None if live is None else live.csrf_token,
        **flash_of(request),
        path=request.url.path,
        **context,
    )
    return HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)

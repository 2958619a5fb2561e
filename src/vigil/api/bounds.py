"""What one request may cost the server: its body's size, the time to send it, and the memory
all bodies being received hold together (issue 15; docs/api.md, "Limits").

``BoundedBodies`` is a plain ASGI middleware that receives the whole body before the app
sees it. So no route meets a body over its limit, a sender that stalls, or a client that
went away half-way: each is answered here with 413, 408 or 503, or, for a client gone,
logged in one line (no traceback). The header side of a request is bounded by the server
(``vigil.api.server``), before any of this runs.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import msgspec
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: the server's own log, printed at ``vigil serve --log-level``
log = logging.getLogger("uvicorn.error")


@dataclass(frozen=True)
class BodyLimits:
    """The bounds ``BoundedBodies`` applies (``ApiSettings`` builds them)."""

    #: largest body of ``POST /v1/events`` (a batch of events)
    events_bytes: int = 16 << 20
    #: largest body of any other request (a decide request, a console form)
    other_bytes: int = 1 << 20
    #: longest wait for the next piece of a body
    idle_s: float = 10.0
    #: longest time to receive a whole body
    total_s: float = 60.0
    #: the bodies of the requests in progress hold at most this much memory together (from
    #: their first byte until the app answers); past it a request is answered 503 with
    #: ``Retry-After`` instead of growing the server
    in_flight_bytes: int = 128 << 20

    def for_path(self, path: str) -> int:
        return self.events_bytes if path == "/v1/events" else self.other_bytes


class _Refused(Exception):
    def __init__(self, status: int, code: str, detail: str, retry_after: int | None = None):
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.retry_after = retry_after


class _Gone(Exception):
    """The client disconnected before its body was complete."""


class BoundedBodies:
    """Receives each request's body within ``BodyLimits``, then hands the app a replay of it."""

    def __init__(
        self,
        app: ASGIApp,
        limits: BodyLimits,
        on_refused: Callable[[str], None] = lambda reason: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.limits = limits
        #: told the reason of each request refused or dropped here (``/metrics`` counts them)
        self.on_refused = on_refused
        self.clock = clock
        #: bytes of bodies being received right now, all requests together
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limits.for_path(scope["path"])
        held = [0]  # bytes of the budget this request holds, until the app is done with it
        try:
            try:
                body = await self._receive_body(scope, receive, limit, held)
            except _Refused as refused:
                self.on_refused(refused.code)
                if refused.status == 408:
                    log.warning("%s: %s", _who(scope), refused.detail)
                await _answer(send, refused)
                return
            except _Gone as gone:
                self.on_refused("client_gone")
                log.warning("%s: %s", _who(scope), gone)
                return
            replayed = False

            async def replay() -> Message:
                nonlocal replayed
                if not replayed:
                    replayed = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()  # after the body: the disconnect, when it comes

            await self.app(scope, replay, send)
        finally:
            self.in_flight -= held[0]

    async def _receive_body(
        self, scope: Scope, receive: Receive, limit: int, held: list[int]
    ) -> bytes:
        declared = _content_length(scope)
        what = f"{scope['method']} {scope['path']}"
        if declared is not None and declared > limit:
            raise _Refused(
                413, "payload_too_large", f"body of {declared:,} bytes; at most {limit:,} accepted"
            )
        started = self.clock()
        buf = bytearray()
        while True:
            left = self.limits.total_s - (self.clock() - started)
            wait = min(self.limits.idle_s, left)
            if wait <= 0:
                raise _slow(what, len(buf), self.limits.total_s, "in all")
            try:
                message = await asyncio.wait_for(receive(), timeout=wait)
            except TimeoutError:
                if self.clock() - started >= self.limits.total_s:
                    raise _slow(what, len(buf), self.limits.total_s, "in all") from None
                raise _slow(what, len(buf), self.limits.idle_s, "without a byte") from None
            if message["type"] == "http.disconnect":
                raise _Gone(f"client went away after {len(buf):,} bytes of a {what} body")
            chunk = message.get("body", b"")
            if len(buf) + len(chunk) > limit:
                raise _Refused(413, "payload_too_large", f"body larger than {limit:,} bytes")
            if chunk:
                if self.in_flight + len(chunk) > self.limits.in_flight_bytes:
                    raise _Refused(
                        503,
                        "unavailable",
                        "the server is receiving too many large bodies at once; retry in a moment",
                        retry_after=1,
                    )
                self.in_flight += len(chunk)
                held[0] += len(chunk)
                buf += chunk
            if not message.get("more_body", False):
                return bytes(buf)


def _slow(what: str, got: int, seconds: float, how: str) -> _Refused:
    return _Refused(
        408,
        "request_timeout",
        f"the {what} body took too long: {got:,} bytes received, {seconds:g} s {how}",
    )


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


def _who(scope: Scope) -> str:
    client = scope.get("client")
    return f"{client[0]}:{client[1]}" if client else "a client"


async def _answer(send: Send, refused: _Refused) -> None:
    """The API's error shape (``{"error", "detail"}``); the connection is closed after it,
    since the rest of the body was never read."""
    body = msgspec.json.encode({"error": refused.code, "detail": refused.detail})
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    if refused.retry_after is not None:
        headers.append((b"retry-after", str(refused.retry_after).encode()))
    await send({"type": "http.response.start", "status": refused.status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})

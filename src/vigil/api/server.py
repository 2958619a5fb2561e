"""The HTTP server as ``vigil serve`` runs it: uvicorn with httptools, and a bound on how long
a request's headers may take (issue 15; docs/api.md, "Limits").

uvicorn closes a connection idle between requests (keep-alive timeout) but waits for ever
for the headers of a request that has begun: a client that sends half a request line and
stops holds its connection, and enough of them hold the server. ``HeaderTimeoutProtocol``
closes such a connection with a 408 after ``HEADER_TIMEOUT_S`` and says so in one line. The
body's own bounds are the app's (``vigil.api.bounds``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

#: the time from a connection's first byte (or its previous response) to the end of the
#: request's headers
HEADER_TIMEOUT_S = 10.0
#: at most this many connections at once; more are answered 503 by uvicorn
MAX_CONNECTIONS = 1_000

log = logging.getLogger("uvicorn.error")

_TIMEOUT_BODY = b'{"error":"request_timeout","detail":"the request headers took too long"}'
_TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n"
    b"content-length: %d\r\n\r\n%s" % (len(_TIMEOUT_BODY), _TIMEOUT_BODY)
)


class HeaderTimeoutProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, with a deadline on each request's headers."""

    header_timeout_s = HEADER_TIMEOUT_S

    @staticmethod
    def on_timeout() -> None:
        """Told of each connection closed for slow headers (``/metrics`` counts them)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._header_timer: asyncio.TimerHandle | None = None
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._header_timer is None and (self.cycle is None or self.cycle.response_complete):
            self._arm()  # a new request begins on a kept-alive connection
        super().data_received(data)

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._header_timer = self.loop.call_later(self.header_timeout_s, self._headers_late)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        if self.transport.is_closing():
            return
        who = f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
        log.warning(
            "%s: closed the connection, request headers not complete after %g s",
            who,
            self.header_timeout_s,
        )
        self.transport.write(_TIMEOUT_RESPONSE)
        self.transport.close()
        self.on_timeout()


def config(
    app: Any, host: str, port: int, log_level: str, header_timeout_s: float = HEADER_TIMEOUT_S
) -> uvicorn.Config:
    """The uvicorn configuration ``vigil serve`` runs (``app``: from ``create_app``, whose
    metrics count the connections closed for slow headers)."""
    metrics = getattr(getattr(app, "state", None), "api_metrics", None)

    def on_timeout() -> None:
        if metrics is not None:
            metrics.refused.labels("header_timeout").inc()

    protocol = type(
        "HeaderTimeoutProtocol",
        (HeaderTimeoutProtocol,),
        {"header_timeout_s": header_timeout_s, "on_timeout": staticmethod(on_timeout)},
    )
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        http=protocol,
        limit_concurrency=MAX_CONNECTIONS,
    )

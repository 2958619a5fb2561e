"""POSTs to ``vigil serve`` from a feeding process (the demo feed, the Kafka feed)."""

from __future__ import annotations

import http.client
import time
import urllib.parse


class Poster:
    """POSTs over one keep-alive connection (the standard library: no client dependency)."""

    def __init__(self, url: str, api_key: str) -> None:
        parts = urllib.parse.urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.api_key = api_key
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)

    def post(self, path: str, body: bytes, content_type: str) -> int:
        headers = {"X-API-Key": self.api_key, "Content-Type": content_type}
        for attempt in range(2):
            try:
                self.conn.request("POST", path, body=body, headers=headers)
                resp = self.conn.getresponse()
                resp.read()
                return resp.status
            except (OSError, http.client.HTTPException):
                self.conn.close()
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
                if attempt:
                    raise
        return 0

    def __enter__(self) -> Poster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.conn.close()


def wait_for_server(url: str, timeout_s: float = 30.0) -> None:
    """Return once the server answers ``/healthz`` (or ``timeout_s`` passed)."""
    parts = urllib.parse.urlsplit(url)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection(parts.hostname or "", parts.port or 80, timeout=1)
            conn.request("GET", "/healthz")
            conn.getresponse().read()
            conn.close()
            return
        except OSError:
            time.sleep(0.1)

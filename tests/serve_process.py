"""A real ``vigil serve`` for end-to-end tests: started on a free loopback port, waited for,
stopped with Ctrl-C (SIGINT) as a person would; and a simulated stream posted to it in order,
each refund request asked of ``decide`` where it stands, as a refund system would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import msgspec
from tests.browser import free_port

#: the fields of a ``refund_requested`` event a decide request carries
REQUEST_FIELDS = (
    "refund_id", "order_id", "customer_id", "return_id", "amount_cents", "currency", "skus",
    "reason", "channel", "method", "policy", "issued_by", "agent_id", "session_id",
    "event_time_ms",
)  # fmt: skip


@contextmanager
def served(
    state_dir: Path,
    key: str,
    *args: str,
    stop: signal.Signals = signal.SIGINT,
    exit_codes: list[int] | None = None,
) -> Iterator[tuple[str, httpx.Client]]:
    """``vigil serve`` on ``state_dir`` with an API key of every scope (``args``: more
    options); yields its URL and a client that sends the key, then stops it with ``stop``
    (its exit code appended to ``exit_codes``). The server's output goes to ``serve.log``
    beside the state directory (a pipe nobody reads could fill and stall it)."""
    port = free_port()
    log = (state_dir.parent / "serve.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "vigil.cli.main", "serve", "--port", str(port),
         "--state-dir", str(state_dir), "--api-key", f"e2e:{key}:*", *args],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    client = httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=30)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                client.get("/healthz")
                break
            except httpx.TransportError:
                assert proc.poll() is None, f"server exited {proc.returncode}: see {log.name}"
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.1)
        yield url, client
    finally:
        client.close()
        proc.send_signal(stop)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        if exit_codes is not None:
            exit_codes.append(proc.returncode)


def post_events(client: httpx.Client, lines: list[bytes]) -> None:
    """Post lines to ``/v1/events`` as JSON Lines (in one body)."""
    if lines:
        r = client.post(
            "/v1/events",
            content=b"\n".join(lines) + b"\n",
            headers={"Content-Type": "application/x-ndjson"},
        )
        assert r.status_code == 200, r.text


def post_stream(
    client: httpx.Client, lines: list[bytes], wait_ms: int = 0, chunk: int = 2_000
) -> dict[str, dict[str, Any]]:
    """Post the stream in order; each refund request goes to ``decide`` in its place (the
    API records it), once per refund id. Returns the answers by refund id, in stream order."""
    answers: dict[str, dict[str, Any]] = {}
    pending: list[bytes] = []
    for raw in lines:
        if b'"refund_requested"' not in raw:
            pending.append(raw)
            if len(pending) >= chunk:
                post_events(client, pending)
                pending = []
            continue
        try:
            rec: dict[str, Any] = msgspec.json.decode(raw)
        except msgspec.DecodeError:
            pending.append(raw)  # a producer's broken line: the API must reject it
            continue
        post_events(client, pending)
        pending = []
        if rec["refund_id"] in answers:
            continue  # the producer's duplicate of a request already asked
        body = {k: rec[k] for k in REQUEST_FIELDS if rec.get(k) not in (None, [])}
        r = client.post("/v1/refunds/decide", json={**body, "wait_ms": wait_ms})
        assert r.status_code == 200, r.text
        answers[rec["refund_id"]] = r.json()
    post_events(client, pending)
    return answers

"""``BoundedBodies`` on its own: each bound answered before the app runs, the memory of bodies
in flight shared and given back, the body replayed to the app whole (issue 15)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from starlette.types import Message, Receive, Scope, Send

from vigil.api.bounds import BodyLimits, BoundedBodies


class _App:
    """Records what the app was given: the body it read, then the next message; takes
    ``work_s`` to answer."""

    def __init__(self, work_s: float = 0.0) -> None:
        self.bodies: list[bytes] = []
        self.after: list[Message] = []
        self.work_s = work_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        first = await receive()
        self.bodies.append(first["body"])
        assert first["more_body"] is False
        self.after.append(await receive())
        await asyncio.sleep(self.work_s)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok", "more_body": False})


def _scope(path: str = "/v1/refunds/decide", length: int | None = None) -> Scope:
    headers = [] if length is None else [(b"content-length", str(length).encode())]
    return {"type": "http", "method": "POST", "path": path, "headers": headers,
            "client": ("127.0.0.1", 5555)}  # fmt: skip


def _feed(*pieces: bytes | None, pause: float = 0.0) -> Receive:
    """A client sending ``pieces`` (None: it disconnects), ``pause`` seconds apart; after
    the last, the disconnect at the end of the exchange."""
    queue = list(pieces)

    async def receive() -> Message:
        if pause:
            await asyncio.sleep(pause)
        if not queue:
            return {"type": "http.disconnect"}
        piece = queue.pop(0)
        if piece is None:
            return {"type": "http.disconnect"}
        return {"type": "http.request", "body": piece, "more_body": bool(queue)}

    return receive


def _run(mw: BoundedBodies, scope: Scope, receive: Receive) -> list[Message]:
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(mw(scope, receive, send))
    return sent


def _status(sent: list[Message]) -> tuple[int, dict[str, Any]]:
    assert sent[0]["type"] == "http.response.start"
    body = json.loads(sent[1]["body"]) if sent[1]["body"] != b"ok" else {}
    return sent[0]["status"], body


def test_a_body_within_bounds_reaches_the_app_whole_then_the_disconnect() -> None:
    app = _App()
    sent = _run(BoundedBodies(app, BodyLimits()), _scope(), _feed(b'{"refund', b'_id": 1}'))
    assert _status(sent)[0] == 200
    assert app.bodies == [b'{"refund_id": 1}']
    assert app.after == [{"type": "http.disconnect"}]


def test_a_declared_size_over_the_limit_is_413_before_reading() -> None:
    app = _App()
    reasons: list[str] = []
    mw = BoundedBodies(app, BodyLimits(other_bytes=100), on_refused=reasons.append)

    async def never() -> Message:
        raise AssertionError("the body must not be read")

    status, body = _status(_run(mw, _scope(length=300 << 20), never))
    assert status == 413
    assert body == {"error": "payload_too_large",
                    "detail": "body of 314,572,800 bytes; at most 100 accepted"}  # fmt: skip
    assert reasons == ["payload_too_large"] and app.bodies == []


def test_an_undeclared_body_is_cut_at_the_limit_and_events_have_their_own() -> None:
    limits = BodyLimits(events_bytes=1_000, other_bytes=100)
    app = _App()
    status, body = _status(_run(BoundedBodies(app, limits), _scope(), _feed(b"x" * 60, b"x" * 60)))
    assert (status, body["detail"]) == (413, "body larger than 100 bytes")
    status, _ = _status(_run(BoundedBodies(app, limits), _scope("/v1/events"), _feed(b"x" * 600)))
    assert status == 200


def test_a_body_that_stalls_is_408_and_one_that_trickles_too() -> None:
    app = _App()
    stalled = BoundedBodies(app, BodyLimits(idle_s=0.05, total_s=10))
    status, body = _status(_run(stalled, _scope(), _feed(b"x", b"y", pause=0.2)))
    assert status == 408
    assert body["detail"] == (
        "the POST /v1/refunds/decide body took too long: 0 bytes received, 0.05 s without a byte"
    )
    trickle = BoundedBodies(app, BodyLimits(idle_s=0.05, total_s=0.2))
    status, body = _status(_run(trickle, _scope(), _feed(*[b"x"] * 50, pause=0.02)))
    assert status == 408 and "0.2 s in all" in body["detail"]
    assert app.bodies == []


def test_a_client_gone_mid_body_is_one_line_and_no_answer(caplog: pytest.LogCaptureFixture) -> None:
    app = _App()
    reasons: list[str] = []
    mw = BoundedBodies(app, BodyLimits(), on_refused=reasons.append)
    with caplog.at_level("WARNING", logger="uvicorn.error"):
        sent = _run(mw, _scope(), _feed(b"x" * 10, None))
    assert sent == [] and app.bodies == [] and reasons == ["client_gone"]
    (record,) = caplog.records
    assert record.getMessage() == (
        "127.0.0.1:5555: client went away after 10 bytes of a POST /v1/refunds/decide body"
    )
    assert record.exc_info is None


def test_bodies_in_flight_share_one_budget_and_give_it_back() -> None:
    """Three bodies of 40 bytes arriving together against a budget of 100 (each held until
    its answer): the third is refused 503 with Retry-After; once they are answered the
    budget is whole again."""
    app = _App(work_s=0.2)
    mw = BoundedBodies(app, BodyLimits(in_flight_bytes=100))
    sent: list[list[Message]] = [[], [], []]

    async def one(i: int) -> None:
        async def send(message: Message) -> None:
            sent[i].append(message)

        await mw(_scope(), _feed(b"x" * 20, b"x" * 20, pause=0.01 * (i + 1)), send)

    async def all_three() -> None:
        await asyncio.gather(*(one(i) for i in range(3)))

    asyncio.run(all_three())
    statuses = sorted(s[0]["status"] for s in sent)
    assert statuses == [200, 200, 503]
    refused = next(s for s in sent if s[0]["status"] == 503)
    assert (b"retry-after", b"1") in refused[0]["headers"]
    assert mw.in_flight == 0
    assert _status(_run(mw, _scope(), _feed(b"x" * 90)))[0] == 200

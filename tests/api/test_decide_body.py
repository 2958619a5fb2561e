"""The decide body is decoded by msgspec (``DecideBody``) but documented by pydantic
(``DecideRequest``): the two must accept and reject the same bodies, and fingerprint an
accepted one to the same bytes as before (journals written earlier stay valid)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import msgspec
import pydantic
import pytest
from fastapi.exceptions import RequestValidationError
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.api.conftest import headers, state_of

from vigil.api.decisions import decode_decide_body
from vigil.api.errors import BadRequestError
from vigil.api.schemas import DecideBody, DecideRequest
from vigil.api.state import request_fingerprint

VALID: dict[str, Any] = {
    "refund_id": "rf-1",
    "order_id": "o-1",
    "customer_id": "c-1",
    "amount_cents": 25_000,
    "policy": "manual_override",
}
TRICKY: list[Any] = [
    None, "", "x", "1", "a" * 8, "a" * 9, "a" * 128, "a" * 129, "USD", "on_receipt",
    "returnless", "store_credit", "agent", "system", 0, 1, -1, 2.0, 2.5, -0.0, 1e300,
    2**53 - 1, 2**53, True, False, [], {}, ["x"], "ag-12\u200b", "rf-\u202e1234", "o\x00",
    "c\n1", ["sku\u2028"], "déjà-vu", "订单-7",
]  # fmt: skip
MISSING = object()


def _pydantic(raw: bytes) -> str | None:
    """FastAPI's path: ``json.loads`` then the strict model; the fingerprint or None."""
    try:
        model = DecideRequest.model_validate(json.loads(raw))
    except (pydantic.ValidationError, ValueError):
        return None
    return request_fingerprint(model.model_dump(mode="json"))


def _msgspec(raw: bytes) -> str | None:
    try:
        body = decode_decide_body(raw, "application/json")
    except (RequestValidationError, BadRequestError):  # 422, or 400 for bytes not UTF-8
        return None
    return request_fingerprint(body)


def test_the_two_models_have_the_same_fields_and_defaults() -> None:
    fields = DecideRequest.model_fields
    info = msgspec.structs.fields(DecideBody)
    assert [f.name for f in info] == list(fields)
    for f in info:
        p = fields[f.name]
        assert p.is_required() == (f.required), f.name
        if f.default_factory is not msgspec.NODEFAULT:
            assert p.default_factory is not None, f.name
            assert p.default_factory() == f.default_factory(), f.name  # type: ignore[call-arg]
        elif not f.required:
            assert p.default == f.default, f.name


@settings(max_examples=400, deadline=None)
@given(
    changes=st.dictionaries(
        st.sampled_from([*DecideRequest.model_fields, "extra"]),
        st.sampled_from([*TRICKY, MISSING]),
        max_size=3,
    )
)
def test_msgspec_accepts_what_pydantic_accepts_with_the_same_fingerprint(
    changes: dict[str, Any],
) -> None:
    body = dict(VALID)
    for k, v in changes.items():
        if v is MISSING:
            body.pop(k, None)
        else:
            body[k] = v
    raw = json.dumps(body).encode()
    assert _msgspec(raw) == _pydantic(raw), body


@pytest.mark.parametrize(
    "raw", [b"", b"{", b"[]", b"null", b"1", b'"x"', b'{"refund_id": "r"}', b"\xff"]
)
def test_unreadable_bodies_are_rejected_by_both(raw: bytes) -> None:
    assert _msgspec(raw) is None
    assert _pydantic(raw) is None


def test_422s_keep_fastapis_shape_and_name_the_field(client: TestClient) -> None:
    h = headers()
    r = client.post("/v1/refunds/decide", json={**VALID, "amount_cents": "1"}, headers=h)
    assert r.status_code == 422
    (item,) = r.json()["detail"]
    assert item["loc"] == ["body", "amount_cents"] and item["msg"]
    r = client.post("/v1/refunds/decide", json={**VALID, "amount_cents": 2.5}, headers=h)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "amount_cents"]
    r = client.post(
        "/v1/refunds/decide",
        content=json.dumps(VALID),
        headers={**h, "Content-Type": "text/plain"},
    )
    assert r.status_code == 422  # as FastAPI answers a JSON body sent as another type
    assert state_of(client).settings.input_log.read_bytes() == b""


def test_a_whole_float_is_the_integer(client: TestClient) -> None:
    r = client.post(
        "/v1/refunds/decide",
        json={**VALID, "amount_cents": 2.0, "event_time_ms": 1_767_700_000_000.0},
        headers=headers(),
    )
    assert r.status_code == 200, r.text
    line = state_of(client).settings.input_log.read_bytes()
    assert b'"amount_cents":2,' in line and b'"event_time_ms":1767700000000,' in line


def test_the_document_describes_the_body_and_the_422() -> None:
    from tests.api.test_openapi_schemathesis import app

    op = app.openapi()["paths"]["/v1/refunds/decide"]["post"]
    schema = op["requestBody"]["content"]["application/json"]["schema"]
    assert op["requestBody"]["required"] is True
    assert set(schema["properties"]) == set(DecideRequest.model_fields)
    assert set(schema["required"]) == {"refund_id", "order_id", "customer_id", "amount_cents",
                                       "policy"}  # fmt: skip
    assert schema["additionalProperties"] is False
    assert "422" in op["responses"]


def test_a_request_journalled_before_later_fields_keeps_its_fingerprint() -> None:
    """Journals written before skus, reason, channel and wait_ms existed key requests by the
    older fields: left at their defaults, the new fields do not change the fingerprint."""
    body = DecideRequest.model_validate(VALID).model_dump(mode="json")
    older = {k: v for k, v in body.items() if k not in ("skus", "reason", "channel", "wait_ms")}
    assert request_fingerprint({**body, "wait_ms": 2_000}) == request_fingerprint(body)
    before = hashlib.sha256(msgspec.json.encode(older, order="sorted")).hexdigest()
    assert request_fingerprint(body) == before
    assert request_fingerprint({**body, "reason": "item_not_received"}) != before


def test_ids_a_reader_cannot_see_are_refused_and_named(client: TestClient) -> None:
    """Zero-width and direction characters make ``ag-12`` and ``ag-12`` + ZWSP two ids that
    look alike: refused, naming the field; ids in any script are fine."""
    h = headers()
    for field, value in (
        ("agent_id", "ag-12\u200b"),
        ("refund_id", "rf-\u202e1234-fer"),
        ("customer_id", "c-1\x00"),
        ("order_id", "o-1\n"),
    ):
        r = client.post("/v1/refunds/decide", json={**VALID, field: value}, headers=h)
        assert r.status_code == 422, field
        (item,) = r.json()["detail"]
        assert item["loc"] == ["body", field] and "printable" in item["msg"]
    r = client.post("/v1/refunds/decide", json={**VALID, "skus": ["ok", "bad\u2028"]}, headers=h)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "skus", 1]
    ok = client.post("/v1/refunds/decide", json={**VALID, "customer_id": "客户-7"}, headers=h)
    assert ok.status_code == 200


def test_bytes_that_are_not_utf8_anywhere_are_a_400_naming_the_bodys_byte(client) -> None:  # type: ignore[no-untyped-def]
    """Inside a string or outside one, or a whole body in UTF-16: 400 "not valid UTF-8", and
    the byte is counted from the start of the body (it was counted inside the string)."""
    good = (
        b'{"refund_id": "rf-0c35fe17ad2265", "order_id": "o-3c7a84e1ad34e9", '
        b'"customer_id": "c-1b626141fab723f2", "amount_cents": 101398, '
        b'"policy": "manual_override"}'
    )
    for at in (3, 18, 60):
        bad = good[:at] + b"\xff" + good[at + 1 :]
        r = client.post("/v1/refunds/decide", content=bad,
                        headers={**headers("all"), "Content-Type": "application/json"})  # fmt: skip
        assert r.status_code == 400, r.text
        assert r.json()["detail"].startswith(f"the body is not valid UTF-8 (byte {at} of the body)")
    utf16 = good.decode().encode("utf-16")
    r = client.post("/v1/refunds/decide", content=utf16,
                    headers={**headers("all"), "Content-Type": "application/json"})  # fmt: skip
    assert r.status_code == 400 and "not valid UTF-8" in r.json()["detail"]

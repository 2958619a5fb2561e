"""No endpoint answers without credentials; each needs its own scope (walks the OpenAPI)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from tests.api.conftest import headers

OPEN = {("/healthz", "get")}
#: what each endpoint needs (the scope a key must hold)
NEEDS = {
    ("/v1/events", "post"): "events:write",
    ("/v1/refunds/decide", "post"): "decisions:read",
    ("/v1/decisions/{refund_id}", "get"): "decisions:read",
    ("/v1/alerts", "get"): "alerts:read",
    ("/v1/alerts/{alert_id}", "get"): "alerts:read",
    ("/v1/cases", "get"): "cases:read",
    ("/v1/cases/{case_id}", "get"): "cases:read",
    ("/v1/cases/{case_id}/transition", "post"): "cases:write",
    ("/v1/cases/{case_id}/assign", "post"): "cases:write",
    ("/v1/cases/{case_id}/notes", "post"): "cases:write",
    ("/v1/cases/{case_id}/label", "post"): "cases:write",
    ("/v1/holds", "get"): "holds:read",
    ("/v1/holds/{refund_id}", "get"): "holds:read",
    ("/v1/holds/{refund_id}/release", "post"): "holds:write",
    ("/v1/holds/{refund_id}/block", "post"): "holds:write",
    ("/v1/ads/figures", "get"): "ads:read",
    ("/metrics", "get"): "alerts:read",
}


def _operations(app: FastAPI) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, op)
        for path, item in app.openapi()["paths"].items()
        for method, op in item.items()
    ]


def _call(client: TestClient, path: str, method: str, hdrs: dict[str, str]) -> int:
    url = path.replace("{refund_id}", "rf-1").replace("{alert_id}", "a").replace("{case_id}", "1")
    return client.request(method.upper(), url, headers=hdrs, json={}).status_code


def test_every_operation_is_listed_here(client: TestClient) -> None:
    ops = {(p, m) for p, m, _ in _operations(client.app)}  # type: ignore[arg-type]
    assert ops == set(NEEDS) | OPEN


def test_no_endpoint_answers_without_a_valid_key(client: TestClient) -> None:
    for path, method, op in _operations(client.app):  # type: ignore[arg-type]
        if (path, method) in OPEN:
            assert "security" not in op
            continue
        assert op["security"] == [{"ApiKey": []}], path
        assert "401" in op["responses"] and "403" in op["responses"], path
        for bad in ({}, {"X-API-Key": ""}, {"X-API-Key": "not-a-key-at-all-xxxx"}):
            assert _call(client, path, method, bad) == 401, (path, method, bad)


def test_each_endpoint_needs_its_scope(app_factory: Callable[..., FastAPI]) -> None:
    from vigil.api.state import ApiState

    app = app_factory()
    st: ApiState = app.state.vigil
    keys = st.auth
    from vigil.api.auth import StaticKeys

    assert isinstance(keys, StaticKeys)
    for scope in set(NEEDS.values()):
        keys.add(f"only-{scope}", f"key-with-only-{scope}", [scope])
    with TestClient(app) as client:
        for (path, method), needed in NEEDS.items():
            for scope in set(NEEDS.values()):
                status = _call(client, path, method, {"X-API-Key": f"key-with-only-{scope}"})
                if scope == needed:
                    assert status != 403 and status != 401, (path, scope, status)
                else:
                    assert status == 403, (path, method, scope, status)


def test_healthz_is_open_and_reports(client: TestClient) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    assert body["runtime"] == {"managed": False, "alive": None, "pid": None, "exit_code": None}


def test_metrics_expose_latency_by_route(client: TestClient) -> None:
    client.get("/v1/alerts", headers=headers())
    text = client.get("/metrics", headers=headers()).text
    assert 'vigil_api_request_duration_seconds_count{method="GET",route="/v1/alerts"' in text
    assert "vigil_index_pending_seconds" in text
    assert "vigil_index_staleness_seconds_bucket" in text


def test_a_key_spec_takes_scope_names_that_hold_a_colon() -> None:
    import pytest

    from vigil.api.auth import StaticKeys
    from vigil.errors import ConfigError

    keys = StaticKeys()
    svc = keys.add_spec("svc:a-long-enough-secret-1:decisions:read,alerts:read")
    assert svc.name == "svc" and svc.scopes == frozenset({"decisions:read", "alerts:read"})
    assert keys.authenticate("a-long-enough-secret-1") == svc
    with pytest.raises(ConfigError) as err:
        keys.add_spec("svc:only-a-secret-here")
    assert "'svc'" in str(err.value) and "only-a-secret-here" not in str(err.value)


def test_the_dev_key_of_a_state_is_kept_across_restarts(tmp_path: object) -> None:
    import stat
    from pathlib import Path

    from vigil.api.auth import StaticKeys
    from vigil.cli.serve import _dev_key

    key_file = Path(str(tmp_path)) / "dev-api-key"
    first = _dev_key(StaticKeys(), key_file)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    keys = StaticKeys()
    assert _dev_key(keys, key_file) == first
    assert keys.authenticate(first).name == "dev"

"""Schemathesis against the OpenAPI document: every operation, generated requests, every
response checked against the document (status codes, content types, schemas)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings
from tests.api.conftest import ALL_KEY, Runtime, make_alert, static_keys

from vigil.api import ApiSettings, create_app
from vigil.api.auth import AnyOf, DatabaseKeys
from vigil.api.state import ApiState
from vigil.cases.service import ingest_alerts
from vigil.security.db import Database
from vigil.security.permissions import Principal

_dir = Path(tempfile.mkdtemp(prefix="vigil-schemathesis-"))
_db = Database.open(f"sqlite:///{_dir / 'cases.db'}")
with _db.transaction() as _s:
    ingest_alerts(_s, Principal.system("test"), [make_alert(subject_id="agent-1")])
app = create_app(
    ApiSettings(state_dir=_dir / "state", fsync_events=False, fsync_decisions=False),
    AnyOf(static_keys(), DatabaseKeys(_db)),
    db=_db,
)
_state: ApiState = app.state.vigil
Runtime(_state).emit(
    make_alert(),
    make_alert(detector="fraud_ring", subject_type="ring", subject_id="r1", members=("account:c",)),
)

schema = schemathesis.openapi.from_asgi("/openapi.json", app)


def test_the_document_is_valid_openapi() -> None:
    doc = app.openapi()
    assert doc["openapi"].startswith("3.")
    assert doc["components"]["securitySchemes"]["ApiKey"]["in"] == "header"


@schema.parametrize()
@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_api_conforms_to_its_document(case: schemathesis.Case) -> None:
    case.call_and_validate(headers={"X-API-Key": ALL_KEY})

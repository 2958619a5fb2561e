"""``GET /v1/ads/figures`` over a real run's ``ad_figures.jsonl``: staff see every campaign,
an advertiser's key its own only (no parameter reaches another's), and only settled rows
count."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from tests.api.conftest import headers, state_of

from vigil.ads.figures import read_rows
from vigil.ads.pipeline import AdAnalytics
from vigil.ads.report import report
from vigil.api.auth import StaticKeys
from vigil.detectors.registry import default_detectors
from vigil.errors import ConfigError, RequestError
from vigil.ingest.sources import FileSource
from vigil.runtime.embedded import EmbeddedRuntime, RuntimeSettings
from vigil.security.db import Database
from vigil.security.keys import authenticate_api_key, create_api_key
from vigil.security.permissions import Principal
from vigil.sim import SimConfig, simulate

ADV_KEY = "test-key-advertiser-000"


@pytest.fixture(scope="module")
def run_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run as ``vigil serve``'s runtime leaves it: outputs, checkpoint, progress.json."""
    root = tmp_path_factory.mktemp("ads-api")
    simulate(SimConfig(seed=11, events=30_000), root / "sim")
    out = root / "run"
    settings = RuntimeSettings(analytics=False, publish_every_batch=True)
    runtime = EmbeddedRuntime([*default_detectors(), AdAnalytics()], out, settings, root / "ckpt")
    runtime.run(FileSource(root / "sim" / "events.jsonl"))
    return out


@pytest.fixture
def ads_client(app_factory: Callable[..., FastAPI], run_out: Path) -> Iterator[TestClient]:
    with TestClient(app_factory(runtime_out_dir=run_out)) as c:
        yield c


def _advertisers(run_out: Path) -> list[str]:
    return [line["advertiser_id"] for line in report(read_rows(run_out / "ad_figures.jsonl"),
                                                     "advertiser")]  # fmt: skip


def _as(client: TestClient, advertiser: str) -> dict[str, str]:
    keys: StaticKeys = state_of(client).auth  # type: ignore[assignment]
    keys.add(f"adv-key-{advertiser}", ADV_KEY + advertiser, ["ads:read"], advertiser)
    return {"X-API-Key": ADV_KEY + advertiser}


def _get(client: TestClient, key: dict[str, str], **params: Any) -> Any:
    return client.get("/v1/ads/figures", params=params, headers=key)


def test_staff_see_every_campaign_as_the_report_does(ads_client: TestClient, run_out: Path) -> None:
    r = _get(ads_client, headers())
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    expected = report(read_rows(run_out / "ad_figures.jsonl"))
    assert [i["campaign_id"] for i in items] == [e["campaign_id"] for e in expected]
    assert [i["net_revenue_cents"] for i in items] == [e["net_revenue_cents"] for e in expected]
    by_day = _get(ads_client, headers(), by="day").json()["items"]
    assert sum(d["impressions"] for d in by_day) == sum(i["impressions"] for i in items)
    assert len({i["advertiser_id"] for i in items}) > 5


def test_an_advertisers_key_sees_its_own_campaigns_and_nothing_else(
    ads_client: TestClient, run_out: Path
) -> None:
    mine, other = _advertisers(run_out)[:2]
    key = _as(ads_client, mine)
    every = _get(ads_client, headers()).json()["items"]
    theirs = [i["campaign_id"] for i in every if i["advertiser_id"] == other]
    own = [i["campaign_id"] for i in every if i["advertiser_id"] == mine]
    for by in ("campaign", "advertiser", "day"):
        page = _get(ads_client, key, by=by).json()
        assert page["advertiser_id"] == mine
        assert page["items"] and {i["advertiser_id"] for i in page["items"]} == {mine}
    assert {i["campaign_id"] for i in _get(ads_client, key).json()["items"]} == set(own)
    # another advertiser by name: refused; its campaign: as if it did not exist
    refused = _get(ads_client, key, advertiser_id=other)
    assert refused.status_code == 403 and other not in refused.text
    hidden = _get(ads_client, key, campaign_id=theirs[0])
    missing = _get(ads_client, key, campaign_id="cmp-nonexistent")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["detail"].replace(theirs[0], "X") == missing.json()["detail"].replace(
        "cmp-nonexistent", "X"
    )
    assert _get(ads_client, key, campaign_id=own[0]).status_code == 200
    # and nothing but figures: every other endpoint refuses the key
    for path in ("/v1/alerts", "/v1/cases", "/v1/holds"):
        assert ads_client.get(path, headers=key).status_code == 403, path
    decide = ads_client.post("/v1/refunds/decide", json={}, headers=key)
    assert decide.status_code == 403
    assert ads_client.post("/v1/events", content=b"{}", headers=key).status_code == 403


def test_only_settled_rows_count(ads_client: TestClient, run_out: Path) -> None:
    """Rows past the length of the last checkpoint may be cut back and written again: the
    API reads up to the length progress.json states, and no further."""
    progress_path = run_out / "progress.json"
    saved = progress_path.read_bytes()
    progress = msgspec.json.decode(saved)
    full = progress["durable_outputs"]["ad_figures"]
    assert full == (run_out / "ad_figures.jsonl").stat().st_size
    data = (run_out / "ad_figures.jsonl").read_bytes()
    half = data.rfind(b"\n", 0, full // 2) + 1
    try:
        progress["durable_outputs"]["ad_figures"] = half
        progress_path.write_bytes(msgspec.json.encode(progress))
        with TestClient(ads_client.app) as fresh:
            got = _get(fresh, headers()).json()["items"]
        expected = report(read_rows(run_out / "ad_figures.jsonl", upto=half))
        assert sum(i["impressions"] for i in got) == sum(e["impressions"] for e in expected)
        assert sum(e["impressions"] for e in expected) < sum(
            e["impressions"] for e in report(read_rows(run_out / "ad_figures.jsonl"))
        )
    finally:
        progress_path.write_bytes(saved)


def test_advertiser_keys_hold_ads_read_alone(tmp_path: Path) -> None:
    db = Database.open(f"sqlite:///{tmp_path / 'cases.db'}")
    with db.transaction() as s:
        created = create_api_key(
            s, Principal.system(), "adv-4 dashboard", ["ads:read"], advertiser_id="adv-4"
        )
        found = authenticate_api_key(s, created.raw_key)
        assert found.advertiser_id == "adv-4" and found.scopes == {"ads:read"}
        assert created.key.advertiser_id == "adv-4"
        with pytest.raises(RequestError, match="ads:read only"):
            create_api_key(
                s, Principal.system(), "x", ["ads:read", "alerts:read"], advertiser_id="adv-4"
            )
        with pytest.raises(RequestError, match="ads:read only"):
            create_api_key(
                s, Principal.system(), "x", ["ads:read"], agent_id="ag-2", advertiser_id="adv-4"
            )
        with pytest.raises(RequestError, match="advertiser id"):
            create_api_key(s, Principal.system(), "x", ["ads:read"], advertiser_id="adv 4")
    with pytest.raises(ConfigError, match="ads:read only"):
        StaticKeys().add("x", "x" * 20, ["ads:read", "alerts:read"], "adv-4")

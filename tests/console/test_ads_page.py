"""``/console/ads`` over a real run's figures: staff see every advertiser's campaigns, a person
at an advertiser sees their own and no other console page (every route the app serves is
tried), and creating such a person is checked."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from tests.api.conftest import static_keys
from tests.console.conftest import PASSWORD, csrf_of

from vigil.ads.figures import read_rows
from vigil.ads.pipeline import AdAnalytics
from vigil.ads.report import report
from vigil.api import ApiSettings, create_app
from vigil.cases.service import ingest_alerts
from vigil.console import ads_page, holds_page, pages, rules_page
from vigil.detectors.registry import default_detectors
from vigil.errors import ConflictError, NotFoundError, RequestError
from vigil.ingest.sources import FileSource
from vigil.runtime.embedded import EmbeddedRuntime, RuntimeSettings
from vigil.security.db import Database
from vigil.security.permissions import Principal
from vigil.security.users import create_user, set_role
from vigil.sim import SimConfig, simulate

SYSTEM = Principal.system("test")


@pytest.fixture(scope="module")
def run_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ads-console")
    simulate(SimConfig(seed=12, events=30_000), root / "sim")
    out = root / "run"
    settings = RuntimeSettings(analytics=False, publish_every_batch=True)
    EmbeddedRuntime([*default_detectors(), AdAnalytics()], out, settings, root / "ckpt").run(
        FileSource(root / "sim" / "events.jsonl")
    )
    return out


def _advertisers(run_out: Path) -> list[str]:
    rows = report(read_rows(run_out / "ad_figures.jsonl"), "advertiser")
    return [str(r["advertiser_id"]) for r in rows]


@pytest.fixture
def client(tmp_path: Path, run_out: Path) -> Iterator[tuple[TestClient, str, str]]:
    mine, other = _advertisers(run_out)[:2]
    db = Database.open(f"sqlite:///{tmp_path / 'console.db'}")
    with db.transaction() as s:
        create_user(s, SYSTEM, "ana", PASSWORD, "analyst")
        create_user(s, SYSTEM, "ada", PASSWORD, "advertiser", advertiser_id=mine)
    settings = ApiSettings(
        state_dir=tmp_path / "state",
        runtime_out_dir=run_out,
        fsync_events=False,
        fsync_decisions=False,
    )
    with TestClient(create_app(settings, static_keys(), db=db)) as c:
        yield c, mine, other
    db.dispose()


def _log_in(client: TestClient, username: str) -> None:
    client.cookies.clear()
    form = client.get("/console/login")
    r = client.post(
        "/console/login",
        data={"username": username, "password": PASSWORD, "csrf_token": csrf_of(form.text)},
        follow_redirects=False,
    )
    assert r.status_code == 303 and "error=" not in r.headers["location"], r.headers


def _campaign_rows(html: str) -> set[str]:
    return set(re.findall(r'<tr data-advertiser="([^"]+)"', html))


def test_staff_see_every_advertiser_and_may_pick_one(
    client: tuple[TestClient, str, str],
) -> None:
    c, mine, other = client
    _log_in(c, "ana")
    page = c.get("/console/ads")
    assert page.status_code == 200
    assert {mine, other} <= _campaign_rows(page.text)
    one = c.get("/console/ads", params={"advertiser": other})
    assert _campaign_rows(one.text) == {other}
    assert 'href="/console/cases"' in page.text  # the staff's whole console


def test_a_person_at_an_advertiser_sees_their_campaigns_and_nothing_else(
    client: tuple[TestClient, str, str], run_out: Path
) -> None:
    c, mine, other = client
    _log_in(c, "ada")
    landing = c.get("/console", follow_redirects=False)  # where the login form sends them
    assert landing.status_code == 303 and landing.headers["location"] == "/console/ads"
    page = c.get("/console/ads")
    assert page.status_code == 200 and f'id="advertiser">{mine}<' in page.text
    assert _campaign_rows(page.text) == {mine}
    # no parameter reaches another advertiser
    assert _campaign_rows(c.get("/console/ads", params={"advertiser": other}).text) == {mine}
    theirs = report(
        [r for r in read_rows(run_out / "ad_figures.jsonl") if r.advertiser_id == other]
    )[0]["campaign_id"]
    days = c.get("/console/ads", params={"campaign": theirs})
    assert "No figures for this campaign." in days.text and other not in days.text
    assert 'href="/console/cases"' not in page.text and "/console/search" not in page.text
    # every other console page, whatever it is, is refused (deny by default)
    paths = {
        r.path.replace("{case_id}", "1")
        .replace("{refund_id}", "rf-1")
        .replace("{agent_id}", "ag-1")
        .replace("{version}", "1")
        .replace("{change_id}", "1")
        for router in (pages.router, rules_page.router, holds_page.router, ads_page.router)
        for r in router.routes
        if isinstance(r, APIRoute) and "GET" in r.methods
    }
    tried = 0
    for path in sorted(paths - {"/console/ads", "/console/login", "/console"}):
        assert c.get(path, follow_redirects=False).status_code == 403, path
        tried += 1
    assert tried >= 8
    assert c.post("/console/cases/1/take", follow_redirects=False).status_code == 403
    # the API too: a console user is no key; and the assignment of a case skips them
    assert c.get("/v1/ads/figures").status_code == 401


def test_creating_an_advertiser_account_is_checked(tmp_path: Path) -> None:
    db = Database.open(f"sqlite:///{tmp_path / 'users.db'}")
    with db.transaction() as s:
        with pytest.raises(RequestError, match="goes with --advertiser-id"):
            create_user(s, SYSTEM, "adb", PASSWORD, "advertiser")
        with pytest.raises(RequestError, match="only that role takes an advertiser id"):
            create_user(s, SYSTEM, "ana", PASSWORD, "analyst", advertiser_id="adv-4")
        with pytest.raises(RequestError, match="no agent id"):
            create_user(s, SYSTEM, "adc", PASSWORD, "advertiser", advertiser_id="adv-4",
                        agent_id="ag-2")  # fmt: skip
        ada = create_user(s, SYSTEM, "ada", PASSWORD, "advertiser", advertiser_id="adv-4")
        with pytest.raises(ConflictError, match="does not become staff"):
            set_role(s, SYSTEM, ada.id, "analyst")
        # a lead cannot hand a case to them
        lead = create_user(s, SYSTEM, "lee", PASSWORD, "lead")
        from tests.api.conftest import make_alert

        from vigil.cases.service import assign
        from vigil.security.users import principal_for_user

        ingest_alerts(s, SYSTEM, [make_alert()])
        with pytest.raises(NotFoundError, match="no active user"):
            assign(s, principal_for_user(s, lead.id), 1, ada.id)
    db.dispose()

"""The campaigns page end to end: a real ``vigil serve`` (runtime child computing the figures),
a simulated stream posted as a retailer would, and people in Debian's headless chromium
(Playwright): a person at an advertiser lands on their campaigns and reaches nothing else;
an analyst sees every advertiser's."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect
from tests.browser import browser_page
from tests.serve_process import post_stream, served

from vigil.console import missing_assets
from vigil.security.db import Database
from vigil.security.permissions import Principal
from vigil.security.users import create_user
from vigil.sim import SimConfig, simulate

KEY = "ads-e2e-key-every-scope-0"
PASSWORD = "correct horse battery staple"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, str, str]]:
    """A server with the figures of a simulated stream; yields its URL and two advertisers
    with figures (the first has a console account)."""
    assert missing_assets() == [], "run `make assets` (scripts/build-console-assets.sh)"
    db_url = f"sqlite:///{tmp_path / 'vigil.db'}"
    sim = simulate(SimConfig(seed=9, events=20_000), tmp_path / "sim")
    with served(tmp_path / "state", KEY, "--database-url", db_url, "--no-fsync") as (url, client):
        post_stream(client, sim.events_path.read_bytes().splitlines())
        deadline = time.monotonic() + 90
        figures: list[dict[str, object]] = []
        while len({f["advertiser_id"] for f in figures}) < 2:
            assert time.monotonic() < deadline, "no campaign figures settled"
            time.sleep(0.5)
            figures = _figures(client)
        mine, other = sorted({str(f["advertiser_id"]) for f in figures})[:2]
        db = Database.open(db_url)
        with db.transaction() as s:
            create_user(s, Principal.system("test"), "ana", PASSWORD, "analyst")
            create_user(s, Principal.system("test"), "ada", PASSWORD, "advertiser",
                        advertiser_id=mine)  # fmt: skip
        db.dispose()
        yield url, mine, other


def _figures(client: httpx.Client) -> list[dict[str, object]]:
    r = client.get("/v1/ads/figures")
    assert r.status_code == 200, r.text
    items: list[dict[str, object]] = r.json()["items"]
    return items


def _log_in(page: Page, url: str, who: str) -> None:
    page.goto(f"{url}/console/login")
    page.get_by_label("User name").fill(who)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


@pytest.mark.slow  # a server, a stream and a browser: about half a minute
def test_an_advertiser_sees_their_campaigns_and_an_analyst_every_one(
    server: tuple[str, str, str], tmp_path: Path
) -> None:
    url, mine, other = server
    with browser_page(tmp_path / "profile") as (page, _errors):
        _log_in(page, url, "ada")
        expect(page).to_have_url(f"{url}/console/ads")
        expect(page.locator("#advertiser")).to_have_text(mine)
        rows = page.locator("#campaigns tbody tr[data-advertiser]")
        assert rows.count() >= 1
        assert {rows.nth(i).get_attribute("data-advertiser") for i in range(rows.count())} == {mine}
        expect(page.get_by_role("link", name="Cases")).to_have_count(0)
        page.screenshot(path=str(tmp_path / "advertiser.png"), full_page=True)
        # another advertiser by the address bar: still their own
        page.goto(f"{url}/console/ads?advertiser={other}")
        expect(page.locator("#advertiser")).to_have_text(mine)
        for path in ("/console/cases", "/console/holds", "/console/rules", "/console/search"):
            response = page.goto(f"{url}{path}")
            assert response is not None and response.status == 403, path
        # a campaign's days
        page.goto(f"{url}/console/ads")
        page.locator("#campaigns tbody tr a").first.click()
        expect(page.locator("#days")).to_be_visible()

        page.goto(f"{url}/console/ads")
        page.get_by_role("button", name="Log out").click()
        _log_in(page, url, "ana")
        page.goto(f"{url}/console/ads")
        rows = page.locator("#campaigns tbody tr[data-advertiser]")
        seen = {rows.nth(i).get_attribute("data-advertiser") for i in range(rows.count())}
        assert {mine, other} <= seen
        expect(page.get_by_role("link", name=re.compile("^Campaigns$"))).to_be_visible()

"""Held refunds end to end: a real ``vigil serve`` (runtime child, SQLite, case and hold
feeders), a simulated stream posted as a retailer would (events to ``/v1/events``, each
refund request to ``decide``), and people in Debian's headless chromium (Playwright): an
analyst blocks a held refund and works the holds of a case; the agent who issued a refund
finds its form disabled and reads why."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from playwright.sync_api import Page, expect
from tests.browser import browser_page
from tests.serve_process import post_stream, served

from vigil.console import missing_assets
from vigil.security.db import Database
from vigil.security.permissions import Principal
from vigil.security.users import create_user
from vigil.sim import SimConfig, simulate

KEY = "holds-e2e-key-every-scope"
PASSWORD = "correct horse battery staple"
STREAM = SimConfig(
    seed=3,
    events=40_000,
    takeover_sessions_per_million=150.0,
    insider_refunds_per_million=300.0,
)


def _holds(client: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    page = client.get("/v1/holds", params={"limit": 500, **params})
    assert page.status_code == 200, page.text
    items: list[dict[str, Any]] = page.json()["items"]
    return items


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, httpx.Client, str]]:
    """A real server holding the refunds of a simulated stream; yields its URL, an API
    client, and the database URL."""
    assert missing_assets() == [], "run `make assets` (scripts/build-console-assets.sh)"
    db_url = f"sqlite:///{tmp_path / 'vigil.db'}"
    db = Database.open(db_url)
    with db.transaction() as s:
        create_user(s, Principal.system("test"), "ana", PASSWORD, "analyst")
    db.dispose()
    sim = simulate(STREAM, tmp_path / "sim")
    with served(tmp_path / "state", KEY, "--database-url", db_url, "--no-fsync") as (url, client):
        post_stream(client, sim.events_path.read_bytes().splitlines())
        deadline = time.monotonic() + 90
        while not any(h["case_id"] and h["status"] == "held" for h in _holds(client)):
            assert time.monotonic() < deadline, "no held refund joined a case"
            time.sleep(0.25)
        yield url, client, db_url


def _log_in(page: Page, url: str, who: str) -> None:
    page.goto(f"{url}/console/holds")
    expect(page).to_have_url(re.compile(r"/console/login\?next="))
    page.get_by_label("User name").fill(who)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{url}/console/holds")


def _row(page: Page, refund_id: str) -> Any:
    return page.locator(f'tr[data-refund="{refund_id}"]')


@pytest.mark.slow  # a server, a 40k-event stream and a browser: about half a minute
def test_people_release_and_block_held_refunds_in_the_browser(
    server: tuple[str, httpx.Client, str], tmp_path: Path
) -> None:
    url, api, db_url = server
    held = _holds(api, status="held")
    in_case = next(h for h in held if h["case_id"])
    target = next(h for h in held if h["refund_id"] != in_case["refund_id"])
    by_agent = next(
        h for h in held if h["agent_id"] and h["refund_id"] not in (target["refund_id"],
                                                                     in_case["refund_id"])
    )  # fmt: skip
    db = Database.open(db_url)
    with db.transaction() as s:  # a person who works as the agent who issued one of them
        create_user(
            s, Principal.system("test"), "agt", PASSWORD, "lead", agent_id=by_agent["agent_id"]
        )
    db.dispose()
    foreign: list[str] = []
    with browser_page(tmp_path / "profile") as (page, errors):
        page.on(
            "request",
            lambda req: None if req.url.startswith(url) else foreign.append(req.url),
        )
        _log_in(page, url, "ana")
        expect(page.get_by_role("heading", name="Held refunds")).to_be_visible()
        assert page.locator("#holds-table tbody tr").count() >= 3
        page.screenshot(path=str(tmp_path / "holds.png"), full_page=True)

        # block a held refund with a reason
        row = _row(page, target["refund_id"])
        expect(row.locator(".hold-status")).to_have_text("held")
        row.locator('input[name="reason"]').fill("same device as the ring's accounts")
        row.get_by_role("button", name="Block").click()
        expect(page.locator(".flash.ok")).to_have_text(f"refund {target['refund_id']} blocked")
        page.get_by_role("link", name=re.compile(r"^blocked")).click()
        row = _row(page, target["refund_id"])
        expect(row.locator(".hold-status")).to_have_text("blocked")
        expect(row.locator(".resolution")).to_contain_text("by user:ana")

        # the case page shows the holds of its refunds, with the same forms
        page.goto(f"{url}/console/cases/{in_case['case_id']}")
        section = page.locator("#case-holds")
        expect(section).to_be_visible()
        row = _row(page, in_case["refund_id"])
        row.locator('input[name="reason"]').fill("carrier scan matches the order")
        row.get_by_role("button", name="Release").click()
        expect(page).to_have_url(re.compile(rf"/console/cases/{in_case['case_id']}\?"))
        expect(_row(page, in_case["refund_id"]).locator(".hold-status")).to_have_text("released")

        # the agent who issued a refund finds its form disabled, and why
        page.get_by_role("button", name="Log out").click()
        _log_in(page, url, "agt")
        page.goto(f"{url}/console/holds?agent_id={by_agent['agent_id']}")
        row = _row(page, by_agent["refund_id"])
        expect(row.get_by_role("button", name="Block")).to_be_disabled()
        expect(row.get_by_role("button", name="Release")).to_be_disabled()
        expect(row.locator(".why-not")).to_contain_text("nobody reviews their own refund")
        row.screenshot(path=str(tmp_path / "own-refund.png"))

        # the dashboard links to the holds waiting for a person
        page.get_by_role("link", name="Live").click()
        expect(page.locator("#holds-waiting-card")).to_contain_text("held")

    assert errors == []
    assert foreign == []
    blocked = api.get(f"/v1/decisions/{target['refund_id']}").json()["hold"]
    assert (blocked["status"], blocked["by"]) == ("blocked", "user:ana")
    released = api.get(f"/v1/holds/{in_case['refund_id']}").json()
    assert released["status"] == "released" and released["resolved_by"] == "user:ana"
    # both outcomes went into the stream as labels about the refunds
    lines = (tmp_path / "state" / "input.jsonl").read_bytes().splitlines()
    outcomes = {
        (e["subject_id"], e["outcome"])
        for e in map(msgspec.json.decode, lines)
        if e.get("type") == "investigation_outcome"
    }
    assert outcomes == {(target["refund_id"], "fraud"), (in_case["refund_id"], "legitimate")}

"""The "Held refunds" page and the holds on a case page, over HTTP: who sees which form, the
insider rule as a person meets it, reasons, audit rows, labels, and money at risk."""

from __future__ import annotations

import html
import re
from urllib.parse import unquote

import httpx
import msgspec
from fastapi.testclient import TestClient
from tests.api.conftest import Runtime, make_alert, state_of

from vigil.cases.holds import NewHold, open_holds
from vigil.cases.service import ingest_alerts
from vigil.security.audit import list_entries
from vigil.security.db import Database
from vigil.security.permissions import Principal
from vigil.security.users import create_user

from .conftest import PASSWORD, log_in

SYSTEM = Principal.system("test")
# ids as the simulator writes them
MINE, DENIED, OTHER = "rf-5b2e9c1d0a7f43", "rf-0c4d1e9a7b2f55", "rf-7d3e2a1f0b9c84"
CID = "c-9e1f0b7a3c5d2e48"


def _hold(rid: str, agent: str | None, decision: str = "review", **kw: object) -> NewHold:
    fields: dict[str, object] = {
        "refund_id": rid,
        "decision": decision,
        "score": 0.97 if decision == "deny" else 0.71,
        "reasons": ("session_risk:new_device_for_agent", "session_risk:no_mfa"),
        "explanation": "session ss-192573b7a06b5b2f began on a new device without MFA",
        "source": "api",
        "order_id": "o-3c1e7a9b0d2f58",
        "customer_id": CID,
        "agent_id": agent,
        "session_id": "ss-192573b7a06b5b2f",
        "amount_cents": 48_900,
        "requested_at_ms": 1_767_700_000_000,
    }
    fields.update(kw)
    return NewHold(**fields)  # type: ignore[arg-type]


def _setup(db: Database) -> None:
    with db.transaction() as s:
        create_user(s, SYSTEM, "agt", PASSWORD, "analyst", agent_id="ag-20")
        open_holds(
            s,
            SYSTEM,
            [
                _hold(MINE, "ag-20"),
                _hold(DENIED, None, "deny", customer_id="c-0a1b2c3d4e5f6071"),
                _hold(OTHER, "ag-31", amount_cents=12_000),
            ],
        )


def _row(page: str, rid: str) -> str:
    found = re.search(rf'<tr class="hold-\w+" data-refund="{rid}">(.*?)</tr>', page, re.S)
    assert found, f"no row for {rid}"
    return found.group(1)


def _post(
    client: TestClient, csrf: str, rid: str, action: str, reason: str | None, **hdr: str
) -> httpx.Response:
    data = {"csrf_token": csrf} if reason is None else {"csrf_token": csrf, "reason": reason}
    return client.post(
        f"/console/holds/{rid}/{action}", data=data, headers=hdr, follow_redirects=False
    )


def _flash(location: str) -> str:
    return unquote(location)


def test_the_queue_shows_holds_and_each_user_the_forms_they_may_use(
    console_client: TestClient, console_db: Database
) -> None:
    _setup(console_db)
    log_in(console_client, "ana")
    page = console_client.get("/console/holds").text
    assert 'href="/console/holds" aria-current="page">Held refunds<' in page
    assert 'id="holds-waiting">waiting for a person: 3 refunds, $1,098.00<' in page
    mine = _row(page, MINE)
    for shown in ("$489.00", CID, "ag-20", "0.71", "new device for agent", "held"):
        assert shown in mine, shown
    assert "disabled" not in mine  # an analyst who is not ag-20 may release or block it
    denied = _row(page, DENIED)
    release = re.search(r'<button type="submit" class="release"[^>]*>', denied)
    assert release and "disabled" in release.group(0)
    assert "needs a lead or an admin" in html.unescape(denied)
    assert 'class="block">Block' in denied  # blocking a denied refund is an analyst's
    # the issuing agent's user sees their refund's form disabled, and why
    log_in(console_client, "agt")
    page = console_client.get("/console/holds").text
    mine = html.unescape(_row(page, MINE))
    assert "acts as agent ag-20, who issued refund" in mine and "someone else must" in mine
    assert mine.count("disabled") >= 3  # the reason, release and block
    assert "disabled" not in _row(page, OTHER)
    blocked_tab = console_client.get("/console/holds", params={"view": "blocked"}).text
    assert "No held refund here." in blocked_tab and 'id="tab-blocked" aria-current' in blocked_tab


def test_release_and_block_with_reasons_audited_and_labelled(
    console_client: TestClient, console_db: Database
) -> None:
    _setup(console_db)
    csrf = log_in(console_client, "ana")
    referer = {"Referer": "http://testserver/console/holds"}
    missing = _post(console_client, csrf, OTHER, "block", None, **referer)
    assert missing.status_code == 303 and "reason" in _flash(missing.headers["location"])
    short = _post(console_client, csrf, OTHER, "block", "no", **referer)
    assert "3-500 characters" in _flash(short.headers["location"])
    r = _post(console_client, csrf, OTHER, "block", "same device as ring 4", **referer)
    assert r.status_code == 303 and r.headers["location"].startswith("/console/holds?")
    assert f"refund {OTHER} blocked" in _flash(r.headers["location"])
    again = _post(console_client, csrf, OTHER, "release", "customer called back", **referer)
    assert "already blocked by user:ana" in _flash(again.headers["location"])
    # an analyst cannot pay out a denied refund; a lead can, and it is audited in their name
    no = _post(console_client, csrf, DENIED, "release", "photo of the parcel", **referer)
    assert "needs a lead or an admin" in _flash(no.headers["location"])
    csrf = log_in(console_client, "lee")
    ok = _post(console_client, csrf, DENIED, "release", "photo of the parcel", **referer)
    assert f"refund {DENIED} released" in _flash(ok.headers["location"])
    page = console_client.get("/console/holds", params={"view": "all"}).text
    assert "blocked</strong> by user:ana" in _row(page, OTHER)
    assert "same device as ring 4" in _row(page, OTHER)
    assert "released</strong> by user:lee" in _row(page, DENIED)
    with console_db.transaction() as s:
        rows = {e.action: e for e in list_entries(s, SYSTEM, target_type="refund_hold")}
    assert rows["hold.block"].actor == "user:ana"
    assert rows["hold.block"].after["reason"] == "same device as ring 4"
    assert rows["hold.release"].before == {"status": "denied"}
    events = [
        msgspec.json.decode(x)
        for x in state_of(console_client).settings.input_log.read_bytes().splitlines()
    ]
    assert [(e["type"], e["subject_id"], e["outcome"]) for e in events] == [
        ("investigation_outcome", OTHER, "fraud"),
        ("investigation_outcome", DENIED, "legitimate"),
    ]


def test_the_issuing_agents_post_is_refused_too(
    console_client: TestClient, console_db: Database
) -> None:
    _setup(console_db)
    csrf = log_in(console_client, "agt")
    r = _post(console_client, csrf, MINE, "release", "I know this customer well")
    assert "nobody reviews their own refund" in _flash(r.headers["location"])
    assert 'class="hold-status">held<' in _row(console_client.get("/console/holds").text, MINE)
    forged = console_client.post(
        f"/console/holds/{OTHER}/block", data={"reason": "no token here"}, follow_redirects=False
    )
    assert forged.status_code == 403


def test_a_case_page_shows_its_refunds_holds_and_acts_on_them(
    console_client: TestClient, console_db: Database
) -> None:
    _setup(console_db)
    alert = make_alert(
        detector="session_risk", subject_type="session", subject_id="ss-192573b7a06b5b2f#1",
        score=0.8, refund_ids=(MINE, OTHER), agent_id="ag-20", customer_id=CID,
    )  # fmt: skip
    with console_db.transaction() as s:
        case_id = ingest_alerts(s, SYSTEM, [alert]).case_of[alert.alert_id]
    csrf = log_in(console_client, "ana")
    page = console_client.get(f"/console/cases/{case_id}").text
    assert "Held refunds in this case" in page
    assert MINE in page and OTHER in page and DENIED not in page
    referer = {"Referer": f"http://testserver/console/cases/{case_id}"}
    r = _post(console_client, csrf, MINE, "block", "takeover session", **referer)
    assert r.headers["location"].startswith(f"/console/cases/{case_id}?")
    page = console_client.get(f"/console/cases/{case_id}").text
    assert "blocked</strong> by user:ana" in _row(page, MINE)


def test_money_at_risk_is_what_is_not_paid_yet_and_paid_refunds_are_to_recover(
    console_client: TestClient, console_db: Database
) -> None:
    """At risk: the held refunds a person can still stop; blocking one moves it to saved.
    A refund paid at request time that the stream flags later is not at risk (the money is
    gone) but "paid, then flagged", and a fraud label marks it confirmed without calling it
    saved."""
    _setup(console_db)
    paid = "rf-9e1d0c2b3a4f56"  # approved at request time: no hold, the money left
    Runtime(state_of(console_client)).emit(
        make_alert(
            detector="refund_without_return", subject_type="refund", subject_id=OTHER,
            refund_ids=(OTHER,), score=0.8, amount_cents=12_000, customer_id=CID,
        ),
        make_alert(
            detector="refund_without_return", subject_type="refund", subject_id=paid,
            refund_ids=(paid,), score=0.9, amount_cents=30_000, customer_id=CID,
        ),
    )  # fmt: skip
    csrf = log_in(console_client, "ana")
    cards = console_client.get("/console/dashboard/cards").text
    assert 'id="money-at-risk">$1,098.00<' in cards  # the three holds waiting
    assert 'id="holds-waiting-card">3 refunds held<' in cards
    assert 'id="flagged-after-payout">$300.00<' in cards
    _post(console_client, csrf, OTHER, "block", "no parcel came back")
    cards = console_client.get("/console/dashboard/cards").text
    assert 'id="money-at-risk">$978.00<' in cards
    assert 'id="holds-waiting-card">2 refunds held<' in cards
    assert 'id="money-saved">$120.00<' in cards and "1 refund blocked by a person" in cards
    # the paid refund's case, labelled fraud: confirmed, still to recover
    with console_db.transaction() as s:
        ingest_alerts(s, SYSTEM, [make_alert(
            detector="refund_without_return", subject_type="refund", subject_id=paid,
            refund_ids=(paid,), score=0.9, amount_cents=30_000, customer_id="c-5d4c3b2a19087f6e",
        )])  # fmt: skip
    html = console_client.get("/console/cases").text
    cid = re.search(r'href="/console/cases/(\d+)">customer c-5d4c3b2a19087f6e<', html).group(1)  # type: ignore[union-attr]
    r = console_client.post(
        f"/console/cases/{cid}/label", data={"csrf_token": csrf, "outcome": "fraud"},
        follow_redirects=False,
    )  # fmt: skip
    assert "msg=labelled" in r.headers["location"]
    cards = console_client.get("/console/dashboard/cards").text
    assert 'id="flagged-after-payout">$300.00<' in cards and "(1 confirmed fraud" in cards
    assert 'id="money-saved">$120.00<' in cards


def test_a_fraud_label_blocks_the_payouts_of_the_case_that_still_wait(
    console_client: TestClient, console_db: Database
) -> None:
    """The incident is fraud: its held payouts are stopped by the same move, as the person
    who labelled it; the agent who issued one of them cannot block their own, so that one is
    left for someone else, and the flash says so. Money at risk drops, money saved rises."""
    _setup(console_db)
    session_alert = make_alert(
        detector="session_risk", subject_type="session", subject_id="ss-192573b7a06b5b2f#1",
        agent_id="ag-31", customer_id=CID, refund_ids=(MINE, OTHER), score=0.99,
        amount_cents=48_900 + 12_000,
    )  # fmt: skip
    with console_db.transaction() as s:
        case_id = next(iter(ingest_alerts(s, SYSTEM, [session_alert]).case_of.values()))
    csrf = log_in(console_client, "agt")  # the analyst who is agent ag-20 (MINE's issuer)
    cards = console_client.get("/console/dashboard/cards").text
    assert 'id="money-at-risk">$1,098.00<' in cards and 'id="money-saved">$0.00<' in cards
    r = console_client.post(
        f"/console/cases/{case_id}/label", data={"csrf_token": csrf, "outcome": "fraud"},
        follow_redirects=False,
    )  # fmt: skip
    flash = _flash(r.headers["location"])
    assert "labelled fraud; 1 waiting payout blocked; 1 left for someone else" in flash
    assert MINE in flash
    page = console_client.get(f"/console/cases/{case_id}").text
    assert "blocked</strong> by user:agt" in _row(page, OTHER)
    assert "hold-held" in page and 'data-refund="' + MINE in page  # MINE still waits
    cards = console_client.get("/console/dashboard/cards").text
    assert 'id="money-at-risk">$978.00<' in cards and 'id="money-saved">$120.00<' in cards

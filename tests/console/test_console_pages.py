"""The console's pages over HTTP: sessions, CSRF, the case workflow, what a case page shows."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import msgspec
import pytest
from fastapi import Request
from fastapi.testclient import TestClient
from tests.api.conftest import headers, make_alert, state_of

from vigil.api.state import ApiState
from vigil.cases.service import ingest_alerts
from vigil.console.form_errors import page_of
from vigil.console.timeline import TimelineStore
from vigil.detectors.base import Alert, Evidence
from vigil.errors import UnauthorizedError
from vigil.security import sessions
from vigil.security.audit import list_entries
from vigil.security.db import Database, utcnow
from vigil.security.permissions import Principal

from .conftest import PASSWORD, csrf_of, log_in

T0 = 1_767_600_000_000
DAY = 86_400_000
SYSTEM = Principal.system("test")


def _ingest(db: Database, *alerts: Alert) -> None:
    with db.transaction() as s:
        ingest_alerts(s, SYSTEM, list(alerts))


def _case_id(client: TestClient, title_part: str) -> int:
    html = client.get("/console/cases", params={"view": "all"}).text
    for cid, title in re.findall(r'href="/console/cases/(\d+)">([^<]+)<', html):
        if title_part in title:
            return int(cid)
    raise AssertionError(f"no case {title_part!r} in the queue: {html}")


def _append_events(st: ApiState, *events: dict[str, Any]) -> None:
    with st.settings.input_log.open("ab") as fh:
        for i, ev in enumerate(events):
            ev = {"event_id": f"e{ev['event_time_ms']}-{i}", **ev}
            fh.write(msgspec.json.encode(ev) + b"\n")


def _routes(routes: list[Any]) -> list[Any]:
    """Every route, also those of included routers (FastAPI nests them)."""
    out = []
    for route in routes:
        inner = getattr(route, "original_router", None)
        out.extend(_routes(inner.routes) if inner is not None else [route])
    return out


def _console_routes(client: TestClient) -> list[tuple[str, str]]:
    app: Any = client.app
    out = []
    for route in _routes(app.routes):
        path = getattr(route, "path", "")
        if not path.startswith("/console") or path.startswith("/console/static"):
            continue
        for method in sorted(getattr(route, "methods", ()) or ()):
            if method != "HEAD":
                out.append((method, path))
    return out


def test_no_console_page_answers_without_a_session(console_client: TestClient) -> None:
    routes = _console_routes(console_client)
    assert ("GET", "/console/cases/{case_id}") in routes and len(routes) >= 10
    for method, path in routes:
        url = (
            path.replace("{case_id}", "1")
            .replace("{agent_id}", "a1")
            .replace("{change_id}", "1")
            .replace("{version}", "1")
            .replace("{job_id}", "1")
            .replace("{refund_id}", "rf-5b2e9c1d0a7f43")
        )
        r = console_client.request(method, url, follow_redirects=False)
        if path == "/console/login":
            # the login page itself; its POST without the form's token opens no session
            assert "vigil_session" not in r.cookies
            continue
        assert r.status_code in (303, 401, 403), (method, url, r.status_code)
        if r.status_code == 303:
            assert r.headers["location"].startswith("/console/login?next=")
    htmx = console_client.get("/console/dashboard/cards", headers={"HX-Request": "true"})
    assert htmx.status_code == 401
    assert htmx.headers["HX-Redirect"].startswith("/console/login")


def test_login_needs_the_right_password_and_the_forms_token(
    console_client: TestClient, console_db: Database
) -> None:
    form = console_client.get("/console/login")
    token = csrf_of(form.text)
    assert "default-src 'self'" in form.headers["content-security-policy"]
    wrong = console_client.post(
        "/console/login",
        data={"username": "ana", "password": "nope", "csrf_token": token},
        follow_redirects=False,
    )
    assert wrong.status_code == 303 and "error=wrong" in wrong.headers["location"]
    forged = console_client.post(
        "/console/login",
        data={"username": "ana", "password": PASSWORD, "csrf_token": "guessed"},
        follow_redirects=False,
    )
    assert "vigil_session" not in forged.cookies and "expired" in forged.headers["location"]
    ok = console_client.post(
        "/console/login",
        data={
            "username": "ana",
            "password": PASSWORD,
            "csrf_token": token,
            "next": "https://evil.example/steal",
        },
        follow_redirects=False,
    )
    assert ok.status_code == 303 and ok.headers["location"] == "/console"  # no open redirect
    cookie = ok.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    with console_db.transaction() as s:
        actions = [(e.actor, e.action) for e in list_entries(s, SYSTEM)]
    assert ("user:ana", "session.login_failed") in actions
    assert ("user:ana", "session.login") in actions


def test_an_analyst_triages_and_labels_a_case_and_the_dashboard_moves(
    console_client: TestClient, console_db: Database
) -> None:
    _ingest(
        console_db,
        make_alert(subject_id="agent-7", agent_id="agent-7", score=0.9, amount_cents=120_000),
    )
    csrf = log_in(console_client, "ana")
    cards = console_client.get("/console/dashboard/cards").text
    assert 'id="money-saved">$0.00<' in cards and 'id="precision">-<' in cards
    cid = _case_id(console_client, "agent-7")
    page = console_client.get(f"/console/cases/{cid}").text
    assert "agent-1 refunds far above the team" in page or "agent_refunds" in page

    def post(action: str, **data: str) -> str:
        r = console_client.post(
            f"/console/cases/{cid}/{action}",
            data={"csrf_token": csrf, **data},
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text
        return str(r.headers["location"])

    assert "msg=assigned" in post("take")
    assert "msg=moved" in post("transition", status="triage")
    assert "msg=note" in post("note", text="same three devices as ring 4")
    bad = post("transition", status="new")  # not in the transition table
    assert "error=" in bad and "triage" in bad
    assert "msg=labelled" in post("label", outcome="fraud", note="confirmed with the warehouse")
    page = console_client.get(f"/console/cases/{cid}").text
    assert re.search(r'id="case-status">resolved fraud<', page)
    assert 'id="case-assignee">ana<' in page and "same three devices as ring 4" in page
    cards = console_client.get("/console/dashboard/cards").text
    assert 'id="money-saved">$1,200.00<' in cards
    assert 'id="precision">100.0%<' in cards
    # the label went to the runtime's input as an analyst_decision, in the analyst's name
    events = [
        msgspec.json.decode(x)
        for x in state_of(console_client).settings.input_log.read_bytes().splitlines()
    ]
    assert [(e["type"], e["outcome"]) for e in events] == [("analyst_decision", "fraud")]
    with console_db.transaction() as s:
        mine = [e.action for e in list_entries(s, SYSTEM) if e.actor == "user:ana"]
    assert {"case.assign", "case.transition", "case.note", "case.label"} <= set(mine)


def test_every_change_needs_the_sessions_csrf_token(
    console_client: TestClient, console_db: Database
) -> None:
    _ingest(console_db, make_alert(subject_id="agent-2", agent_id="agent-2"))
    csrf = log_in(console_client, "ana")
    cid = _case_id(console_client, "agent-2")
    for data in ({}, {"csrf_token": "x" * len(csrf)}):
        r = console_client.post(
            f"/console/cases/{cid}/transition", data={"status": "triage", **data}
        )
        assert r.status_code == 403 and "CSRF" in r.text
    cross = console_client.post(
        f"/console/cases/{cid}/transition",
        data={"status": "triage", "csrf_token": csrf},
        headers={"Origin": "https://evil.example"},
    )
    assert cross.status_code == 403
    assert 'id="case-status">new<' in console_client.get(f"/console/cases/{cid}").text
    # htmx sends the token as a header, from the page's hx-headers
    ok = console_client.post(
        f"/console/cases/{cid}/transition",
        data={"status": "triage"},
        headers={"X-CSRF-Token": csrf},
        follow_redirects=False,
    )
    assert ok.status_code == 303 and "msg=moved" in ok.headers["location"]


def test_an_analyst_cannot_reopen_a_label_but_a_lead_can(
    console_client: TestClient, console_db: Database
) -> None:
    _ingest(console_db, make_alert(subject_id="agent-3", agent_id="agent-3"))
    csrf = log_in(console_client, "ana")
    cid = _case_id(console_client, "agent-3")
    page = console_client.get(f"/console/cases/{cid}").text
    assert 'id="label"' in page  # a new case is labelled in one move: no take, no triage
    r = console_client.post(
        f"/console/cases/{cid}/label",
        data={"csrf_token": csrf, "outcome": "legitimate"},
        follow_redirects=False,
    )
    assert "msg=labelled" in r.headers["location"], r.headers["location"]
    # nothing is offered that would be refused: an analyst cannot reopen, so no "Move to"
    page = console_client.get(f"/console/cases/{cid}").text
    assert 'id="move-status"' not in page and 'id="label"' not in page
    # the history says what changed, from and to
    assert "case.label · status: new -&gt; resolved_legitimate; label: - -&gt; legitimate" in page
    r = console_client.post(
        f"/console/cases/{cid}/transition",
        data={"csrf_token": csrf, "status": "investigating"},
        follow_redirects=False,
    )
    assert "error=" in r.headers["location"] and "reopen" in r.headers["location"]
    csrf = log_in(console_client, "lee")
    assert 'id="move-status"' in console_client.get(f"/console/cases/{cid}").text
    r = console_client.post(
        f"/console/cases/{cid}/transition",
        data={"csrf_token": csrf, "status": "investigating"},
        follow_redirects=False,
    )
    assert "msg=moved" in r.headers["location"]


def test_logging_out_ends_the_session_on_the_server(console_client: TestClient) -> None:
    csrf = log_in(console_client, "ana")
    stolen = console_client.cookies.get("vigil_session")
    assert stolen
    r = console_client.post("/console/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    console_client.cookies.set("vigil_session", stolen)  # a copy kept by an attacker
    again = console_client.get("/console", follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"].startswith("/console/login")


def test_sessions_time_out_when_idle_and_at_their_absolute_end(console_db: Database) -> None:
    policy = sessions.SessionPolicy(idle=timedelta(minutes=30), absolute=timedelta(hours=8))
    t0 = utcnow()
    with console_db.transaction() as s:
        token, live = sessions.login(s, "ana", PASSWORD, policy, now=t0)
    assert live.principal.name == "ana" and live.principal.role == "analyst"
    with console_db.transaction() as s:
        assert sessions.resolve(s, token, policy, now=t0 + timedelta(minutes=29)).csrf_token
    with console_db.transaction() as s:  # active every 29 minutes: still on after 7 hours
        for step in range(2, 15):
            sessions.resolve(s, token, policy, now=t0 + timedelta(minutes=29 * step))
    with console_db.transaction() as s, pytest.raises(UnauthorizedError, match="expired"):
        sessions.resolve(s, token, policy, now=t0 + timedelta(hours=8))
    with console_db.transaction() as s:
        token2, _ = sessions.login(s, "ana", PASSWORD, policy, now=t0)
    with console_db.transaction() as s, pytest.raises(UnauthorizedError, match="inactivity"):
        sessions.resolve(s, token2, policy, now=t0 + timedelta(minutes=31))
    with console_db.transaction() as s:
        assert sessions.revoke_all(s, SYSTEM, live.principal.id) == 2


def _ring_alert() -> Alert:
    members = ("account:c1", "account:c2", "account:c3", "device:d9", "agent:a1")
    evidence = (
        Evidence(a="c1", b="c2", via="device:d9", time_ms=T0, weight=0.5),
        Evidence(a="c2", b="c3", via="device:d9", time_ms=T0, weight=0.5),
        Evidence(a="c1", b="c3", via="agent:a1", time_ms=T0, weight=0.3),
    )
    return make_alert(
        detector="fraud_ring",
        subject_type="ring",
        subject_id="ring-c1#1",
        score=0.97,
        reasons=("linked_accounts",),
        explanation="ring of 3 accounts <script>alert(1)</script>",
        refund_ids=("r1",),
        amount_cents=90_000,
        members=members,
        evidence=evidence,
        agent_id="a1",
    )


def test_a_ring_case_shows_its_graph_timeline_and_the_agent_against_peers(
    console_client: TestClient, console_db: Database
) -> None:
    st = state_of(console_client)
    roster = [
        {"type": "agent_rostered", "event_time_ms": T0, "agent_id": a, "team": "frontline",
         "home_country": "US", "shift_start_hour": 8, "shift_end_hour": 16}
        for a in ("a1", "a2", "a3")
    ]  # fmt: skip
    signup = {"type": "customer_signup", "event_time_ms": T0, "customer_id": "c1",
              "email_hash": "h", "country": "US", "device_id": "d9", "ip": "1.2.3.4"}  # fmt: skip

    def refund(rid: str, agent: str, returned: bool, t: int, cust: str = "c1") -> dict[str, Any]:
        return {"type": "refund_issued", "event_time_ms": t, "refund_id": rid,
                "order_id": f"o-{rid}", "customer_id": cust, "amount_cents": 90_000,
                "method": "original_payment", "issued_by": "agent", "agent_id": agent,
                "return_id": f"ret-{rid}" if returned else None,
                "policy": "on_receipt" if returned else "manual_override"}  # fmt: skip

    refunds = [refund("r1", "a1", False, T0 + DAY), refund("r1b", "a1", False, T0 + 2 * DAY)]
    refunds += [
        refund(f"p{i}", "a2" if i % 2 else "a3", True, T0 + 40 * DAY, f"k{i}") for i in range(6)
    ]
    _append_events(st, *roster, signup, *refunds)
    timeline: TimelineStore = console_client.app.state.console_timeline  # type: ignore[attr-defined]
    while not timeline.catch_up():
        pass
    _ingest(console_db, _ring_alert())
    log_in(console_client, "ana")
    cid = _case_id(console_client, "ring")
    page = console_client.get(f"/console/cases/{cid}").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert(1)" not in page
    graph = json.loads(re.search(r'id="ring-data">(.*?)</script>', page, re.S).group(1))  # type: ignore[union-attr]
    nodes = {e["data"]["id"]: e["data"]["kind"] for e in graph if "source" not in e["data"]}
    edges = {(e["data"]["source"], e["data"]["target"]) for e in graph if "source" in e["data"]}
    assert nodes == {
        "account:c1": "account", "account:c2": "account", "account:c3": "account",
        "device:d9": "device", "agent:a1": "agent",
    }  # fmt: skip
    assert ("account:c1", "device:d9") in edges and ("account:c3", "agent:a1") in edges
    # a legend names the kinds drawn; each kind has its own colour (and shape, in the script)
    legend = re.search(r'id="ring-legend">(.*?)</ul>', page, re.S).group(1)  # type: ignore[union-attr]
    assert re.findall(r"kind-(\w+)", legend) == ["account", "agent", "device"]

    # the refund and the customer's sign-up are on the timeline, oldest first
    kinds = re.findall(r'<tr class="ev-([a-z_]+)">', page)
    assert kinds.index("customer_signup") < kinds.index("refund_issued")
    assert kinds.count("refund_issued") == 2  # r1 (the ring's) and r1b (same customer)
    assert "amount: $900.00" in page
    # agent a1 against the other two frontline agents: every refund without a return
    peers = re.search(r'<table class="peers" data-agent="a1">(.*?)</table>', page, re.S)
    assert peers is not None
    row = re.search(
        r"share with no return</td>\s*<td>([^<]+)</td>\s*<td>([^<]+)</td>", peers.group(1)
    )
    assert row is not None and row.groups() == ("100.0%", "0.0%")
    assert "against the median of 2 other agents" in peers.group(1)
    # counts as whole numbers, money as money
    assert re.search(r"<td>refunds</td>\s*<td>2</td>", peers.group(1))
    assert re.search(r"<td>average refund \(\$\)</td>\s*<td>\$900\.00</td>", peers.group(1))

    # a refund of c2 by another agent joins the case: that agent is drawn with its edge to
    # c2, and c2 carries its refund money
    _ingest(
        console_db,
        make_alert(
            detector="refund_without_return", subject_type="refund", subject_id="r2",
            refund_ids=["r2"], customer_id="c2", agent_id="a2", amount_cents=45_000,
        ),
    )  # fmt: skip
    page = console_client.get(f"/console/cases/{cid}").text
    graph = json.loads(re.search(r'id="ring-data">(.*?)</script>', page, re.S).group(1))  # type: ignore[union-attr]
    data = {e["data"]["id"]: e["data"] for e in graph if "source" not in e["data"]}
    edges = {(e["data"]["source"], e["data"]["target"]) for e in graph if "source" in e["data"]}
    assert ("account:c2", "agent:a2") in edges
    assert data["account:c2"]["amount_cents"] == 45_000


def test_timeline_memory_is_bounded(tmp_path: Any) -> None:
    from vigil.events.codec import decode_strict

    # five keys: four customers and the device they share
    store = TimelineStore(tmp_path / "none.jsonl", per_key=3, max_keys=5, clock=lambda: 600.0)

    def login(i: int, customer: str) -> None:
        raw = {"type": "customer_login", "event_id": f"e{i}", "event_time_ms": T0 + i,
               "customer_id": customer, "device_id": "d", "ip": "1.1.1.1", "country": "US",
               "success": True}  # fmt: skip
        store.add(decode_strict(msgspec.json.encode(raw)))

    for i in range(5):
        login(i, "c0")
    for i, c in enumerate(("c1", "c2", "c3"), start=5):
        login(i, c)
    # per key, the newest per_key events
    assert [e.event_id for e in store.events_for(["customer:c0"])] == ["e2", "e3", "e4"]
    login(8, "c4")  # a sixth key: the least recently touched (c0) goes
    assert len(store._by_key) == 5
    assert store.events_for(["customer:c0"]) == []
    assert [e.event_id for e in store.events_for(["customer:c1", "customer:c4"])] == ["e5", "e8"]


def test_a_refused_form_field_comes_back_to_its_page_named(
    console_client: TestClient, console_db: Database
) -> None:
    _ingest(console_db, make_alert(subject_id="agent-3", agent_id="agent-3"))
    csrf = log_in(console_client, "ana")
    cid = _case_id(console_client, "agent-3")
    case_page = f"http://testserver/console/cases/{cid}"
    r = console_client.post(
        f"/console/cases/{cid}/note",
        data={"csrf_token": csrf, "text": "x" * 10_001},
        headers={"Referer": case_page + "?msg=assigned"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    where = r.headers["location"]
    assert where.startswith(f"/console/cases/{cid}?error=not%20accepted%3A%20text%3A")
    page = console_client.get(where).text
    assert re.search(r'class="flash error" role="alert">not accepted: text: String should have at '
                     r"most 10000 characters<", page)  # fmt: skip
    # no Referer (a privacy setting): back to the case all the same; a missing field is named
    r = console_client.post(
        f"/console/cases/{cid}/transition", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert r.status_code == 303
    assert r.headers["location"].startswith(
        f"/console/cases/{cid}?error=not%20accepted%3A%20status%3A%20Field%20required&flash="
    )
    # a Referer from another site meets the CSRF check first
    r = console_client.post(
        f"/console/cases/{cid}/transition",
        data={"csrf_token": csrf, "status": "nonsense"},
        headers={"Referer": "https://evil.example/console/x"},
        follow_redirects=False,
    )
    assert r.status_code == 403
    with console_db.transaction() as s:
        assert not [
            e for e in list_entries(s, SYSTEM) if e.action in ("case.note", "case.transition")
        ]
    # the API keeps FastAPI's JSON answer
    api = console_client.post("/v1/refunds/decide", json={}, headers=headers())
    assert api.status_code == 422 and api.json()["detail"][0]["loc"][0] == "body"


@pytest.mark.parametrize(
    ("path", "referer", "page"),
    [
        ("/console/cases/7/note", "http://testserver/console/cases/7?msg=x", "/console/cases/7"),
        ("/console/cases/7/note", "https://evil.example/console/cases/7", "/console/cases/7"),
        ("/console/cases/7/note", "http://testserver/v1/alerts", "/console/cases/7"),
        ("/console/rules/changes/3/approve", "", "/console/rules"),
        ("/console/login", "", "/console/login"),
        ("/console/other", "", "/console"),
    ],
)
def test_a_refused_form_goes_back_only_to_a_console_page_of_this_site(
    path: str, referer: str, page: str
) -> None:
    heads = [(b"host", b"testserver")] + ([(b"referer", referer.encode())] if referer else [])
    scope = {"type": "http", "method": "POST", "path": path, "headers": heads,
             "query_string": b"", "scheme": "http", "server": ("testserver", 80)}  # fmt: skip
    assert page_of(Request(scope)) == page


def test_refunds_per_minute_count_arrivals_not_the_history_read_at_start(tmp_path: Any) -> None:
    def refund(i: int) -> bytes:
        raw = {"type": "refund_issued", "event_id": f"r{i}", "event_time_ms": T0 + i,
               "refund_id": f"rf-{i}", "order_id": f"o-{i}", "customer_id": "c1",
               "amount_cents": 1_000, "method": "original_payment", "issued_by": "agent",
               "agent_id": "agent-1", "policy": "on_receipt"}  # fmt: skip
        return msgspec.json.encode(raw) + b"\n"

    log = tmp_path / "input.jsonl"
    log.write_bytes(b"".join(refund(i) for i in range(3)))  # what a restarted server finds
    store = TimelineStore(log, clock=lambda: 6_000.0)
    assert store.catch_up() and store.live
    assert store.per_minute == {} and store.agents["agent-1"].refunds == 3
    with log.open("ab") as fh:
        fh.write(refund(3) + refund(4))
    assert store.catch_up()
    assert store.per_minute == {100: [2, 2_000]}
    assert store.agents["agent-1"].refunds == 5
    # minutes before the server was watching are unknown, not zero (a restart is no outage)
    now = [6_000.0 + 120]
    store._clock = lambda: now[0]
    minutes = store.minutes(5)
    assert minutes == [(98, None, None), (99, None, None), (100, 2, 2_000), (101, 0, 0),
                       (102, 0, 0)]  # fmt: skip


@pytest.mark.parametrize(
    ("target", "goes_to"),
    [
        ("/console/cases/3?view=all", "/console/cases/3?view=all"),
        ("/console", "/console"),
        ("https://evil.example/steal", "/console"),
        ("//evil.example/console", "/console"),
        ("/consolex", "/console"),
        ("/console/../../x", "/console"),
        ("/console\\\\..\\\\x", "/console"),
        ("", "/console"),
    ],
)
def test_after_login_next_only_goes_inside_the_console(target: str, goes_to: str) -> None:
    from vigil.console.pages import _safe_next

    assert _safe_next(target) == goes_to


def test_a_flash_message_made_elsewhere_is_not_shown(console_client: TestClient) -> None:
    spoof = "/console/login?error=Your%20account%20is%20locked%3A%20call%20%2B1%20555%200100"
    assert "call +1 555 0100" not in console_client.get(spoof).text
    real = console_client.post(
        "/console/login",
        data={"username": "ana", "password": "nope", "csrf_token": "x"},
        follow_redirects=False,
    )
    assert "&flash=" in real.headers["location"]
    shown = console_client.get(real.headers["location"]).text
    assert 'class="flash error"' in shown


def test_a_browser_gets_a_page_for_an_error_an_api_client_json(
    console_client: TestClient, console_db: Database
) -> None:
    _ingest(console_db, make_alert(subject_id="agent-5", agent_id="agent-5"))
    log_in(console_client, "ana")
    cid = _case_id(console_client, "agent-5")
    html = {"Accept": "text/html,application/xhtml+xml"}
    stale = console_client.post(
        f"/console/cases/{cid}/transition",
        data={"status": "triage", "csrf_token": "stale"},
        headers={**html, "Referer": f"http://testserver/console/cases/{cid}"},
    )
    assert stale.status_code == 403 and stale.headers["content-type"].startswith("text/html")
    assert "CSRF token" in stale.text and f'href="/console/cases/{cid}"' in stale.text
    missing = console_client.get("/console/cases/999999", headers=html)
    assert missing.status_code == 404 and 'id="error-page"' in missing.text
    # an API client (or htmx) keeps the JSON
    assert console_client.get("/console/cases/999999").json()["error"] == "not_found"


def test_a_form_posted_after_the_session_ended_logs_in_back_to_its_page(
    console_client: TestClient,
) -> None:
    r = console_client.post("/console/cases/7/note", data={"text": "x"}, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/console/login?next=%2Fconsole%2Fcases%2F7"


def test_a_refund_in_two_fraud_cases_counts_once_and_agents_are_listed_by_their_plain_id(
    console_client: TestClient, console_db: Database
) -> None:
    """A takeover's refunds land in the agent's case; after it is labelled fraud and closed,
    a late refund alert about one of them opens a customer case, labelled fraud too: the
    dashboard counts that refund once. They were paid at request time, so they are money
    to recover ("paid, then flagged", confirmed by the labels), not money saved. An
    agent_refunds alert (subject ``ag-20@<window>``) lists agent ag-20, and an agent whose
    strongest alert is under the review threshold is not "risky"."""
    from tests.api.conftest import Runtime

    st = state_of(console_client)
    session = make_alert(
        detector="session_risk", subject_type="session", subject_id="ss-3f6acce9d96d730d",
        agent_id="ag-20", score=0.99, refund_ids=["rf-0c35fe17ad2265", "rf-bb36ca0e1d837a"],
        amount_cents=150_000,
    )  # fmt: skip

    def refund_alert(rid: str, cents: int, score: float = 0.9) -> Alert:
        return make_alert(
            detector="refund_without_return", subject_type="refund", subject_id=rid,
            refund_ids=[rid], customer_id="c-ddbb5ff56a1ea521", agent_id="ag-20",
            amount_cents=cents, score=score,
        )  # fmt: skip

    first = [refund_alert("rf-0c35fe17ad2265", 100_000), refund_alert("rf-bb36ca0e1d837a", 50_000)]
    window = make_alert(subject_id="ag-20@2026-01-05T00:00Z", score=0.8, amount_cents=150_000)
    weak = make_alert(
        detector="session_risk", subject_type="session", subject_id="ss-9a0e", agent_id="ag-31",
        score=0.38,
    )  # fmt: skip
    Runtime(st).emit(session, *first, window, weak)
    _ingest(console_db, session, *first, window)
    csrf = log_in(console_client, "ana")
    html = console_client.get("/console/cases", params={"view": "all"}).text
    cases = re.findall(r'href="/console/cases/(\d+)">([^<]+)<', html)
    assert [t for _, t in cases] == ["agent ag-20"], cases  # one incident, one case

    def label(cid: str) -> None:
        for action, data in (("take", {}), ("transition", {"status": "triage"}),
                             ("label", {"outcome": "fraud", "note": "takeover"})):  # fmt: skip
            r = console_client.post(
                f"/console/cases/{cid}/{action}", data={"csrf_token": csrf, **data},
                follow_redirects=False,
            )  # fmt: skip
            assert r.status_code == 303 and "error=" not in r.headers["location"], r.headers

    label(cases[0][0])
    late = refund_alert("rf-0c35fe17ad2265", 100_000, score=0.95)
    late = msgspec.structs.replace(late, alert_id=late.alert_id + ":late")
    _ingest(console_db, late)  # the agent's case is closed: a case of its own
    html = console_client.get("/console/cases", params={"view": "all"}).text
    second = [cid for cid, _ in re.findall(r'href="/console/cases/(\d+)">([^<]+)<', html)]
    (new,) = set(second) - {cases[0][0]}
    label(new)
    cards = console_client.get("/console/dashboard/cards").text
    assert 'id="flagged-after-payout">$1,500.00<' in cards  # not $2,500.00
    assert "2 refunds paid before the stream answered review or deny" in cards
    assert "(2 confirmed fraud by a label)" in cards
    assert 'id="money-saved">$0.00<' in cards  # a label stops no payout
    agents = re.findall(r'href="/console/agents/([^"]+)"', cards)
    assert agents == ["ag-20"]
    # and its case's status beside it: a resolved agent is not just "risky"
    assert re.search(
        r'class="agent-case"><a href="/console/cases/\d+">\d+</a> resolved fraud', cards
    )


def test_anything_is_found_by_id_and_a_customer_who_comes_back_shows_the_earlier_label(
    console_client: TestClient, console_db: Database
) -> None:
    """A customer's refund case is labelled fraud; the customer comes back with another
    refund: its new case names the earlier one and its label, the queue says which detector
    found each case, and the search box finds the customer, the order and the refund."""
    customer, order = "c-246e8f4e830807c5", "o-69ccf041f81be1"

    def refund_alert(rid: str, order_id: str) -> Alert:
        return make_alert(
            detector="refund_without_return", subject_type="refund", subject_id=rid,
            refund_ids=[rid], customer_id=customer, agent_id="ag-2", order_id=order_id,
            amount_cents=22_699, score=0.9,
        )  # fmt: skip

    _ingest(console_db, refund_alert("rf-23a9ad412cf144", order))
    csrf = log_in(console_client, "ana")
    first = _case_id(console_client, customer)
    r = console_client.post(
        f"/console/cases/{first}/label", data={"csrf_token": csrf, "outcome": "fraud"},
        follow_redirects=False,
    )  # fmt: skip
    assert "msg=labelled" in r.headers["location"]
    _ingest(console_db, refund_alert("rf-ff40de1829c0e2", "o-e6598de8e5a669"))
    queue = console_client.get("/console/cases").text
    (second,) = [int(c) for c, t in re.findall(r'href="/console/cases/(\d+)">([^<]+)<', queue)]
    assert second != first
    assert '<td class="detectors">refund_without_return</td>' in queue
    assert 'class="earlier label-fraud"' in queue  # the comeback is marked in the queue
    page = console_client.get(f"/console/cases/{second}").text
    related = page.split('id="related-cases"', 1)[1].split("</section>", 1)[0]
    assert f'href="/console/cases/{first}"' in related and "label-fraud" in related
    assert f"account:{customer}" in related

    found = console_client.get("/console/search", params={"q": customer}).text
    assert f'data-entity="account:{customer}"' in found
    assert f'href="/console/cases/{first}"' in found and f'href="/console/cases/{second}"' in found
    assert (
        f'data-entity="order:{order}"'
        in console_client.get("/console/search", params={"q": order}).text
    )
    assert (
        'data-entity="refund:rf-ff40de1829c0e2"'
        in console_client.get("/console/search", params={"q": "rf-ff40de1829c0e2"}).text
    )
    # as people write them: "customer:" for an account, upper case
    for typed in (f"customer:{customer}", "RF-FF40DE1829C0E2"):
        assert "data-entity=" in console_client.get("/console/search", params={"q": typed}).text
    nothing = console_client.get("/console/search", params={"q": "c-0000000000000000"}).text
    assert 'id="search-no-case"' in nothing
    assert "No event that names it is in the console" in nothing
    assert console_client.get("/console/search").status_code == 200


def test_a_customers_case_page_leads_with_a_summary_and_leaves_out_the_agents_other_work(
    console_client: TestClient, console_db: Database
) -> None:
    st = state_of(console_client)
    mine, other = "c-7517ef7589e825fe", "c-ebcfda0e08410a9f"

    def refund(rid: str, customer: str, t: int) -> dict[str, Any]:
        return {"type": "refund_issued", "event_time_ms": t, "refund_id": rid,
                "order_id": f"o-{rid[3:]}", "customer_id": customer, "amount_cents": 45_499,
                "method": "original_payment", "issued_by": "agent", "agent_id": "ag-2",
                "policy": "manual_override"}  # fmt: skip

    _append_events(
        st, refund("rf-ebb01063908ae4", mine, T0), refund("rf-2123c4d9698ff6", other, T0 + 1)
    )
    timeline: TimelineStore = console_client.app.state.console_timeline  # type: ignore[attr-defined]
    while not timeline.catch_up():
        pass
    _ingest(
        console_db,
        make_alert(
            detector="refund_without_return", subject_type="refund",
            subject_id="rf-ebb01063908ae4", refund_ids=["rf-ebb01063908ae4"], customer_id=mine,
            agent_id="ag-2", order_id="o-ebb01063908ae4", amount_cents=45_499, score=0.7,
        ),
    )  # fmt: skip
    log_in(console_client, "ana")
    page = console_client.get(f"/console/cases/{_case_id(console_client, mine)}").text
    summary = re.search(r'id="case-summary">(.*?)</p>', page, re.S).group(1)  # type: ignore[union-attr]
    assert " ".join(summary.split()) == (
        "1 alert by refund_without_return about 1 refund ($454.99 at stake)."
    )
    timeline_html = page.split('id="case-timeline"', 1)[1].split("</details>", 1)[0]
    assert "rf-ebb01063908ae4" in timeline_html
    assert "rf-2123c4d9698ff6" not in timeline_html  # the agent's refund to someone else
    assert '<details id="case-history">' in page  # the audit log is folded

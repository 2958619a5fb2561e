"""The rules page: versions and shadow results, four-eyes proposals and approvals, backtests."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import msgspec
import pytest
from fastapi.testclient import TestClient
from tests.api.conftest import headers, make_alert, static_keys

from vigil.api import ApiSettings, create_app
from vigil.api.state import ApiState
from vigil.cases.service import ingest_alerts, label
from vigil.cli.serve import _approved_thresholds, serve
from vigil.console.rules_state import RulesConsole
from vigil.decisions.policy import DecisionPolicy
from vigil.detectors.rules import RuleStore
from vigil.events.codec import encode_many
from vigil.events.schemas import AnalystDecision, RefundIssued
from vigil.security.audit import list_entries
from vigil.security.db import Database
from vigil.security.permissions import Principal

from .conftest import log_in

RULES = """\
# test rules
rules:
  - name: big_refund
    description: Refund of $100 or more
    when: refund.amount_cents >= $100
    score: 0.6
    reasons: [big_refund]
    subject: refund
    mode: active
  - name: huge_refund
    description: Refund of $250 or more (candidate)
    when: refund.amount_cents >= $250
    score: 0.8
    reasons: [huge_refund]
    subject: refund
    mode: shadow
"""

NEW_RULE = """\
name: big_refund
description: Refund of $200 or more
when: refund.amount_cents >= $200
score: 0.7
reasons: [big_refund]
subject: refund
mode: active
"""

BROKEN_RULE = """\
name: broken_rule
description: A rule with a typo
when: refund.amount >= $100
score: 0.5
reasons: [typo]
subject: refund
mode: active
"""

T0 = 1_767_600_000_000


@pytest.fixture
def rules_file(tmp_path: Path) -> Path:
    path = tmp_path / "rules" / "rules.yaml"
    path.parent.mkdir()
    path.write_text(RULES)
    return path


@pytest.fixture
def client(tmp_path: Path, console_db: Database, rules_file: Path) -> Iterator[TestClient]:
    settings = ApiSettings(state_dir=tmp_path / "state", fsync_events=False, fsync_decisions=False)
    app = create_app(settings, static_keys(), db=console_db)
    st: ApiState = app.state.vigil
    # what `vigil serve --rules FILE` gives the console: the runtime child's rules file
    app.state.console_rules = RulesConsole(st, rules_file)
    settings.out_dir.mkdir(parents=True)
    with (settings.out_dir / "shadow_alerts.jsonl").open("wb") as fh:
        for rid, amount in (("r7", 30_000), ("r8", 45_000)):
            alert = make_alert(
                detector="shadow:rule:huge_refund",
                subject_type="refund",
                subject_id=rid,
                refund_ids=(rid,),
                amount_cents=amount,
                explanation=f"huge refund {rid} in shadow",
            )
            fh.write(msgspec.json.encode(alert) + b"\n")
    with TestClient(app, base_url="http://testserver") as c:
        yield c


def _state(client: TestClient) -> ApiState:
    app: Any = client.app
    st: ApiState = app.state.vigil
    return st


def _wait(client: TestClient, job_id: int) -> str:
    deadline = time.monotonic() + 60
    fragment = ""
    while time.monotonic() < deadline:
        fragment = client.get(f"/console/rules/backtest/{job_id}").text
        if 'data-status="running"' not in fragment:
            break
        time.sleep(0.1)
    assert 'data-status="done"' in fragment, fragment
    return fragment


def _pending_id(html: str) -> int:
    ids = re.findall(r'id="change-(\d+)"', html)
    assert ids, "no pending change on the page"
    return int(ids[-1])


def test_the_page_lists_versions_rules_and_shadow_results(
    client: TestClient, rules_file: Path
) -> None:
    log_in(client, "ana")
    html = client.get("/console/rules").text
    assert 'data-rule="big_refund"' in html and 'data-rule="huge_refund"' in html
    # the file's rules were recorded in the store beside it (as the runtime does)
    assert (rules_file.parent / "history.jsonl").exists()
    assert 'href="/console/rules/versions/big_refund/1"' in html
    assert "loaded by the console" in html
    shadow = re.search(r'data-rule="huge_refund">.*?class="shadow-count">(\d+)<', html, re.S)
    assert shadow and shadow.group(1) == "2"
    assert "huge refund r8 in shadow" in html
    version = client.get("/console/rules/versions/big_refund/1")
    assert version.status_code == 200
    assert "refund.amount_cents &gt;= $100" in version.text
    assert "only version 1" in version.text


def test_four_eyes_rule_change(client: TestClient, console_db: Database, rules_file: Path) -> None:
    csrf = log_in(client, "ana")  # an analyst proposes
    r = client.post(
        "/console/rules/propose",
        data={"text": NEW_RULE, "reason": "fewer small refunds", "csrf_token": csrf},
    )
    assert r.status_code == 200 and "proposed" in r.text
    cid = _pending_id(r.text)
    # the approver sees the difference against the rule in force
    assert "-when: refund.amount_cents &gt;= $100" in r.text
    assert "+when: refund.amount_cents &gt;= $200" in r.text
    # no approve button for one's own change; a forged POST is refused by the service
    assert f'id="approve-{cid}"' not in r.text and f'id="withdraw-{cid}"' in r.text
    forged = client.post(
        f"/console/rules/changes/{cid}/approve", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert forged.status_code == 303 and "error=" in forged.headers["location"]
    page = client.get(forged.headers["location"]).text
    assert "may not changes:approve" in page  # an analyst: the matrix says no
    assert rules_file.read_text() == RULES

    csrf = log_in(client, "lee")  # a lead approves
    html = client.get("/console/rules").text
    assert f'id="approve-{cid}"' in html
    r = client.post(
        f"/console/rules/changes/{cid}/approve",
        data={"csrf_token": csrf, "reason": "checked the backtest"},
    )
    assert r.status_code == 200 and f"change {cid} approved" in r.text
    text = rules_file.read_text()
    assert "refund.amount_cents >= $200" in text and "huge_refund" in text
    assert "by user:ana" in text
    history = RuleStore(rules_file.parent).records()
    last = history[-1]
    assert (last.rule, last.version, last.author) == ("big_refund", 2, "user:ana")
    assert "approved by user:lee" in last.message
    assert 'href="/console/rules/versions/big_refund/2"' in r.text
    assert 'id="change-' not in r.text  # nothing pending any more
    with console_db.transaction() as s:
        actions = [(e.actor, e.action) for e in list_entries(s, Principal.system("test"))]
    assert ("user:ana", "change.propose") in actions and ("user:lee", "change.approve") in actions


def test_a_lead_cannot_approve_their_own_threshold_change_another_can(
    client: TestClient,
) -> None:
    st = _state(client)
    assert st.settings.decision_policy.review_threshold == 0.5
    csrf = log_in(client, "lee")
    r = client.post(
        "/console/rules/thresholds",
        data={
            "name": "review_threshold",
            "value": "0.6",
            "reason": "too many reviews",
            "csrf_token": csrf,
        },
    )
    assert r.status_code == 200, r.text
    cid = _pending_id(r.text)
    assert "-review_threshold: 0.5" in r.text and "+review_threshold: 0.6" in r.text
    assert f'id="approve-{cid}"' not in r.text
    own = client.post(f"/console/rules/changes/{cid}/approve", data={"csrf_token": csrf})
    assert "proposed change request" in own.text and "cannot approve" in own.text
    assert st.settings.decision_policy.review_threshold == 0.5

    log_in(client, "ana")  # an analyst may not approve anyone's change: no buttons
    html = client.get("/console/rules").text
    assert f'id="change-{cid}"' in html
    assert f'id="approve-{cid}"' not in html and f'id="reject-{cid}"' not in html

    csrf = log_in(client, "lou")
    r = client.post(f"/console/rules/changes/{cid}/approve", data={"csrf_token": csrf})
    assert f"change {cid} approved" in r.text
    assert st.settings.decision_policy.review_threshold == 0.6
    assert re.search(r'id="threshold-review_threshold">.*?class="live">0.6<', r.text, re.S)
    # the decide API uses the new policy at once
    body = {
        "refund_id": "r-new",
        "order_id": "o1",
        "customer_id": "c1",
        "amount_cents": 1000,
        "method": "original_payment",
        "issued_by": "system",
        "policy": "on_receipt",
    }
    decided = client.post("/v1/refunds/decide", json=body, headers=headers())
    assert decided.status_code == 200, decided.text
    assert decided.json()["policy"]["review_threshold"] == 0.6


def test_a_post_without_the_csrf_token_is_refused(client: TestClient, rules_file: Path) -> None:
    log_in(client, "ana")
    r = client.post("/console/rules/propose", data={"text": NEW_RULE, "reason": "x"})
    assert r.status_code == 403
    r = client.post("/console/rules/changes/1/approve", data={})
    assert r.status_code == 403
    r = client.post("/console/rules/backtest", data={"what": "current"})
    assert r.status_code == 403
    assert "not pending" not in client.get("/console/rules").text
    assert 'id="change-' not in client.get("/console/rules").text


def test_a_broken_rule_shows_its_problems_and_nothing_is_stored(
    client: TestClient, console_db: Database
) -> None:
    csrf = log_in(client, "ana")
    r = client.post(
        "/console/rules/propose",
        data={"text": BROKEN_RULE, "reason": "try", "csrf_token": csrf},
    )
    assert r.status_code == 422
    # line 3, column 7 of the text the analyst typed: `amount` is not a field
    assert re.search(
        r"3:\d+: rule &#39;broken_rule&#39;: when .*unknown field &#39;amount&#39;", r.text
    ), r.text
    assert "Nothing was stored" in r.text and "refund.amount &gt;= $100" in r.text  # kept
    bad_yaml = client.post(
        "/console/rules/propose",
        data={"text": "rules:\n  - name: [oops\n", "reason": "try", "csrf_token": csrf},
    )
    assert bad_yaml.status_code == 422 and "not valid YAML" in bad_yaml.text
    assert 'id="change-' not in client.get("/console/rules").text
    with console_db.transaction() as s:
        actions = [e.action for e in list_entries(s, Principal.system("test"))]
    assert "change.propose" not in actions


def test_a_backtest_runs_in_the_background_and_reports_figures(client: TestClient) -> None:
    st = _state(client)
    events: list[Any] = [
        RefundIssued(
            event_id=f"e{i}",
            event_time_ms=T0 + i * 1000,
            refund_id=rid,
            order_id=f"o{i}",
            customer_id=f"c{i}",
            amount_cents=amount,
            method="original_payment",
            issued_by="system",
            policy="on_receipt",
        )
        for i, (rid, amount) in enumerate((("r1", 15_000), ("r2", 5_000), ("r3", 30_000)))
    ]
    for i, (rid, outcome) in enumerate((("r1", "fraud"), ("r3", "legitimate"))):
        events.append(
            AnalystDecision(
                event_id=f"d{i}",
                event_time_ms=T0 + 10_000 + i,
                alert_id=f"rule:big_refund:refund:{rid}",
                analyst_id="ana",
                outcome=outcome,  # type: ignore[arg-type]
            )
        )
    st.settings.input_log.write_bytes(encode_many(events))

    csrf = log_in(client, "ana")
    r = client.post(
        "/console/rules/backtest",
        data={"what": "current", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert r.status_code == 303 and "backtest" in r.headers["location"]
    html = client.get("/console/rules").text
    job = re.search(r'hx-get="/console/rules/backtest/(\d+)"|data-status="done"', html)
    assert job, html
    fragment = _wait(client, 1)
    row = re.search(r'data-rule="big_refund">(.*?)</tr>', fragment, re.S)
    assert row
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", row.group(1))
    # rule, version, mode, alerts, refunds, money, labelled, fraud, precision, recall
    assert cells[3:] == ["2", "2", "$450.00", "2", "1", "50.0%", "100.0%"], cells
    shadow = re.search(r'data-rule="huge_refund">(.*?)</tr>', fragment, re.S)
    assert shadow and "<td>shadow</td>" in shadow.group(1)
    assert "1 refund labelled fraud, 1 legitimate" in fragment

    # a pending proposal is backtested as the file approving it would write
    r = client.post(
        "/console/rules/propose", data={"text": NEW_RULE, "reason": "fewer", "csrf_token": csrf}
    )
    cid = _pending_id(r.text)
    client.post("/console/rules/backtest", data={"what": str(cid), "csrf_token": csrf})
    fragment = _wait(client, 2)
    assert f"of change {cid}" in fragment
    row = re.search(r'data-rule="big_refund">(.*?)</tr>', fragment, re.S)
    assert row
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", row.group(1))
    assert cells[1] == "draft" and cells[3:] == ["1", "1", "$300.00", "1", "0", "0.0%", "0.0%"]


def test_a_backtest_without_labels_says_so(client: TestClient) -> None:
    st = _state(client)
    ev = RefundIssued(
        event_id="e1",
        event_time_ms=T0,
        refund_id="r1",
        order_id="o1",
        customer_id="c1",
        amount_cents=15_000,
        method="original_payment",
        issued_by="system",
        policy="on_receipt",
    )
    st.settings.input_log.write_bytes(encode_many([ev]))
    csrf = log_in(client, "lee")
    client.post("/console/rules/backtest", data={"what": "current", "csrf_token": csrf})
    assert 'id="no-labels"' in _wait(client, 1)


def test_the_rules_pages_need_a_session(client: TestClient) -> None:
    for method, url in (
        ("GET", "/console/rules"),
        ("GET", "/console/rules/versions/big_refund/1"),
        ("GET", "/console/rules/backtest/1"),
        ("POST", "/console/rules/propose"),
        ("POST", "/console/rules/thresholds"),
        ("POST", "/console/rules/changes/1/approve"),
        ("POST", "/console/rules/changes/1/reject"),
        ("POST", "/console/rules/backtest"),
    ):
        r = client.request(method, url, follow_redirects=False)
        assert r.status_code == 303, (method, url, r.status_code)
        assert r.headers["location"].startswith("/console/login?next=")


def test_a_whole_rule_set_change_replaces_the_file_and_records_removals(
    client: TestClient, rules_file: Path
) -> None:
    new_set = RULES.split("  - name: huge_refund")[0] + "# huge_refund retired\n"
    csrf = log_in(client, "lee")
    r = client.post(
        "/console/rules/propose",
        data={"text": new_set, "reason": "retire the candidate", "csrf_token": csrf},
    )
    cid = _pending_id(r.text)
    assert "(the whole rule set)" in r.text and "-  - name: huge_refund" in r.text
    csrf = log_in(client, "adm")
    r = client.post(f"/console/rules/changes/{cid}/approve", data={"csrf_token": csrf})
    assert f"change {cid} approved" in r.text
    assert rules_file.read_text() == new_set  # exactly the text proposed, comments and all
    last = RuleStore(rules_file.parent).records()[-1]
    assert (last.rule, last.action, last.author) == ("huge_refund", "remove", "user:lee")
    assert 'data-rule="huge_refund"' not in r.text.split('id="thresholds"')[0]


def test_a_threshold_out_of_range_comes_back_to_the_rules_page(client: TestClient) -> None:
    csrf = log_in(client, "lee")
    r = client.post(
        "/console/rules/thresholds",
        data={"name": "review_threshold", "value": "1.5", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"].startswith("/console/rules?error=")
    page = client.get(r.headers["location"]).text
    assert "not accepted: value: Input should be less than or equal to 1" in page
    assert 'id="change-' not in page  # nothing was proposed
    assert _state(client).settings.decision_policy.review_threshold == 0.5


def test_an_approved_threshold_restarts_the_runtime_and_outlives_the_server(
    client: TestClient, console_db: Database
) -> None:
    st = _state(client)
    restarted: list[DecisionPolicy] = []

    class Runtime:  # records what the approval asks of `vigil serve`'s runtime child
        command = SimpleNamespace(policy=st.settings.decision_policy)

        def use_policy(self, policy: DecisionPolicy) -> bool:
            restarted.append(policy)
            self.command = SimpleNamespace(policy=policy)
            return True

    st.runtime = Runtime()  # type: ignore[assignment]
    csrf = log_in(client, "lee")
    r = client.post(
        "/console/rules/thresholds",
        data={"name": "review_threshold", "value": "0.6", "reason": "fewer", "csrf_token": csrf},
    )
    cid = _pending_id(r.text)
    csrf = log_in(client, "lou")
    r = client.post(f"/console/rules/changes/{cid}/approve", data={"csrf_token": csrf})
    assert "stream decisions from its next input line" in r.text
    assert restarted == [DecisionPolicy(0.6, 0.95)]
    assert re.search(r'id="threshold-review_threshold">.*?<td>0.6</td></tr>', r.text, re.S)
    # the next `vigil serve` starts with it, unless its flag names another value
    assert _approved_thresholds(console_db, serve.make_context("serve", [])) == {
        "review_threshold": 0.6
    }
    flagged = serve.make_context("serve", ["--review-threshold", "0.5"])
    assert _approved_thresholds(console_db, flagged) == {}


def test_a_fresh_server_has_nothing_to_backtest_and_says_so(
    tmp_path: Path, console_db: Database
) -> None:
    """A server started without a rules file (``vigil serve --demo``): the backtest form does
    not offer "the rules in force" (there are none), and asking for it anyway is a clear
    refusal, not "the file must be a mapping with a `rules:` list"."""
    settings = ApiSettings(state_dir=tmp_path / "state", fsync_events=False, fsync_decisions=False)
    app = create_app(settings, static_keys(), db=console_db)
    with TestClient(app, base_url="http://testserver") as c:
        csrf = log_in(c, "ana")
        html = c.get("/console/rules").text
        assert 'value="current"' not in html and 'id="backtest-nothing"' in html
        # no runtime runs a rules file here: nothing is shown as in force
        assert 'id="rules-not-running"' in html and "<h2>Rules in force</h2>" not in html
        r = c.post(
            "/console/rules/backtest", data={"csrf_token": csrf, "what": "current"},
            follow_redirects=False,
        )  # fmt: skip
        where = r.headers["location"]
        assert "error=" in where and "mapping" not in where
        assert "nothing+to+backtest" in where or "nothing%20to%20backtest" in where


def test_no_two_elements_of_a_console_page_share_an_id(client: TestClient) -> None:
    log_in(client, "lee")
    for path in ("/console", "/console/cases", "/console/rules", "/console/holds"):
        html = client.get(path).text
        ids = re.findall(r'\sid="([^"]+)"', html)
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        assert dupes == [], (path, dupes)


def test_a_threshold_change_is_previewed_on_the_refunds_the_server_holds(
    client: TestClient, console_db: Database
) -> None:
    """Three refunds scored 0.45, 0.55 and 0.97, one of them in a case labelled fraud:
    review from 0.4 would put one more in front of a person, and says which label it had."""
    from tests.api.conftest import Runtime

    st = _state(client)
    scored = [("rf-0a1b2c3d4e5f60", 0.45), ("rf-1b2c3d4e5f6071", 0.55), ("rf-2c3d4e5f607182", 0.97)]
    Runtime(st).emit(*(
        make_alert(
            detector="refund_without_return", subject_type="refund", subject_id=rid,
            refund_ids=(rid,), score=score, amount_cents=10_000, customer_id="c-5d4c3b2a19087f6e",
        )
        for rid, score in scored
    ))  # fmt: skip
    with console_db.transaction() as s:
        result = ingest_alerts(s, Principal.system("test"), [make_alert(
            detector="refund_without_return", subject_type="refund", subject_id=scored[0][0],
            refund_ids=(scored[0][0],), score=0.45, customer_id="c-5d4c3b2a19087f6e",
        )])  # fmt: skip
        case_id = next(iter(result.case_of.values()))
        label(s, Principal.system("test"), case_id, "fraud")
    log_in(client, "lee")
    page = client.get("/console/rules").text
    assert 'hx-get="/console/rules/thresholds/preview"' in page
    fragment = client.get(
        "/console/rules/thresholds/preview", params={"name": "review_threshold", "value": 0.4}
    ).text
    words = " ".join(re.sub(r"<[^>]+>", " ", fragment).split())
    assert words == (
        "review threshold from 0.50 to 0.40, on the 3 refunds the server holds: 1 more at or "
        "above it (2 now, 3 then; $100.00 moves), of which 1 labelled fraud and 0 legitimate."
    ), words
    same = client.get(
        "/console/rules/thresholds/preview", params={"name": "deny_threshold", "value": 0.96}
    ).text
    assert "no refund would change" in same
    assert (
        client.get(
            "/console/rules/thresholds/preview", params={"name": "review_threshold", "value": 2}
        ).status_code
        == 422
    )

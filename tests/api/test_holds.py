"""Held refunds over HTTP: the feeder opens holds from decide's answers and the runtime's
request-time decisions (never on decide's own path), ``/v1/holds`` lists and resolves them,
``GET /v1/decisions/{id}`` shows them, and the labels reach the runtime's input."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from tests.api.conftest import Runtime, headers, make_alert, state_of

from vigil.api.holds import POSITION_FILE
from vigil.decisions.book import RefundDecision
from vigil.events.schemas import RefundRequested
from vigil.features.facts import RequestFacts
from vigil.security.db import Database
from vigil.security.keys import create_api_key
from vigil.security.permissions import Principal

# ids as the simulator (and a retailer's systems) write them
RID, OID, CID = "rf-5b2e9c1d0a7f43", "o-3c1e7a9b0d2f58", "c-9e1f0b7a3c5d2e48"
AGENT, SESSION = "ag-20", "ss-192573b7a06b5b2f"
T = 1_767_700_000_000
SYSTEM = Principal.system("test")


def _request(**kw: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "refund_id": RID,
        "order_id": OID,
        "customer_id": CID,
        "agent_id": AGENT,
        "session_id": SESSION,
        "amount_cents": 48_900,
        "policy": "manual_override",
        "issued_by": "agent",
        "event_time_ms": T,
    }
    body.update(kw)
    return body


def _flag_session(runtime: Runtime, session_id: str = SESSION, score: float = 0.7) -> None:
    """A taken-over session: every refund it asks for is held (review)."""
    runtime.emit(
        make_alert(
            detector="session_risk",
            subject_type="session",
            subject_id=f"{session_id}#1",
            score=score,
            reasons=["new_device_for_agent", "no_mfa"],
            agent_id=AGENT,
        )
    )


def _wait(check: Callable[[], bool], what: str, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _hold(c: TestClient, rid: str, key: dict[str, str] | None = None) -> dict[str, Any]:
    _wait(lambda: c.get(f"/v1/holds/{rid}", headers=key or headers()).status_code == 200, rid)
    out: dict[str, Any] = c.get(f"/v1/holds/{rid}", headers=key or headers()).json()
    return out


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database.open(f"sqlite:///{tmp_path / 'cases.db'}")
    yield database
    database.dispose()


@pytest.fixture
def held(app_factory: Callable[..., FastAPI], db: Database) -> Iterator[TestClient]:
    with TestClient(app_factory(db=db)) as c:
        yield c


def test_decide_answers_of_review_and_deny_become_holds(held: TestClient) -> None:
    runtime = Runtime(state_of(held))
    _flag_session(runtime)
    runtime.emit(
        make_alert(
            detector="empty_box", subject_type="refund", subject_id="rf-0c4d1e9a7b2f55",
            score=0.97, refund_ids=("rf-0c4d1e9a7b2f55",), order_id="o-7a1b2c3d4e5f60",
        )
    )  # fmt: skip
    review = held.post("/v1/refunds/decide", json=_request(), headers=headers()).json()
    deny = held.post(
        "/v1/refunds/decide",
        json=_request(
            refund_id="rf-0c4d1e9a7b2f55", order_id="o-7a1b2c3d4e5f60", session_id=None,
            agent_id=None, issued_by="system", policy="on_first_scan",
        ),
        headers=headers(),
    ).json()  # fmt: skip
    fine = held.post(
        "/v1/refunds/decide",
        json=_request(refund_id="rf-1e2d3c4b5a6978", session_id=None, amount_cents=500),
        headers=headers(),
    ).json()
    assert (review["decision"], deny["decision"], fine["decision"]) == ("review", "deny", "approve")
    hold = _hold(held, RID)
    assert hold["status"] == "held" and hold["source"] == "api"
    assert (hold["score"], hold["reasons"]) == (review["score"], review["reasons"])
    assert (hold["order_id"], hold["customer_id"], hold["agent_id"]) == (OID, CID, AGENT)
    assert (hold["session_id"], hold["amount_cents"], hold["requested_at_ms"]) == (
        SESSION,
        48_900,
        T,
    )
    assert [e["action"] for e in hold["history"]] == ["hold.open"]
    assert _hold(held, "rf-0c4d1e9a7b2f55")["status"] == "denied"
    time.sleep(0.3)
    assert held.get("/v1/holds/rf-1e2d3c4b5a6978", headers=headers()).status_code == 404
    view = held.get(f"/v1/decisions/{RID}", headers=headers()).json()
    assert view["hold"] == {"status": "held", "reason": None, "by": None, "at": None}
    listed = held.get("/v1/holds", params={"status": "held"}, headers=headers()).json()
    assert [h["refund_id"] for h in listed["items"]] == [RID] and listed["next_cursor"] is None


def test_decide_never_touches_the_database(
    held: TestClient, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Holds are opened off the request path: with the database refusing every transaction,
    decide still answers (and the feeder opens the hold once the database is back)."""
    _flag_session(Runtime(state_of(held)))

    def refuse() -> None:
        raise RuntimeError("the database is down")

    monkeypatch.setattr(db, "transaction", refuse)
    r = held.post("/v1/refunds/decide", json=_request(), headers=headers())
    assert r.status_code == 200 and r.json()["decision"] == "review"
    feeder: Any = held.app.state.hold_feeder  # type: ignore[attr-defined]
    _wait(lambda: feeder.errors > 0, "a failed pass")
    monkeypatch.undo()
    assert _hold(held, RID)["status"] == "held"


def test_release_and_block_over_http(held: TestClient) -> None:
    runtime = Runtime(state_of(held))
    _flag_session(runtime)
    for n, rid in enumerate((RID, "rf-2b3c4d5e6f7081"), 1):
        held.post("/v1/refunds/decide", json=_request(refund_id=rid, event_time_ms=T + n),
                  headers=headers())  # fmt: skip
        _hold(held, rid)
    too_short = held.post(f"/v1/holds/{RID}/release", json={"reason": "ok"}, headers=headers())
    assert too_short.status_code == 422
    blank = held.post(f"/v1/holds/{RID}/release", json={"reason": "     "}, headers=headers())
    assert blank.status_code == 422 and "give 3-500 characters" in blank.text
    r = held.post(
        f"/v1/holds/{RID}/release", json={"reason": "carrier scanned the return"}, headers=headers()
    )
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["status"], out["resolved_by"]) == ("released", "key:all")
    assert out["resolution_reason"] == "carrier scanned the return"
    again = held.post(
        f"/v1/holds/{RID}/block", json={"reason": "changed my mind"}, headers=headers()
    )
    assert again.status_code == 409 and again.json()["error"] == "hold_resolved"
    assert "already released by key:all" in again.json()["detail"]
    b = held.post(
        "/v1/holds/rf-2b3c4d5e6f7081/block", json={"reason": "same device as ring 4"},
        headers=headers(),
    )  # fmt: skip
    assert b.status_code == 200 and b.json()["status"] == "blocked"
    missing = held.post("/v1/holds/rf-none/block", json={"reason": "nope"}, headers=headers())
    assert missing.status_code == 404
    view = held.get(f"/v1/decisions/{RID}", headers=headers()).json()["hold"]
    assert view["status"] == "released" and view["by"] == "key:all" and view["at"]
    assert view["reason"] == "carrier scanned the return"
    # the outcomes went back into the stream, about the refunds
    lines = state_of(held).settings.input_log.read_bytes().splitlines()
    labels = [e for e in map(msgspec.json.decode, lines) if e["type"] == "investigation_outcome"]
    assert {(e["subject_type"], e["subject_id"], e["outcome"]) for e in labels} == {
        ("refund", RID, "legitimate"),
        ("refund", "rf-2b3c4d5e6f7081", "fraud"),
    }
    history = held.get(f"/v1/holds/{RID}", headers=headers()).json()["history"]
    # the second resolution was refused, and the attempt is in the history too
    assert [h["action"] for h in history] == ["hold.open", "hold.release", "hold.refused"]
    assert history[1]["after"]["outcome"] == "legitimate" and history[1]["actor"] == "key:all"
    assert history[2]["after"]["attempted"] == "blocked"


def test_keys_the_agent_works_through_and_denied_refunds(held: TestClient, db: Database) -> None:
    """A key acting as ag-20 may not review ag-20's refund (403 own_refund, with why); no key
    may release what the decision denied (that needs a lead or admin); reading needs
    holds:read."""
    with db.transaction() as s:
        desk = create_api_key(s, SYSTEM, "desk", ["holds:read", "holds:write"], agent_id=AGENT)
        other = create_api_key(s, SYSTEM, "reviewer", ["holds:read", "holds:write"])
        cases_only = create_api_key(s, SYSTEM, "cases", ["cases:read"])
    as_agent, reviewer = {"X-API-Key": desk.raw_key}, {"X-API-Key": other.raw_key}
    runtime = Runtime(state_of(held))
    _flag_session(runtime, score=0.97)  # deny
    held.post("/v1/refunds/decide", json=_request(), headers=headers())
    assert _hold(held, RID, as_agent)["status"] == "denied"
    mine = held.post(f"/v1/holds/{RID}/block", json={"reason": "looks wrong"}, headers=as_agent)
    assert mine.status_code == 403 and mine.json()["error"] == "own_refund"
    assert "who issued refund" in mine.json()["detail"]
    assert "someone else must release or block it" in mine.json()["detail"]
    denied = held.post(
        f"/v1/holds/{RID}/release", json={"reason": "customer called"}, headers=reviewer
    )
    assert denied.status_code == 403 and "needs a lead or an admin" in denied.json()["detail"]
    blocked = held.post(f"/v1/holds/{RID}/block", json={"reason": "deny stands"}, headers=reviewer)
    assert blocked.status_code == 200
    assert held.get("/v1/holds", headers={"X-API-Key": cases_only.raw_key}).status_code == 403
    assert held.get("/v1/holds", headers=headers("reader")).status_code == 403
    # the refused attempts are in the hold's audit history: who tried what, and why not
    history = held.get(f"/v1/holds/{RID}", headers=headers()).json()["history"]
    refused = [h for h in history if h["action"] == "hold.refused"]
    assert [(h["after"]["attempted"], h["after"]["refused"]) for h in refused] == [
        ("blocked", "OwnRefundError"),
        ("released", "ForbiddenError"),
    ]
    assert refused[0]["actor"] != refused[1]["actor"]


def test_an_agent_id_dressed_in_invisible_characters_is_still_the_agent(
    held: TestClient, db: Database
) -> None:
    """A refund issued as ``ag-20`` with a zero-width space (or a different case) is still
    ag-20's: the key acting as ag-20 may not release it."""
    with db.transaction() as s:
        desk = create_api_key(s, SYSTEM, "desk", ["holds:read", "holds:write"], agent_id=AGENT)
    _flag_session(Runtime(state_of(held)))
    st = state_of(held)
    with (st.settings.out_dir / "decisions.jsonl").open("ab") as fh:
        line = msgspec.json.decode(_decision_line("rf-0a1b2c3d4e5f60", "review", 0.7))
        fh.write(msgspec.json.encode({**line, "agent_id": "AG-20\u200b"}) + b"\n")
    st.tailer.catch_up()
    _wait(lambda: held.get("/v1/holds/rf-0a1b2c3d4e5f60", headers=headers()).status_code == 200,
          "the runtime's hold")  # fmt: skip
    mine = held.post(
        "/v1/holds/rf-0a1b2c3d4e5f60/release",
        json={"reason": "looks fine"},
        headers={"X-API-Key": desk.raw_key},
    )
    assert mine.status_code == 403 and mine.json()["error"] == "own_refund"


def _decision_line(rid: str, decision: str, score: float, **kw: Any) -> bytes:
    d = RefundDecision(
        refund_id=rid, decision=decision, score=score,  # type: ignore[arg-type]
        reasons=("session_risk:no_mfa",), explanation="session without MFA", contributions=(),
        event_time_ms=T, revision=0, amount_cents=12_300, customer_id=CID, agent_id=AGENT,
        order_id=OID, stage="request", **kw,
    )  # fmt: skip
    return msgspec.json.encode(d) + b"\n"


def _facts_lines(*requests: RefundRequested) -> bytes:
    facts = RequestFacts(track_dirty=True)
    for req in requests:
        facts.update_one(req)
    return b"".join(line + b"\n" for line in facts.dirty_lines())


def _req(rid: str, **kw: Any) -> RefundRequested:
    fields: dict[str, Any] = {
        "event_id": f"e-{rid}", "event_time_ms": T, "refund_id": rid, "order_id": OID,
        "customer_id": CID, "amount_cents": 12_300, "policy": "manual_override",
        "agent_id": AGENT, "session_id": SESSION, "issued_by": "agent", "channel": "agent",
    }  # fmt: skip
    fields.update(kw)
    return RefundRequested(**fields)


def test_runtime_request_decisions_are_held_unless_the_api_answered(held: TestClient) -> None:
    """The runtime decides every refund_requested event; a refund the API was asked about is
    held by the API's answer (what the refund system acted on), never by the runtime's."""
    st = state_of(held)
    asked = held.post(
        "/v1/refunds/decide", json=_request(refund_id="rf-asked00000001", amount_cents=500),
        headers=headers(),
    ).json()  # fmt: skip
    assert asked["decision"] == "approve"
    out = st.settings.out_dir
    out.mkdir(parents=True, exist_ok=True)
    with (out / "decisions.jsonl").open("ab") as fh:
        fh.write(_decision_line("rf-runtime000001", "review", 0.66))
        fh.write(_decision_line("rf-runtime000002", "deny", 0.96))
        fh.write(_decision_line("rf-runtime000003", "approve", 0.1))
        fh.write(_decision_line("rf-asked00000001", "review", 0.7))  # the API said approve
        line = _decision_line("rf-runtime000004", "review", 0.8)
        fh.write(line.replace(b'"stage":"request"', b'"stage":"stream"'))  # later: no hold
    with (out / "facts.jsonl").open("ab") as fh:
        fh.write(_facts_lines(_req("rf-runtime000001")))
    st.tailer.catch_up()
    _hold(held, "rf-runtime000001")
    # a feeder pass may read the decision before the facts reached the index: the hold opens
    # with what the decision says, and the next pass fills the session in from the facts
    _wait(
        lambda: _hold(held, "rf-runtime000001")["session_id"] is not None,
        "the hold's details from the facts",
    )
    first = _hold(held, "rf-runtime000001")
    assert (first["status"], first["source"], first["session_id"]) == ("held", "runtime", SESSION)
    assert _hold(held, "rf-runtime000002")["status"] == "denied"
    time.sleep(1.5)  # a feeder pass later
    page = held.get("/v1/holds", headers=headers()).json()
    assert sorted(h["refund_id"] for h in page["items"]) == ["rf-runtime000001", "rf-runtime000002"]


def test_an_answer_without_its_event_holds_the_request_as_asked(held: TestClient) -> None:
    """``record_event: false``: the refund system posts its own refund_requested event. The
    journal keeps the request as asked, so the hold knows its agent at once (the insider
    rule applies before the runtime has read anything)."""
    st = state_of(held)
    _flag_session(Runtime(st))
    r = held.post("/v1/refunds/decide", json=_request(record_event=False), headers=headers())
    assert r.json()["decision"] == "review" and r.json()["event_id"] is None
    assert st.settings.input_log.read_bytes() == b""  # nothing entered the stream
    hold = _hold(held, RID)
    assert (hold["status"], hold["customer_id"], hold["agent_id"], hold["session_id"]) == (
        "held",
        CID,
        AGENT,
        SESSION,
    )


def test_holds_join_the_case_of_their_refunds_alerts(held: TestClient) -> None:
    runtime = Runtime(state_of(held))
    _flag_session(runtime)
    held.post("/v1/refunds/decide", json=_request(), headers=headers())
    _hold(held, RID)
    runtime.emit(
        make_alert(
            detector="refund_without_return", subject_type="refund", subject_id=RID,
            refund_ids=(RID,), customer_id=CID, order_id=OID, score=0.8, event_time_ms=T + 1,
        )
    )  # fmt: skip
    _wait(lambda: _hold(held, RID)["case_id"] is not None, "the case link")
    case_id = _hold(held, RID)["case_id"]
    case = held.get(f"/v1/cases/{case_id}", headers=headers()).json()
    assert RID in {a["subject_id"] for a in case["alerts"]}
    by_case = held.get("/v1/holds", params={"case_id": case_id}, headers=headers()).json()
    assert [h["refund_id"] for h in by_case["items"]] == [RID]


def test_the_feeder_goes_on_where_it_stopped(
    app_factory: Callable[..., FastAPI], db: Database
) -> None:
    """A restart reads on from ``holds-feed.json``; without it (or on another database) it
    reads everything again, and opening is idempotent: no hold twice, none lost."""
    with TestClient(app_factory(db=db)) as c:
        _flag_session(Runtime(state_of(c)))
        for n in range(3):
            c.post("/v1/refunds/decide", json=_request(refund_id=f"rf-before0000000{n}"),
                   headers=headers())  # fmt: skip
        _wait(lambda: len(c.get("/v1/holds", headers=headers()).json()["items"]) == 3, "3 holds")
        position = state_of(c).settings.state_dir / POSITION_FILE
    kept = msgspec.json.decode(position.read_bytes())
    assert kept["journal"] > 0 and kept["db"] == db.url
    with TestClient(app_factory(db=db)) as c:
        c.post("/v1/refunds/decide", json=_request(refund_id="rf-after00000000"), headers=headers())
        _hold(c, "rf-after00000000")
        assert msgspec.json.decode(position.read_bytes())["journal"] > kept["journal"]
    position.unlink()
    with TestClient(app_factory(db=db)) as c:
        _wait(lambda: position.exists(), "a pass")
        items = c.get("/v1/holds", headers=headers()).json()["items"]
        assert len(items) == 4
        history = c.get(f"/v1/holds/{items[0]['refund_id']}", headers=headers()).json()["history"]
        assert [h["action"] for h in history] == ["hold.open"]


def test_without_a_database_holds_are_503_and_decisions_have_none(client: TestClient) -> None:
    assert client.get("/v1/holds", headers=headers()).status_code == 503
    client.post("/v1/refunds/decide", json=_request(), headers=headers())
    assert client.get(f"/v1/decisions/{RID}", headers=headers()).json()["hold"] is None

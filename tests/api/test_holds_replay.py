"""Holds from a simulated stream: the data a retailer has. The stream runs through a real
runtime publishing to the API; ``decide`` is asked about most refund requests just before the
runtime reads them (the refund system posts its own events: ``record_event: false``), the
rest only the runtime decides. Every answer of review or deny, and every runtime request
decision of review or deny nobody asked the API about, is held with the refund's details;
the fraud the stream holds can be blocked, and the outcome goes back to the runtime."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
from fastapi.testclient import TestClient
from tests.api._replay import decide_body, refund_truth, request_decisions
from tests.api._replay import replay as replay_stream
from tests.api.conftest import headers, state_of, static_keys

from vigil.api import ApiSettings, create_app
from vigil.api.auth import AnyOf, DatabaseKeys
from vigil.decisions.book import RefundDecision
from vigil.events.schemas import RefundRequested
from vigil.security.db import Database
from vigil.security.keys import create_api_key
from vigil.security.permissions import Principal
from vigil.security.users import create_user
from vigil.sim import SimConfig, simulate

STREAM = SimConfig(
    seed=3,
    events=40_000,
    takeover_sessions_per_million=150.0,
    insider_refunds_per_million=300.0,
)
#: every fifth request is not asked about: the runtime's decision is the only one
UNASKED_EVERY = 5


@pytest.fixture(scope="module")
def replay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("holds")
    sim = simulate(STREAM, root / "sim")
    db = Database.open(f"sqlite:///{root / 'vigil.db'}")
    with db.transaction() as s:
        create_user(s, Principal.system("test"), "lena", "a long enough password", "lead")
    settings = ApiSettings(state_dir=root / "state", fsync_events=False, fsync_decisions=False)
    answers: dict[str, dict[str, Any]] = {}
    requests: dict[str, RefundRequested] = {}
    app = create_app(settings, AnyOf(static_keys(), DatabaseKeys(db)), db=db)
    client = TestClient(app)
    client.__enter__()
    state = state_of(client)

    def ask(req: RefundRequested) -> None:
        requests[req.refund_id] = req
        if len(requests) % UNASKED_EVERY == 0:
            return
        state.tailer.catch_up()
        r = client.post("/v1/refunds/decide", json=decide_body(req), headers=headers())
        assert r.status_code == 200, r.text
        answers[req.refund_id] = r.json()

    replay_stream(sim, settings, ask)
    state.tailer.catch_up()
    yield {
        "client": client,
        "db": db,
        "answers": answers,
        "requests": requests,
        "runtime": request_decisions(settings.out_dir),
        "truth": refund_truth(sim),
    }
    client.__exit__(None, None, None)
    db.dispose()


def _all_holds(client: TestClient, **params: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, "limit": 500, **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/holds", params=query, headers=headers()).json()
        out += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return out


def _settled(replay: dict[str, Any], expected: int) -> list[dict[str, Any]]:
    """The holds once the feeder has read everything and found every refund's details."""
    client: TestClient = replay["client"]
    deadline = time.monotonic() + 60
    while True:
        holds = _all_holds(client)
        if len(holds) >= expected and all(h["customer_id"] for h in holds):
            return holds
        assert time.monotonic() < deadline, f"{len(holds)} holds of {expected}"
        time.sleep(0.2)


def test_every_review_and_deny_is_held_with_its_refund(replay: dict[str, Any]) -> None:
    answers: dict[str, dict[str, Any]] = replay["answers"]
    runtime: dict[str, RefundDecision] = replay["runtime"]
    requests: dict[str, RefundRequested] = replay["requests"]
    expected = {rid: a["decision"] for rid, a in answers.items() if a["decision"] != "approve"}
    by_runtime = {
        rid: d.decision
        for rid, d in runtime.items()
        if rid not in answers and d.decision != "approve"
    }
    assert len(expected) >= 10 and len(by_runtime) >= 2  # the stream's fraud is held
    holds = _settled(replay, len(expected) + len(by_runtime))
    got = {h["refund_id"]: h for h in holds}
    assert set(got) == set(expected) | set(by_runtime)
    for rid, hold in got.items():
        decision = expected.get(rid) or by_runtime[rid]
        assert hold["decision"] == decision
        assert hold["status"] == {"review": "held", "deny": "denied"}[decision]
        assert hold["source"] == ("api" if rid in expected else "runtime")
        req = requests[rid]
        assert (hold["order_id"], hold["customer_id"], hold["agent_id"]) == (
            req.order_id,
            req.customer_id,
            req.agent_id,
        ), rid
        assert (hold["session_id"], hold["amount_cents"]) == (req.session_id, req.amount_cents)
        if rid in expected:  # what the refund system was told
            assert hold["score"] == answers[rid]["score"]
            assert hold["reasons"] == answers[rid]["reasons"]


def test_the_fraud_held_is_blocked_and_the_outcome_reaches_the_runtime(
    replay: dict[str, Any],
) -> None:
    client: TestClient = replay["client"]
    db: Database = replay["db"]
    truth: dict[str, dict[str, Any]] = replay["truth"]
    holds = _settled(replay, 1)
    fraud = [h for h in holds if truth.get(h["refund_id"], {}).get("scenario")]
    assert fraud, "no fraud among the holds"
    agent_issued = next(h for h in holds if h["agent_id"])
    with db.transaction() as s:
        as_agent = create_api_key(
            s, Principal.system("test"), "desk", ["holds:write"], agent_id=agent_issued["agent_id"]
        ).raw_key
    refused = client.post(
        f"/v1/holds/{agent_issued['refund_id']}/release",
        json={"reason": "I know this customer"},
        headers={"X-API-Key": as_agent},
    )
    assert refused.status_code == 403 and refused.json()["error"] == "own_refund"
    for hold in fraud[:5]:
        r = client.post(
            f"/v1/holds/{hold['refund_id']}/block",
            json={"reason": f"{truth[hold['refund_id']]['scenario']}: confirmed"},
            headers=headers(),
        )
        assert r.status_code == 200, r.text
    lines = state_of(client).settings.input_log.read_bytes().splitlines()
    outcomes = [e for e in map(msgspec.json.decode, lines) if e["type"] == "investigation_outcome"]
    assert {(e["subject_id"], e["outcome"]) for e in outcomes} == {
        (h["refund_id"], "fraud") for h in fraud[:5]
    }
    blocked = _all_holds(client, status="blocked")
    assert {h["refund_id"] for h in blocked} == {h["refund_id"] for h in fraud[:5]}
    decision = client.get(f"/v1/decisions/{fraud[0]['refund_id']}", headers=headers()).json()
    assert decision["hold"]["status"] == "blocked" and decision["hold"]["by"] == "key:all"


def test_takeover_refunds_are_held(replay: dict[str, Any]) -> None:
    truth: dict[str, dict[str, Any]] = replay["truth"]
    holds = {h["refund_id"] for h in _settled(replay, 1)}
    takeover = {rid for rid, rec in truth.items() if rec.get("scenario") == "agent_takeover"}
    requested = takeover & set(replay["requests"])
    assert requested
    assert len(requested & holds) >= 0.8 * len(requested)

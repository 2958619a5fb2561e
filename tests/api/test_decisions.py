from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient
from tests.api.conftest import Runtime, headers, make_alert, state_of

from vigil.decisions.combine import combine_scores
from vigil.events.codec import decode_one
from vigil.events.schemas import RefundRequested

# ids as the simulator (and a retailer's systems) write them
RID, OID, CID = "rf-5b2e9c1d0a7f43", "o-3c1e7a9b0d2f58", "c-9e1f0b7a3c5d2e48"
AGENT, SESSION = "ag-20", "ss-192573b7a06b5b2f"


def _request(**kw: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "refund_id": RID,
        "order_id": OID,
        "customer_id": CID,
        "agent_id": AGENT,
        "session_id": SESSION,
        "amount_cents": 25_000,
        "policy": "manual_override",
        "issued_by": "agent",
        "event_time_ms": 1_767_700_000_000,
    }
    body.update(kw)
    return body


def test_nothing_known_is_approved_and_the_request_enters_the_stream(client: TestClient) -> None:
    r = client.post("/v1/refunds/decide", json=_request(), headers=headers())
    assert r.status_code == 200, r.text
    out = r.json()
    # nothing is known of the order, customer or session: the request's own profile (a
    # $250 override by an agent, nothing returned) is all there is, and it is not enough
    assert out["decision"] == "approve" and out["score"] < 0.5
    assert [c["detector"] for c in out["contributions"]] in ([], ["request_risk"])
    assert out["event_id"] == f"decide:{RID}"
    assert out["policy"] == {"review_threshold": 0.5, "deny_threshold": 0.95}
    line = state_of(client).settings.input_log.read_bytes().strip()
    event = decode_one(line, 1)
    assert isinstance(event, RefundRequested)
    assert (event.refund_id, event.agent_id, event.amount_cents) == (RID, AGENT, 25_000)
    assert (event.channel, event.session_id) == ("agent", SESSION)
    assert event.event_time_ms == 1_767_700_000_000


def test_session_ring_and_agent_findings_count_by_plain_ids(
    client: TestClient, runtime: Runtime
) -> None:
    """Subject ids carry each detector's own suffix (``ss-…#2``, ``ag-20@…``, ``ring-…#1``);
    the request names the plain session, agent and customer, and still finds them."""
    runtime.emit(
        make_alert(subject_id=f"{AGENT}@2026-01-05T00:00Z", score=0.6),
        make_alert(
            detector="session_risk",
            subject_type="session",
            subject_id=f"{SESSION}#2",
            score=0.7,
            reasons=["new_device_for_agent", "no_mfa"],
            agent_id=AGENT,
        ),
        make_alert(
            detector="fraud_ring",
            subject_type="ring",
            subject_id="ring-c-0cd0b6c0e9f2aa41#1",
            score=0.5,
            members=(f"account:{CID}", "account:c-71d0aa4e2b9c6f13", "device:d-4f1a2b3c4d5e"),
        ),
        make_alert(subject_id="ag-21@2026-01-05T00:00Z", score=0.99),  # someone else
    )
    out = client.post("/v1/refunds/decide", json=_request(), headers=headers()).json()
    assert out["evidence"] == {
        "refund": False,
        "agent": True,
        "session": True,
        "customer": False,
        "ring": True,
    }
    by = {c["detector"]: c for c in out["contributions"]}
    assert set(by) == {"session_risk", "fraud_ring", "request_risk"}
    # the agent's finding is weighed with the request (a flagged agent's $5 goodwill gesture
    # is not held for it); this one is a $250 override with nothing returned
    assert "agent_flagged_against_peers" in by["request_risk"]["reasons"]
    assert "0.60" in by["request_risk"]["explanation"]
    parts = [by["session_risk"]["score"], by["fraud_ring"]["score"], by["request_risk"]["score"]]
    assert out["score"] == combine_scores(parts)
    assert out["decision"] == "review"
    assert out["reasons"][:2] == ["session_risk:new_device_for_agent", "session_risk:no_mfa"]


def test_an_agent_finding_made_by_a_taken_over_session_is_set_aside(
    client: TestClient, runtime: Runtime
) -> None:
    """The agent's week against the team is made of refunds from another session, which
    ``session_risk`` judged not the agent's: the answer names the alert it set aside, and
    the metric counts it."""
    taken, refunds = "ss-7addabfdf32eb0de", ("rf-2eb5528d8e09fc", "rf-7b5fa0928d6cf7")
    runtime.emit(
        make_alert(
            detector="session_risk", subject_type="session", subject_id=f"{taken}#2",
            score=0.96, reasons=["new_device_for_agent", "new_ip_for_agent"],
            agent_id=AGENT, refund_ids=refunds,
        ),
        make_alert(subject_id=f"{AGENT}@2026-01-05T00:00Z", score=0.99, refund_ids=refunds),
    )  # fmt: skip
    out = client.post("/v1/refunds/decide", json=_request(), headers=headers()).json()
    assert out["set_aside"] == [f"agent_refunds:agent:{AGENT}@2026-01-05T00:00Z"]
    assert out["evidence"]["agent"] is True
    assert all("agent_flagged_against_peers" not in c["reasons"] for c in out["contributions"])
    assert f"made in {taken}, judged not agent {AGENT}'s" in out["explanation"]
    metrics = client.get("/metrics", headers=headers()).text
    assert "vigil_api_decisions_set_aside_total 1.0" in metrics


def test_the_refunds_own_findings_and_policy(client: TestClient, runtime: Runtime) -> None:
    runtime.emit(
        make_alert(
            detector="empty_box",
            subject_type="refund",
            subject_id=RID,
            score=0.97,
            refund_ids=(RID,),
            order_id=OID,
        )
    )
    out = client.post("/v1/refunds/decide", json=_request(), headers=headers()).json()
    assert out["decision"] == "deny" and out["score"] >= 0.97
    assert out["evidence"]["refund"] is True


def test_idempotent_by_refund_id(client: TestClient, runtime: Runtime) -> None:
    first = client.post("/v1/refunds/decide", json=_request(), headers=headers())
    # new evidence arrives, but the answer to the same request does not change
    runtime.emit(make_alert(subject_id=f"{AGENT}@2026-01-05T00:00Z", score=0.99))
    again = client.post("/v1/refunds/decide", json=_request(), headers=headers())
    assert again.status_code == 200
    assert again.content == first.content
    assert again.headers["Idempotent-Replay"] == "true"
    # a default spelled out is the same request
    same = client.post("/v1/refunds/decide", json=_request(currency="USD"), headers=headers())
    assert same.content == first.content
    other = client.post("/v1/refunds/decide", json=_request(amount_cents=1), headers=headers())
    assert other.status_code == 409 and other.json()["error"] == "conflict"
    # one refund event in the stream, not three
    assert len(state_of(client).settings.input_log.read_bytes().splitlines()) == 1


def test_idempotency_survives_a_restart(app_factory: Any) -> None:
    with TestClient(app_factory()) as c:
        first = c.post("/v1/refunds/decide", json=_request(), headers=headers()).content
    with TestClient(app_factory()) as c:
        r = c.post("/v1/refunds/decide", json=_request(), headers=headers())
        assert r.content == first
        assert (
            c.post(
                "/v1/refunds/decide", json=_request(policy="returnless"), headers=headers()
            ).status_code
            == 409
        )


def test_record_event_false_leaves_the_stream_alone(client: TestClient) -> None:
    r = client.post("/v1/refunds/decide", json=_request(record_event=False), headers=headers())
    assert r.json()["event_id"] is None
    assert state_of(client).settings.input_log.read_bytes() == b""


def test_invalid_requests_are_422(client: TestClient) -> None:
    h = headers()
    for bad in (
        _request(amount_cents=-1),
        _request(policy="whatever"),
        _request(refund_id=""),
        _request(unknown_field=1),
        {"refund_id": "x"},
    ):
        assert client.post("/v1/refunds/decide", json=bad, headers=h).status_code == 422
    r = client.post(
        "/v1/refunds/decide", content=b"{", headers={**h, "Content-Type": "application/json"}
    )
    assert r.status_code == 422


def test_get_decision(client: TestClient, runtime: Runtime) -> None:
    h = headers()
    assert client.get(f"/v1/decisions/{RID}", headers=h).status_code == 404
    client.post("/v1/refunds/decide", json=_request(), headers=h)
    view = client.get(f"/v1/decisions/{RID}", headers=h).json()
    assert view["current"] == "approve" and view["stream"] is None
    assert view["requested"]["event_id"] == f"decide:{RID}"
    runtime.emit(
        make_alert(
            detector="refund_without_return",
            subject_type="refund",
            subject_id=RID,
            score=0.8,
            refund_ids=(RID,),
        )
    )
    view = client.get(f"/v1/decisions/{RID}", headers=h).json()
    assert view["current"] == "review"
    assert view["stream"]["revision"] == 1 and view["stream"]["score"] == 0.8
    assert view["requested"]["decision"] == "approve"  # what was answered at refund time
    metrics = client.get("/metrics", headers=h).text
    assert 'vigil_api_decisions_total{decision="approve"} 1.0' in metrics
    assert 'vigil_stream_refunds{decision="review"} 1.0' in metrics
    assert json.loads(client.get("/healthz").content)["index"]["decisions"] == 1


def test_a_refund_event_lost_from_the_input_log_comes_back_from_the_journal(
    app_factory: Any,
) -> None:
    """decide waits for one fsync (the journal's, which carries the event); a crash that
    cuts the input log before the event's end must not lose the refund from the stream."""
    with TestClient(app_factory()) as c:
        for rid in (RID, "rf-7d41a0c92be3e5", "rf-0f9c2d6e1a8b74"):
            r = c.post("/v1/refunds/decide", json=_request(refund_id=rid), headers=headers())
            assert r.status_code == 200
        log = state_of(c).settings.input_log
    lines = log.read_bytes().splitlines(keepends=True)
    assert [decode_one(x, 1).event_id for x in lines] == [
        f"decide:{RID}",
        "decide:rf-7d41a0c92be3e5",
        "decide:rf-0f9c2d6e1a8b74",
    ]  # type: ignore[union-attr]
    log.write_bytes(lines[0])  # the machine crashed before rf-2 and rf-3 reached the disk
    with TestClient(app_factory()) as c:
        again = log.read_bytes().splitlines(keepends=True)
        assert again == lines  # put back, in order, once
        replay = c.post(
            "/v1/refunds/decide", json=_request(refund_id="rf-0f9c2d6e1a8b74"), headers=headers()
        )
        assert replay.headers.get("Idempotent-Replay") == "true"
    with TestClient(app_factory()):
        assert log.read_bytes().splitlines(keepends=True) == lines  # nothing appended twice


def test_a_journal_line_torn_by_a_crash_does_not_swallow_the_next_decision(
    app_factory: Any,
) -> None:
    with TestClient(app_factory()) as c:
        first = c.post("/v1/refunds/decide", json=_request(), headers=headers()).content
        journal = state_of(c).journal.path
    with journal.open("ab") as fh:  # the machine died in the middle of the next line
        fh.write(b'{"refund_id":"rf-torn","request_sha256":"ab')
    with TestClient(app_factory()) as c:
        second = c.post(
            "/v1/refunds/decide", json=_request(refund_id="rf-7d41a0c92be3e5"), headers=headers()
        )
        assert second.status_code == 200
    with TestClient(app_factory()) as c:
        for rid, answer in ((RID, first), ("rf-7d41a0c92be3e5", second.content)):
            again = c.post("/v1/refunds/decide", json=_request(refund_id=rid), headers=headers())
            assert again.content == answer and again.headers["Idempotent-Replay"] == "true"
        view = c.get("/v1/decisions/rf-7d41a0c92be3e5", headers=headers()).json()
        assert view["requested"] == json.loads(second.content)
        assert c.get("/v1/decisions/rf-torn", headers=headers()).status_code == 404


def test_the_journal_keeps_answers_on_disk_not_in_memory(client: TestClient) -> None:
    answer = client.post("/v1/refunds/decide", json=_request(), headers=headers()).content
    entry = state_of(client).journal.entries[RID]
    assert not any(isinstance(v, bytes) for v in (entry.request_sha256, entry.offset))
    assert state_of(client).journal.response(entry) == answer


def test_a_missing_or_unknown_field_is_named_in_the_422(client: TestClient) -> None:
    r = client.post("/v1/refunds/decide", json={"refund_id": "rf-9"}, headers=headers())
    assert r.status_code == 422
    detail = r.json()["detail"][0]
    assert detail["loc"][:2] == ["body", detail["loc"][1]] and detail["type"] == "missing"
    assert detail["loc"][1] in ("order_id", "customer_id", "amount_cents", "policy")
    r = client.post("/v1/refunds/decide", json=_request(colour="red"), headers=headers())
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "colour"]
    assert r.json()["detail"][0]["type"] == "extra_forbidden"


def test_wait_ms_is_not_part_of_the_request(client: TestClient) -> None:
    first = client.post("/v1/refunds/decide", json=_request(), headers=headers())
    again = client.post("/v1/refunds/decide", json=_request(wait_ms=50), headers=headers())
    assert again.status_code == 200 and again.content == first.content


def test_a_request_from_the_future_is_refused_and_enters_nothing(client: TestClient) -> None:
    """One request dated a year ahead would move the runtime's watermark past every real event
    (all later ones dead-lettered as too late): it is a 422 naming the field."""
    far = _request(event_time_ms=1_767_700_000_000 + 400 * 86_400_000)
    r = client.post("/v1/refunds/decide", json=far, headers=headers())
    assert r.status_code == 422
    (item,) = r.json()["detail"]
    assert item["loc"] == ["body", "event_time_ms"] and "ahead" in item["msg"]
    assert state_of(client).settings.input_log.read_bytes() == b""
    assert state_of(client).journal.entries == {}


def test_every_refund_id_decide_accepts_is_one_the_stream_accepts(client: TestClient) -> None:
    """The request's stream event is ``decide:<refund_id>``, and event ids are at most 128
    characters: the longest refund id accepted still makes a valid event; one more is a 422."""
    longest = "rf-" + "5b2e9c1d0a7f43" * 9  # 129 characters
    fits = longest[: 128 - len("decide:")]
    r = client.post("/v1/refunds/decide", json=_request(refund_id=fits), headers=headers())
    assert r.status_code == 200, r.text
    line = state_of(client).settings.input_log.read_bytes().strip().splitlines()[-1]
    assert isinstance(decode_one(line, 1), RefundRequested)
    r = client.post("/v1/refunds/decide", json=_request(refund_id=fits + "0"), headers=headers())
    assert r.status_code == 422 and "refund_id" in r.text


def test_bytes_that_are_not_utf8_are_a_400_not_a_500(client: TestClient) -> None:
    for body in (
        b'{"refund_id":"rf-\xff\xfe","order_id":"o-1","customer_id":"c-1",'
        b'"amount_cents":100,"policy":"returnless"}',
        b"[" * 100_000,
    ):
        r = client.post(
            "/v1/refunds/decide",
            content=body,
            headers={**headers(), "Content-Type": "application/json"},
        )
        assert r.status_code in (400, 422), r.text
        assert r.status_code != 500
    r = client.post(
        "/v1/refunds/decide",
        content=b'{"refund_id":"rf-\xff"}',
        headers={**headers(), "Content-Type": "application/json"},
    )
    assert r.status_code == 400 and "UTF-8" in r.json()["detail"]

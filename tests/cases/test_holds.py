"""Refund holds (``vigil.cases.holds``) on SQLite and PostgreSQL: the status table, the
insider rule, reasons, audit rows, the label event, paging; ids shaped like the simulator's."""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import replace
from pathlib import Path
from typing import Any

import msgspec
import pytest
import sqlalchemy as sa

from vigil.cases import holds
from vigil.cases.holds import (
    HoldFilter,
    HoldResolvedError,
    NewHold,
    OwnRefundError,
    link_cases,
    open_holds,
)
from vigil.cases.models import OutboxRow, RefundHold
from vigil.cases.outbox import flush_outbox
from vigil.cases.service import ingest_alerts
from vigil.errors import ForbiddenError, NotFoundError, RequestError
from vigil.events.codec import decode_one
from vigil.events.schemas import InvestigationOutcome, RefundRequested
from vigil.features.facts import RequestFacts
from vigil.security import Database, Principal, create_api_key, create_user
from vigil.security.audit import entries_for
from vigil.security.keys import authenticate_api_key
from vigil.security.users import authenticate_password

from .conftest import T0, AlertFactory

PASSWORD = "correct horse battery staple"
#: the table written out by hand (a change to holds.TRANSITIONS must change this too)
MAY_GO = {
    ("held", "released"),
    ("held", "blocked"),
    ("denied", "released"),
    ("denied", "blocked"),
}


def _hex(n: int, width: int) -> str:
    return hashlib.sha256(str(n).encode()).hexdigest()[:width]


def new_hold(n: int = 1, **kw: object) -> NewHold:
    """A request answered review, ids as the simulator makes them (``rf-5b2e9c1d0a7f43``)."""
    fields: dict[str, object] = {
        "refund_id": f"rf-{_hex(n, 14)}",
        "decision": "review",
        "score": 0.72,
        "reasons": ("session_risk:new_device", "request_risk:above_typical_amount"),
        "explanation": "session ss-192573b7a06b5b2f began on a new device without MFA",
        "source": "api",
        "order_id": f"o-{_hex(n + 1000, 14)}",
        "customer_id": f"c-{_hex(n + 2000, 16)}",
        "agent_id": "ag-20",
        "session_id": f"ss-{_hex(n + 3000, 16)}",
        "amount_cents": 48_900,
        "requested_at_ms": 1_767_225_600_000 + n,
    }
    fields.update(kw)
    return NewHold(**fields)


def _open(db: Database, *items: NewHold) -> None:
    with db.transaction() as s:
        open_holds(s, Principal.system("test"), items, now=T0)


def _status(db: Database, refund_id: str) -> str:
    with db.transaction() as s:
        return s.scalar(sa.select(RefundHold.status).where(RefundHold.refund_id == refund_id))


def test_every_pair_of_the_status_table(db: Database, people: Any) -> None:
    """All 4 x 2 moves through the service, against the table written out above."""
    assert {(a, b) for a, tos in holds.TRANSITIONS.items() for b in tos} == MAY_GO
    lead = people.lead
    for n, (start, to) in enumerate(itertools.product(holds.STATUSES, ("released", "blocked"))):
        h = new_hold(100 + n, decision="deny" if start == "denied" else "review")
        _open(db, h)
        if start in ("released", "blocked"):
            with db.transaction() as s:
                holds.resolve(s, lead, h.refund_id, start, "set up the starting status")
        assert _status(db, h.refund_id) == start
        with db.transaction() as s:
            if (start, to) in MAY_GO:
                assert holds.resolve(s, lead, h.refund_id, to, "checked the parcel").status == to
                continue
            with pytest.raises(HoldResolvedError) as err:
                holds.resolve(s, lead, h.refund_id, to, "checked the parcel")
        assert err.value.http_status == 409
        # the 409 names the hold, its status and who resolved it
        assert h.refund_id in str(err.value) and start in str(err.value)
        assert "user:lee" in str(err.value)
        assert _status(db, h.refund_id) == start


def test_opening_is_idempotent_and_review_holds_deny_denies(db: Database) -> None:
    review, deny = new_hold(1), new_hold(2, decision="deny", score=0.97)
    with db.transaction() as s:
        first = open_holds(s, Principal.system("test"), [review, deny, review])
    assert sorted(first.opened) == sorted([review.refund_id, deny.refund_id])
    with db.transaction() as s:
        again = open_holds(s, Principal.system("test"), [review, deny])
    assert again.opened == () and again.duplicates == 2
    assert _status(db, review.refund_id) == "held"
    assert _status(db, deny.refund_id) == "denied"
    with db.transaction() as s, pytest.raises(RequestError, match="holds nothing"):
        open_holds(s, Principal.system("test"), [new_hold(3, decision="approve")])
    with db.transaction() as s:
        history = entries_for(s, "refund_hold", review.refund_id)
    assert [e.action for e in history] == ["hold.open"]
    assert history[0].after["status"] == "held" and history[0].actor == "system:test"


def test_the_apis_answer_replaces_an_unresolved_runtime_hold(db: Database) -> None:
    runtime = new_hold(1, source="runtime", decision="deny", score=0.96, session_id=None)
    _open(db, runtime)
    api = new_hold(1, source="api", decision="review", score=0.61)
    with db.transaction() as s:
        result = open_holds(s, Principal.system("test"), [api])
    assert result.restated == (api.refund_id,)
    with db.transaction() as s:
        hold = holds.get_hold(s, Principal.system("test"), api.refund_id)
    assert (hold.status, hold.source, hold.score) == ("held", "api", 0.61)
    assert hold.session_id == api.session_id  # a detail the runtime's line lacked
    assert [e.action for e in hold.history] == ["hold.open", "hold.restate"]


def test_release_and_block_need_a_reason_are_audited_and_send_a_label(
    db: Database, people: Any, tmp_path: Path
) -> None:
    analyst = people.analyst
    good, bad = new_hold(1), new_hold(2)
    _open(db, good, bad)
    for reason in ("", "ok", "  no  ", "x" * 501):
        with db.transaction() as s, pytest.raises(RequestError, match="3-500 characters"):
            holds.release(s, analyst, good.refund_id, reason)
    assert _status(db, good.refund_id) == "held"  # nothing changed
    with db.transaction() as s:
        released = holds.release(
            s, analyst, good.refund_id, "  parcel scanned at the return centre  ", event_time_ms=7
        )
        blocked = holds.block(s, analyst, bad.refund_id, "empty box, same device as ring 4")
    assert released.status == "released" and released.resolved_by == "user:ann"
    assert released.resolution_reason == "parcel scanned at the return centre"
    assert blocked.status == "blocked" and blocked.resolved_at is not None
    with db.transaction() as s:
        rows = {h.refund_id: entries_for(s, "refund_hold", h.refund_id)[0] for h in (good, bad)}
    assert rows[good.refund_id].action == "hold.release"
    assert rows[good.refund_id].before == {"status": "held"}
    assert rows[good.refund_id].after == {
        "status": "released",
        "reason": "parcel scanned at the return centre",
        "outcome": "legitimate",
        "event_id": f"hold-{released.id}",
    }
    assert rows[bad.refund_id].action == "hold.block"
    assert rows[bad.refund_id].after["outcome"] == "fraud"
    assert rows[bad.refund_id].actor == "user:ann"

    # the outcome flows back: investigation_outcome events about the refunds, via the outbox
    out = tmp_path / "input.jsonl"
    assert flush_outbox(db, out) == 2
    events = [decode_one(line, n) for n, line in enumerate(out.read_bytes().splitlines(), 1)]
    assert all(isinstance(e, InvestigationOutcome) for e in events)
    got = {(e.subject_type, e.subject_id, e.outcome) for e in events}
    assert got == {("refund", good.refund_id, "legitimate"), ("refund", bad.refund_id, "fraud")}
    assert events[0].event_time_ms == 7

    # and the runtime's facts turn a refund's outcome into a label on its customer
    facts = RequestFacts()
    facts.update_one(
        RefundRequested(
            event_id="e1", event_time_ms=1, refund_id=bad.refund_id, order_id=str(bad.order_id),
            customer_id=str(bad.customer_id), amount_cents=48_900, policy="manual_override",
            agent_id="ag-20", issued_by="agent", channel="agent",
        )
    )  # fmt: skip
    for event in events:
        facts.update_one(msgspec.structs.replace(event, event_time_ms=2))
    customer = facts.customer(bad.customer_id, 2)
    assert customer is not None and customer.fraud_labels == 1


def test_a_resolved_hold_cannot_be_resolved_again(db: Database, people: Any) -> None:
    h = new_hold(1)
    _open(db, h)
    with db.transaction() as s:
        holds.block(s, people.analyst, h.refund_id, "card seen in ring 4")
    for who in (people.analyst2, people.lead, people.admin):
        with db.transaction() as s, pytest.raises(HoldResolvedError) as err:
            holds.release(s, who, h.refund_id, "customer called, looks fine")
        assert f"{h.refund_id!r} is already blocked by user:ann" in str(err.value)
    with db.transaction() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(OutboxRow)) == 1


def test_a_denied_refund_is_released_only_by_a_lead_or_admin(db: Database, people: Any) -> None:
    a, b = new_hold(1, decision="deny"), new_hold(2, decision="deny")
    _open(db, a, b)
    with db.transaction() as s, pytest.raises(ForbiddenError, match="needs a lead or an admin"):
        holds.release(s, people.analyst, a.refund_id, "customer sent a photo")
    with db.transaction() as s:
        assert holds.release(s, people.lead, a.refund_id, "photo and carrier scan").status == (
            "released"
        )
        assert holds.block(s, people.analyst, b.refund_id, "deny stands").status == "blocked"
    with db.transaction() as s:
        assert entries_for(s, "refund_hold", a.refund_id)[0].before == {"status": "denied"}


def test_the_agent_who_issued_a_refund_never_reviews_it(db: Database) -> None:
    """A person and a key acting as ag-20, authenticated the real way, are refused (403) on
    ag-20's refund, whatever their role, and may work anyone else's."""
    system = Principal.system("test")
    own, other = new_hold(1, agent_id="ag-20"), new_hold(2, agent_id="ag-31")
    _open(db, own, other)
    with db.transaction() as s:
        create_user(s, system, "agnes", PASSWORD, "admin", agent_id="ag-20")
        raw = create_api_key(s, system, "agent-tool", ["holds:write"], agent_id="ag-20").raw_key
    with db.transaction() as s:
        person = authenticate_password(s, "agnes", PASSWORD)
        tool = authenticate_api_key(s, raw)
    assert person.agent_id == tool.agent_id == "ag-20"
    for who in (person, tool):
        for to in ("released", "blocked"):
            with db.transaction() as s, pytest.raises(OwnRefundError) as err:
                holds.resolve(s, who, own.refund_id, to, "looks fine to me")
            assert err.value.http_status == 403 and err.value.code == "own_refund"
            assert "who issued refund" in str(err.value) and "someone else" in str(err.value)
            view = _view(db, own.refund_id)
            assert holds.refusal(who, view, to) == str(err.value)
    assert _status(db, own.refund_id) == "held"
    with db.transaction() as s:
        assert holds.block(s, tool, other.refund_id, "not my refund: fraud").status == "blocked"
    with db.transaction() as s:
        assert entries_for(s, "refund_hold", own.refund_id)[0].action == "hold.open"


def _view(db: Database, refund_id: str) -> holds.HoldView:
    with db.transaction() as s:
        return holds.get_hold(s, Principal.system("test"), refund_id)


def test_the_matrix_decides_who_reads_and_who_resolves(db: Database, people: Any) -> None:
    h = new_hold(1)
    _open(db, h)
    reader = Principal(kind="key", id=9, name="k9", scopes=frozenset({"holds:read"}))
    with db.transaction() as s:
        assert holds.get_hold(s, reader, h.refund_id).status == "held"
        with pytest.raises(ForbiddenError, match="holds:write"):
            holds.release(s, reader, h.refund_id, "a machine may not")
    assert holds.refusal(reader, _view(db, h.refund_id), "released") is not None
    blind = Principal(kind="key", id=8, name="k8", scopes=frozenset({"cases:read"}))
    with db.transaction() as s, pytest.raises(ForbiddenError, match="holds:read"):
        holds.list_holds(s, blind)
    with db.transaction() as s, pytest.raises(NotFoundError, match="rf-none"):
        holds.get_hold(s, people.analyst, "rf-none")


def test_the_queue_pages_newest_first_and_filters(db: Database, people: Any) -> None:
    analyst = people.analyst
    made = [
        new_hold(n, agent_id=f"ag-{20 + n % 2}", decision="deny" if n % 3 == 0 else "review")
        for n in range(1, 12)
    ]
    _open(db, *made)
    with db.transaction() as s:
        holds.block(s, analyst, made[0].refund_id, "fraud ring 4")
    seen: list[str] = []
    cursor = None
    while True:
        with db.transaction() as s:
            page = holds.list_holds(s, analyst, cursor=cursor, limit=4)
        seen += [h.refund_id for h in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == [h.refund_id for h in reversed(made)]
    with db.transaction() as s:
        agent = holds.list_holds(s, analyst, HoldFilter(agent_id="ag-21"), limit=50)
        denied = holds.list_holds(s, analyst, HoldFilter(statuses=("denied",)), limit=50)
        customer = holds.list_holds(s, analyst, HoldFilter(customer_id=made[4].customer_id))
        counts = holds.count_holds(s, analyst)
        for_case = holds.holds_for_refunds(s, analyst, [made[1].refund_id, "rf-none"])
    assert {h.agent_id for h in agent.items} == {"ag-21"} and len(agent.items) == 6
    assert {h.refund_id for h in denied.items} == {made[n - 1].refund_id for n in (3, 6, 9)}
    assert [h.refund_id for h in customer.items] == [made[4].refund_id]
    assert counts["blocked"] == (1, 48_900) and counts["denied"] == (3, 3 * 48_900)
    assert counts["held"][0] == 7 and counts["released"] == (0, 0)
    assert [h.refund_id for h in for_case] == [made[1].refund_id]
    with db.transaction() as s, pytest.raises(RequestError, match="unknown status"):
        holds.list_holds(s, analyst, HoldFilter(statuses=("paid",)))


def test_details_arrive_later_and_holds_join_their_case(db: Database, alerts: AlertFactory) -> None:
    system = Principal.system("test")
    bare = NewHold(
        refund_id="rf-5b2e9c1d0a7f43", decision="review", score=0.7,
        reasons=("request_risk:manual_override",), explanation="dear override", source="api",
    )  # fmt: skip
    _open(db, bare)
    with db.transaction() as s:
        assert holds.without_details(s, system, limit=10) == ("rf-5b2e9c1d0a7f43",)
        details = holds.HoldDetails(
            refund_id="rf-5b2e9c1d0a7f43", order_id="o-3c1e7a9b0d2f58",
            customer_id="c-9e1f0b7a3c5d2e48", agent_id="ag-20",
            session_id="ss-192573b7a06b5b2f", amount_cents=48_900, requested_at_ms=5,
        )  # fmt: skip
        assert holds.fill_details(s, system, [details]) == ("rf-5b2e9c1d0a7f43",)
        # known values are never overwritten
        assert holds.fill_details(s, system, [replace(details, agent_id="ag-99")]) == ()
        alert = alerts.make(
            "session", "ss-192573b7a06b5b2f#1", detector="session_risk",
            refund_ids=("rf-5b2e9c1d0a7f43",), customer_id="c-9e1f0b7a3c5d2e48",
        )  # fmt: skip
        case_id = ingest_alerts(s, system, [alert]).case_of[alert.alert_id]
        assert link_cases(s, system, {"rf-5b2e9c1d0a7f43": [alert.alert_id]}) == {
            "rf-5b2e9c1d0a7f43": case_id
        }
        assert link_cases(s, system, {"rf-5b2e9c1d0a7f43": [alert.alert_id]}) == {}
    hold = _view(db, "rf-5b2e9c1d0a7f43")
    assert (hold.agent_id, hold.customer_id, hold.case_id) == (
        "ag-20",
        "c-9e1f0b7a3c5d2e48",
        case_id,
    )
    assert [e.action for e in hold.history] == ["hold.open", "hold.details", "hold.link_case"]
    with db.transaction() as s:
        assert holds.without_details(s, system, limit=10) == ()
        assert [
            h.refund_id for h in holds.list_holds(s, system, HoldFilter(case_id=case_id)).items
        ] == ["rf-5b2e9c1d0a7f43"]
        assert holds.find_hold(s, "rf-5b2e9c1d0a7f43") is not None
        assert holds.find_hold(s, "rf-none") is None


def test_label_events_are_what_the_codec_writes(db: Database, people: Any) -> None:
    h = new_hold(1)
    _open(db, h)
    with db.transaction() as s:
        holds.release(s, people.lead, h.refund_id, "carrier confirmed the return")
        row = s.scalars(sa.select(OutboxRow)).one()
    event = msgspec.json.decode(row.event_json)
    assert event["type"] == "investigation_outcome" and event["event_id"].startswith("hold-")

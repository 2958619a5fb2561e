"""The case service: queue, case page, assignment, notes, labels and their events, PII."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from vigil.cases import flush_outbox, service
from vigil.cases.outbox import pending_count
from vigil.cases.views import CaseFilter, Paging
from vigil.errors import ForbiddenError, NotFoundError, RequestError
from vigil.events.codec import decode_one
from vigil.events.schemas import AnalystDecision
from vigil.security import Database, pii

from .conftest import T0, AlertFactory

SECRET = b"test-secret-0123456789abcdef"


def _cases(db: Database, people, alerts: AlertFactory, n: int) -> list[int]:
    with db.transaction() as s:
        result = service.ingest_alerts(
            s,
            people.system,
            [alerts.refund(f"c{i}", score=0.5 + i / 100) for i in range(n)],
            now=T0,
        )
    return list(result.opened)


def test_list_cases_filters_orders_and_pages(db: Database, people, alerts: AlertFactory) -> None:
    ids = _cases(db, people, alerts, 7)
    with db.transaction() as s:
        service.transition(s, people.analyst, ids[0], "triage")
        service.assign(s, people.analyst, ids[1], people.analyst.id)
        page = service.list_cases(s, people.analyst, paging=Paging(limit=3))
        assert page.total == 7 and len(page.items) == 3
        assert [c.id for c in page.items] == ids[::-1][:3]  # highest score first
        rest = service.list_cases(s, people.analyst, paging=Paging(limit=3, offset=6))
        assert [c.id for c in rest.items] == [ids[0]]
        triage = service.list_cases(s, people.analyst, CaseFilter(statuses=("triage",)))
        assert [c.id for c in triage.items] == [ids[0]]
        mine = service.list_cases(s, people.analyst, CaseFilter(assignee_id=people.analyst.id))
        assert [(c.id, c.assignee) for c in mine.items] == [(ids[1], "ann")]
        unassigned = service.list_cases(s, people.analyst, CaseFilter(unassigned=True))
        assert unassigned.total == 6
        high = service.list_cases(s, people.analyst, CaseFilter(min_score=0.555))
        assert {c.id for c in high.items} == set(ids[6:])
        with pytest.raises(RequestError, match="status"):
            service.list_cases(s, people.analyst, CaseFilter(statuses=("closed",)))  # type: ignore[arg-type]
        with pytest.raises(RequestError, match="limit"):
            service.list_cases(s, people.analyst, paging=Paging(limit=0))


def test_get_case_has_alerts_notes_and_history(db: Database, people, alerts: AlertFactory) -> None:
    (case_id,) = _cases(db, people, alerts, 1)
    with db.transaction() as s:
        service.add_note(s, people.analyst, case_id, "  called the warehouse  ", now=T0)
        service.transition(s, people.analyst, case_id, "triage", now=T0 + timedelta(minutes=1))
        detail = service.get_case(s, people.analyst, case_id)
        assert [n.body for n in detail.notes] == ["called the warehouse"]
        assert detail.notes[0].author == "user:ann"
        assert [h.action for h in detail.history] == [
            "case.open",
            "case.add_alert",
            "case.note",
            "case.transition",
        ]
        assert detail.history[-1].before == {"status": "new", "label": None}
        assert detail.case.allowed_transitions == (
            "investigating",
            "resolved_fraud",
            "resolved_legitimate",
        )
        with pytest.raises(NotFoundError, match="case 999"):
            service.get_case(s, people.analyst, 999)
        with pytest.raises(RequestError, match="note"):
            service.add_note(s, people.analyst, case_id, "   ")


def test_assignment_rules(db: Database, people, alerts: AlertFactory) -> None:
    (case_id,) = _cases(db, people, alerts, 1)
    with db.transaction() as s:
        assert service.assign(s, people.analyst, case_id, people.analyst.id).assignee == "ann"
    with db.transaction() as s, pytest.raises(ForbiddenError, match="cases:assign_any"):
        service.assign(s, people.analyst2, case_id, people.analyst2.id)  # take it from ann
    with db.transaction() as s, pytest.raises(ForbiddenError, match="cases:assign_any"):
        service.assign(s, people.analyst, case_id, people.analyst2.id)  # hand it to someone
    with db.transaction() as s:
        assert service.assign(s, people.analyst, case_id, None).assignee is None  # give back
        assert service.assign(s, people.lead, case_id, people.analyst2.id).assignee == "arno"
        with pytest.raises(NotFoundError, match="no active user 999"):
            service.assign(s, people.lead, case_id, 999)


def test_label_writes_analyst_decisions_to_the_outbox(
    db: Database, people, alerts: AlertFactory, tmp_path: Path
) -> None:
    batch = [alerts.refund("c1"), alerts.refund("c1"), alerts.refund("c1")]
    with db.transaction() as s:
        case_id = service.ingest_alerts(s, people.system, batch).opened[0]
        service.transition(s, people.analyst, case_id, "investigating")
        result = service.label(s, people.analyst, case_id, "fraud", note="ring confirmed", now=T0)
        assert result.case.status == "resolved_fraud" and result.case.label == "fraud"
        assert len(result.events) == 3
    out = tmp_path / "labels" / "analyst_decisions.jsonl"
    assert pending_count(db) == 3
    assert flush_outbox(db, out) == 3
    assert flush_outbox(db, out) == 0  # delivered once
    lines = out.read_bytes().splitlines()
    decoded = [decode_one(line, n) for n, line in enumerate(lines, 1)]
    assert all(isinstance(e, AnalystDecision) for e in decoded), decoded
    assert {e.alert_id for e in decoded} == {a.alert_id for a in batch}  # type: ignore[union-attr]
    assert {(e.outcome, e.analyst_id) for e in decoded} == {("fraud", "user:ann")}  # type: ignore[union-attr]
    assert decoded[0].event_time_ms == int(T0.timestamp() * 1000)  # type: ignore[union-attr]
    assert len({e.event_id for e in decoded}) == 3  # type: ignore[union-attr]


def test_a_rolled_back_label_leaves_no_event(db: Database, people, alerts: AlertFactory) -> None:
    (case_id,) = _cases(db, people, alerts, 1)
    with db.transaction() as s:
        service.transition(s, people.analyst, case_id, "triage")
    with pytest.raises(RuntimeError), db.transaction() as s:
        service.label(s, people.analyst, case_id, "fraud")
        raise RuntimeError("the request failed after labelling")
    assert pending_count(db) == 0
    with db.transaction() as s:
        assert service.get_case(s, people.analyst, case_id).case.status == "triage"


def test_bad_label_is_refused(db: Database, people, alerts: AlertFactory) -> None:
    (case_id,) = _cases(db, people, alerts, 1)
    with db.transaction() as s, pytest.raises(RequestError, match="'maybe'"):
        service.label(s, people.analyst, case_id, "maybe")


def test_personal_data_is_stored_only_as_salted_hashes(
    db: Database, store, people, alerts: AlertFactory
) -> None:
    (case_id,) = _cases(db, people, alerts, 1)
    plain = {
        "email": "Jane.Roe@Example.com",
        "phone": "+1 (555) 010-7788",
        "address": "221B Baker Street, London",
        "payment": "fp_4242424242424242",
    }
    with db.transaction() as s:
        for kind, value in plain.items():
            digest = service.link_identifier(s, people.analyst, case_id, kind, value, SECRET)  # type: ignore[arg-type]
            assert digest == pii.hash_value(kind, value, SECRET)  # type: ignore[arg-type]
        # another spelling of the same email finds the case; another secret does not
        found = service.find_cases_by_identifier(
            s, people.analyst, "email", " jane.roe@example.COM", SECRET
        )
        assert found == (case_id,)
        assert not service.find_cases_by_identifier(
            s, people.analyst, "email", "jane.roe@example.com", b"another-secret-0123456789"
        )
    needles = [v.encode() for v in plain.values()] + [b"jane.roe", b"Baker", b"4242424242"]
    if store.path is not None:  # SQLite: no plain value anywhere in the files
        db.dispose()
        blob = b"".join(
            p.read_bytes() for p in store.path.parent.iterdir() if p.name.startswith("vigil.db")
        )
        assert not [n for n in needles if n.lower() in blob.lower()]
    with db.engine.connect() as conn:  # both backends: not in any column of any table
        dump = []
        for table in sa.inspect(conn).get_table_names():
            for row in conn.execute(sa.text(f"SELECT * FROM {table}")):
                dump.append(repr(tuple(row)).encode())
        text = b"\n".join(dump).lower()
        assert not [n for n in needles if n.lower() in text]

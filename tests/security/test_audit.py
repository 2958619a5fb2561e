"""Every action leaves an audit row in its own transaction; the log cannot be changed."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from vigil.cases import service
from vigil.detectors.base import Alert
from vigil.security import Database, approvals, audit, create_api_key, create_user
from vigil.security.keys import revoke_api_key
from vigil.security.models import AuditEntry
from vigil.security.users import set_active, set_role

from .dbfixtures import T0, People

SECRET = b"test-secret-0123456789abcdef"


def _alert(n: int, customer: str) -> Alert:
    return Alert(
        detector="d", version=1, subject_type="refund", subject_id=f"r{n}", score=0.9,
        reasons=("x",), explanation="e", event_time_ms=n, alert_id=f"a{n}", customer_id=customer,
        amount_cents=100,
    )  # fmt: skip


def _rows(db: Database) -> list[AuditEntry]:
    with db.transaction() as s:
        return list(s.scalars(sa.select(AuditEntry).order_by(AuditEntry.id)))


def test_every_service_action_writes_one_audit_row(db: Database, people: People) -> None:
    steps = [
        ("case.open", lambda s: service.ingest_alerts(s, people.system, [_alert(1, "c1")])),
        ("case.add_alert", lambda s: service.ingest_alerts(s, people.system, [_alert(2, "c1")])),
        ("case.assign", lambda s: service.assign(s, people.analyst, 1, people.analyst.id)),
        ("case.note", lambda s: service.add_note(s, people.analyst, 1, "checked")),
        ("case.transition", lambda s: service.transition(s, people.analyst, 1, "triage")),
        ("case.label", lambda s: service.label(s, people.analyst, 1, "fraud")),
        ("case.transition", lambda s: service.transition(s, people.lead, 1, "investigating")),
        (
            "case.link_identifier",
            lambda s: service.link_identifier(s, people.analyst, 1, "email", "a@b.c", SECRET),
        ),
        ("user.create", lambda s: create_user(s, people.admin, "newbie", "x" * 12, "analyst")),
        ("user.set_role", lambda s: set_role(s, people.admin, people.analyst2.id, "lead")),
        ("user.set_active", lambda s: set_active(s, people.admin, people.analyst2.id, False)),
        ("key.create", lambda s: create_api_key(s, people.admin, "ingest", ["events:write"])),
        (
            "change.propose",
            lambda s: approvals.propose_change(s, people.analyst, "threshold", "t", 0.6, "why"),
        ),
        ("change.approve", lambda s: approvals.approve_change(s, people.lead, 1)),
        (
            "change.propose",
            lambda s: approvals.propose_change(s, people.analyst, "threshold", "t", 0.7, "again"),
        ),
        ("change.reject", lambda s: approvals.reject_change(s, people.lead, 2, "no")),
    ]
    seen = 0
    for action, step in steps:
        with db.transaction() as s:
            result = step(s)
        rows = _rows(db)
        new = rows[seen:]
        # ingesting a first alert opens the case and adds the alert: two rows
        expected = ["case.open", "case.add_alert"] if action == "case.open" else [action]
        assert [r.action for r in new] == expected, action
        seen = len(rows)
        if action == "key.create":
            key_id = result.key.key_id
    with db.transaction() as s:
        revoke_api_key(s, people.admin, key_id)
    last = _rows(db)[-1]
    assert (last.action, last.actor, last.target_type, last.target_id) == (
        "key.revoke",
        "user:ada",
        "api_key",
        key_id,
    )
    label_row = next(r for r in _rows(db) if r.action == "case.label")
    assert label_row.before == {"status": "triage", "label": None}
    assert label_row.after["label"] == "fraud" and label_row.actor == "user:ann"
    assert label_row.at.tzinfo is not None
    created = next(r for r in _rows(db) if r.action == "user.create")
    assert "x" * 12 not in repr(created.after)  # passwords never reach the log


def test_a_failed_action_leaves_no_audit_row(db: Database, people: People) -> None:
    with db.transaction() as s:
        service.ingest_alerts(s, people.system, [_alert(1, "c1")])
    before = len(_rows(db))
    with pytest.raises(RuntimeError), db.transaction() as s:
        service.add_note(s, people.analyst, 1, "then the request fails")
        raise RuntimeError("boom")
    assert len(_rows(db)) == before


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_log SET actor = 'user:nobody'",
        "UPDATE audit_log SET after = NULL WHERE id = 1",
        "DELETE FROM audit_log",
        "DELETE FROM audit_log WHERE id = 1",
    ],
)
def test_the_log_refuses_update_and_delete(db: Database, people: People, statement: str) -> None:
    with db.transaction() as s:
        service.ingest_alerts(s, people.system, [_alert(1, "c1")], now=T0)
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), db.engine.begin() as conn:
        conn.execute(sa.text(statement))
    rows = _rows(db)
    assert len(rows) == 2 and rows[0].actor == "system:test"


def test_postgresql_also_refuses_truncate(db: Database, people: People) -> None:
    if db.engine.dialect.name != "postgresql":
        pytest.skip("TRUNCATE is PostgreSQL's (SQLite has no such statement)")
    with db.transaction() as s:
        service.ingest_alerts(s, people.system, [_alert(1, "c1")])
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), db.engine.begin() as conn:
        conn.execute(sa.text("TRUNCATE audit_log"))
    assert len(_rows(db)) == 2


def test_reading_the_log_needs_audit_read(db: Database, people: People) -> None:
    with db.transaction() as s:
        service.ingest_alerts(s, people.system, [_alert(1, "c1"), _alert(2, "c2")])
        entries = audit.list_entries(s, people.lead, target_type="case", target_id=2)
        assert [e.action for e in entries] == ["case.add_alert", "case.open"]  # newest first
        page = audit.list_entries(s, people.lead, limit=2)
        older = audit.list_entries(s, people.lead, before_id=page[-1].id)
        assert len(page) == 2 and len(older) == 2 and older[0].id < page[-1].id


def test_a_rolled_back_ingest_leaves_no_case_and_no_audit_row(db: Database, people: People) -> None:
    """Opening a case uses a savepoint; it must stay inside the caller's transaction."""
    with pytest.raises(RuntimeError), db.transaction() as s:
        service.ingest_alerts(s, people.system, [_alert(1, "c1"), _alert(2, "c2")])
        raise RuntimeError("the request failed after ingesting")
    assert _rows(db) == []
    with db.transaction() as s:
        assert service.list_cases(s, people.lead).total == 0

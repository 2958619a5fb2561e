"""Alerts into cases: by ring, agent or customer; a new alert joins the open case or opens one."""

from __future__ import annotations

from vigil.cases import group_of, service
from vigil.cases.views import CaseFilter
from vigil.security import Database

from .conftest import AlertFactory


def test_group_of_each_subject(alerts: AlertFactory) -> None:
    ring = group_of(alerts.ring("r1", ["c1", "c2"]))
    assert (ring.group_type, ring.group_key) == ("ring", "r1")
    assert ring.ring_lookup == ("account:c1", "account:c2")
    assert "device:d1" in ring.members
    agent = group_of(alerts.make("agent", "a7", detector="agent_refunds"))
    assert (agent.group_type, agent.group_key, agent.members) == ("agent", "a7", ("agent:a7",))
    session = group_of(alerts.make("session", "s1", agent_id="a7"))
    assert (session.group_type, session.group_key) == ("agent", "a7")
    refund = group_of(alerts.refund("c9", agent_id="a7"))
    assert (refund.group_type, refund.group_key, refund.ring_lookup) == (
        "customer",
        "c9",
        ("account:c9",),
    )
    account = group_of(alerts.make("account", "c4"))
    assert (account.group_type, account.group_key) == ("customer", "c4")
    orphan_session = group_of(alerts.make("session", "s2"))
    assert (orphan_session.group_type, orphan_session.group_key) == ("session", "s2")
    agent_refund = group_of(alerts.make("refund", "rf1", agent_id="a3"))
    assert (agent_refund.group_type, agent_refund.group_key) == ("agent", "a3")


def test_alerts_join_the_open_case_of_their_group(
    db: Database, people, alerts: AlertFactory
) -> None:
    batch = [
        alerts.refund("c1", amount_cents=5_000, score=0.6),
        alerts.refund("c1", amount_cents=7_000, score=0.9),
        alerts.refund("c2"),
        alerts.make("agent", "a1", detector="agent_refunds", amount_cents=50_000),
        alerts.make("session", "s1", agent_id="a1", detector="session_risk"),
    ]
    with db.transaction() as s:
        result = service.ingest_alerts(s, people.system, batch)
        assert result.added == 5 and result.duplicates == 0
        assert len(result.opened) == 3
        c1 = result.case_of[batch[0].alert_id]
        assert result.case_of[batch[1].alert_id] == c1
        assert result.case_of[batch[3].alert_id] == result.case_of[batch[4].alert_id]
        detail = service.get_case(s, people.analyst, c1)
        assert detail.case.alert_count == 2
        assert detail.case.score_max == 0.9
        assert detail.case.amount_cents == 12_000  # two refunds, each counted once
        assert [a.alert_id for a in detail.alerts] == [batch[0].alert_id, batch[1].alert_id]
        assert detail.alerts[0].payload["explanation"] == batch[0].explanation
        agent_case = service.get_case(s, people.analyst, result.case_of[batch[3].alert_id])
        assert agent_case.case.amount_cents == 50_000
        assert agent_case.case.title == "agent a1"


def test_ingest_is_idempotent_by_alert_id(db: Database, people, alerts: AlertFactory) -> None:
    alert = alerts.refund("c1")
    with db.transaction() as s:
        first = service.ingest_alerts(s, people.system, [alert, alert])
    with db.transaction() as s:
        again = service.ingest_alerts(s, people.system, [alert])
        assert (first.added, first.duplicates, again.added, again.duplicates) == (1, 1, 0, 1)
        assert service.list_cases(s, people.analyst).total == 1


def test_customer_alerts_join_the_open_ring_case_holding_their_account(
    db: Database, people, alerts: AlertFactory
) -> None:
    with db.transaction() as s:
        ring = service.ingest_alerts(s, people.system, [alerts.ring("r1", ["c1", "c2", "c3"])])
        ring_case = ring.opened[0]
        joined = service.ingest_alerts(s, people.system, [alerts.refund("c2")])
        assert joined.opened == () and set(joined.case_of.values()) == {ring_case}
        # the ring grew and got a new id: it keeps its case through a shared account
        grown = service.ingest_alerts(s, people.system, [alerts.ring("r9", ["c3", "c4"])])
        assert set(grown.case_of.values()) == {ring_case}
        outsider = service.ingest_alerts(s, people.system, [alerts.refund("c77")])
        assert outsider.opened and outsider.opened[0] != ring_case
        detail = service.get_case(s, people.analyst, ring_case)
        assert {"account:c1", "account:c4", "device:d1"} <= set(detail.members)
        assert detail.case.title == "ring r1: 3 accounts"


def test_a_resolved_case_is_not_joined(db: Database, people, alerts: AlertFactory) -> None:
    with db.transaction() as s:
        first = service.ingest_alerts(s, people.system, [alerts.refund("c1")]).opened[0]
        service.transition(s, people.analyst, first, "triage")
        service.label(s, people.analyst, first, "legitimate")
        later = service.ingest_alerts(s, people.system, [alerts.refund("c1")])
        assert later.opened and later.opened[0] != first
        open_cases = service.list_cases(s, people.analyst, CaseFilter(group_key="c1"))
        assert [c.status for c in open_cases.items] == ["new", "resolved_legitimate"] or [
            c.status for c in open_cases.items
        ] == ["resolved_legitimate", "new"]


def test_two_writers_racing_to_open_one_case_share_it(
    db: Database, people, alerts: AlertFactory
) -> None:
    """The second writer waits on the first (SQLite lock, PostgreSQL unique index), then joins."""
    import threading

    first, second = alerts.refund("c1"), alerts.refund("c1")
    results: dict[str, int] = {}
    started = threading.Event()

    def racer() -> None:
        started.set()
        with db.transaction() as s:
            results["b"] = service.ingest_alerts(s, people.system, [second]).case_of[
                second.alert_id
            ]

    with db.transaction() as s:
        results["a"] = service.ingest_alerts(s, people.system, [first]).case_of[first.alert_id]
        thread = threading.Thread(target=racer)
        thread.start()
        started.wait()
        thread.join(timeout=0.5)  # it is blocked until we commit
        assert thread.is_alive()
    thread.join(timeout=10)
    assert results["a"] == results["b"]
    with db.transaction() as s:
        assert service.list_cases(s, people.analyst).total == 1
        assert service.get_case(s, people.analyst, results["a"]).case.alert_count == 2


def test_a_ring_opens_its_own_case_even_when_a_member_refund_has_one(
    db: Database, people, alerts: AlertFactory
) -> None:
    """A refund alert of c2 came first and opened c2's case; the ring over c1-c3 that covers
    the same refund opens the ring's case (it is the incident), found by its plain id."""
    with db.transaction() as s:
        first = service.ingest_alerts(
            s, people.system, [alerts.refund("c2", refund_ids=("rf-1b2c3d4e5f6071",))]
        ).opened[0]
        ring = alerts.ring("ring-c1#3", ["c1", "c2", "c3"], refund_ids=("rf-1b2c3d4e5f6071",))
        placed = service.ingest_alerts(s, people.system, [ring])
        assert placed.opened and placed.opened[0] != first
        hits = service.find_entity(s, people.analyst, "ring-c1")
        assert [h.entity for h in hits] == ["ring:ring-c1"]
        assert [c.group_type for c in hits[0].cases] == ["ring"]

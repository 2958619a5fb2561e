"""The status-transition table, pair by pair: in the pure table and through the service."""

from __future__ import annotations

import itertools

import pytest
import sqlalchemy as sa

from vigil.cases import service
from vigil.cases.models import Case
from vigil.cases.transitions import RESOLVED, STATUSES, TRANSITIONS, check_transition
from vigil.errors import ConflictError, ForbiddenError, IllegalTransitionError, RequestError
from vigil.security import Database

from .conftest import AlertFactory

# the table written out by hand: a change to TRANSITIONS must change this too, on purpose
LEGAL = {
    ("new", "triage"),
    ("new", "investigating"),
    ("new", "resolved_fraud"),  # labelled at once: no moves through triage first
    ("new", "resolved_legitimate"),
    ("triage", "investigating"),
    ("triage", "resolved_fraud"),
    ("triage", "resolved_legitimate"),
    ("investigating", "triage"),
    ("investigating", "resolved_fraud"),
    ("investigating", "resolved_legitimate"),
    ("resolved_fraud", "investigating"),
    ("resolved_legitimate", "investigating"),
}
PAIRS = list(itertools.product(STATUSES, STATUSES))


def test_table_is_exactly_the_documented_one() -> None:
    assert {(a, b) for a, nxt in TRANSITIONS.items() for b in nxt} == LEGAL
    assert set(TRANSITIONS) == set(STATUSES)


@pytest.mark.parametrize(("a", "b"), PAIRS)
def test_every_pair(a: str, b: str) -> None:
    if (a, b) in LEGAL:
        assert check_transition(7, a, b) == b
        return
    with pytest.raises(IllegalTransitionError) as info:
        check_transition(7, a, b)
    message = str(info.value)
    assert f"'{a}'" in message and f"'{b}'" in message and "case 7" in message
    assert info.value.http_status == 409


def test_unknown_status_is_illegal() -> None:
    with pytest.raises(IllegalTransitionError, match="'closed'"):
        check_transition(1, "new", "closed")


def test_every_pair_through_the_service(db: Database, people, alerts: AlertFactory) -> None:
    """One case per pair, put in the 'from' state, then moved (transition or label)."""
    with db.transaction() as s:
        result = service.ingest_alerts(
            s, people.system, [alerts.refund(f"c{i}") for i in range(len(PAIRS))]
        )
        ids = sorted(set(result.case_of.values()))
        assert len(ids) == len(PAIRS)
        for case_id, (a, _b) in zip(ids, PAIRS, strict=True):
            s.execute(sa.update(Case).where(Case.id == case_id).values(status=a))
    for case_id, (a, b) in zip(ids, PAIRS, strict=True):
        legal = (a, b) in LEGAL
        with db.transaction() as s:
            if b in RESOLVED:
                outcome = b.removeprefix("resolved_")
                if legal:
                    assert service.label(s, people.lead, case_id, outcome).case.status == b
                else:
                    with pytest.raises(IllegalTransitionError, match=f"'{a}'.*'{b}'"):
                        service.label(s, people.lead, case_id, outcome)
            elif legal:
                assert service.transition(s, people.lead, case_id, b).status == b
            else:
                with pytest.raises(IllegalTransitionError, match=f"'{a}'.*'{b}'"):
                    service.transition(s, people.lead, case_id, b)


def test_resolving_is_done_by_labelling(db: Database, people, alerts: AlertFactory) -> None:
    with db.transaction() as s:
        case_id = service.ingest_alerts(s, people.system, [alerts.refund("c1")]).opened[0]
        service.transition(s, people.analyst, case_id, "triage")
        with pytest.raises(RequestError, match="label"):
            service.transition(s, people.analyst, case_id, "resolved_fraud")


def test_reopen_needs_a_lead(db: Database, people, alerts: AlertFactory) -> None:
    with db.transaction() as s:
        case_id = service.ingest_alerts(s, people.system, [alerts.refund("c1")]).opened[0]
        service.transition(s, people.analyst, case_id, "triage")
        service.label(s, people.analyst, case_id, "legitimate")
    with db.transaction() as s, pytest.raises(ForbiddenError, match="cases:reopen"):
        service.transition(s, people.analyst, case_id, "investigating")
    with db.transaction() as s:
        case = service.transition(s, people.lead, case_id, "investigating", note="new evidence")
        assert (case.status, case.label, case.resolved_at) == ("investigating", None, None)
        assert service.get_case(s, people.analyst, case_id).notes[-1].body == "new evidence"


def test_reopen_refused_while_another_case_is_open_for_the_group(
    db: Database, people, alerts: AlertFactory
) -> None:
    with db.transaction() as s:
        first = service.ingest_alerts(s, people.system, [alerts.refund("c1")]).opened[0]
        service.transition(s, people.analyst, first, "triage")
        service.label(s, people.analyst, first, "fraud")
        second = service.ingest_alerts(s, people.system, [alerts.refund("c1")]).opened[0]
        assert second != first
    with db.transaction() as s, pytest.raises(ConflictError, match=f"case {second} is open"):
        service.transition(s, people.lead, first, "investigating")

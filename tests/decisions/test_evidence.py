"""Alerts are filed under the plain ids they concern, whatever their subject id's format."""

from __future__ import annotations

from typing import Any

import msgspec

from vigil.decisions.evidence import AlertIndex, alert_entities
from vigil.detectors.base import Alert

DAY = 86_400_000
T0 = 1_767_571_200_000


def _alert(**kw: Any) -> Alert:
    base: dict[str, Any] = {
        "detector": "session_risk",
        "version": 2,
        "subject_type": "session",
        "subject_id": "ss-192573b7a06b5b2f#3",
        "score": 0.9,
        "reasons": ["new_device_for_agent"],
        "explanation": "x",
        "event_time_ms": T0,
        "agent_id": "ag-20",
        "session_id": "ss-192573b7a06b5b2f",
    }
    base.update(kw)
    base.setdefault("alert_id", f"{base['detector']}:{base['subject_type']}:{base['subject_id']}")
    return msgspec.convert(base, Alert)


def test_each_subject_is_filed_under_its_plain_ids() -> None:
    session = _alert(refund_ids=("rf-30f404d2599205",), customer_id="c-4496907153a4239b")
    assert set(alert_entities(session)) == {
        ("refund", "rf-30f404d2599205"),
        ("session", "ss-192573b7a06b5b2f"),
    }  # the refund's customer is not what a session finding is about
    agent = _alert(
        detector="agent_refunds",
        subject_type="agent",
        subject_id="ag-20@2026-01-22T00:00Z",
        session_id=None,
    )
    assert alert_entities(agent) == [("agent", "ag-20")]
    account = _alert(
        detector="serial_returner",
        subject_type="account",
        subject_id="c-6ab400c08a00ec98#2",
        customer_id="c-6ab400c08a00ec98",
        agent_id=None,
        session_id=None,
    )
    assert alert_entities(account) == [("customer", "c-6ab400c08a00ec98")]
    ring = _alert(
        detector="fraud_ring",
        subject_type="ring",
        subject_id="ring-c-014946503997aba2#1",
        members=("account:c-014946503997aba2", "account:c-71d0aa4e2b9c6f13", "device:d-1"),
        session_id=None,
    )
    assert alert_entities(ring) == [
        ("customer", "c-014946503997aba2"),
        ("customer", "c-71d0aa4e2b9c6f13"),
    ]
    refund = _alert(
        detector="empty_box",
        subject_type="refund",
        subject_id="rf-cf44df3984924e",
        refund_ids=("rf-cf44df3984924e",),
        order_id="o-eccf3bacde451c",
        session_id=None,
        agent_id=None,
    )
    assert alert_entities(refund) == [
        ("refund", "rf-cf44df3984924e"),
        ("order", "o-eccf3bacde451c"),
    ]


def test_evidence_says_which_entities_had_findings() -> None:
    index = AlertIndex()
    index.add_alert(_alert())
    index.add_alert(
        _alert(
            detector="fraud_ring",
            subject_type="ring",
            subject_id="ring-c-1#1",
            members=("account:c-9e1f0b7a3c5d2e48",),
            session_id=None,
        )
    )
    ev = index.evidence(
        "rf-5b2e9c1d0a7f43",
        agent_id="ag-20",
        session_id="ss-192573b7a06b5b2f",
        customer_id="c-9e1f0b7a3c5d2e48",
        order_id="o-3c1e7a9b0d2f58",
    )
    assert (ev.refund, ev.agent, ev.session, ev.customer, ev.ring) == (
        False,
        False,
        True,
        False,
        True,
    )
    assert len(ev.alerts) == 2


def test_retention_is_judged_at_the_request_whether_swept_or_not() -> None:
    swept = AlertIndex(retention_ms=10 * DAY)
    unswept = AlertIndex(retention_ms=10 * DAY)
    for day in range(30):
        a = _alert(subject_id=f"ss-192573b7a06b5b2f#{day}", event_time_ms=T0 + day * DAY)
        swept.add_alert(a)
        unswept.add_alert(a)
    swept.sweep()
    assert swept.alert_count < unswept.alert_count
    for at in (T0 + 29 * DAY, T0 + 35 * DAY):
        seen = [
            {a.alert_id for a in index.evidence(
                "rf-x", agent_id=None, session_id="ss-192573b7a06b5b2f", customer_id=None,
                order_id=None, at_ms=at,
            ).alerts}
            for index in (swept, unswept)
        ]  # fmt: skip
        assert seen[0] == seen[1]

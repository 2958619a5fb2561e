"""RulesDetector: the detector contract, lookups and features, shadow mode not acting."""

from __future__ import annotations

import pickle
from pathlib import Path

from vigil.detectors.rules import RulesDetector
from vigil.events.schemas import CustomerSignup, EventBase
from vigil.runtime.harness import run_events

from .._factories import DAY, MINUTE, T0, Events, mixed_stream
from ._helpers import fired, read_alerts, rule_yaml, ruleset, run

RULES = ruleset(
    rule_yaml("big_override", 'refund.policy == "manual_override" and refund.amount_cents > $400'),
    rule_yaml("no_mfa", "session.mfa == false and refund.amount_cents >= $100", score=0.6),
    rule_yaml("new_account", "account_age_days < 3", mode="shadow", score=0.5),
    rule_yaml("agent_burst", "agent_refunds_1h >= 2", subject="agent", on="refund"),
)


def _stream() -> list[EventBase]:
    f = Events()
    signup = CustomerSignup(
        event_id="su-1",
        event_time_ms=T0 - DAY,
        customer_id="c-new",
        email_hash="h",
        country="US",
        device_id="d",
        ip="1.1.1.1",
    )
    return [
        signup,
        f.session("s-nomfa", "a1", T0, mfa=False),
        f.session("s-mfa", "a2", T0, mfa=True),
        f.refund("r1", "o1", T0 + MINUTE, amount_cents=50_000, agent_id="a1", session_id="s-nomfa"),
        f.refund(
            "r2",
            "o2",
            T0 + 2 * MINUTE,
            amount_cents=20_000,
            agent_id="a2",
            session_id="s-mfa",
            customer_id="c-new",
        ),
        f.refund(
            "r3",
            "o3",
            T0 + 3 * MINUTE,
            amount_cents=30_000,
            agent_id="a1",
            session_id="s-nomfa",
            policy="returnless",
        ),
        f.refund(
            "r4",
            "o4",
            T0 + 5 * DAY,
            amount_cents=30_000,
            agent_id="a2",
            customer_id="c-new",
            policy="returnless",
        ),
        f.tick(T0 + 10 * DAY),
    ]


def test_rules_lookups_and_features(tmp_path: Path) -> None:
    alerts, shadow, stats = run(RULES, _stream(), tmp_path)
    assert fired(alerts) == {
        ("rule:big_override", "r1"),
        ("rule:no_mfa", "r1"),
        ("rule:no_mfa", "r3"),
        ("rule:agent_burst", "a1"),  # second refund of a1 within the hour
    }
    assert fired(shadow) == {("shadow:rule:new_account", "r2")}  # 1 day old; r4 is 6 days
    for a in alerts + shadow:
        assert a.version == 0  # no store: drafts
        assert 0.0 <= a.score <= 1.0 and a.reasons and "\n" not in a.explanation
        if a.subject_type == "refund":
            assert a.refund_ids == (a.subject_id,)
    (burst,) = [a for a in alerts if a.detector == "rule:agent_burst"]
    assert burst.refund_ids == ("r3",) and burst.agent_id == "a1"
    assert stats.alerts == len(alerts)  # shadow alerts are not counted as acting alerts


def test_shadow_rules_are_recorded_but_never_act(tmp_path: Path) -> None:
    shadow_only = ruleset(rule_yaml("everything", "refund.amount_cents >= 0", mode="shadow"))
    alerts, shadow, stats = run(shadow_only, _stream(), tmp_path)
    assert alerts == [] and stats.alerts == 0
    assert {a.subject_id for a in shadow} == {"r1", "r2", "r3", "r4"}
    out = tmp_path / "out"
    assert (out / "alerts.jsonl").read_bytes() == b""
    assert (out / "decisions.jsonl").read_bytes() == b""  # no decision was influenced
    assert len(read_alerts(out / "shadow_alerts.jsonl")) == 4


def test_detector_holds_no_state_and_pickles() -> None:
    det = RulesDetector(RULES)
    assert det.name == "rules" and det.version == 1
    before = pickle.dumps(det)
    _, stats = run_events([det], mixed_stream())
    assert stats.reconciles()
    assert pickle.dumps(det) == before
    assert pickle.loads(before).rules.fingerprint == RULES.fingerprint


def test_deterministic_and_tolerates_every_event_type() -> None:
    stream = mixed_stream()
    key = sorted((a.alert_id, a.score) for a in run_events([RulesDetector(RULES)], stream)[0])
    again = sorted((a.alert_id, a.score) for a in run_events([RulesDetector(RULES)], stream)[0])
    assert key == again

"""Windowed aggregates against a brute-force oracle, in any arrival order within the bound."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vigil.events.schemas import EventBase, RefundIssued
from vigil.runtime.embedded import RuntimeSettings

from .._factories import DAY, MINUTE, T0, Events, shuffled_within
from ._helpers import fired, rule_yaml, ruleset, run

HOUR = 60 * MINUTE

refund_specs = st.lists(
    st.tuples(
        st.sampled_from(["a1", "a2", "a3", None]),  # None: issued by the system
        st.sampled_from(["c1", "c2", "c3"]),
        st.integers(0, 36).map(lambda x: x * 10),  # minute: ties and window edges happen
        st.integers(1, 100_000),
        st.sampled_from(["manual_override", "returnless"]),
    ),
    min_size=1,
    max_size=40,
)


def _events(specs: list[tuple[str | None, str, int, int, str]]) -> list[EventBase]:
    f = Events()
    evs: list[EventBase] = [
        f.refund(
            f"r{i}",
            f"o{i}",
            T0 + minute * MINUTE,
            amount_cents=amount,
            policy=policy,  # type: ignore[arg-type]
            issued_by="agent" if agent else "system",
            agent_id=agent,
            customer_id=customer,
        )
        for i, (agent, customer, minute, amount, policy) in enumerate(specs)
    ]
    evs.sort(key=lambda e: e.event_time_ms)
    return [*evs, f.tick(T0 + DAY)]  # moves the watermark past every evaluation


def _window(
    refunds: list[RefundIssued], r: RefundIssued, key: str, within: int
) -> list[RefundIssued]:
    """Brute force: same key, event time in (t - within, t]."""
    k = getattr(r, key)
    if k is None:
        return []
    t = r.event_time_ms
    return [x for x in refunds if getattr(x, key) == k and t - within < x.event_time_ms <= t]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    specs=refund_specs,
    k=st.integers(1, 4),
    s=st.integers(0, 200_000),
    m=st.integers(1, 100_000),
    seed=st.integers(0, 2**16),
)
def test_aggregates_match_a_brute_force_oracle(
    specs: list[tuple[str | None, str, int, int, str]], k: int, s: int, m: int, seed: int
) -> None:
    rules = ruleset(
        rule_yaml("count_by_agent", f"count(refund_issued by agent_id within 1h) >= {k}"),
        rule_yaml(
            "sum_manual",
            'sum(refund_issued.amount_cents where policy == "manual_override" '
            f"by agent_id within 2h) > {s}",
        ),
        rule_yaml("max_by_customer", f"max(refund.amount_cents by customer_id within 30m) >= {m}"),
        rule_yaml("min_by_customer", f"min(refund.amount_cents by customer_id within 90m) < {m}"),
        rule_yaml("avg_by_agent", f"avg(refund.amount_cents by agent_id within 1h) > {m}"),
        # one rule reading two ids' histories: the evaluation gathers both (docs/rules.md)
        rule_yaml(
            "agent_and_customer",
            f"count(refund_issued by agent_id within 1h) >= {k} "
            f"and max(refund.amount_cents by customer_id within 30m) >= {m}",
        ),
        rule_yaml(
            "distinct_customers",
            f"distinct(refund.customer_id by agent_id within 3h) >= {min(k, 3)}",
        ),
    )
    events = _events(specs)
    refunds = [e for e in events if isinstance(e, RefundIssued)]
    expected: set[tuple[str, str]] = set()
    for r in refunds:
        by_agent = _window(refunds, r, "agent_id", HOUR)
        manual = [
            x.amount_cents
            for x in _window(refunds, r, "agent_id", 2 * HOUR)
            if x.policy == "manual_override"
        ]
        by_cust = [x.amount_cents for x in _window(refunds, r, "customer_id", 30 * MINUTE)]
        by_cust90 = [x.amount_cents for x in _window(refunds, r, "customer_id", 90 * MINUTE)]
        checks = {
            "count_by_agent": len(by_agent) >= k,
            "sum_manual": sum(manual) > s,
            "max_by_customer": bool(by_cust) and max(by_cust) >= m,
            "min_by_customer": bool(by_cust90) and min(by_cust90) < m,
            "avg_by_agent": bool(by_agent)
            and sum(x.amount_cents for x in by_agent) / len(by_agent) > m,
            "agent_and_customer": len(by_agent) >= k and bool(by_cust) and max(by_cust) >= m,
            "distinct_customers": len(
                {x.customer_id for x in _window(refunds, r, "agent_id", 3 * HOUR)}
            )
            >= min(k, 3),
        }
        expected |= {(f"rule:{name}", r.refund_id) for name, hit in checks.items() if hit}
    with tempfile.TemporaryDirectory() as tmp:
        in_order, _, stats = run(rules, events, Path(tmp) / "a")
        # the shuffled run keeps its state in RocksDB: both backends give the oracle's answer
        shuffled, _, _ = run(
            rules,
            shuffled_within(events, 10 * MINUTE, seed),
            Path(tmp) / "b",
            RuntimeSettings(analytics=False, state_backend="rocksdb"),
        )
    assert stats.reconciles()
    assert fired(in_order) == expected
    assert fired(shuffled) == expected


def test_aggregate_over_another_event_type_and_empty_windows(tmp_path: Path) -> None:
    f = Events()
    events: list[EventBase] = [
        f.session("s1", "a1", T0),
        f.session("s2", "a1", T0 + 10 * MINUTE),
        f.refund("r1", "o1", T0 + 20 * MINUTE, agent_id="a1"),
        f.refund("r2", "o2", T0 + 5 * HOUR, agent_id="a1"),  # sessions out of the window
        f.refund("r3", "o3", T0 + 5 * HOUR, issued_by="system"),  # no agent: count is 0
        f.tick(T0 + DAY),
    ]
    rules = ruleset(
        rule_yaml("two_sessions", "count(agent_session_started by agent_id within 1h) >= 2"),
        rule_yaml("no_sessions", "count(agent_session_started by agent_id within 1h) == 0"),
        rule_yaml("no_max", "max(refund.amount_cents by agent_id within 1h) == null"),
    )
    alerts, _, _ = run(rules, events, tmp_path)
    assert fired(alerts) == {
        ("rule:two_sessions", "r1"),
        ("rule:no_sessions", "r2"),
        ("rule:no_sessions", "r3"),
        ("rule:no_max", "r3"),
    }

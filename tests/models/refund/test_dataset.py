"""Point-in-time rows and the label-delay join."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from vigil.detectors.base import Alert
from vigil.events.schemas import AnalystDecision, Chargeback, EventBase, InvestigationOutcome
from vigil.models.refund.dataset import (
    Label,
    collect_rows_from_events,
    heartbeat_after,
    join_labels,
    labels_from_events,
)
from vigil.models.refund.features import FEATURE_NAMES, ID_COLUMNS

from ._factories import DAY, HOUR, MINUTE, T0, Events, small_world

HB = 8 * DAY  # a heartbeat this far after the last event closes every refund's week


def _rows(events: list[EventBase], horizon_ms: int = 7 * DAY) -> pl.DataFrame:
    return collect_rows_from_events([*events, heartbeat_after(events, HB)], horizon_ms=horizon_ms)


def _as_dicts(df: pl.DataFrame) -> dict[str, dict[str, object]]:
    return {r["refund_id"]: r for r in df.iter_rows(named=True)}


@pytest.fixture(scope="module")
def world() -> list[EventBase]:
    return small_world(seed=1)


@pytest.fixture(scope="module")
def world_rows(world: list[EventBase]) -> pl.DataFrame:
    return _rows(world)


def test_one_row_per_refund_with_ids_then_features(
    world: list[EventBase], world_rows: pl.DataFrame
) -> None:
    refunds = {e.refund_id for e in world if hasattr(e, "refund_id")}
    assert set(world_rows["refund_id"]) == refunds
    assert tuple(world_rows.columns) == ID_COLUMNS + FEATURE_NAMES
    assert (world_rows["decision_time_ms"] - world_rows["refund_time_ms"] == 7 * DAY).all()


def _later_event(draw: st.DrawFn, f: Events, t: int, n: int) -> EventBase:
    cid = f"c{draw(st.integers(0, 45))}"
    oid = draw(st.sampled_from([f"o{cid[1:]}-0", f"o{cid[1:]}-1", f"new-{n}"]))
    kind = draw(st.sampled_from(["order", "refund", "scan", "delivered", "signup", "session"]))
    if kind == "order":
        return f.order(oid, cid, t, device=draw(st.sampled_from(["dev-shared", "dev-x"])))
    if kind == "refund":
        return f.refund(f"late-r{n}", oid, cid, t, agent=draw(st.sampled_from([None, "a1", "a4"])))
    if kind == "scan":
        return f.scan(oid, t)
    if kind == "delivered":
        return f.delivered(oid, cid, t)
    if kind == "signup":
        return f.signup(cid, t)
    return f.session(f"late-s{n}", draw(st.sampled_from(["a0", "a2"])), t, "laptop-z")


@st.composite
def later_events(draw: st.DrawFn, after_ms: int) -> list[EventBase]:
    f = Events()
    f.n = 90_000
    times = draw(st.lists(st.integers(1, 20 * DAY), min_size=1, max_size=25))
    return [_later_event(draw, f, after_ms + dt, n) for n, dt in enumerate(sorted(times))]


@settings(max_examples=12, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut_share=st.floats(0.5, 0.95), data=st.data())
def test_later_events_never_change_earlier_rows(
    world: list[EventBase], cut_share: float, data: st.DataObject
) -> None:
    """Property: rows decided by time c are the same whatever happens after c."""
    t_min, t_max = world[0].event_time_ms, world[-1].event_time_ms
    cut = int(t_min + cut_share * (t_max - t_min))
    before = [e for e in world if e.event_time_ms <= cut]
    later = data.draw(later_events(cut))
    base = _as_dicts(collect_rows_from_events(before))
    extended = _as_dicts(collect_rows_from_events([*before, *later, heartbeat_after(later, HB)]))
    assume(base)  # some refund decided before the cut
    for rid, row in base.items():
        assert row["decision_time_ms"] <= cut
        assert extended[rid] == row


def test_an_event_after_the_decision_that_arrives_before_it_is_not_read() -> None:
    """A scan one minute after the decision time, arriving early (within the bound)."""
    f = Events()
    events: list[EventBase] = [
        f.order("o1", "c1", T0),
        f.delivered("o1", "c1", T0 + DAY),
        f.refund("r1", "o1", "c1", T0 + 2 * DAY),
    ]
    decision = T0 + 2 * DAY + 7 * DAY
    late_scan = f.scan("o1", decision + MINUTE)
    # the scan arrives while the watermark (max time - 10 min) is still before the decision
    row = _as_dicts(_rows([*events, late_scan]))["r1"]
    assert row["returned_by_decision"] == 0.0
    on_time = _as_dicts(_rows([*events, f.scan("o1", decision - MINUTE)]))["r1"]
    assert on_time["returned_by_decision"] == 1.0


def test_history_counts_only_what_happened_before() -> None:
    f = Events()
    events: list[EventBase] = [
        f.roster("a1"),
        f.signup("c1", T0 - 3 * DAY),
        f.order("o1", "c1", T0),
        f.delivered("o1", "c1", T0 + DAY),
        f.session("s1", "a1", T0 + 2 * DAY - HOUR),
        f.refund("r1", "o1", "c1", T0 + 2 * DAY, agent="a1", session="s1"),
        f.order("o2", "c1", T0 + 3 * DAY),
        f.delivered("o2", "c1", T0 + 4 * DAY),
        f.refund("r2", "o2", "c1", T0 + 5 * DAY, agent="a1", session="s1"),
    ]
    rows = _as_dicts(_rows(events))
    r1, r2 = rows["r1"], rows["r2"]
    assert r1["account_age_days"] == pytest.approx(5.0)
    assert (r1["customer_orders"], r2["customer_orders"]) == (1.0, 2.0)
    assert (r1["customer_refunds_before"], r2["customer_refunds_before"]) == (0.0, 1.0)
    assert (r1["agent_customer_refunds_60d"], r2["agent_customer_refunds_60d"]) == (0.0, 1.0)
    assert r1["delivered"] == 1.0 and r1["returned_by_decision"] == 0.0
    assert r1["linked_accounts"] == 0.0


# --- labels ------------------------------------------------------------------------------


def _frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "refund_id": ["r1", "r2", "r3"],
            "refund_time_ms": [T0, T0 + DAY, T0 + 2 * DAY],
            "decision_time_ms": [T0 + 7 * DAY, T0 + 8 * DAY, T0 + 9 * DAY],
            "customer_id": ["c1", "c1", "c2"],
            "agent_id": [None, None, None],
            "order_id": ["o1", "o2", "o3"],
            "amount_cents": [100, 200, 300],
        }
    )


def test_labels_known_after_the_cutoff_are_null_and_later_decisions_dropped() -> None:
    labels = {
        "r1": Label(True, T0 + 10 * DAY, "truth"),
        "r2": Label(False, T0 + 20 * DAY, "truth"),
    }
    joined = join_labels(_frame(), labels, cutoff_ms=T0 + 8 * DAY)
    assert joined["refund_id"].to_list() == ["r1", "r2"]  # r3 not decided by the cut-off
    assert joined["label"].to_list() == [None, None]  # neither label known yet
    later = join_labels(_frame(), labels, cutoff_ms=T0 + 15 * DAY)
    assert later["label"].to_list() == [1, None, None]  # r2 known on day 20, r3 never
    assert later["label_known_ms"].to_list() == [T0 + 10 * DAY, T0 + 20 * DAY, None]


def test_label_events_precedence_and_mapping() -> None:
    f = Events()
    alert = Alert(
        alert_id="agent_refunds:agent:a1",
        detector="agent_refunds",
        version=1,
        subject_type="agent",
        subject_id="a1",
        score=0.9,
        reasons=("x",),
        explanation="x",
        event_time_ms=T0,
        refund_ids=("r3",),
    )
    events: list[EventBase] = [
        Chargeback(
            event_id="l1",
            event_time_ms=T0 + 30 * DAY,
            order_id="o1",
            customer_id="c1",
            amount_cents=100,
        ),
        InvestigationOutcome(
            event_id="l2",
            event_time_ms=T0 + 20 * DAY,
            subject_type="refund",
            subject_id="r1",
            outcome="legitimate",
        ),
        # an account finding covers the refunds it had received by then: r1 and r2
        InvestigationOutcome(
            event_id="l3",
            event_time_ms=T0 + DAY + HOUR,
            subject_type="account",
            subject_id="c1",
            outcome="fraud",
        ),
        AnalystDecision(
            event_id="l4",
            event_time_ms=T0 + 12 * DAY,
            alert_id=alert.alert_id,
            analyst_id="an1",
            outcome="fraud",
        ),
    ]
    del f
    labels = labels_from_events(events, _frame(), [alert])
    # r1: two investigations (the later one, day 20, legitimate) beat the chargeback
    assert labels["r1"] == Label(False, T0 + 20 * DAY, "investigation_outcome")
    assert labels["r2"] == Label(True, T0 + DAY + HOUR, "investigation_outcome")
    assert labels["r3"] == Label(True, T0 + 12 * DAY, "analyst_decision")

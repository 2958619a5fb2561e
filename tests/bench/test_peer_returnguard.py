"""bench/peer_returnguard.py: point-in-time profiles, and a whole run on a tiny stream."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections import defaultdict
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import pytest

from vigil.events.codec import encode_many
from vigil.events.schemas import (
    CustomerSignup,
    EventBase,
    LineItem,
    OrderPlaced,
    RefundIssued,
    ReturnRequested,
)
from vigil.sim import SimConfig, simulate

if TYPE_CHECKING:
    from conftest import EventFactory

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "peer_returnguard.py"
DAY_MS = 86_400_000


@pytest.fixture(scope="module")
def peer() -> ModuleType:
    spec = importlib.util.spec_from_file_location("peer_returnguard", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["peer_returnguard"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _item(price_cents: int) -> LineItem:
    return LineItem(sku="CLO-1", category="clothing", price_cents=price_cents, weight_g=500)


def test_profile_is_point_in_time(
    peer: ModuleType, event_factory: EventFactory, tmp_path: Path
) -> None:
    """A return made after a refund is not in that refund's profile, even when its line comes
    first in the file; the refund's own return is not in its profile either."""
    f = event_factory
    t0 = 1_767_571_200_000
    orders = [
        f.make(
            OrderPlaced,
            order_id=o,
            customer_id="c1",
            items=[_item(25_000)],
            total_cents=25_000,
            event_time_ms=t0 + i * DAY_MS,
        )
        for i, o in enumerate(("oA", "oB"))
    ]
    req_a = f.make(
        ReturnRequested,
        return_id="rA",
        order_id="oA",
        customer_id="c1",
        skus=["CLO-1"],
        reason="changed_mind",
        event_time_ms=t0 + 3 * DAY_MS,
    )
    ref_a = f.make(
        RefundIssued,
        refund_id="fA",
        order_id="oA",
        customer_id="c1",
        return_id="rA",
        amount_cents=25_000,
        event_time_ms=t0 + 4 * DAY_MS,
    )
    req_b = f.make(
        ReturnRequested,
        return_id="rB",
        order_id="oB",
        customer_id="c1",
        skus=["CLO-1"],
        reason="wrong_size",
        channel="self_service",
        event_time_ms=t0 + 5 * DAY_MS,
    )
    ref_b = f.make(
        RefundIssued,
        refund_id="fB",
        order_id="oB",
        customer_id="c1",
        return_id="rB",
        amount_cents=25_000,
        event_time_ms=t0 + 6 * DAY_MS,
    )
    # no return at all: an agent's override, after both
    ref_c = f.make(
        RefundIssued,
        refund_id="fC",
        order_id="oB",
        customer_id="c1",
        amount_cents=1_000,
        issued_by="agent",
        policy="manual_override",
        event_time_ms=t0 + 7 * DAY_MS,
    )
    signup = f.make(CustomerSignup, customer_id="c1", event_time_ms=t0 - DAY_MS)
    file_order: list[EventBase] = [req_b, *orders, ref_b, signup, req_a, ref_c, ref_a, req_a]
    path = tmp_path / "events.jsonl"
    path.write_bytes(encode_many(file_order) + b"{not json\n")

    events, lines = peer.read_events(path)
    assert lines == len(file_order) + 1  # a duplicate (req_a) and a bad line are dropped
    scored = {s.refund_id: s for s in peer.replay(events, peer.FraudScorer()).scored}

    a, b, c = scored["fA"], scored["fB"], scored["fC"]
    assert a.profile.total_orders == 2
    assert a.profile.total_returns == 0  # rB comes later; rA is this refund's own return
    assert a.profile.last_return_date is None
    assert b.profile.total_returns == 1
    assert b.profile.return_reasons == {"changed_mind": 1}
    assert b.profile.fraud_scores == [a.result.score]
    assert c.profile.total_returns == 2
    # the mapping: order date and value, the request's reason and time, SKU and units
    assert b.request.reason.value == "changed_mind"  # wrong_size is a no-fault return
    assert b.request.days_since_purchase == 4
    assert b.request.order_value == 250.0
    assert (b.request.sku, b.request.quantity, b.request.channel) == ("CLO-1", 1, "self_service")
    # the account's age is measured at the refund's event time, not at the wall clock
    assert "account_age" in {sig.value for sig in a.result.signals}
    assert c.has_request is False
    assert (c.request.return_id, c.request.reason.value, c.request.channel) == (
        "fC",
        "other",
        "agent",
    )


def test_profiles_match_a_brute_force_recount(peer: ModuleType, tmp_path: Path) -> None:
    """On a simulated stream, every profile counts exactly the orders and the return claims of
    that customer strictly before the refund (an oracle recomputed from the events)."""
    simulate(SimConfig(seed=2, events=8_000), tmp_path)
    events, _ = peer.read_events(tmp_path / "events.jsonl")
    scored = peer.replay(events, peer.FraudScorer()).scored
    orders: dict[str, list[int]] = defaultdict(list)
    claims: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for ev in events:
        if isinstance(ev, OrderPlaced):
            orders[ev.customer_id].append(ev.event_time_ms)
        elif isinstance(ev, ReturnRequested):
            claims[ev.customer_id].append((ev.event_time_ms, ev.return_id))
        elif isinstance(ev, RefundIssued) and ev.return_id is None:
            claims[ev.customer_id].append((ev.event_time_ms, ev.refund_id))
    refunds = {ev.refund_id: ev for ev in events if isinstance(ev, RefundIssued)}
    assert len(scored) == len(refunds) > 50
    for s in scored:
        ev = refunds[s.refund_id]
        cid, t = ev.customer_id, ev.event_time_ms
        own = ev.return_id if s.has_request else None
        assert s.profile.total_orders == sum(1 for x in orders[cid] if x <= t)
        assert s.profile.total_returns == sum(1 for x, k in claims[cid] if x < t and k != own)


def test_whole_run_reports_both_rows(peer: ModuleType, tmp_path: Path) -> None:
    data = tmp_path / "sim"
    simulate(SimConfig(seed=1, events=6_000), data)
    json_out, md_out = tmp_path / "peer.json", tmp_path / "peer.md"
    peer.main(["--data", str(data), "--json-out", str(json_out), "--md-out", str(md_out)])

    doc = json.loads(json_out.read_text())
    assert doc["refunds"] == doc["refunds_scored_by_returnguard"] > 0
    for view in ("budget", "uncapped"):
        names = list(doc["views"][view])
        assert names[0] == "Vigil"
        assert "returnguard (defaults)" in names and "returnguard (alt)" in names
        for figs in doc["views"][view].values():
            assert {s["scenario"] for s in figs["scenarios"]} >= {
                "insider_refund",
                "agent_takeover",
                "empty_box",
                "ring",
                "serial_returner",
            }
    assert all(f["raised"] <= doc["budget_cap"] for f in doc["views"]["budget"].values())
    md = md_out.read_text()
    assert "| refunds raised |" in md and "returnguard (defaults)" in md and "Vigil" in md

"""Request-time facts: recomputed by brute force from a simulated stream, published and
applied to a copy, pruned without changing what a read sees."""

from __future__ import annotations

import math
import pickle
from collections import defaultdict
from pathlib import Path

import msgspec
import pytest

from vigil.events import DecodeFailure, decode_one
from vigil.events.schemas import (
    AgentSessionStarted,
    CarrierScan,
    CustomerSignup,
    EventBase,
    InvestigationOutcome,
    OrderPlaced,
    RefundRequested,
    ShipmentDelivered,
)
from vigil.features.facts import DAY_MS, FactsSettings, RequestFacts
from vigil.sim import SimConfig, simulate


@pytest.fixture(scope="module")
def events(tmp_path_factory: pytest.TempPathFactory) -> list[EventBase]:
    """A simulated stream in arrival order (duplicates kept out, as the runtime drops them)."""
    out = tmp_path_factory.mktemp("facts")
    sim = simulate(SimConfig(seed=4, events=30_000, takeover_sessions_per_million=300.0), out)
    seen: set[str] = set()
    evs: list[EventBase] = []
    for n, raw in enumerate(Path(sim.events_path).read_bytes().splitlines(), 1):
        ev = decode_one(raw, n)
        if isinstance(ev, DecodeFailure) or ev.event_id in seen:
            continue
        seen.add(ev.event_id)
        evs.append(ev)
    return evs


def _facts(events: list[EventBase], **kw: bool) -> RequestFacts:
    facts = RequestFacts(**kw)  # type: ignore[arg-type]
    for ev in events:
        facts.update_one(ev)
    return facts


def test_orders_customers_and_requests_match_a_recount(events: list[EventBase]) -> None:
    facts = _facts(events)
    delivered: dict[str, int] = {}
    requested: dict[str, int] = defaultdict(int)
    by_customer: dict[str, int] = defaultdict(int)
    signups: dict[str, int] = {}
    placed: dict[str, OrderPlaced] = {}
    for ev in events:
        if isinstance(ev, ShipmentDelivered):
            delivered[ev.order_id] = min(
                delivered.get(ev.order_id, ev.event_time_ms), ev.event_time_ms
            )
        elif isinstance(ev, RefundRequested):
            requested[ev.order_id] += ev.amount_cents
            by_customer[ev.customer_id] += 1
        elif isinstance(ev, CustomerSignup):
            signups[ev.customer_id] = min(
                signups.get(ev.customer_id, ev.event_time_ms), ev.event_time_ms
            )
        elif isinstance(ev, OrderPlaced) and ev.order_id not in placed:
            placed[ev.order_id] = ev
    assert len(placed) > 1_000 and len(requested) > 100
    for oid, ev in placed.items():
        o = facts.tables["order"][oid]
        assert (o.customer_id, o.total_cents, o.placed_ms) == (
            ev.customer_id,
            ev.total_cents,
            ev.event_time_ms,
        )
        assert o.delivered_ms == delivered.get(oid)
        assert o.requested_cents == requested.get(oid, 0)
        assert o.items == ev.items
    for cid, n in by_customer.items():
        assert facts.tables["customer"][cid].requests == n
    for cid, t in signups.items():
        assert facts.tables["customer"][cid].signup_ms == t


def test_scans_are_kept_in_event_time_order(events: list[EventBase]) -> None:
    facts = _facts(events)
    scans: dict[str, list[tuple[int, str, int, str, str | None]]] = defaultdict(list)
    for ev in events:
        if isinstance(ev, CarrierScan):
            scans[ev.order_id].append(
                (ev.event_time_ms, ev.scan_type, ev.weight_g, ev.location_country, ev.postal_code)
            )
    assert scans
    for oid, seen in scans.items():
        parcel = facts.tables["order"][oid].parcel
        assert parcel is not None
        assert parcel.scans == sorted(set(seen))[:8]


def test_typical_amounts_match_a_recomputation(events: list[EventBase]) -> None:
    facts = _facts(events)
    for issuer in ("agent", "system"):
        logs = [
            math.log(max(1, ev.amount_cents))
            for ev in events
            if isinstance(ev, RefundRequested) and ev.issued_by == issuer
        ]
        amounts = facts.amounts(issuer)
        assert amounts is not None and amounts.n == len(logs) > 10
        mean = sum(logs) / len(logs)
        sd = math.sqrt(sum((x - mean) ** 2 for x in logs) / (len(logs) - 1))
        assert amounts.typical() == pytest.approx((mean, max(0.25, sd)))


def test_a_takeover_session_is_new_for_its_agent_and_learns_nothing(
    events: list[EventBase],
) -> None:
    """An intruder's session from a device the agent never used, without MFA, is marked new
    and does not teach the agent's history its device."""
    facts = _facts(events)
    sessions = [e for e in events if isinstance(e, AgentSessionStarted)]
    intruders = [
        s
        for s in sessions
        if s.device_id.startswith("ad-")
        and not any(o.device_id == s.device_id and o.session_id != s.session_id for o in sessions)
    ]
    new = [s for s in intruders if facts.tables["session"][s.session_id].new_device]
    assert new
    for s in new:
        if not s.mfa:
            assert s.device_id not in facts.tables["agent"][s.agent_id].devices


def test_published_lines_rebuild_the_same_facts(events: list[EventBase]) -> None:
    """What the runtime publishes batch by batch, applied in order, is what it holds."""
    facts = RequestFacts(track_dirty=True)
    copy = RequestFacts()
    for i, ev in enumerate(events):
        facts.update_one(ev)
        if i % 997 == 0:  # a batch boundary
            for line in facts.dirty_lines():
                copy.apply_line(line)
    for line in facts.dirty_lines():
        copy.apply_line(line)
    for kind, table in facts.tables.items():
        assert msgspec.json.encode(copy.tables[kind], order="sorted") == msgspec.json.encode(
            table, order="sorted"
        ), kind


def test_a_checkpoint_keeps_the_facts_as_they_are(events: list[EventBase]) -> None:
    """``state`` (one MessagePack blob per table) restores equal facts, and a checkpoint
    written before the tables were encoded (the structs pickled) still restores."""
    facts = RequestFacts()
    for ev in events:
        facts.update_one(ev)
    state = pickle.loads(pickle.dumps(facts.state()))
    assert all(isinstance(blob, bytes) for blob in state.values())
    for saved in (state, pickle.loads(pickle.dumps(facts.tables))):
        copy = RequestFacts()
        copy.restore(saved)
        assert copy.tables == facts.tables
        assert all(copy.tables[kind] for kind in ("order", "customer", "session", "refund"))


def test_checkpoint_files_follow_the_changes_and_restore_equal(
    events: list[EventBase], tmp_path: Path
) -> None:
    """A base first, then deltas holding only the entries changed or pruned since; the
    files restore the facts as they were, pruned entries gone."""
    facts = RequestFacts(checkpointed=True)
    manifests = []
    for i, ev in enumerate(events, 1):
        facts.update_one(ev)
        if i % 2_000 == 0:
            manifests.append(facts.checkpoint(tmp_path))
    with_deltas = [m for m in manifests if len(m["files"]) > 2]
    assert with_deltas
    for m in with_deltas:
        names = [f["name"] for f in m["files"]]
        assert names[0].endswith(".base") and all(n.endswith(".delta") for n in names[1:])
        sizes = [f["bytes"] for f in m["files"]]
        assert max(sizes[1:]) < sizes[0]  # a delta holds the changes, not the whole
    facts.prune(events[-1].event_time_ms + 200 * DAY_MS)  # orders and sessions go
    manifests.append(facts.checkpoint(tmp_path))
    facts.committed(tmp_path, manifests[-1], manifests[-2])
    copy = RequestFacts()
    copy.restore_files(tmp_path, manifests[-1])
    assert copy.tables == facts.tables
    assert not copy.tables["order"] and copy.tables["customer"]


def test_pruning_never_changes_what_a_read_sees(events: list[EventBase]) -> None:
    settings = FactsSettings(order_retention_ms=5 * DAY_MS, customer_retention_ms=8 * DAY_MS)
    kept = RequestFacts(settings)
    pruned = RequestFacts(settings)
    newest = 0
    for i, ev in enumerate(events):
        kept.update_one(ev)
        pruned.update_one(ev)
        newest = max(newest, ev.event_time_ms)
        if i % 500 == 0:
            pruned.prune(newest - 10 * 60_000)  # the watermark lags the newest time
    assert len(pruned) < len(kept)
    at = newest
    for kind in ("order", "customer"):
        for key in kept.tables[kind]:
            assert (kept.get(kind, key, at) is None) == (pruned.get(kind, key, at) is None)


def test_labels_reach_the_customer_of_a_refund(events: list[EventBase]) -> None:
    facts = _facts(events)
    req = next(e for e in events if isinstance(e, RefundRequested))
    before = facts.tables["customer"][req.customer_id].fraud_labels
    facts.update_one(
        InvestigationOutcome(
            event_id="ev-label",
            event_time_ms=req.event_time_ms + DAY_MS,
            subject_type="refund",
            subject_id=req.refund_id,
            outcome="fraud",
        )
    )
    assert facts.tables["customer"][req.customer_id].fraud_labels == before + 1

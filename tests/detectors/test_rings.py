"""The entity graph (union-find with expiry and hubs) and the ``fraud_ring`` detector."""

from __future__ import annotations

import pickle
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from vigil.detectors.base import Alert, alert_decoder
from vigil.detectors.graph.entity_graph import DAY_MS, EntityGraph
from vigil.detectors.graph.rings import (
    REASON_COUNTRIES,
    REASON_GROWN,
    REASON_LINKED,
    REASON_SHARED_AGENT,
    REASON_UNRETURNED,
    REASON_YOUNG,
    FraudRingDetector,
)
from vigil.detectors.registry import build_detector
from vigil.events.codec import encode_one
from vigil.events.schemas import (
    CustomerLogin,
    CustomerSignup,
    EventBase,
    LineItem,
    OrderPlaced,
)
from vigil.ingest.sources import FileSource
from vigil.runtime.embedded import EmbeddedRuntime, RuntimeSettings
from vigil.runtime.harness import run_events

from ._factories import DAY, HOUR, MINUTE, T0, Events, shuffled_within

CAPS = {"d": 32, "p": 32, "a": 12, "i": 8, "e": 4, "t": 4}
TTL_DAYS = 45


# --- the graph against a brute-force oracle ------------------------------------------------


def _oracle_components(
    edges: dict[tuple[int, int], int], cutoff: int, caps_hit: set[int] | None = None
) -> set[frozenset[int]]:
    """Account components (2+ accounts) from the live edges, recomputed from scratch."""
    by_entity: dict[int, set[int]] = {}
    for (a, e), day in edges.items():
        if day >= cutoff:
            by_entity.setdefault(e, set()).add(a)
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        while parent.setdefault(x, x) != x:
            x = parent[x]
        return x

    for e, accounts in by_entity.items():
        if len(accounts) < 2 or (caps_hit and e in caps_hit):
            continue
        first, *rest = sorted(accounts)
        for a in rest:
            parent[find(a)] = find(first)
    groups: dict[int, set[int]] = {}
    for a in parent:
        groups.setdefault(find(a), set()).add(a)
    return {frozenset(g) for g in groups.values() if len(g) >= 2}


def _graph_components(g: EntityGraph) -> set[frozenset[int]]:
    out = set()
    for members in g.components():
        accounts = frozenset(int(g.name(m)[2:]) for m in members if g.name(m)[0] == "c")
        if len(accounts) >= 2:
            out.add(accounts)
    return out


def _check_invariants(g: EntityGraph) -> None:
    for members in g.components():
        roots = {g.find(m) for m in members}
        assert len(roots) == 1
        assert len(set(members)) == len(members)


_op = st.one_of(
    st.tuples(st.just("link"), st.integers(0, 9), st.integers(0, 11), st.integers(0, 6 * DAY_MS)),
    st.tuples(st.just("expire"), st.just(0), st.just(0), st.integers(0, 40 * DAY_MS)),
)


@settings(max_examples=200, deadline=None)
@given(ops=st.lists(_op, min_size=1, max_size=120))
def test_components_after_adds_and_expiries_equal_a_recomputation(
    ops: list[tuple[str, int, int, int]],
) -> None:
    """Property: right after every expiry rebuild, the components are exactly those of the
    live edges (no entity crowded enough to become a hub here)."""
    ttl = 20
    g = EntityGraph({}, {"d": 1000}, ttl)
    edges: dict[tuple[int, int], int] = {}
    now = T0
    for kind, acct, ent, dt in ops:
        now += dt
        day = now // DAY_MS
        if kind == "link":
            g.touch(f"c:{acct}", (f"d:{ent}",), now)
            edges[(acct, ent)] = max(edges.get((acct, ent), 0), day)
        else:
            g.expire(now)
            assert _graph_components(g) == _oracle_components(edges, day - ttl)
        _check_invariants(g)
    g.expire(now)
    assert _graph_components(g) == _oracle_components(edges, now // DAY_MS - ttl)
    # a pickled and restored graph is the same graph
    again = EntityGraph(pickle.loads(pickle.dumps(g.state)), {"d": 1000}, ttl)
    assert _graph_components(again) == _graph_components(g)


@settings(max_examples=100, deadline=None)
@given(links=st.lists(st.tuples(st.integers(0, 29), st.integers(0, 5)), min_size=1, max_size=150))
def test_hubs_never_link_and_the_rest_matches_the_oracle(links: list[tuple[int, int]]) -> None:
    """Entities above their cap link nothing; every other component is the oracle's."""
    cap = 4
    g = EntityGraph({}, {"d": cap}, 45)
    edges: dict[tuple[int, int], int] = {}
    for i, (acct, ent) in enumerate(links):
        t = T0 + i * MINUTE
        g.touch(f"c:{acct}", (f"d:{ent}",), t)
        edges[(acct, ent)] = t // DAY_MS
        _check_invariants(g)
    counts: dict[int, int] = {}
    for _, e in edges:
        counts[e] = counts.get(e, 0) + 1
    hubs = {e for e, n in counts.items() if n > cap}
    assert {int(g.name(h)[2:]) for h in g.state["hubs"]} == hubs
    assert _graph_components(g) == _oracle_components(edges, 0, hubs)


# --- graph examples --------------------------------------------------------------------------


def test_super_nodes_do_not_merge_unrelated_accounts() -> None:
    """500 customers behind one CGNAT IP and 40 at one pickup point stay unlinked; two of
    them who share a card are linked, and only through the card."""
    g = EntityGraph({}, CAPS, TTL_DAYS)
    for i in range(500):
        g.touch(f"c:{i}", (f"d:own{i}", "i:100.64.0.1", f"p:own{i}"), T0 + i * MINUTE)
    for i in range(40):
        g.touch(f"c:{i}", ("a:pickup-point-7",), T0 + i * MINUTE)
    g.touch("c:3", ("p:shared-card",), T0 + DAY)
    g.touch("c:400", ("p:shared-card",), T0 + DAY)
    assert _graph_components(g) == {frozenset({3, 400})}
    (members,) = g.components()
    assert sorted(g.name(m) for m in members) == ["c:3", "c:400", "p:shared-card"]
    stats = g.stats()
    assert stats["hubs"] == 2 and stats["shared_entities"] == 1


def test_a_hub_splits_the_component_it_had_glued() -> None:
    g = EntityGraph({}, {"i": 3, "d": 32}, TTL_DAYS)
    for i in range(3):
        g.touch(f"c:{i}", ("i:office",), T0 + i * MINUTE)
    assert _graph_components(g) == {frozenset({0, 1, 2})}
    g.touch("c:1", ("d:tablet",), T0 + HOUR)
    g.touch("c:2", ("d:tablet",), T0 + HOUR)
    g.touch("c:3", ("i:office",), T0 + 2 * HOUR)  # the fourth: the office IP is a hub now
    assert _graph_components(g) == {frozenset({1, 2})}


def test_expiry_splits_old_links() -> None:
    g = EntityGraph({}, CAPS, TTL_DAYS)
    g.touch("c:1", ("d:old-phone", "p:card-1"), T0)
    g.touch("c:2", ("d:old-phone", "p:card-2"), T0 + HOUR)  # the phone was sold on
    g.touch("c:2", ("p:card-3",), T0 + 30 * DAY)
    g.touch("c:3", ("p:card-3",), T0 + 30 * DAY)
    assert _graph_components(g) == {frozenset({1, 2, 3})}
    g.expire(T0 + 40 * DAY)
    assert _graph_components(g) == {frozenset({1, 2, 3})}  # within the TTL
    g.expire(T0 + (TTL_DAYS + 2) * DAY)
    assert _graph_components(g) == {frozenset({2, 3})}
    g.expire(T0 + (30 + TTL_DAYS + 2) * DAY)
    assert _graph_components(g) == set()
    n_nodes = g.stats()["nodes"]
    assert g.sweep_nodes(T0 + (30 + TTL_DAYS + 2) * DAY) == n_nodes == 7
    assert g.stats()["nodes"] == 0  # everything idle for the TTL is freed
    g.touch("c:9", ("d:new",), T0 + 80 * DAY)  # freed slots are reused
    assert len(g.state["names"]) == n_nodes


def test_many_nodes_then_a_sweep_free_and_reuse_their_slots() -> None:
    """More nodes than one block of spare column slots: each reads as a new node; a sweep
    frees the idle ones that link nothing, in index order, and new nodes reuse them."""
    g = EntityGraph({}, CAPS, TTL_DAYS)
    n = 3000
    for i in range(n):
        g.touch(f"c:{i}", (f"d:{i}",), T0 + i)
    s = g.state
    assert len(s["names"]) == 2 * n <= len(s["parent"])
    for i in range(n):
        a, d = g.find_node(f"c:{i}"), g.find_node(f"d:{i}")
        assert a is not None and d is not None
        assert g.find(a) == a and g.find(d) == d and g.members(d) == [d]
        assert s["owner"][a] == -1 and s["owner"][d] == a
        assert s["seen"][d] == T0 // DAY and s["born"][a] == 0 and s["country"][a] == 0
    g.touch("c:0", ("d:1",), T0 + DAY)  # c:0 and c:1 share d:1 now
    assert g.sweep_nodes(T0 + (TTL_DAYS + 1) * DAY) == 2 * n - 3
    assert sorted(g.name(m) for m in g.members(g.node("c:1"))) == ["c:0", "c:1", "d:1"]
    assert s["free"] == sorted(s["free"]) and g.stats()["nodes"] == 3
    last_freed = s["free"][-2:]
    g.touch("c:new", ("d:new",), T0 + (TTL_DAYS + 2) * DAY)
    assert [g.find_node("d:new"), g.find_node("c:new")] == last_freed
    assert len(s["names"]) == 2 * n
    again = EntityGraph(pickle.loads(pickle.dumps(s)), CAPS, TTL_DAYS)
    assert _graph_components(again) == _graph_components(g) == {frozenset({0, 1})}


# --- the detector ----------------------------------------------------------------------------


class World:
    """A tiny event builder for ring tests, with full control of linking attributes."""

    def __init__(self) -> None:
        self.f = Events()
        self.events: list[EventBase] = []
        self._n = 0

    def _id(self) -> str:
        self._n += 1
        return f"w{self._n:05d}"

    def signup(self, cid: str, t: int, *, device: str, ip: str, country: str) -> None:
        self.events.append(
            CustomerSignup(
                event_id=self._id(),
                event_time_ms=t,
                customer_id=cid,
                email_hash="e-" + cid,
                country=country,
                device_id=device,
                ip=ip,
            )
        )

    def login(self, cid: str, t: int, *, device: str, ip: str, country: str) -> None:
        self.events.append(
            CustomerLogin(
                event_id=self._id(),
                event_time_ms=t,
                customer_id=cid,
                device_id=device,
                ip=ip,
                country=country,
                success=True,
            )
        )

    def order(
        self,
        oid: str,
        cid: str,
        t: int,
        *,
        device: str,
        ip: str,
        address: str,
        payment: str,
        country: str,
        price: int = 90_000,
    ) -> None:
        self.events.append(
            OrderPlaced(
                event_id=self._id(),
                event_time_ms=t,
                order_id=oid,
                customer_id=cid,
                items=[LineItem(sku="sku", category="phones", price_cents=price, weight_g=500)],
                total_cents=price,
                shipping_address_hash=address,
                payment_fingerprint=payment,
                device_id=device,
                ip=ip,
                country=country,
            )
        )
        self.events.append(self.f.delivered(oid, t + DAY, customer_id=cid))

    def close(self, extra_days: int = 20) -> list[EventBase]:
        evs = sorted(self.events, key=lambda e: e.event_time_ms)
        evs.append(self.f.tick(evs[-1].event_time_ms + extra_days * DAY))
        return evs


def _ring(
    w: World,
    n: int = 9,
    t0: int = T0,
    tag: str = "r",
    agent: str = "a3",
    refund_after_ms: int = 3 * DAY,
) -> None:
    """``n`` fresh accounts in GB/PL/RO on 3 shared phones, one shared card, two drop
    addresses; dear orders refunded by one agent with nothing ever sent back."""
    countries = ("GB", "PL", "RO")
    for i in range(n):
        cid, oid = f"{tag}{i}", f"o-{tag}{i}"
        country = countries[i % 3]
        device = f"dev-{tag}{i % 3}"
        t = t0 + i * 6 * HOUR
        w.signup(cid, t, device=device, ip=f"ip-{tag}{i}", country=country)
        w.order(
            oid,
            cid,
            t + DAY,
            device=device,
            ip=f"ip-{tag}{i}",
            address=f"drop-{tag}{i % 2}",
            payment=f"card-{tag}",
            country=country,
        )
        w.events.append(
            w.f.refund(
                f"rf-{oid}",
                oid,
                t + DAY + refund_after_ms,
                amount_cents=90_000,
                agent_id=agent,
                customer_id=cid,
            )
        )


def _family(w: World, t0: int = T0) -> None:
    """Four long-standing customers on one tablet, one address, one home IP; one cheap
    returnless refund and one dear refund whose parcel comes back intact."""
    for i in range(4):
        cid = f"fam{i}"
        w.login(cid, t0 + i * HOUR, device="dev-tablet", ip="ip-home", country="US")
        w.order(
            f"o-fam{i}",
            cid,
            t0 + i * HOUR + MINUTE,
            device="dev-tablet",
            ip="ip-home",
            address="addr-home",
            payment=f"card-fam{i}",
            country="US",
            price=60_000,
        )
    f = w.f
    w.events += [
        f.refund(
            "rf-fam0",
            "o-fam0",
            t0 + 3 * DAY,
            amount_cents=2_500,
            policy="returnless",
            issued_by="system",
            customer_id="fam0",
        ),
        f.scan("ret-fam1", "o-fam1", t0 + 4 * DAY, weight_g=900),
        f.refund(
            "rf-fam1",
            "o-fam1",
            t0 + 4 * DAY + HOUR,
            amount_cents=60_000,
            policy="on_first_scan",
            issued_by="system",
            customer_id="fam1",
        ),
        f.receipt("ret-fam1", "o-fam1", t0 + 7 * DAY, weight_g=900),
    ]


def _ring_alerts(events: list[EventBase]) -> list[Alert]:
    alerts, stats = run_events([build_detector("fraud_ring")], events)
    assert stats.reconciles()
    return alerts


def test_a_ring_across_three_countries_alerts_with_members_and_evidence() -> None:
    w = World()
    _ring(w)
    _family(w)
    alerts = _ring_alerts(w.close())
    assert alerts, "the ring should alert"
    first = alerts[0]
    assert first.subject_type == "ring" and first.subject_id == "ring-r0#1"
    assert first.alert_id == "fraud_ring:ring:ring-r0#1"
    assert first.score >= 0.5
    accounts = {m for m in first.members if m.startswith("account:")}
    assert accounts == {f"account:r{i}" for i in range(9)}
    assert {m for m in first.members if not m.startswith("account:")} == {
        "device:dev-r0",
        "device:dev-r1",
        "device:dev-r2",
        "address:drop-r0",
        "address:drop-r1",
        "payment:card-r",
        "agent:a3",
    }
    # evidence links members only, strongest first; the card (9 accounts) is weaker than a
    # phone (3 accounts)
    weights = [e.weight for e in first.evidence]
    assert weights == sorted(weights, reverse=True)
    ids = {m.partition(":")[2] for m in first.members}
    for e in first.evidence:
        assert e.a in ids and e.b in ids and e.a < e.b
        assert e.via in first.members
    assert first.evidence[0].via.startswith("device:")
    assert first.evidence[0].weight == 0.5
    assert {REASON_LINKED, REASON_COUNTRIES, REASON_UNRETURNED, REASON_SHARED_AGENT} <= set(
        first.reasons
    )
    assert REASON_YOUNG in first.reasons
    assert set(first.refund_ids) <= {f"rf-o-r{i}" for i in range(9)}
    assert first.amount_cents == 90_000 * len(first.refund_ids)
    assert "9 accounts in 3 countries" in first.explanation
    assert "$" in first.explanation and "\n" not in first.explanation
    # every ring refund is covered by some alert; the family is never in one
    covered = {r for a in alerts for r in a.refund_ids}
    assert covered == {f"rf-o-r{i}" for i in range(9)}
    assert not any("fam" in m for a in alerts for m in a.members)


def test_a_family_of_four_sharing_a_tablet_does_not_alert() -> None:
    w = World()
    _family(w)
    assert _ring_alerts(w.close()) == []


def test_shared_infrastructure_does_not_alert() -> None:
    """An office network and a pickup point used by 30 colleagues and neighbours, each with
    refunds of their own, are hubs: no ring."""
    w = World()
    f = w.f
    for i in range(30):
        cid = f"emp{i}"
        w.order(
            f"o-emp{i}",
            cid,
            T0 + i * HOUR,
            device=f"dev-emp{i}",
            ip="ip-office",
            address="addr-pickup",
            payment=f"card-emp{i}",
            country="DE",
        )
        w.events.append(
            f.refund(f"rf-emp{i}", f"o-emp{i}", T0 + 3 * DAY + i * HOUR, customer_id=cid)
        )
    assert _ring_alerts(w.close()) == []


def test_links_older_than_the_ttl_do_not_make_a_ring() -> None:
    """The same ring, but every shared device and card was last used together more than the
    TTL before the refunds: by then the accounts are strangers."""
    w = World()
    _ring(w, refund_after_ms=(TTL_DAYS + 5) * DAY)
    assert _ring_alerts(w.close()) == []


def test_a_ring_that_grows_alerts_again_with_a_new_id() -> None:
    w = World()
    _ring(w, n=6)
    # two weeks later five more accounts join through the same phones and card
    for i in range(6, 11):
        cid, oid = f"r{i}", f"o-r{i}"
        t = T0 + 20 * DAY + i * HOUR
        w.signup(cid, t, device=f"dev-r{i % 3}", ip=f"ip-r{i}", country="RO")
        w.order(
            oid,
            cid,
            t + DAY,
            device=f"dev-r{i % 3}",
            ip=f"ip-r{i}",
            address="drop-r0",
            payment="card-r",
            country="RO",
        )
        w.events.append(
            w.f.refund(
                f"rf-{oid}", oid, t + 4 * DAY, amount_cents=90_000, agent_id="a3", customer_id=cid
            )
        )
    alerts = _ring_alerts(w.close())
    ids = [a.subject_id for a in alerts]
    assert ids[0] == "ring-r0#1" and ids[-1] == f"ring-r0#{len(ids)}"
    assert 2 <= len(ids) <= 4, ids  # a few alerts, not one per refund
    assert REASON_GROWN in alerts[-1].reasons
    last_accounts = {m for m in alerts[-1].members if m.startswith("account:")}
    assert len(last_accounts) == 11


def test_deterministic_and_arrival_order_independent() -> None:
    w = World()
    _ring(w)
    _family(w)
    events = w.close()

    def key(alerts: list[Alert]) -> list[tuple[object, ...]]:
        return [(a.alert_id, a.score, a.refund_ids, a.members, a.evidence) for a in alerts]

    expected = key(_ring_alerts(events))
    assert expected and key(_ring_alerts(events)) == expected
    for seed in range(3):
        assert key(_ring_alerts(shuffled_within(events, 10 * MINUTE, seed))) == expected


def test_checkpoint_and_restart_give_the_same_alerts(tmp_path: Path) -> None:
    """Stop after the first half of the input (a checkpoint), restart on the whole file:
    the same alerts as one uninterrupted run (state is plain, picklable data)."""
    w = World()
    _ring(w)
    _family(w)
    events = w.close()
    lines = [encode_one(e) + b"\n" for e in events]
    half = len(lines) // 2
    inp = tmp_path / "events.jsonl"
    inp.write_bytes(b"".join(lines[:half]))
    settings_ = RuntimeSettings(analytics=False)
    out, ckpt = tmp_path / "out", tmp_path / "ckpt"
    first = EmbeddedRuntime([FraudRingDetector()], out, settings_, checkpoint_dir=ckpt)
    assert first.run(FileSource(inp)).lines == half
    with inp.open("ab") as fh:  # the file grows; the resumed run starts where it stopped
        fh.write(b"".join(lines[half:]))
    EmbeddedRuntime([FraudRingDetector()], out, settings_, checkpoint_dir=ckpt).run(FileSource(inp))
    resumed = [alert_decoder.decode(x) for x in (out / "alerts.jsonl").read_bytes().splitlines()]
    straight = _ring_alerts(events)
    assert straight and resumed == straight

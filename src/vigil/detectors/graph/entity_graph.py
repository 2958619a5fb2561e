"""An incremental entity graph: accounts linked through the devices, IPs, addresses, payment
instruments, emails and phones they share, as connected components that forget old links.

Why this shape (see ``docs/detectors.md``, "fraud_ring", for the measured costs):

* **Bipartite, and only what links.** An account touches an entity (``link``). Most entities
  only ever belong to one account (a person's own phone, card, home address); such an entity
  costs one *owner* slot (the account and the day it was last seen) and never enters the
  union-find. Only when a *second* live account touches it does it become *shared*: a dict
  ``{account: last day seen}`` and a union of the entity with both accounts. Components are
  therefore sets of accounts and the shared entities that tie them.
* **Super-nodes stop linking.** A link through an entity shared by ``n`` live accounts counts
  ``strength / (n - 1)`` (a family tablet of 4: 1/3; a CGNAT IP of 500: nothing), and an entity
  whose live account count passes its kind's cap becomes a *hub*: its account dict is dropped
  (a hub costs one int), it no longer links anything, and the component it had glued together
  is rebuilt at once from its other shared entities. A hub stays a hub until nobody has
  touched it for the TTL. Caps are per kind (a device or a card shared by 30 accounts is
  already alarming; an address of 20 is a pickup point; an IP of 12 is an office or a carrier).
* **Links expire (event time).** Every edge keeps the day it was last seen. Union-find cannot
  delete, so expiry is an *epoch rebuild*: ``expire`` (called from a daily event-time timer)
  drops edges older than the TTL from the shared dicts (an entity left with one account goes
  back to the owner slot) and rebuilds only the components that lost an edge, from their live
  edges. Cost: one pass over the shared edges per call, plus the size of the affected
  components; private (owner) edges expire lazily (a stale owner is replaced on next touch)
  and idle nodes are freed by ``sweep_nodes`` (a pass over every node, run weekly).
  Components may therefore lag expiry by up to the rebuild period (one day).

State is plain picklable data in one dict (the detector's keyed state): node names and a
free list, ``array`` columns indexed by node (parent, owner, day seen, signup day, country;
grown a few thousand slots ahead of the nodes, the spare slots holding a new node's values
but its parent), and dicts for shared entities, hubs and component member lists. Node names
carry their kind in the first letter (``KINDS``); accounts are ``c:<customer id>``.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Mapping
from typing import Any

DAY_MS = 86_400_000

#: node-name prefix letter -> kind name used in evidence (``device:d-1``) and settings
KINDS: Mapping[str, str] = {
    "c": "account",
    "d": "device",
    "i": "ip",
    "a": "address",
    "p": "payment",
    "e": "email",
    "t": "phone",
}
ACCOUNT = "c"

#: ``seen``/``born`` days are unsigned 16-bit: day 0 means "unknown"
_MAX_DAY = 65_535
#: the columns grow by this many slots at a time, ahead of the nodes (``_grow_columns``)
_SPARE_SLOTS = 4096


def new_state() -> dict[str, Any]:
    """An empty graph."""
    return {
        "ids": {},  # node name -> index
        "names": [],  # index -> node name ("" when free); the same str objects as in ids
        "free": [],  # freed indices, reused first
        "parent": array("i"),  # union-find parent (self for roots and unlinked nodes)
        "owner": array("i"),  # entity: its only live account, -1 if none / shared / hub
        "seen": array("H"),  # entity: day its owner edge was last seen; account: last day
        "born": array("H"),  # account: signup day (0: unknown, existed before the stream)
        "country": array("B"),  # account: index in "codes" of its last country (0: unknown)
        "codes": [""],  # country codes seen
        "code_ix": {"": 0},
        "shared": {},  # entity index -> {account index: last day seen}
        "hubs": {},  # entity index -> last day seen (too many accounts: links nothing)
        "comp": {},  # root index -> member indices (accounts and shared entities)
        "rebuilds": 0,
    }


def day_of(time_ms: int) -> int:
    """The day number of an event time, clamped to what the columns hold."""
    d = time_ms // DAY_MS
    return 1 if d < 1 else _MAX_DAY if d > _MAX_DAY else d


def _add_node(s: dict[str, Any], name: str) -> int:
    """Create node ``name`` (not in ``s["ids"]``) in a free slot or at the end."""
    names: list[str] = s["names"]
    free: list[int] = s["free"]
    if free:
        x = free.pop()
        names[x] = name
        s["parent"][x] = x
        s["owner"][x] = -1
        s["seen"][x] = 0
        s["born"][x] = 0
        s["country"][x] = 0
    else:
        x = len(names)
        names.append(name)
        parent = s["parent"]
        if x == len(parent):
            _grow_columns(s)
        parent[x] = x
    s["ids"][name] = x
    return x


def _grow_columns(s: dict[str, Any]) -> None:
    """Add ``_SPARE_SLOTS`` slots to every column, set to a new node's values but ``parent``
    (set when the node is created), so that creating a node at the end writes one column."""
    s["parent"].frombytes(bytes(_SPARE_SLOTS * s["parent"].itemsize))
    s["owner"].extend(array("i", [-1]) * _SPARE_SLOTS)
    for column in ("seen", "born", "country"):
        s[column].frombytes(bytes(_SPARE_SLOTS * s[column].itemsize))


def touch_fast(
    s: dict[str, Any],
    account: str,
    entities: tuple[str, ...],
    time_ms: int,
    country: str = "",
    signup: bool = False,
) -> tuple[int, int]:
    """The part of ``EntityGraph.touch`` that needs neither the caps nor the TTL, on a graph
    state dict directly (a caller with one event to record builds no ``EntityGraph``).

    Records the account's activity, then settles ``entities`` in order while each is new (the
    account owns it), the account's own, a hub, or a shared entity the account already
    belongs to: nearly every touch. Stops at the first that is none of these (another
    account's entity, a shared entity the account joins, an unowned one) and returns (the
    account's node, how many entities it settled); the caller links the rest in order with
    ``EntityGraph.link``. ``s`` must be initialised (``new_state``).
    """
    ids: dict[str, int] = s["ids"]
    a = ids.get(account)
    if a is None:
        a = _add_node(s, account)
    day = time_ms // DAY_MS  # day_of, inlined
    if day < 1:
        day = 1
    elif day > _MAX_DAY:
        day = _MAX_DAY
    seen = s["seen"]
    if day > seen[a]:
        seen[a] = day
    if signup:
        born = s["born"]
        if born[a] == 0 or day < born[a]:
            born[a] = day
    if country:
        code_ix: dict[str, int] = s["code_ix"]
        c = code_ix.get(country)
        if c is None:
            codes: list[str] = s["codes"]
            c = code_ix[country] = len(codes)
            codes.append(country)
        if c < 256:
            s["country"][a] = c
    owner = s["owner"]
    settled = 0
    for entity in entities:
        e = ids.get(entity)
        if e is None:
            # a new entity: its first account owns it
            e = _add_node(s, entity)
            owner[e] = a
            seen[e] = day
        elif owner[e] == a:
            # the common case: the account's own device, card, address seen again
            if day > seen[e]:
                seen[e] = day
        else:
            hubs: dict[int, int] = s["hubs"]
            last = hubs.get(e)
            if last is not None:
                if day > last:
                    hubs[e] = day
            else:
                sh: dict[int, int] | None = s["shared"].get(e)
                if sh is None:
                    break  # another account's (or nobody's): may link, needs the TTL
                old = sh.get(a)
                if old is None:
                    break  # a shared entity the account joins: needs the caps
                if day > old:
                    sh[a] = day
        settled += 1
    return a, settled


class EntityGraph:
    """Operations over a graph state dict (``new_state``); holds no state of its own.

    ``caps`` maps a kind letter to the most live accounts an entity of that kind may have
    and still link (kinds missing from it never link); ``ttl_days`` is how long an edge
    lives after it was last seen.
    """

    __slots__ = ("_caps", "_s", "_ttl")

    def __init__(self, state: dict[str, Any], caps: Mapping[str, int], ttl_days: int) -> None:
        if not state:
            state.update(new_state())
        self._s = state
        self._caps = caps
        self._ttl = ttl_days

    @property
    def state(self) -> dict[str, Any]:
        return self._s

    # --- nodes ------------------------------------------------------------------------------

    def node(self, name: str) -> int:
        """The index of a node, created if new."""
        x: int | None = self._s["ids"].get(name)
        return x if x is not None else _add_node(self._s, name)

    def find_node(self, name: str) -> int | None:
        x: int | None = self._s["ids"].get(name)
        return x

    def name(self, x: int) -> str:
        n: str = self._s["names"][x]
        return n

    def note_account(
        self, account: str, time_ms: int, *, country: str = "", signup: bool = False
    ) -> int:
        """Record that an account was active (and where, and whether this is its signup)."""
        return self.touch(account, (), time_ms, country=country, signup=signup)

    def link(self, a: int, entity: str, time_ms: int) -> None:
        """Account node ``a`` touched ``entity`` (a node name whose first letter is its kind)."""
        self._link(a, entity, day_of(time_ms))

    def touch(
        self,
        account: str,
        entities: tuple[str, ...],
        time_ms: int,
        *,
        country: str = "",
        signup: bool = False,
    ) -> int:
        """An account was active at ``time_ms`` (where, and whether it signed up) and touched
        ``entities`` (node names whose first letter is their kind); returns its node. The hot
        path: one call per event (``touch_fast`` settles nearly all of it)."""
        a, settled = touch_fast(self._s, account, entities, time_ms, country, signup)
        if settled < len(entities):
            day = day_of(time_ms)
            for entity in entities[settled:]:
                self._link(a, entity, day)
        return a

    def _link(self, a: int, entity: str, day: int) -> None:
        s = self._s
        e = s["ids"].get(entity)
        if e is None:
            # a new entity: its first account owns it (the common case, kept short)
            e = _add_node(s, entity)
            s["owner"][e] = a
            s["seen"][e] = day
            return
        hubs: dict[int, int] = s["hubs"]
        if e in hubs:
            if day > hubs[e]:
                hubs[e] = day
            return
        owner = s["owner"]
        o = owner[e]
        if o == a:
            seen = s["seen"]
            if day > seen[e]:
                seen[e] = day
            return
        cap = self._caps.get(entity[0], 0)
        shared: dict[int, dict[int, int]] = s["shared"]
        if o < 0:
            sh = shared.get(e)
            if sh is not None:
                old = sh.get(a)
                if old is None:
                    sh[a] = day
                    if len(sh) > cap:
                        self._make_hub(e, max(sh.values()))
                    else:
                        self._union(e, a)
                elif day > old:
                    sh[a] = day
                return
        seen = s["seen"]
        if o < 0 or seen[e] + self._ttl < day:
            owner[e] = a  # unowned, or its last owner's link expired
            seen[e] = day
            return
        # a second live account: the entity starts linking (unless its kind never links)
        shared[e] = sh = {o: seen[e], a: day}
        owner[e] = -1
        if cap < 2:
            self._make_hub(e, max(sh.values()))
            return
        self._union(e, o)
        self._union(e, a)

    def _make_hub(self, e: int, day: int) -> None:
        s = self._s
        del s["shared"][e]
        s["hubs"][e] = day
        root = self.find(e)
        if root in s["comp"]:
            self._rebuild([root])

    # --- union-find ---------------------------------------------------------------------------

    def find(self, x: int) -> int:
        parent = self._s["parent"]
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def _union(self, x: int, y: int) -> None:
        rx, ry = self.find(x), self.find(y)
        if rx == ry:
            return
        comp: dict[int, list[int]] = self._s["comp"]
        lx, ly = comp.get(rx), comp.get(ry)
        if (len(lx) if lx else 1) < (len(ly) if ly else 1):
            rx, ry, lx, ly = ry, rx, ly, lx
        self._s["parent"][ry] = rx
        if lx is None:
            lx = comp[rx] = [rx]
        if ly is None:
            lx.append(ry)
        else:
            lx.extend(ly)
            del comp[ry]

    def members(self, x: int) -> list[int]:
        """Every node of ``x``'s component (just ``[x]`` when it links to nothing)."""
        root = self.find(x)
        m: list[int] | None = self._s["comp"].get(root)
        return list(m) if m else [x]

    def accounts_of(self, e: int) -> dict[int, int]:
        """A shared entity's live accounts and the day each last touched it (else empty)."""
        sh: dict[int, int] | None = self._s["shared"].get(e)
        return sh if sh is not None else {}

    def components(self) -> list[list[int]]:
        """Every component with more than one node (for tests and reports)."""
        return [list(m) for m in self._s["comp"].values()]

    # --- expiry -----------------------------------------------------------------------------

    def expire(self, now_ms: int) -> int:
        """Drop edges not seen for the TTL and rebuild the components that lost one.

        Returns how many shared edges were dropped.
        """
        s = self._s
        cutoff = day_of(now_ms) - self._ttl
        shared: dict[int, dict[int, int]] = s["shared"]
        owner, seen = s["owner"], s["seen"]
        dropped = 0
        affected: set[int] = set()
        for e in list(shared):
            sh = shared[e]
            stale = [a for a, d in sh.items() if d < cutoff]
            if not stale:
                continue
            dropped += len(stale)
            affected.add(self.find(e))
            for a in stale:
                del sh[a]
            if len(sh) < 2:
                del shared[e]
                if sh:
                    ((a, d),) = sh.items()
                    owner[e], seen[e] = a, d
        hubs: dict[int, int] = s["hubs"]
        for e in [e for e, d in hubs.items() if d < cutoff]:
            del hubs[e]
            owner[e], seen[e] = -1, 0
        comp: dict[int, list[int]] = s["comp"]
        self._rebuild(sorted(r for r in affected if r in comp))
        s["rebuilds"] += 1
        return dropped

    def _rebuild(self, roots: Iterable[int]) -> None:
        """Rebuild the given components from their live shared edges."""
        s = self._s
        comp: dict[int, list[int]] = s["comp"]
        shared: dict[int, dict[int, int]] = s["shared"]
        parent = s["parent"]
        nodes: list[int] = []
        for r in roots:
            nodes.extend(comp.pop(r))
        for x in nodes:
            parent[x] = x
        for e in nodes:
            sh = shared.get(e)
            if sh is not None:
                for a in sh:
                    self._union(e, a)

    def sweep_nodes(self, now_ms: int) -> int:
        """Free nodes idle for the TTL that nothing links (run after ``expire``); returns how
        many were freed, in index order. A pass over every node: run it rarely (weekly)."""
        s = self._s
        cutoff = day_of(now_ms) - self._ttl
        ids: dict[str, int] = s["ids"]
        names: list[str] = s["names"]
        shared, hubs, parent = s["shared"], s["hubs"], s["parent"]
        comp: dict[int, list[int]] = s["comp"]
        owner = s["owner"]
        # a pass over the ``seen`` column in index order (not over ``ids``, whose int objects
        # are scattered in memory); a free slot's name is ""
        gone = [
            x
            for x, day in enumerate(s["seen"][: len(names)])
            if day < cutoff
            and names[x]
            and x not in shared
            and x not in hubs
            and parent[x] == x
            and x not in comp
        ]
        for x in gone:
            del ids[names[x]]
            names[x] = ""
            owner[x] = -1
        s["free"].extend(gone)
        return len(gone)

    def stats(self) -> dict[str, int]:
        """Sizes, for reports and the benchmark."""
        s = self._s
        comp: dict[int, list[int]] = s["comp"]
        return {
            "nodes": len(s["ids"]),
            "shared_entities": len(s["shared"]),
            "shared_edges": sum(len(v) for v in s["shared"].values()),
            "hubs": len(s["hubs"]),
            "components": len(comp),
            "linked_nodes": sum(len(m) for m in comp.values()),
        }


def next_expiry_ms(fired_at_ms: int, every_ms: int, watermark_ms: int) -> int:
    """When the periodic expiry fired at ``fired_at_ms`` runs next: a period later, or, when
    the watermark is already past that (a gap in the stream, a clock that jumped), the first
    period boundary after the watermark. Across a gap the work is one expiry, not one per
    empty period (links only ever expire, so one late expiry removes what the daily ones
    would have)."""
    due = fired_at_ms + every_ms
    if watermark_ms >= due:
        due = watermark_ms - watermark_ms % every_ms + every_ms
    return due

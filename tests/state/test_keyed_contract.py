"""The keyed-state contract, on every backend: what is written is read back, a checkpoint
restores exactly the state it was taken at (and only the changes since the last one are
written), expiry is by event time whatever the sweeps did, and a stage reaches only the
current key's state."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest

from vigil.errors import InputError
from vigil.state.keyed import ListSpec, MapSpec, StateBackend, ValueSpec, expiry_of, open_backend
from vigil.state.keyed.spec import DAY_MS, NEVER, StateSpec
from vigil.state.keyed.stage import KeyKind, ScopeError, StageContext

BACKENDS = ("memory", "rocksdb")
NS = ("stage@1/a", "stage@1/b")
KEYS = tuple(f"c-{i:04x}" for i in range(40))
FIELDS = ("d:1", "d:2", "p:9", "a:x")


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateBackend]:
    b = open_backend(request.param, tmp_path / "work")
    yield b
    b.close()


def dump(b: StateBackend) -> dict[tuple[str, ...], Any]:
    out: dict[tuple[str, ...], Any] = {}
    for ns in NS:
        for key in KEYS:
            found = b.get(ns, key)
            if found is not None:
                out[("v", ns, key)] = found
            for field, expiry, value in b.map_items(ns, key):
                out[("m", ns, key, field)] = (expiry, value)
    return out


def random_ops(b: StateBackend, rng: random.Random, n: int, model: dict[Any, Any]) -> None:
    for _ in range(n):
        ns, key = rng.choice(NS), rng.choice(KEYS)
        op = rng.random()
        expiry = rng.choice((NEVER, DAY_MS * rng.randint(1, 9)))
        if op < 0.35:
            value = (rng.randint(0, 10**6), [rng.random()], {"k": key})
            b.put(ns, key, expiry, value)
            model[("v", ns, key)] = (expiry, value)
        elif op < 0.5:
            b.delete(ns, key)
            model.pop(("v", ns, key), None)
        elif op < 0.85:
            field = rng.choice(FIELDS)
            value = rng.randint(0, 99)
            b.map_put(ns, key, field, expiry, value)
            model[("m", ns, key, field)] = (expiry, value)
        else:
            field = rng.choice(FIELDS)
            b.map_delete(ns, key, field)
            model.pop(("m", ns, key, field), None)


def test_what_is_written_is_read_back(backend: StateBackend) -> None:
    model: dict[Any, Any] = {}
    random_ops(backend, random.Random(1), 3_000, model)
    assert dump(backend) == model
    # fields of a key come back in sorted order
    for ns in NS:
        for key in KEYS:
            fields = [f for f, _e, _v in backend.map_items(ns, key)]
            assert fields == sorted(fields)


def test_a_checkpoint_restores_exactly_its_state(backend: StateBackend, tmp_path: Path) -> None:
    rng = random.Random(7)
    ckpt = tmp_path / "ckpt"
    model: dict[Any, Any] = {}
    manifests = []
    for _round in range(6):
        random_ops(backend, rng, 400, model)
        manifests.append((backend.checkpoint(ckpt), dict(model)))
        backend.committed(ckpt, manifests[-1][0])
    random_ops(backend, rng, 400, model)  # after the last checkpoint: lost in a crash
    manifest, state = manifests[-1]
    fresh = open_backend(backend.name, tmp_path / "fresh")
    try:
        fresh.restore(ckpt, manifest)
        assert dump(fresh) == state
        # and it goes on from there: a later checkpoint restores too
        random_ops(fresh, rng, 300, state)
        later = fresh.checkpoint(ckpt)
        fresh.committed(ckpt, later)
        again = open_backend(backend.name, tmp_path / "again")
        try:
            again.restore(ckpt, later)
            assert dump(again) == state
        finally:
            again.close()
    finally:
        fresh.close()


def test_a_crash_before_the_snapshot_leaves_the_previous_checkpoint_whole(
    backend: StateBackend, tmp_path: Path
) -> None:
    rng = random.Random(3)
    ckpt = tmp_path / "ckpt"
    model: dict[Any, Any] = {}
    random_ops(backend, rng, 500, model)
    first = backend.checkpoint(ckpt)
    backend.committed(ckpt, first)
    at_first = dict(model)
    random_ops(backend, rng, 500, model)
    backend.checkpoint(ckpt)  # written, but the snapshot naming it never was
    fresh = open_backend(backend.name, tmp_path / "fresh")
    try:
        fresh.restore(ckpt, first)
        assert dump(fresh) == at_first
    finally:
        fresh.close()


def test_a_checkpoint_writes_the_changes_not_the_state(
    backend: StateBackend, tmp_path: Path
) -> None:
    ckpt = tmp_path / "ckpt"
    for i in range(20_000):
        backend.put("big@1/v", f"c-{i}", NEVER, ("x" * 40, i))
    base = backend.checkpoint(ckpt)
    backend.committed(ckpt, base)
    for i in range(100):
        backend.put("big@1/v", f"c-{i}", NEVER, ("y" * 40, i))
    assert backend.changed() == 100
    delta = backend.checkpoint(ckpt)
    backend.committed(ckpt, delta)
    assert backend.changed() == 0
    if backend.name == "memory":
        written = delta["files"][-1]["bytes"]
        assert written * 50 < delta["files"][0]["bytes"], delta
    else:  # RocksDB: the flush holds the changed records; older files are only linked
        new = ckpt / delta["dir"]
        sizes = sorted(p.stat().st_size for p in new.glob("*.sst"))
        assert sizes[0] * 50 < sizes[-1], sizes


def test_a_damaged_or_missing_checkpoint_is_refused(backend: StateBackend, tmp_path: Path) -> None:
    ckpt = tmp_path / "ckpt"
    random_ops(backend, random.Random(5), 300, {})
    manifest = backend.checkpoint(ckpt)
    backend.committed(ckpt, manifest)
    fresh = open_backend(backend.name, tmp_path / "fresh")
    try:
        if backend.name == "memory":
            path = ckpt / manifest["files"][0]["name"]
            data = bytearray(path.read_bytes())
            data[len(data) // 2] ^= 0x01
            path.write_bytes(bytes(data))
            with pytest.raises(InputError, match="damaged"):
                fresh.restore(ckpt, manifest)
        else:
            import shutil

            shutil.rmtree(ckpt / manifest["dir"])
            with pytest.raises(InputError, match="missing"):
                fresh.restore(ckpt, manifest)
    finally:
        fresh.close()


def test_sweep_drops_what_expired_and_only_that(backend: StateBackend) -> None:
    backend.put("s@1/v", "old", 5 * DAY_MS, 1)
    backend.put("s@1/v", "new", 9 * DAY_MS, 2)
    backend.put("s@1/v", "kept", NEVER, 3)
    backend.map_put("s@1/m", "k", "f-old", 5 * DAY_MS, 4)
    backend.map_put("s@1/m", "k", "f-new", 9 * DAY_MS, 5)
    backend.put("s@1/v", "moved", 5 * DAY_MS, 6)
    backend.put("s@1/v", "moved", 9 * DAY_MS, 7)  # rewritten later: lives longer
    assert backend.sweep(5 * DAY_MS) >= 2
    assert backend.get("s@1/v", "old") is None
    assert backend.get("s@1/v", "new") == (9 * DAY_MS, 2)
    assert backend.get("s@1/v", "kept") == (NEVER, 3)
    assert backend.get("s@1/v", "moved") == (9 * DAY_MS, 7)
    assert [f for f, _e, _v in backend.map_items("s@1/m", "k")] == ["f-new"]


# --- the stage side: handles scoped to one key, time-to-live in event time -------------------


class _Stage:
    name: ClassVar[str] = "probe"
    version: ClassVar[int] = 1
    reads: ClassVar[frozenset[str]] = frozenset()
    key: ClassVar[KeyKind] = "customer"

    def state(self) -> Sequence[StateSpec]:
        return (
            ValueSpec("seen", ttl_ms=30 * DAY_MS),
            ListSpec("orders", ttl_ms=None),
            MapSpec("devices", ttl_ms=10 * DAY_MS),
        )


def _context(backend: StateBackend) -> tuple[StageContext, list[tuple[int, str, str]]]:
    timers: list[tuple[int, str, str]] = []
    ctx = StageContext(
        _Stage(),  # type: ignore[arg-type]
        backend,
        lambda at, key, name: timers.append((at, key, name)),
    )
    return ctx, timers


def test_a_stage_reaches_only_the_current_keys_state(backend: StateBackend) -> None:
    ctx, timers = _context(backend)
    ctx.bind("c-1", 1_000, 0)
    ctx.value("seen").set(("first", 1_000))
    ctx.list("orders").append("o-1")
    ctx.list("orders").append("o-2")
    ctx.map("devices").put("d-9", 1_000)
    ctx.timer(5_000, "check")
    ctx.bind("c-2", 2_000, 0)
    assert ctx.value("seen").get() is None
    assert ctx.list("orders").get() == ()
    assert ctx.map("devices").items() == []
    ctx.bind("c-1", 3_000, 0)
    assert ctx.value("seen").get() == ("first", 1_000)
    assert ctx.list("orders").get() == ("o-1", "o-2")
    assert ctx.map("devices").items() == [("d-9", 1_000)]
    assert timers == [(5_000, "c-1", "check")]
    ctx.bind(None, 0, 0)
    with pytest.raises(ScopeError):
        ctx.value("seen").get()  # a handle kept past its call
    ctx.bind("c-1", 3_000, 0)
    with pytest.raises(ScopeError):
        ctx.value("orders")  # a list is not a value
    with pytest.raises(ScopeError):
        ctx.map("undeclared")


def test_time_to_live_is_event_time_whatever_the_sweeps_did(backend: StateBackend) -> None:
    ctx, _ = _context(backend)
    t = 3 * DAY_MS + 5
    ctx.bind("c-1", t, 0)
    ctx.value("seen").set("x")
    ctx.map("devices").put("d-1", 1)
    gone = expiry_of(t, 30 * DAY_MS)
    assert gone % DAY_MS == 0 and gone > t + 30 * DAY_MS - DAY_MS
    ctx.bind("c-1", gone - 1, gone - 1)
    assert ctx.value("seen").get() == "x"
    ctx.bind("c-1", gone, gone)
    assert ctx.value("seen").get() is None  # gone before any sweep ran
    assert ctx.map("devices").items() == []  # the field's own, shorter life ended too
    backend.sweep(gone)
    assert backend.get("probe@1/seen", "c-1") is None
    # a write counts its life from the time it names (a late event must not shorten it)
    ctx.bind("c-2", t, 0)
    ctx.value("seen").set("late", at_ms=t + 20 * DAY_MS)
    ctx.bind("c-2", gone, gone)
    assert ctx.value("seen").get() == "late"


class _GraphStage:
    name: ClassVar[str] = "graph"
    version: ClassVar[int] = 1
    reads: ClassVar[frozenset[str]] = frozenset()
    key: ClassVar[KeyKind] = "global"

    def state(self) -> Sequence[StateSpec]:
        return (ValueSpec("graph", ttl_ms=None, resident=True), MapSpec("facts", 10 * DAY_MS))


def test_a_resident_value_is_one_live_object_written_at_each_checkpoint(
    backend: StateBackend, tmp_path: Path
) -> None:
    """The ring graph's contract: ``get`` hands back the object ``set`` stored, changed in
    place between calls; a checkpoint writes it as it is then, and only when it was set."""
    ctx = StageContext(_GraphStage(), backend, lambda at, key, name: None)  # type: ignore[arg-type]
    ckpt = tmp_path / "ckpt"
    ctx.bind("global", DAY_MS, DAY_MS)
    assert ctx.value("graph").get() is None
    graph: dict[str, list[int]] = {"edges": []}
    ctx.value("graph").set(graph)
    ctx.map("facts").put("o-1", 1)
    for i in range(5):
        live = ctx.value("graph").get()
        assert live is graph  # the same object, not a copy
        live["edges"].append(i)
        ctx.value("graph").set(live)
    assert backend.changed() == 2  # the graph counts once, however often it was set
    first = backend.checkpoint(ckpt)
    backend.committed(ckpt, first)
    assert backend.changed() == 0
    graph["edges"].append(99)  # changed after the checkpoint, and set: the next one has it
    ctx.value("graph").set(graph)
    second = backend.checkpoint(ckpt)
    backend.committed(ckpt, second, first)
    graph["edges"].append(100)  # set after the last checkpoint: a crash loses it
    ctx.value("graph").set(graph)
    for n, (manifest, edges) in enumerate(
        ((first, [0, 1, 2, 3, 4]), (second, [0, 1, 2, 3, 4, 99]))
    ):
        fresh = open_backend(backend.name, tmp_path / f"fresh-{n}")
        try:
            fresh.restore(ckpt, manifest)
            again = StageContext(_GraphStage(), fresh, lambda at, key, name: None)  # type: ignore[arg-type]
            again.bind("global", DAY_MS, DAY_MS)
            restored = again.value("graph").get()
            assert restored == {"edges": edges}
            assert again.value("graph").get() is restored  # live from then on
            assert again.map("facts").get("o-1") == 1
        finally:
            fresh.close()
    ctx.value("graph").clear()
    assert ctx.value("graph").get() is None
    third = backend.checkpoint(ckpt)
    fresh = open_backend(backend.name, tmp_path / "fresh-cleared")
    try:
        fresh.restore(ckpt, third)
        assert fresh.get_resident("graph@1/graph", "global") is None
    finally:
        fresh.close()


class _ExpiringStage(_GraphStage):
    name: ClassVar[str] = "expiring"

    def state(self) -> Sequence[StateSpec]:
        return (ValueSpec("graph", ttl_ms=10 * DAY_MS, resident=True),)


def test_a_resident_value_expires_like_any_other_and_a_newer_one_survives_the_sweep(
    backend: StateBackend, tmp_path: Path
) -> None:
    ctx = StageContext(_ExpiringStage(), backend, lambda at, key, name: None)  # type: ignore[arg-type]
    ckpt = tmp_path / "ckpt"
    t = 2 * DAY_MS
    for key in ("old", "renewed", "fresh"):
        ctx.bind(key, t, t)
        ctx.value("graph").set({"key": key})
    first = backend.checkpoint(ckpt)  # written with their first expiry
    backend.committed(ckpt, first)
    gone = expiry_of(t, 10 * DAY_MS)
    later = gone - DAY_MS
    ctx.bind("renewed", later, later)
    live = ctx.value("graph").get()
    live["renewed"] = True
    ctx.value("graph").set(live)  # a newer expiry, not written yet
    ctx.bind("fresh", later, later)
    ctx.value("graph").set({"key": "fresh", "again": 1})  # a newer one too
    backend.sweep(gone)
    assert backend.get_resident("expiring@1/graph", "old") is None
    for key in ("renewed", "fresh"):
        found = backend.get_resident("expiring@1/graph", key)
        assert found is not None and found[0] > gone, key
    second = backend.checkpoint(ckpt)
    backend.committed(ckpt, second, first)
    fresh = open_backend(backend.name, tmp_path / "restored")
    try:
        fresh.restore(ckpt, second)
        assert fresh.get_resident("expiring@1/graph", "old") is None
        renewed = fresh.get_resident("expiring@1/graph", "renewed")
        assert renewed is not None and renewed[1] == {"key": "renewed", "renewed": True}
        fresh.sweep(gone)  # their expiry is later: the restored values outlive it
        assert fresh.get_resident("expiring@1/graph", "fresh") is not None
        assert fresh.get_resident("expiring@1/graph", "renewed") is not None
    finally:
        fresh.close()

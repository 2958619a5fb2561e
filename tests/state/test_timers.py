"""TimerQueue: fires in (time, registration order), against a sorted-list oracle."""

from __future__ import annotations

import pickle

from hypothesis import given
from hypothesis import strategies as st

from vigil.state.timers import TimerQueue

# An operation is ("set", fire_at, key) or ("pop", frontier, "").
_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("set"), st.integers(-50, 200), st.sampled_from("abc")),
        st.tuples(st.just("pop"), st.integers(-60, 250), st.just("")),
    ),
    max_size=60,
)


def _drain(q: TimerQueue, frontier: int) -> list[tuple[int, str, str, object]]:
    out = []
    while (due := q.pop_due(frontier)) is not None:
        out.append(due)
    return out


@given(_OPS)
def test_timers_fire_in_time_then_registration_order(ops: list[tuple[str, int, str]]) -> None:
    q = TimerQueue()
    pending: list[tuple[int, int, str, dict[str, int]]] = []  # oracle: (time, seq, key, payload)
    seq = 0
    for op, t, key in ops:
        if op == "set":
            seq += 1
            payload = {"seq": seq}  # unorderable: the queue must never compare payloads
            q.set(t, "owner/", key, payload)
            pending.append((t, seq, key, payload))
        else:
            due = sorted((p for p in pending if p[0] <= t), key=lambda p: (p[0], p[1]))
            pending = [p for p in pending if p[0] > t]
            assert _drain(q, t) == [(p[0], "owner/", p[2], p[3]) for p in due]
        assert len(q) == len(pending)
        expected_next = min((p[0] for p in pending), default=None)
        assert q.next_due_ms() == expected_next


def test_ties_fire_in_registration_order() -> None:
    q = TimerQueue()
    for key in ["z", "a", "m"]:
        q.set(10, "d/", key)
    q.set(5, "d/", "early")
    assert [k for _, _, k, _ in _drain(q, 10)] == ["early", "z", "a", "m"]


def test_nothing_is_due_before_its_time() -> None:
    q = TimerQueue()
    assert q.pop_due(10**12) is None
    assert q.next_due_ms() is None
    q.set(100, "d/", "k", ("p", 1))
    assert q.pop_due(99) is None
    assert q.pop_due(100) == (100, "d/", "k", ("p", 1))
    assert len(q) == 0


@given(_OPS, st.integers(0, 60))
def test_a_pickled_queue_continues_identically(ops: list[tuple[str, int, str]], cut: int) -> None:
    """Checkpoints pickle the queue: a restored copy fires exactly like the original."""
    original = TimerQueue()

    def apply(q: TimerQueue, op: tuple[str, int, str]) -> list[tuple[int, str, str, object]]:
        kind, t, key = op
        if kind == "set":
            q.set(t, "o/", key, [t, key])
            return []
        return _drain(q, t)

    for op in ops[:cut]:
        apply(original, op)
    restored = pickle.loads(pickle.dumps(original))
    for op in ops[cut:]:
        assert apply(restored, op) == apply(original, op)
    assert _drain(restored, 10**9) == _drain(original, 10**9)

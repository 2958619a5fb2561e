"""Partitions merged by event time: the earliest head first, a partition that may still
bring something earlier holds the others back, unless it is read to its end."""

from __future__ import annotations

from vigil.kafka.merge import AlignedMerge, event_time


def _ev(t: int) -> bytes:
    return b'{"type":"x","event_id":"e%d","event_time_ms":%d}' % (t, t)


def test_the_earliest_head_goes_first_and_positions_follow() -> None:
    merge = AlignedMerge(["ev/0", "ev/1"])
    for offset, t in enumerate((10, 30, 50)):
        merge.add("ev/0", _ev(t), offset)
    for offset, t in enumerate((20, 40)):
        merge.add("ev/1", _ev(t), 100 + offset)
    position: dict[str, int] = {}
    # ev/1 may bring something before 50 once its queue is empty: 50 waits
    assert [event_time(v) for v in merge.take(set(), position)] == [10, 20, 30, 40]
    assert position == {"ev/0": 2, "ev/1": 102}
    assert merge.waiting == 1
    # read to its end, ev/1 holds nothing back
    assert [event_time(v) for v in merge.take({"ev/1"}, position)] == [50]
    assert position == {"ev/0": 3, "ev/1": 102}


def test_a_partition_with_nothing_fetched_yet_holds_the_others_back() -> None:
    merge = AlignedMerge(["ev/0", "ev/1"])
    merge.add("ev/0", _ev(5), 0)
    assert merge.take(set(), {}) == []
    assert len(merge.take({"ev/1"}, {})) == 1


def test_past_the_bound_the_earliest_heads_go_anyway() -> None:
    merge = AlignedMerge(["ev/0", "ev/1"], max_waiting=2)
    for offset, t in enumerate((1, 2, 3, 4)):
        merge.add("ev/0", _ev(t), offset)
    assert [event_time(v) for v in merge.take(set(), {})] == [1, 2]
    assert merge.waiting == 2


def test_a_record_without_a_time_goes_first() -> None:
    assert event_time(b"not json") == -1
    assert event_time(b'{"event_time_ms":"soon"}') == -1
    merge = AlignedMerge(["ev/0", "ev/1"])
    merge.add("ev/0", _ev(7), 0)
    merge.add("ev/1", b"not json", 0)
    assert merge.take({"ev/0", "ev/1"}, {}) == [b"not json", _ev(7)]

"""``vigil run`` with Kafka topics in and out, against a real broker (tansu on loopback):
the same alerts and decisions as the file run, offsets committed, outputs produced once."""

from __future__ import annotations

import json
from pathlib import Path

from tests.kafka.conftest import vigil_run
from tests.kafka_broker import committed_offsets, create_topics, produce_lines, read_topic


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines()


def test_a_topic_gives_the_file_runs_alerts_and_decisions(
    broker: str, stream: Path, tmp_path: Path
) -> None:
    create_topics(broker, {"events-a": 1, "alerts-a": 1, "decisions-a": 2})
    produce_lines(broker, "events-a", _lines(stream))
    out, ref = tmp_path / "out", stream.parent / "ref"
    done = vigil_run(
        "--input", f"kafka://{broker}/events-a", "--out", str(out), "--group", "vigil-a",
        "--checkpoint-dir", str(tmp_path / "ckpt"), "--idle-timeout", "2",
        "--alerts-topic", "alerts-a", "--decisions-topic", "decisions-a",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    for name in ("alerts", "decisions"):
        assert (out / f"{name}.jsonl").read_bytes() == (ref / f"{name}.jsonl").read_bytes()
    # a dead letter names its record: the address, then partition and offset
    dead = [json.loads(x) for x in (out / "dead_letter.jsonl").read_text().splitlines()]
    assert dead
    for letter in dead:
        assert letter["source"] == f"kafka://{broker}/events-a events-a/0@{letter['line_no'] - 1}"
        assert letter["raw"] == _lines(stream)[letter["line_no"] - 1].decode()
    # every input record is accounted for, and the group knows how far the checkpoint got
    assert committed_offsets(broker, "vigil-a", "events-a") == {0: len(_lines(stream))}
    # the topics hold the files' lines, each once, tagged with its line number
    for name, topic in (("alerts", "alerts-a"), ("decisions", "decisions-a")):
        records = read_topic(broker, topic)
        by_line = {int(h["vigil-line"]): value for h, value, _p in records}
        assert len(records) == len(by_line)
        assert [by_line[n] for n in sorted(by_line)] == _lines(ref / f"{name}.jsonl")
    # a decision's revisions share a partition (keyed by refund id), in order
    seen: dict[bytes, int] = {}
    for _h, value, partition in read_topic(broker, "decisions-a"):
        refund = value.split(b'"refund_id":"', 1)[1].split(b'"', 1)[0]
        assert seen.setdefault(refund, partition) == partition


def test_a_second_run_resumes_where_the_checkpoint_stopped(
    broker: str, stream: Path, tmp_path: Path
) -> None:
    """Half the stream, a run that ends idle; the other half, the same command again: the
    outputs equal one run over the whole file, and the topic holds each line once."""
    lines = _lines(stream)
    half = len(lines) // 2
    create_topics(broker, {"events-b": 1, "alerts-b": 1})
    args = (
        "--input", f"kafka://{broker}/events-b", "--out", str(tmp_path / "out"),
        "--checkpoint-dir", str(tmp_path / "ckpt"), "--idle-timeout", "1.5",
        "--alerts-topic", "alerts-b", "--group", "vigil-b",
    )  # fmt: skip
    produce_lines(broker, "events-b", lines[:half])
    first = vigil_run(*args)
    assert first.returncode == 0, first.stderr
    produce_lines(broker, "events-b", lines[half:])
    second = vigil_run(*args)
    assert second.returncode == 0, second.stderr
    assert "resumed from the checkpoint" in second.stderr
    ref = stream.parent / "ref"
    assert (tmp_path / "out" / "alerts.jsonl").read_bytes() == (ref / "alerts.jsonl").read_bytes()
    records = read_topic(broker, "alerts-b")
    assert sorted(int(h["vigil-line"]) for h, _v, _p in records) == list(
        range(1, len(_lines(ref / "alerts.jsonl")) + 1)
    )


def test_several_partitions_every_record_processed_once(
    broker: str, stream: Path, tmp_path: Path
) -> None:
    """Three partitions, records spread round-robin: every record is processed, dead-lettered
    or counted as a duplicate exactly once, and each partition's offset is committed."""

    lines = _lines(stream)
    create_topics(broker, {"events-c": 3})
    produce_lines(broker, "events-c", lines, partitions=3)
    out = tmp_path / "out"
    done = vigil_run(
        "--input", f"kafka://{broker}/events-c", "--out", str(out), "--group", "vigil-c",
        "--checkpoint-dir", str(tmp_path / "ckpt"), "--idle-timeout", "2",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    stats = json.loads((out / "stats.json").read_text())
    assert stats["events_read"] == len(lines)
    assert stats["processed"] + stats["dead_lettered"] + stats["duplicates"] == len(lines)
    offsets = committed_offsets(broker, "vigil-c", "events-c")
    assert sum(offsets.values()) == len(lines) and len(offsets) == 3
    # merged by event time across partitions: what is too late and what is raised are the
    # file run's (fetched as it comes, one partition ran ahead and most events were too late)
    ref = json.loads((stream.parent / "ref" / "stats.json").read_text())
    assert stats["dead_letter_reasons"] == ref["dead_letter_reasons"]
    # each dead letter names its record's partition and offset: line i is partition i % 3,
    # offset i // 3
    dead = [json.loads(x) for x in (out / "dead_letter.jsonl").read_text().splitlines()]
    assert dead
    for letter in dead:
        place = letter["source"].rsplit(" ", 1)[1]  # "events-c/P@O"
        partition, offset = (int(x) for x in place.removeprefix("events-c/").split("@"))
        assert lines[offset * 3 + partition].decode() == letter["raw"], letter
    alerts = sorted((out / "alerts.jsonl").read_bytes().splitlines())
    assert alerts == sorted((stream.parent / "ref" / "alerts.jsonl").read_bytes().splitlines())


def test_a_missing_topic_is_named(broker: str, tmp_path: Path) -> None:
    done = vigil_run(
        "--input", f"kafka://{broker}/no-such-topic", "--out", str(tmp_path / "out"),
        "--idle-timeout", "1",
    )  # fmt: skip
    assert done.returncode != 0
    assert "'no-such-topic' does not exist" in done.stderr, done.stderr
    create_topics(broker, {"events-d": 1})
    done = vigil_run(
        "--input", f"kafka://{broker}/events-d", "--out", str(tmp_path / "out2"),
        "--idle-timeout", "1", "--alerts-topic", "missing-alerts",
    )  # fmt: skip
    assert done.returncode != 0
    assert "output topic 'missing-alerts' does not exist" in done.stderr, done.stderr

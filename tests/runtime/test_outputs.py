"""JsonlSink: append-only JSON Lines whose length a checkpoint records and a resume restores."""

from __future__ import annotations

from pathlib import Path

import pytest

from vigil.errors import CheckpointError
from vigil.runtime.outputs import JsonlSink


def test_flush_returns_the_durable_length(tmp_path: Path) -> None:
    sink = JsonlSink(tmp_path / "out" / "a.jsonl", resume_at=None)
    assert sink.flush() == 0
    sink.write({"a": 1})
    sink.write(["x", None])
    assert sink.flush() == len(b'{"a":1}\n["x",null]\n')
    assert sink.count == 2
    assert sink.close() == 19
    assert (tmp_path / "out" / "a.jsonl").read_bytes() == b'{"a":1}\n["x",null]\n'


def test_a_fresh_sink_replaces_an_old_file(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_bytes(b"old\n")
    JsonlSink(path, resume_at=None).close()
    assert path.read_bytes() == b""


def test_resume_truncates_to_the_checkpointed_length_and_appends(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_bytes(b'{"n":1}\n{"n":2}\n{"n":3, "after the checkpoint"')
    sink = JsonlSink(path, resume_at=16)
    sink.write({"n": 3})
    sink.close()
    assert path.read_bytes() == b'{"n":1}\n{"n":2}\n{"n":3}\n'


def test_large_writes_go_through_before_a_flush(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    sink = JsonlSink(path, resume_at=None)
    for i in range(30_000):
        sink.write({"i": i, "pad": "x" * 40})
    assert path.stat().st_size > 0  # the buffer is bounded (about 1 MiB)
    total = sink.close()
    assert total == path.stat().st_size
    assert path.read_bytes().count(b"\n") == 30_000


@pytest.mark.parametrize("existing", [None, b'{"n":1}\n'], ids=["missing", "shorter"])
def test_resuming_an_output_shorter_than_its_checkpoint_is_refused(
    tmp_path: Path, existing: bytes | None
) -> None:
    path = tmp_path / "a.jsonl"
    if existing is not None:
        path.write_bytes(existing)
    with pytest.raises(CheckpointError, match=r"a\.jsonl"):
        JsonlSink(path, resume_at=100)

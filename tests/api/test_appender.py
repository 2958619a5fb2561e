"""The append-only files of the API: a line torn by a crash stays apart from the next one."""

from __future__ import annotations

from pathlib import Path

import pytest

from vigil.api.appender import DurableAppender


@pytest.mark.parametrize("fsync", [True, False])
def test_a_torn_last_line_is_ended_before_the_next_write(tmp_path: Path, fsync: bool) -> None:
    path = tmp_path / "input.jsonl"
    path.write_bytes(b'{"a": 1}\n{"b": ')
    log = DurableAppender(path, fsync=fsync)
    log.write(b'{"c": 3}\n')
    log.close()
    assert path.read_bytes() == b'{"a": 1}\n{"b": \n{"c": 3}\n'
    assert log.size == path.stat().st_size


def test_whole_lines_and_new_files_are_left_alone(tmp_path: Path) -> None:
    whole = tmp_path / "whole.jsonl"
    whole.write_bytes(b'{"a": 1}\n')
    for_whole = DurableAppender(whole, fsync=False)
    for_whole.write(b'{"b": 2}\n')
    for_whole.close()
    assert whole.read_bytes() == b'{"a": 1}\n{"b": 2}\n'
    new = tmp_path / "new.jsonl"
    for_new = DurableAppender(new, fsync=False)
    for_new.write(b'{"b": 2}\n')
    for_new.close()
    assert new.read_bytes() == b'{"b": 2}\n'

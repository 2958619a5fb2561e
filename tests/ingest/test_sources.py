"""Line sources: exact lines and byte offsets, CRLF, resume, follow mode, stdin."""

from __future__ import annotations

import io
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vigil.errors import InputError
from vigil.ingest.sources import Batch, FileSource, StdinSource


def _lines(source: FileSource | StdinSource, offset: int = 0) -> list[bytes]:
    return [line for batch in source.batches(offset) for line in batch.lines]


def _check_offsets(data: bytes, source: FileSource | StdinSource, start: int = 0) -> None:
    """Each batch ends just after a newline (or at the end of a bounded input), and its
    lines are exactly the input between the previous batch's end and its own."""
    pos = start
    for batch in source.batches(start):
        assert batch.lines, "no empty batches"
        assert data[pos : batch.end_offset] in (
            b"\n".join(batch.lines) + b"\n",
            b"\n".join(batch.lines),  # the unterminated last line of a bounded input
        )
        pos = batch.end_offset
    assert pos <= len(data)


def test_lines_and_offsets(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(b'{"a":1}\n\n{"b":22}\n')
    batches = list(FileSource(path).batches(0))
    assert batches == [Batch([b'{"a":1}', b"", b'{"b":22}'], 18)]


def test_crlf_lines_keep_the_cr_which_json_ignores(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    data = b"one\r\ntwo\r\n\r\nthree\r\n"
    path.write_bytes(data)
    assert _lines(FileSource(path)) == [b"one\r", b"two\r", b"\r", b"three\r"]
    _check_offsets(data, FileSource(path, chunk_bytes=3))


def test_last_line_without_newline_is_handed_out_at_the_end(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"one\ntwo")
    batches = list(FileSource(path).batches(0))
    assert [line for b in batches for line in b.lines] == [b"one", b"two"]
    assert batches[-1].end_offset == 7


def test_empty_file_has_no_lines(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"")
    assert list(FileSource(path).batches(0)) == []


def test_resume_at_every_batch_end_gives_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    data = b"alpha\r\nbeta\n\ngamma\ndelta\nepsilon"
    path.write_bytes(data)
    source = FileSource(path, chunk_bytes=4)
    everything = _lines(source)
    assert everything == data.split(b"\n")
    seen = 0
    for batch in source.batches(0):
        seen += len(batch.lines)
        assert _lines(FileSource(path), batch.end_offset) == everything[seen:]
        _check_offsets(data, FileSource(path, chunk_bytes=5), batch.end_offset)


def test_missing_input_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        FileSource(tmp_path / "nope.jsonl")
    with pytest.raises(InputError, match="not a file"):
        FileSource(tmp_path)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    lines=st.lists(st.binary(max_size=30).map(lambda b: b.replace(b"\n", b"")), max_size=20),
    final_newline=st.booleans(),
    chunk=st.integers(1, 40),
    resume_after=st.integers(0, 25),
)
def test_chunking_never_changes_lines_or_offsets(
    tmp_path: Path, lines: list[bytes], final_newline: bool, chunk: int, resume_after: int
) -> None:
    """Whatever the read size, the source yields the file's lines with exact batch offsets,
    and resuming at any batch end yields the remaining lines."""
    data = b"\n".join(lines) + (b"\n" if lines and final_newline else b"")
    path = tmp_path / "in.jsonl"
    path.write_bytes(data)
    expected = data.split(b"\n")
    if expected[-1] == b"":
        expected.pop()  # after the last newline there is no further line
    source = FileSource(path, chunk_bytes=chunk)
    assert _lines(source) == expected
    _check_offsets(data, source)
    batches = list(source.batches(0))
    if batches:
        cut = batches[min(resume_after, len(batches) - 1)]
        done = sum(len(b.lines) for b in batches[: batches.index(cut) + 1])
        assert _lines(FileSource(path, chunk_bytes=chunk), cut.end_offset) == expected[done:]


def test_follow_mode_picks_up_appended_lines_and_stops_when_idle(tmp_path: Path) -> None:
    path = tmp_path / "grow.jsonl"
    path.write_bytes(b"first\n")

    def writer() -> None:
        with path.open("ab") as fh:
            for part in [b"second\n", b"thi", b"rd\n", b"fourth\r\n", b"half-writ"]:
                time.sleep(0.05)
                fh.write(part)
                fh.flush()

    thread = threading.Thread(target=writer)
    source = FileSource(path, follow=True, poll_s=0.01, idle_timeout_s=0.5)
    started = time.monotonic()
    thread.start()
    batches = list(source.batches(0))
    thread.join()
    elapsed = time.monotonic() - started
    # a line is only handed out once its newline arrives; an unfinished one stays unread
    assert [line for b in batches for line in b.lines] == [
        b"first",
        b"second",
        b"third",
        b"fourth\r",
    ]
    assert batches[-1].end_offset == path.stat().st_size - len(b"half-writ")
    assert 0.5 <= elapsed < 5
    # resuming later, once the writer finished the line, picks it up
    with path.open("ab") as fh:
        fh.write(b"ten\n")
    assert _lines(FileSource(path), batches[-1].end_offset) == [b"half-written"]


def test_follow_mode_stops_when_asked(tmp_path: Path) -> None:
    path = tmp_path / "grow.jsonl"
    path.write_bytes(b"only\n")
    stop = threading.Event()
    source = FileSource(path, follow=True, poll_s=0.01, should_stop=stop.is_set)
    threading.Timer(0.1, stop.set).start()
    started = time.monotonic()
    assert list(source.batches(0)) == [Batch([b"only"], 5)]
    assert time.monotonic() - started < 5


def test_without_follow_the_source_ends_at_eof(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"a\n")
    started = time.monotonic()
    assert _lines(FileSource(path, poll_s=10)) == [b"a"]
    assert time.monotonic() - started < 1


def test_stdin_source_reads_standard_input(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", SimpleNamespace(buffer=io.BytesIO(b"x\r\ny\nz")))
    source = StdinSource()
    assert not source.resumable
    assert source.name == "<stdin>"
    assert _lines(source) == [b"x\r", b"y", b"z"]

"""Follow mode publishes outputs after every batch and checkpoints on a time interval.

What a follower (the API's tailer) may rely on: after each batch, the outputs of that batch
are in the files and ``progress.json`` says how far input got, before any checkpoint; a
crash between a publish and the next checkpoint loses nothing and duplicates nothing: the
resumed run cuts the outputs back to the checkpoint and writes the same bytes again.
"""

from __future__ import annotations

import gc
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from vigil.detectors.base import alert_decoder
from vigil.ingest.sources import Batch, FileSource
from vigil.runtime import checkpoint
from vigil.runtime.embedded import PROGRESS_FILE, EmbeddedRuntime, RuntimeSettings

from ._detectors import make_detectors
from .test_kill_restart import generate

LINES = 3_000
CHUNK = 16 << 10  # ~40 batches


class Crash(Exception):
    pass


class WatchedSource(FileSource):
    """A file source that calls ``after(k, batch)`` once the runtime is done with batch k
    (the generator resumes only when the runtime asks for the next batch)."""

    def __init__(self, path: Path, after: Callable[[int, Batch], None]) -> None:
        super().__init__(path, chunk_bytes=CHUNK)
        self.after = after

    def batches(self, start_offset: int) -> Iterator[Batch]:
        for k, batch in enumerate(super().batches(start_offset), start=1):
            yield batch
            self.after(k, batch)


def _settings(**kw: object) -> RuntimeSettings:
    base: dict[str, object] = {
        "max_out_of_orderness_ms": 10 * 60_000,
        "allowed_lateness_ms": 60 * 60_000,
        "analytics": False,
        "publish_every_batch": True,
        "checkpoint_every_events": 10**9,
        "checkpoint_interval_s": 3600.0,
    }
    base.update(kw)
    return RuntimeSettings(**base)  # type: ignore[arg-type]


def _outputs(out: Path) -> tuple[bytes, bytes, bytes]:
    return tuple(  # type: ignore[return-value]
        (out / name).read_bytes()
        for name in ("alerts.jsonl", "decisions.jsonl", "dead_letter.jsonl")
    )


@pytest.fixture(scope="module")
def stream(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, tuple[bytes, bytes, bytes]]:
    """The input and the outputs of an uninterrupted run without checkpoints."""
    tmp = tmp_path_factory.mktemp("follow")
    inp = tmp / "input.jsonl"
    inp.write_bytes(generate(LINES, seed=5))
    out = tmp / "reference"
    EmbeddedRuntime(make_detectors(), out, _settings(publish_every_batch=False)).run(
        FileSource(inp)
    )
    ref = _outputs(out)
    assert ref[0].count(b"\n") > 20 and ref[1] and ref[2], "the stream must raise alerts"
    return inp, ref


def test_outputs_are_visible_after_each_batch_before_any_checkpoint(
    stream: tuple[Path, tuple[bytes, bytes, bytes]], tmp_path: Path
) -> None:
    inp, ref = stream
    out, ckpt = tmp_path / "out", tmp_path / "ckpt"
    seen: list[int] = []

    def after(k: int, batch: Batch) -> None:
        alerts, decisions, dead = _outputs(out)
        # everything the batch produced is in the files: a prefix of the final outputs
        assert ref[0].startswith(alerts) and ref[1].startswith(decisions)
        assert ref[2].startswith(dead)
        assert alerts.endswith(b"\n") or not alerts
        progress = json.loads((out / PROGRESS_FILE).read_bytes())
        assert progress["input_offset"] == batch.end_offset
        assert not (ckpt / checkpoint.CHECKPOINT_FILE).exists()  # published, not checkpointed
        seen.append(alerts.count(b"\n"))

    runtime = EmbeddedRuntime(make_detectors(), out, _settings(), ckpt)
    stats = runtime.run(WatchedSource(inp, after))
    assert len(seen) > 10 and seen[-1] > seen[0], "alerts appeared batch by batch"
    assert stats.checkpoints == 1  # only the final one: the interval never elapsed
    assert _outputs(out) == ref


@pytest.mark.parametrize("crash_after", [11, 23, 37])
def test_a_crash_between_publish_and_checkpoint_resumes_to_the_same_outputs(
    stream: tuple[Path, tuple[bytes, bytes, bytes]], tmp_path: Path, crash_after: int
) -> None:
    inp, ref = stream
    out, ckpt = tmp_path / "out", tmp_path / "ckpt"
    # a checkpoint every ~400 lines (~6 batches); the crash lands after batches published since then
    settings = _settings(checkpoint_every_events=400)

    def recorded_len() -> int:
        positions = checkpoint.read_snapshot(ckpt / checkpoint.CHECKPOINT_FILE)[1]["outputs"]
        return sum(positions[k] for k in ("alerts", "decisions", "dead_letter"))

    def crash(k: int, _batch: Batch) -> None:
        # the first batch from ``crash_after`` on whose published outputs go past the
        # checkpoint: then "kill" the process
        if k >= crash_after and sum(map(len, _outputs(out))) > recorded_len():
            raise Crash

    with pytest.raises(Crash):
        EmbeddedRuntime(make_detectors(), out, settings, ckpt).run(WatchedSource(inp, crash))
    gc.collect()  # a dead process keeps no file handles open
    _meta, payload = checkpoint.read_snapshot(ckpt / checkpoint.CHECKPOINT_FILE)
    # the files hold more than the checkpoint recorded: published after it, then "crashed"
    assert sum(map(len, _outputs(out))) > recorded_len()
    progress = json.loads((out / PROGRESS_FILE).read_bytes())
    assert progress["input_offset"] > payload["input_offset"]

    runtime = EmbeddedRuntime(make_detectors(), out, settings, ckpt)
    stats = runtime.run(FileSource(inp, chunk_bytes=CHUNK))
    assert stats.resumed_from_line > 0
    assert _outputs(out) == ref  # byte for byte: nothing lost, nothing twice
    ids = [alert_decoder.decode(x).alert_id for x in ref[0].splitlines()]
    assert len(ids) == len(set(ids))


def test_an_idle_follow_source_checkpoints_what_it_published(tmp_path: Path) -> None:
    inp = tmp_path / "input.jsonl"
    inp.write_bytes(generate(400, seed=9))
    out, ckpt = tmp_path / "out", tmp_path / "ckpt"
    end = inp.stat().st_size
    offsets: list[int] = []

    def after(k: int, _batch: Batch) -> None:
        path = ckpt / checkpoint.CHECKPOINT_FILE
        offsets.append(checkpoint.read_snapshot(path)[1]["input_offset"])

    source = FileSource(inp, follow=True, poll_s=0.02, idle_batches=True, idle_timeout_s=0.5)

    class Watched(FileSource):
        def batches(self, start_offset: int) -> Iterator[Batch]:
            for n, batch in enumerate(source.batches(start_offset), start=1):
                yield batch
                if not batch.lines and n > 1 and (ckpt / checkpoint.CHECKPOINT_FILE).exists():
                    after(n, batch)

    settings = _settings(checkpoint_interval_s=0.1)
    started = time.monotonic()
    stats = EmbeddedRuntime(make_detectors(), out, settings, ckpt).run(Watched(inp))
    assert time.monotonic() - started < 5
    # while idle, the interval elapsed and the published input was checkpointed
    assert offsets and offsets[-1] == end
    assert stats.checkpoints >= 2  # the idle one, then the final one

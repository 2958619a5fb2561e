"""Checkpoints that prove themselves (simulated stream, both state backends where it
matters): a damaged checkpoint is refused and the previous one used; a changed input or
output is refused; a missing checkpoint is said out loud; a full disk leaves everything as
it was. Never silently different outputs."""

from __future__ import annotations

import errno
import logging
import shutil
from pathlib import Path
from typing import Any

import pytest

from vigil.detectors.registry import default_detectors
from vigil.errors import CheckpointError
from vigil.ingest.sources import FileSource
from vigil.runtime import checkpoint
from vigil.runtime.embedded import EmbeddedRuntime, RuntimeSettings
from vigil.runtime.stats import RunStats
from vigil.sim import SimConfig, simulate

OUTPUTS = ("alerts.jsonl", "decisions.jsonl", "dead_letter.jsonl")


@pytest.fixture(scope="module")
def stream(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("integrity")
    simulate(SimConfig(seed=6, events=20_000), root / "sim")
    return root / "sim" / "events.jsonl"


@pytest.fixture(scope="module")
def reference(stream: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    out = tmp_path_factory.mktemp("reference")
    _run(stream, out, None)
    return _outputs(out)


def _run(
    inp: Path, out: Path, ckpt: Path | None, stop_after: int | None = None, backend: str = "memory"
) -> RunStats:
    batches = 0

    def stop() -> bool:
        nonlocal batches
        batches += 1
        return stop_after is not None and batches >= stop_after

    settings = RuntimeSettings(checkpoint_every_events=500, analytics=False, state_backend=backend)
    runtime = EmbeddedRuntime(default_detectors(), out, settings, ckpt, should_stop=stop)
    return runtime.run(FileSource(inp, chunk_bytes=1 << 16))


def _outputs(out: Path) -> dict[str, bytes]:
    return {name: (out / name).read_bytes() for name in OUTPUTS}


def _interrupted(stream: Path, tmp: Path, backend: str = "memory") -> tuple[Path, Path]:
    out, ckpt = tmp / "out", tmp / "ckpt"
    stats = _run(stream, out, ckpt, stop_after=12, backend=backend)
    assert stats.stopped_early and stats.checkpoints >= 3
    assert (ckpt / checkpoint.PREVIOUS_FILE).exists()
    return out, ckpt


def _copy(stream: Path, tmp: Path) -> Path:
    """The stream in a file of the test's own (to shorten or edit)."""
    inp = tmp / "events.jsonl"
    inp.write_bytes(stream.read_bytes())
    return inp


def _flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x40
    path.write_bytes(bytes(data))


def _zero_block(path: Path) -> None:
    data = bytearray(path.read_bytes())
    start = len(data) // 3
    data[start : start + 4096] = bytes(min(4096, len(data) - start))
    path.write_bytes(bytes(data))


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


@pytest.mark.parametrize("damage", [_flip, _zero_block, _truncate], ids=["flip", "zero", "cut"])
@pytest.mark.parametrize("backend", ["memory", "rocksdb"])
def test_a_damaged_checkpoint_gives_way_to_the_previous_and_changes_nothing(
    stream: Path,
    reference: dict[str, bytes],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    damage: Any,
    backend: str,
) -> None:
    out, ckpt = _interrupted(stream, tmp_path, backend)
    damage(ckpt / checkpoint.CHECKPOINT_FILE)
    with caplog.at_level(logging.WARNING):
        stats = _run(stream, out, ckpt, backend=backend)
    assert not stats.stopped_early
    assert _outputs(out) == reference
    assert any("previous checkpoint" in r.getMessage() for r in caplog.records)
    assert (ckpt / checkpoint.DAMAGED_FILE).exists()


def test_when_both_checkpoints_are_damaged_the_resume_is_refused(
    stream: Path, tmp_path: Path
) -> None:
    out, ckpt = _interrupted(stream, tmp_path)
    _flip(ckpt / checkpoint.CHECKPOINT_FILE)
    _truncate(ckpt / checkpoint.PREVIOUS_FILE)
    with pytest.raises(CheckpointError, match=r"no checkpoint .* can be read") as err:
        _run(stream, out, ckpt)
    assert "checkpoint.pkl: damaged" in str(err.value)
    assert "checkpoint.prev.pkl: damaged" in str(err.value)


def test_an_input_shorter_than_the_checkpoints_position_is_refused(
    stream: Path, tmp_path: Path
) -> None:
    inp = _copy(stream, tmp_path)
    out, ckpt = _interrupted(inp, tmp_path)
    inp.write_bytes(inp.read_bytes()[:200_000])
    with pytest.raises(CheckpointError, match="truncated or replaced"):
        _run(inp, out, ckpt)


def test_an_input_edited_before_the_checkpoints_position_is_refused(
    stream: Path, tmp_path: Path
) -> None:
    inp = _copy(stream, tmp_path)
    out, ckpt = _interrupted(inp, tmp_path)
    offset = checkpoint.read_snapshot(ckpt / checkpoint.CHECKPOINT_FILE)[1]["input_offset"]
    data = bytearray(inp.read_bytes())
    data[offset - 10] ^= 0x01
    inp.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="changed before byte"):
        _run(inp, out, ckpt)


def test_a_committed_output_edited_after_the_checkpoint_is_refused(
    stream: Path, tmp_path: Path
) -> None:
    out, ckpt = _interrupted(stream, tmp_path)
    decisions = out / "decisions.jsonl"
    data = bytearray(decisions.read_bytes())
    assert data, "the interrupted run decided requests"
    data[40] ^= 0x01  # one bit of a committed decision
    decisions.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"decisions\.jsonl.*changed after the checkpoint"):
        _run(stream, out, ckpt)


def test_a_deleted_checkpoint_is_said_and_the_run_starts_over(
    stream: Path, reference: dict[str, bytes], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    out, ckpt = _interrupted(stream, tmp_path)
    (ckpt / checkpoint.CHECKPOINT_FILE).unlink()
    (ckpt / checkpoint.PREVIOUS_FILE).unlink()
    with caplog.at_level(logging.WARNING):
        _run(stream, out, ckpt)
    assert any("no checkpoint in" in r.getMessage() for r in caplog.records)
    assert _outputs(out) == reference


def test_a_full_disk_at_a_checkpoint_is_one_clear_error_and_a_rerun_resumes(
    stream: Path,
    reference: dict[str, bytes],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out, ckpt = _interrupted(stream, tmp_path)
    before = (ckpt / checkpoint.CHECKPOINT_FILE).read_bytes()

    def full(tmp: Path, data: bytes) -> None:
        tmp.write_bytes(data[:100])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoint, "_write", full)
    with pytest.raises(CheckpointError, match="disk full") as err:
        _run(stream, out, ckpt)
    assert "\n" not in str(err.value)
    assert not list(ckpt.glob("*.tmp"))
    assert (ckpt / checkpoint.CHECKPOINT_FILE).read_bytes() == before
    monkeypatch.undo()
    _run(stream, out, ckpt)
    assert _outputs(out) == reference


@pytest.mark.parametrize("prefix", ["facts-", "state-mem-"])
def test_a_damaged_newest_state_file_gives_way_to_the_previous_checkpoint(
    stream: Path,
    reference: dict[str, bytes],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    prefix: str,
) -> None:
    """The request-time facts and the in-memory state backend keep their own checkpoint
    files (a base and deltas of what changed). The newest file (a delta, or a new base) is the
    newest checkpoint's alone: damaged, the previous checkpoint is resumed, as for a damaged
    snapshot, and the outputs come out the same."""
    out, ckpt = _interrupted(stream, tmp_path)
    files = sorted(ckpt.glob(prefix + "*"))
    assert len(files) > 1
    _flip(files[-1])
    with caplog.at_level(logging.WARNING):
        stats = _run(stream, out, ckpt)
    assert not stats.stopped_early
    assert _outputs(out) == reference
    assert any(
        files[-1].name in r.getMessage() and "previous checkpoint" in r.getMessage()
        for r in caplog.records
    )
    assert (ckpt / checkpoint.DAMAGED_FILE).exists()


def test_when_both_checkpoints_facts_are_damaged_the_resume_is_refused_by_name(
    stream: Path, tmp_path: Path
) -> None:
    out, ckpt = _interrupted(stream, tmp_path)
    files = sorted(ckpt.glob("facts-*"))
    for f in files:
        _flip(f)
    with pytest.raises(CheckpointError, match=r"can be restored: .* is damaged.*previous one"):
        _run(stream, out, ckpt)


def test_a_resume_on_another_state_backend_names_the_setting(
    stream: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    out, ckpt = _interrupted(stream, tmp_path)
    with pytest.raises(CheckpointError, match=r"state_backend: 'memory' then, 'rocksdb' now"):
        _run(stream, out, ckpt, backend="rocksdb")


def test_a_fresh_rocksdb_run_warns_of_nothing(
    stream: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The RocksDB backend's working database is not a leftover of an earlier run."""
    with caplog.at_level(logging.WARNING):
        _run(stream, tmp_path / "out", tmp_path / "ckpt", stop_after=2, backend="rocksdb")
    assert not [r for r in caplog.records if "no checkpoint" in r.getMessage()]


def test_a_missing_newest_rocksdb_checkpoint_gives_way_to_the_previous(
    stream: Path, reference: dict[str, bytes], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    out, ckpt = _interrupted(stream, tmp_path, "rocksdb")
    folders = sorted(p for p in ckpt.glob("state-rocks-*") if p.is_dir())
    assert len(folders) == 2  # the newest checkpoint's and the previous one's
    shutil.rmtree(folders[-1])
    with caplog.at_level(logging.WARNING):
        stats = _run(stream, out, ckpt, backend="rocksdb")
    assert not stats.stopped_early
    assert _outputs(out) == reference
    assert any("previous checkpoint" in r.getMessage() for r in caplog.records)

"""The facts channel (``facts.jsonl``) the API copies: what it carries rebuilds the runtime's
facts, across a resume, and after a machine crash took its unsynced tail."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from vigil.detectors.registry import default_detectors
from vigil.features.facts import FACTS_FILE, RequestFacts
from vigil.ingest.sources import FileSource
from vigil.runtime.embedded import EmbeddedRuntime, RuntimeSettings
from vigil.sim import SimConfig, simulate

SETTINGS = RuntimeSettings(publish_every_batch=True, analytics=False, checkpoint_every_events=7_000)


@pytest.fixture(scope="module")
def events(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("facts-channel")
    return simulate(SimConfig(seed=6, events=20_000), out).events_path


def _copy(out: Path) -> RequestFacts:
    copy = RequestFacts()
    for line in (out / FACTS_FILE).read_bytes().splitlines():
        copy.apply_line(line)
    return copy


def _same(a: RequestFacts, b: RequestFacts) -> None:
    for kind, table in a.tables.items():
        assert msgspec.json.encode(b.tables[kind], order="sorted") == msgspec.json.encode(
            table, order="sorted"
        ), kind


def _runtime(out: Path, ckpt: Path) -> EmbeddedRuntime:
    return EmbeddedRuntime(default_detectors(), out, SETTINGS, checkpoint_dir=ckpt)


def _head(events: Path, tmp: Path, lines: int) -> Path:
    """The first ``lines`` lines of the stream, as a growing input would hold them."""
    path = tmp / "input.jsonl"
    path.write_bytes(b"".join(events.read_bytes().splitlines(keepends=True)[:lines]))
    return path


def test_the_published_lines_rebuild_the_runtimes_facts(events: Path, tmp_path: Path) -> None:
    rt = _runtime(tmp_path / "out", tmp_path / "ckpt")
    rt.run(FileSource(events))
    _same(rt.facts, _copy(tmp_path / "out"))


def test_a_crash_that_took_the_unsynced_tail_republishes_every_fact(
    events: Path, tmp_path: Path
) -> None:
    """facts.jsonl is never fsynced (its fsync stalled the API's); a machine crash may cut it
    below what the checkpoint recorded: the resumed runtime publishes everything again."""
    out, ckpt = tmp_path / "out", tmp_path / "ckpt"
    first = _head(events, tmp_path, 10_000)
    _runtime(out, ckpt).run(FileSource(first))
    facts_file = out / FACTS_FILE
    facts_file.write_bytes(facts_file.read_bytes()[: facts_file.stat().st_size // 3])
    first.write_bytes(events.read_bytes())  # the input grew meanwhile
    rt = _runtime(out, ckpt)
    rt.run(FileSource(first))
    _same(rt.facts, _copy(out))

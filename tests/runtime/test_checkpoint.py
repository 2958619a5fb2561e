"""Checkpoint and resume in-process: a run interrupted any number of times, at batch ends or
in the middle of a batch, then resumed, writes exactly what an uninterrupted run writes."""

from __future__ import annotations

import dataclasses
import gc
import json
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.policy_change import assert_policy_applies_from

from vigil.decisions.policy import DecisionPolicy
from vigil.detectors.base import Context, Signal
from vigil.errors import CheckpointError, ConfigError
from vigil.events.codec import encode_one
from vigil.events.schemas import EventBase
from vigil.ingest.sources import FileSource, StdinSource
from vigil.runtime import checkpoint
from vigil.runtime.embedded import EmbeddedRuntime, RuntimeSettings

from ._detectors import NoReturnDetector, RefundWindowsDetector
from ._oracle import Item
from ._scenarios import MALFORMED, Scenario, scenarios
from ._streams import login, make_event, refund

#: stats that legitimately differ between an interrupted and an uninterrupted run
VOLATILE = {
    "wall_seconds_this_process_and_before",
    "events_per_second",
    "checkpoints_written",
    "resumed_from_line",
}


class SimulatedCrash(Exception):
    pass


class CrashingNoReturn(NoReturnDetector):
    """Same name and version (so the same checkpoint fingerprint), dies on one event id."""

    def __init__(self, within_ms: int, crash_on: str | None) -> None:
        super().__init__(within_ms)
        self.crash_on = crash_on

    def on_event(self, event: EventBase, ctx: Context) -> Sequence[Signal]:
        if event.event_id == self.crash_on:
            raise SimulatedCrash(event.event_id)
        return super().on_event(event, ctx)


@dataclass(frozen=True)
class Outputs:
    alerts: bytes
    dead_letters: bytes
    decisions: bytes
    stats: dict[str, Any]


def _outputs(out: Path) -> Outputs:
    stats = json.loads((out / "stats.json").read_bytes())
    return Outputs(
        alerts=(out / "alerts.jsonl").read_bytes(),
        dead_letters=(out / "dead_letter.jsonl").read_bytes(),
        decisions=(out / "decisions.jsonl").read_bytes(),
        stats={k: v for k, v in stats.items() if k not in VOLATILE},
    )


@dataclass
class Job:
    """One input, one output directory, one checkpoint directory; runs until told to die."""

    inp: Path
    out: Path
    ckpt: Path | None
    settings: RuntimeSettings
    within_ms: int = 30
    windows: tuple[int, int, int] = (40, 80, 20)
    chunk_bytes: int = 1 << 20

    def run(self, crash_after_batch: int | None = None, crash_on: str | None = None) -> bool:
        """True if the run completed, False if it "crashed"."""
        batches = 0

        def progress(_stats: Any, _offset: int) -> None:
            nonlocal batches
            batches += 1
            if batches == crash_after_batch:
                raise SimulatedCrash(f"after batch {batches}")

        detectors = [
            CrashingNoReturn(self.within_ms, crash_on),
            RefundWindowsDetector(*self.windows),
        ]
        runtime = EmbeddedRuntime(detectors, self.out, self.settings, self.ckpt, progress)
        try:
            runtime.run(FileSource(self.inp, chunk_bytes=self.chunk_bytes))
            return True
        except SimulatedCrash:
            return False
        finally:
            del runtime
            gc.collect()  # a dead process keeps no file handles open


def _write(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    return path


def _scenario_lines(sc: Scenario, data: st.DataObject) -> list[bytes]:
    items = [Item.of(e) for e in sc.arrival]
    for e in data.draw(st.lists(st.sampled_from(sc.arrival), max_size=3)) if sc.arrival else []:
        items.insert(data.draw(st.integers(0, len(items))), Item.of(e))  # re-sends
    for raw in data.draw(st.lists(st.sampled_from([*MALFORMED, b""]), max_size=3)):
        items.insert(data.draw(st.integers(0, len(items))), Item(raw))
    return [i.raw for i in items]


@settings(max_examples=40)
@given(sc=scenarios(in_bound=False), data=st.data())
def test_crashes_and_resumes_give_the_uninterrupted_outputs(
    sc: Scenario, data: st.DataObject
) -> None:
    lines = _scenario_lines(sc, data)
    ids = [e.event_id for e in sc.arrival if e.__struct_config__.tag != "customer_login"]
    crash = st.one_of(
        st.tuples(st.just("batch"), st.integers(1, 6)),
        st.tuples(st.just("event"), st.sampled_from(ids) if ids else st.just("none")),
    )
    plan = data.draw(st.lists(crash, min_size=1, max_size=4))
    every = data.draw(st.integers(1, 6))
    chunk = data.draw(st.integers(16, 300))
    ckpt_settings = RuntimeSettings(
        max_out_of_orderness_ms=sc.bound,
        allowed_lateness_ms=sc.lateness,
        checkpoint_every_events=every,
        analytics=False,
    )
    windows = (sc.tumbling, sc.sliding, sc.slide)
    with tempfile.TemporaryDirectory(prefix="vigil-ckpt-") as tmp:
        inp = _write(Path(tmp) / "events.jsonl", lines)
        reference = Job(inp, Path(tmp) / "ref", None, sc.settings(), sc.within, windows)
        assert reference.run()
        job = Job(inp, Path(tmp) / "out", Path(tmp) / "ckpt", ckpt_settings, sc.within, windows)
        job.chunk_bytes = chunk
        for kind, where in plan:
            if kind == "batch":
                job.run(crash_after_batch=int(where))
            else:
                job.run(crash_on=str(where))
        assert job.run()
        assert _outputs(job.out) == _outputs(reference.out)


def _stream(n: int = 120) -> list[bytes]:
    """In-bound refunds, receipts and logins with some duplicates, late and bad lines."""
    lines = []
    for i in range(n):
        kind = ("refund", "receipt", "login", "refund")[i % 4]
        lines.append(encode_one(make_event(i, kind, 10 * i + (7 * i) % 13, i % 5, 100 * i)))
        if i % 17 == 5:
            lines.append(lines[-3])  # duplicate
        if i % 23 == 7:
            lines.append(encode_one(login(10_000 + i, 10 * i - 60, "late")))  # late or too late
        if i % 29 == 3:
            lines.append(b'{"type": "refund_issued", "event_id": "bad"')
    return lines


SETTINGS = RuntimeSettings(
    max_out_of_orderness_ms=20, allowed_lateness_ms=45, checkpoint_every_events=7
)


def _rows(out: Path, table: str, columns: str) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(out / "analytics.duckdb"), read_only=True)
    try:
        return sorted(con.execute(f"SELECT {columns} FROM {table}").fetchall())
    finally:
        con.close()


def _analytics(out: Path) -> dict[str, list[tuple[Any, ...]]]:
    return {
        "events": _rows(out, "events", "* EXCLUDE (flush_seq)"),
        "alerts": _rows(out, "alerts", "* EXCLUDE (flush_seq)"),
        "features": _rows(out, "features", "*"),
    }


def test_resume_with_analytics_gives_the_same_database(tmp_path: Path) -> None:
    inp = _write(tmp_path / "events.jsonl", _stream())
    reference = Job(inp, tmp_path / "ref", None, SETTINGS)
    assert reference.run()
    job = Job(inp, tmp_path / "out", tmp_path / "ckpt", SETTINGS, chunk_bytes=700)
    assert not job.run(crash_after_batch=3)
    assert not job.run(crash_on="e61")
    assert not job.run(crash_after_batch=2)
    assert job.run()
    assert _outputs(job.out) == _outputs(reference.out)
    assert _analytics(job.out) == _analytics(reference.out)
    assert (
        _rows(job.out, "events", "count(*)")[0][0]
        == json.loads((job.out / "stats.json").read_bytes())["processed"]
    )


def test_resuming_a_finished_run_changes_nothing(tmp_path: Path) -> None:
    inp = _write(tmp_path / "events.jsonl", _stream())
    job = Job(inp, tmp_path / "out", tmp_path / "ckpt", SETTINGS)
    assert job.run()
    before, db_before = _outputs(job.out), _analytics(job.out)
    assert job.run()
    assert _outputs(job.out) == before
    assert _analytics(job.out) == db_before


def _grow_and_resume(tmp_path: Path, lines: list[bytes], first: int) -> None:
    inp = _write(tmp_path / "events.jsonl", lines[:first])
    job = Job(inp, tmp_path / "out", tmp_path / "ckpt", SETTINGS)
    assert job.run()
    with inp.open("ab") as fh:
        fh.write(b"".join(line + b"\n" for line in lines[first:]))
    assert job.run()
    reference = Job(inp, tmp_path / "ref", None, SETTINGS)  # over the whole, grown file
    assert reference.run()
    assert _outputs(job.out) == _outputs(reference.out)
    assert _analytics(job.out) == _analytics(reference.out)


def test_resuming_after_the_input_grew_equals_one_run_over_all_of_it(tmp_path: Path) -> None:
    lines = _stream(700)
    first = 500
    assert sum(len(line) + 1 for line in lines[:first]) > 1 << 16  # the fingerprint's span
    _grow_and_resume(tmp_path, lines, first)


def test_a_small_input_that_grew_can_be_resumed(tmp_path: Path) -> None:
    _grow_and_resume(tmp_path, _stream(), 70)


def _stopped_after_three_batches(tmp_path: Path) -> tuple[Job, int]:
    """A run stopped as on SIGTERM (checkpoint after the batch); the job resumes it."""
    inp = _write(tmp_path / "events.jsonl", _stream())
    calls = 0

    def stop_after_three() -> bool:
        nonlocal calls
        calls += 1
        return calls == 3

    settings_ = RuntimeSettings(**{**SETTINGS.__dict__, "analytics": False})
    detectors = [NoReturnDetector(30), RefundWindowsDetector(40, 80, 20)]
    out, ckpt = tmp_path / "out", tmp_path / "ckpt"
    stats = EmbeddedRuntime(detectors, out, settings_, ckpt, should_stop=stop_after_three).run(
        FileSource(inp, chunk_bytes=500)
    )
    assert stats.stopped_early
    assert 0 < stats.lines < len(_stream())
    return Job(inp, out, ckpt, settings_), stats.lines


def _stop_then_resume(tmp_path: Path) -> tuple[Path, Path]:
    job, _ = _stopped_after_three_batches(tmp_path)
    inp, out, settings_ = job.inp, job.out, job.settings
    assert job.run()
    reference = Job(inp, tmp_path / "ref", None, settings_)
    assert reference.run()
    return out, reference.out


def test_a_stopped_run_resumes_where_it_stopped(tmp_path: Path) -> None:
    out, ref = _stop_then_resume(tmp_path)
    resumed, uninterrupted = _outputs(out), _outputs(ref)
    assert uninterrupted.decisions
    assert (resumed.alerts, resumed.dead_letters, resumed.decisions) == (
        uninterrupted.alerts,
        uninterrupted.dead_letters,
        uninterrupted.decisions,
    )
    flag = "stopped_early_on_signal"
    assert {k: v for k, v in resumed.stats.items() if k != flag} == {
        k: v for k, v in uninterrupted.stats.items() if k != flag
    }


def test_a_resumed_run_that_completes_was_not_stopped(tmp_path: Path) -> None:
    out, _ = _stop_then_resume(tmp_path)
    assert _outputs(out).stats["stopped_early_on_signal"] is False


# --- refusing the wrong checkpoint ----------------------------------------------------------


def _checkpointed(tmp_path: Path) -> Job:
    job = Job(
        _write(tmp_path / "events.jsonl", _stream(40)),
        tmp_path / "out",
        tmp_path / "ckpt",
        RuntimeSettings(checkpoint_every_events=5, analytics=False),
    )
    assert not job.run(crash_after_batch=1)
    assert (tmp_path / "ckpt" / checkpoint.CHECKPOINT_FILE).exists()
    return job


@pytest.mark.parametrize(
    ("change", "what"),
    [
        ({"max_out_of_orderness_ms": 1}, "settings fingerprint"),
        ({"allowed_lateness_ms": 1}, "settings fingerprint"),
        ({"dedup_prune_every": 10}, "settings fingerprint"),
    ],
)
def test_a_checkpoint_from_other_settings_is_refused(
    tmp_path: Path, change: dict[str, int], what: str
) -> None:
    job = _checkpointed(tmp_path)
    job.settings = RuntimeSettings(**{**job.settings.__dict__, **change})
    with pytest.raises(CheckpointError, match=what) as err:
        job.run()
    assert "--checkpoint-dir" in str(err.value)


def test_the_checkpoint_interval_may_change_on_resume(tmp_path: Path) -> None:
    job = _checkpointed(tmp_path)
    job.settings = RuntimeSettings(checkpoint_every_events=3, analytics=False)
    assert job.run()


def test_the_decision_thresholds_may_change_on_resume_and_apply_from_there(
    tmp_path: Path,
) -> None:
    """What ``vigil serve`` does when a lead approves a threshold: stop, resume with it."""
    job, lines_then = _stopped_after_three_batches(tmp_path)
    out = job.out
    kept = (out / "decisions.jsonl").stat().st_size
    before, after = DecisionPolicy(), DecisionPolicy(0.01, 0.02)
    job.settings = dataclasses.replace(job.settings, decision_policy=after)
    assert job.run()

    assert_policy_applies_from(out / "decisions.jsonl", kept, before, after)
    stats = json.loads((out / "stats.json").read_bytes())
    assert stats["decision_policy_changes"] == [
        {
            "from_line": lines_then + 1,
            "before": {"review_threshold": 0.5, "deny_threshold": 0.95},
            "after": {"review_threshold": 0.01, "deny_threshold": 0.02},
        }
    ]


def test_a_checkpoint_from_when_thresholds_were_fingerprinted_still_resumes(
    tmp_path: Path,
) -> None:
    """Checkpoints written before the thresholds could change held them in the fingerprint."""
    job, _ = _stopped_after_three_batches(tmp_path)
    path = job.ckpt / checkpoint.CHECKPOINT_FILE  # type: ignore[operator]
    meta, payload = checkpoint.read_snapshot(path)
    head, sep, tail = meta["settings_fingerprint"].partition("|")
    old = json.loads(head)
    old["decision_policy"] = {
        "review_threshold": 0.5,
        "deny_threshold": 0.95,
        **old["decision_policy"],
    }
    meta["settings_fingerprint"] = json.dumps(old, separators=(",", ":")) + sep + tail
    path.write_bytes(checkpoint.frame(meta, payload))
    assert job.run()
    # any other setting that differs is still refused
    other = dict(old, allowed_lateness_ms=1)
    meta["settings_fingerprint"] = json.dumps(other, separators=(",", ":")) + sep + tail
    path.write_bytes(checkpoint.frame(meta, payload))
    with pytest.raises(CheckpointError, match="settings fingerprint"):
        job.run()


def test_analytics_cannot_be_switched_on_in_the_middle_of_a_run(tmp_path: Path) -> None:
    job = _checkpointed(tmp_path)  # analytics off so far
    job.settings = RuntimeSettings(checkpoint_every_events=5, analytics=True)
    with pytest.raises(CheckpointError, match=r"analytics store .* is missing"):
        job.run()


def test_a_checkpoint_from_other_detectors_is_refused(tmp_path: Path) -> None:
    job = _checkpointed(tmp_path)
    with pytest.raises(CheckpointError, match="settings fingerprint"):
        EmbeddedRuntime([NoReturnDetector()], job.out, job.settings, job.ckpt).run(
            FileSource(job.inp)
        )


def test_a_checkpoint_of_another_input_is_refused(tmp_path: Path) -> None:
    job = _checkpointed(tmp_path)
    other = _write(tmp_path / "other.jsonl", [encode_one(refund(1, 0, "o", "c", 1))])
    job.inp = other
    with pytest.raises(CheckpointError, match="input fingerprint"):
        job.run()
    job.inp.write_bytes(b"\n" + (tmp_path / "events.jsonl").read_bytes())  # edited input
    with pytest.raises(CheckpointError, match="input fingerprint"):
        job.run()


def test_an_unreadable_checkpoint_is_refused(tmp_path: Path) -> None:
    job = _checkpointed(tmp_path)
    (tmp_path / "ckpt" / checkpoint.CHECKPOINT_FILE).write_bytes(b"not a pickle")
    (tmp_path / "ckpt" / checkpoint.PREVIOUS_FILE).unlink(missing_ok=True)
    with pytest.raises(CheckpointError, match="not a Vigil checkpoint"):
        job.run()


def test_a_checkpoint_of_another_format_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = _checkpointed(tmp_path)
    monkeypatch.setattr(checkpoint, "FORMAT_VERSION", checkpoint.FORMAT_VERSION + 1)
    with pytest.raises(CheckpointError, match="format version"):
        job.run()


def test_stdin_cannot_be_checkpointed(tmp_path: Path) -> None:
    runtime = EmbeddedRuntime([], tmp_path / "out", checkpoint_dir=tmp_path / "ckpt")
    with pytest.raises(ConfigError, match="cannot be resumed"):
        runtime.run(StdinSource())
    assert not (tmp_path / "ckpt").exists()


def test_resume_keeps_the_dedup_prune_schedule(tmp_path: Path) -> None:
    """Ids are forgotten every ``dedup_prune_every`` lines: a re-send of an old event must be
    classified the same (duplicate or ``too_late``) whether or not the run restarted."""
    lines = [
        encode_one(login(1, 0, "c")),
        encode_one(login(2, 100, "c")),
        encode_one(login(3, 200, "c")),  # checkpoint after line 3
        encode_one(login(4, 300, "c")),  # line 4: prune (uninterrupted run); horizon 250
        encode_one(login(1, 0, "c")),  # re-send of line 1
    ]
    settings_ = RuntimeSettings(
        max_out_of_orderness_ms=0,
        allowed_lateness_ms=50,
        checkpoint_every_events=3,
        dedup_prune_every=4,
        analytics=False,
    )
    inp = _write(tmp_path / "events.jsonl", lines)
    reference = Job(inp, tmp_path / "ref", None, settings_, chunk_bytes=1)
    assert reference.run()
    job = Job(inp, tmp_path / "out", tmp_path / "ckpt", settings_, chunk_bytes=1)
    assert not job.run(crash_after_batch=3)
    assert job.run()
    assert _outputs(job.out) == _outputs(reference.out)


def test_outputs_deleted_under_a_kept_checkpoint_are_refused(tmp_path: Path) -> None:
    job = Job(
        _write(tmp_path / "events.jsonl", _stream()), tmp_path / "out", tmp_path / "ckpt", SETTINGS
    )
    assert job.run()
    assert (job.out / "alerts.jsonl").stat().st_size > 0
    shutil.rmtree(job.out)
    with pytest.raises(CheckpointError, match="remove the checkpoint directory"):
        job.run()

"""Hot reload between batches, refusal of a bad file, and resume with other rules."""

from __future__ import annotations

import os
from pathlib import Path

from vigil.detectors.rules import RuleFileWatcher, RulesDetector, RuleStore
from vigil.events.codec import encode_one
from vigil.ingest.sources import FileSource
from vigil.runtime.embedded import EmbeddedRuntime, RuntimeSettings
from vigil.runtime.stats import RunStats

from .._factories import DAY, MINUTE, T0, Events
from ._helpers import read_alerts, rule_yaml

V1 = (
    "rules:\n"
    + rule_yaml("r", "refund.amount_cents >= $0")
    + rule_yaml(
        "pending", "no return_received for order_id within 1d after refund_issued", score=0.5
    )
)
V2 = (
    "rules:\n"
    + rule_yaml("r", "refund.amount_cents > $1_000_000")
    + rule_yaml(
        "pending", "no return_received for order_id within 1d after refund_issued", score=0.7
    )
)


def _write(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)  # an atomic swap, as an editor or deploy tool should do
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))


def _input(tmp_path: Path, n: int = 40) -> Path:
    f = Events()
    events = [f.refund(f"r{i:02d}", f"o{i}", T0 + i * MINUTE) for i in range(n)]
    events.append(f.tick(T0 + 5 * DAY))
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"".join(encode_one(e) + b"\n" for e in events))
    return path


def _watcher(rules: Path, messages: list[str], store: RuleStore | None) -> RuleFileWatcher:
    return RuleFileWatcher(
        rules,
        store=store,
        author="tester",
        clock=lambda: "2026-01-05T00:00:00Z",
        report=messages.append,
        lateness_ms=2 * DAY,
    )


def _run(
    inp: Path,
    out: Path,
    watcher: RuleFileWatcher,
    on_batch: object,
    checkpoint_dir: Path | None = None,
    stop_after: int | None = None,
) -> RunStats:
    batches = {"n": 0}

    def progress(stats: RunStats, offset: int) -> None:
        batches["n"] += 1
        on_batch(batches["n"])  # type: ignore[operator]

    runtime = EmbeddedRuntime(
        [RulesDetector(watcher.ruleset, source=watcher)],
        out,
        RuntimeSettings(analytics=False, checkpoint_every_events=5),
        checkpoint_dir,
        progress=progress,
        should_stop=lambda: stop_after is not None and batches["n"] >= stop_after,
    )
    return runtime.run(FileSource(inp, chunk_bytes=300))  # about one line per batch


def test_hot_reload_mid_stream_between_batches(tmp_path: Path) -> None:
    rules = tmp_path / "rules" / "live.yaml"
    rules.parent.mkdir()
    rules.write_text(V1)
    store = RuleStore(rules.parent)
    messages: list[str] = []
    watcher = _watcher(rules, messages, store)

    def on_batch(n: int) -> None:
        if n == 10:
            _write(rules, V2)

    _run(_input(tmp_path), tmp_path / "out", watcher, on_batch)
    alerts = read_alerts(tmp_path / "out" / "alerts.jsonl")
    immediate = sorted(a.subject_id for a in alerts if a.detector == "rule:r")
    # rule r v1 matched every refund up to the reload, v2 matches none after it
    assert immediate and len(immediate) < 40
    assert immediate == [f"r{i:02d}" for i in range(len(immediate))]
    assert {a.version for a in alerts if a.detector == "rule:r"} == {1}
    # the sequence rule kept its pending evaluations across the reload (same expression);
    # the new score applies to evaluations that run after it
    pending = [a for a in alerts if a.detector == "rule:pending"]
    assert len(pending) == 40
    assert {(a.score, a.version) for a in pending} == {(0.7, 2)}
    assert watcher.reloads == 1
    assert any("rules reloaded" in m and "r v1->v2" in m for m in messages)
    history = store.records()
    assert [(r.rule, r.version, r.author) for r in history] == [
        ("r", 1, "tester"),
        ("pending", 1, "tester"),
        ("r", 2, "tester"),
        ("pending", 2, "tester"),
    ]


def test_a_bad_reload_is_refused_and_the_old_set_keeps_running(tmp_path: Path) -> None:
    rules = tmp_path / "live.yaml"
    rules.write_text(V1)
    messages: list[str] = []
    watcher = _watcher(rules, messages, None)
    broken = V1.replace("refund.amount_cents >= $0", "refund.amount >= $0")

    def on_batch(n: int) -> None:
        if n == 5:
            _write(rules, broken)
        if n == 6:
            rules.write_text("rules: [")  # caught half-written

    _run(_input(tmp_path), tmp_path / "out", watcher, on_batch)
    alerts = read_alerts(tmp_path / "out" / "alerts.jsonl")
    assert len([a for a in alerts if a.detector == "rule:r"]) == 40  # the old set, throughout
    assert watcher.refused == 2 and watcher.reloads == 0
    assert "reload refused; the current rule set keeps running" in messages[0]
    assert "unknown field 'amount' of refund_issued" in messages[0]
    assert "not valid YAML" in messages[1]


def test_resume_with_other_rules_continues_and_says_so(tmp_path: Path) -> None:
    rules = tmp_path / "live.yaml"
    rules.write_text(V1)
    inp = _input(tmp_path)
    ckpt = tmp_path / "ckpt"
    first: list[str] = []
    stats = _run(inp, tmp_path / "out", _watcher(rules, first, None), lambda n: None, ckpt, 10)
    assert stats.stopped_early
    _write(rules, V2)
    second: list[str] = []
    stats = _run(inp, tmp_path / "out", _watcher(rules, second, None), lambda n: None, ckpt)
    assert not stats.stopped_early and stats.resumed_from_line
    assert any("the checkpoint was made with other rules" in m for m in second)
    alerts = read_alerts(tmp_path / "out" / "alerts.jsonl")
    immediate = [a.subject_id for a in alerts if a.detector == "rule:r"]
    assert 0 < len(immediate) < 40  # v1 before the checkpoint, v2 (nothing) after

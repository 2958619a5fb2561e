"""The runtime's request-time decisions in ``decisions.jsonl``: one per request, first, and the
stream's later decisions about the refund build on it (never lower, with its money)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

from vigil.decisions.book import RefundDecision, decision_decoder
from vigil.detectors.registry import default_detectors
from vigil.events import DecodeFailure, decode_one
from vigil.events.schemas import RefundRequested
from vigil.ingest.sources import FileSource
from vigil.runtime.embedded import EmbeddedRuntime, RuntimeSettings
from vigil.sim import SimConfig, simulate


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("request-decisions")
    cfg = SimConfig(seed=8, events=40_000, takeover_sessions_per_million=200.0,
                    insider_refunds_per_million=300.0)  # fmt: skip
    sim = simulate(cfg, root / "sim")
    EmbeddedRuntime(default_detectors(), root / "run", RuntimeSettings(analytics=False)).run(
        FileSource(sim.events_path)
    )
    return sim.events_path, root / "run" / "decisions.jsonl"


def _lines(path: Path) -> dict[str, list[RefundDecision]]:
    by: dict[str, list[RefundDecision]] = defaultdict(list)
    for line in path.read_bytes().splitlines():
        d = decision_decoder.decode(line)
        by[d.refund_id].append(d)
    return by


def test_every_request_is_decided_once_and_first(run: tuple[Path, Path]) -> None:
    events, decisions = run
    requests = {
        ev.refund_id
        for n, raw in enumerate(events.read_bytes().splitlines(), 1)
        if not isinstance(ev := decode_one(raw, n), DecodeFailure)
        and isinstance(ev, RefundRequested)
    }
    by = _lines(decisions)
    asked = {rid for rid, ds in by.items() if any(d.stage == "request" for d in ds)}
    assert asked == requests
    for rid in asked:
        stages = [d.stage for d in by[rid]]
        assert stages[0] == "request" and stages.count("request") == 1, rid
        assert by[rid][0].revision == 0


def test_the_stream_builds_on_the_request_time_decision(run: tuple[Path, Path]) -> None:
    """A later decision adds findings to those the request had: its score is never lower,
    and every line carries the refund's money, customer and order."""
    by = _lines(run[1])
    revised = 0
    for rid, ds in by.items():
        first = ds[0]
        if first.stage != "request":
            continue
        for later in ds[1:]:
            revised += 1
            assert later.score >= first.score, rid
            assert later.amount_cents == first.amount_cents > 0, rid
            assert (later.customer_id, later.order_id) == (first.customer_id, first.order_id)
            held_then = {c.detector for c in first.contributions}
            assert held_then <= {c.detector for c in later.contributions}, rid
    assert revised > 20

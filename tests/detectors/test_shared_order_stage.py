"""One order stage for the detectors that judge an order's parcels (``order_stage``): run as
one pipeline, ``refund_without_return`` and ``agent_refunds`` find what each finds alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from vigil.detectors.base import Alert, alert_decoder
from vigil.detectors.insider.agent_refunds import AgentRefundsDetector
from vigil.detectors.sequences.refund_without_return import RefundWithoutReturnDetector
from vigil.ingest.sources import FileSource
from vigil.runtime.embedded import EmbeddedRuntime, RuntimeSettings
from vigil.sim import SimConfig, simulate
from vigil.state.keyed.pipeline import SharedPipeline, StagePipeline, share_stages


@pytest.fixture(scope="module")
def events(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # a simulated stream with insiders and unreturned refunds often enough that both fire
    cfg = SimConfig(seed=13, events=200_000, insider_refunds_per_million=400.0,
                    ftid_per_million=200.0, empty_box_per_million=200.0)  # fmt: skip
    return simulate(cfg, tmp_path_factory.mktemp("sim")).events_path


def _alerts(detectors: list[StagePipeline], events: Path, out: Path, backend: str) -> list[Alert]:
    settings = RuntimeSettings(analytics=False, state_backend=backend)
    EmbeddedRuntime(list(detectors), out, settings).run(FileSource(events))
    return [alert_decoder.decode(x) for x in (out / "alerts.jsonl").read_bytes().splitlines()]


def _key(alerts: list[Alert]) -> set[tuple[str, float, tuple[str, ...], int]]:
    return {(a.alert_id, a.score, a.refund_ids, a.event_time_ms) for a in alerts}


def test_share_stages_keeps_one_order_and_one_route_stage() -> None:
    (shared,) = share_stages([RefundWithoutReturnDetector(), AgentRefundsDetector()])
    assert isinstance(shared, SharedPipeline)
    names = [s.name for s in shared.stages]
    assert names.count("orders") == 1 and names.count("routes") == 1
    assert names.count("signups") == 1
    orders = next(s for s in shared.stages if s.name == "orders")
    assert [p.prefix for p in orders.settings.parts] == ["refund", "agent"]  # type: ignore[attr-defined]
    # the shared pipeline's settings name both detectors (the checkpoint fingerprint)
    assert [name for name, _ in shared.settings] == ["refund_without_return", "agent_refunds"]


@pytest.mark.parametrize("backend", ["memory", "rocksdb"])
def test_shared_pipeline_finds_what_each_finds_alone(
    events: Path, tmp_path: Path, backend: str
) -> None:
    alone = _alerts(
        [RefundWithoutReturnDetector(), AgentRefundsDetector()], events, tmp_path / "a", backend
    )
    together = _alerts(
        share_stages([RefundWithoutReturnDetector(), AgentRefundsDetector()]),
        events,
        tmp_path / "b",
        backend,
    )
    detectors = {a.detector for a in alone}
    assert detectors == {"refund_without_return", "agent_refunds"}  # both fire on this stream
    assert _key(together) == _key(alone)

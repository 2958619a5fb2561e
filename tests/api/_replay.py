"""A simulated stream replayed through a real runtime that publishes to an API under test:
the runtime reads the stream in batches that end just before each refund request, and the
test is called with the request once everything before it is processed and published (what
``decide`` would see when its index has caught up)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec

from vigil.api import ApiSettings
from vigil.decisions.book import RefundDecision, decision_decoder
from vigil.detectors.registry import default_detectors
from vigil.events.codec import decode_one
from vigil.events.schemas import RefundRequested
from vigil.ingest.sources import Batch
from vigil.runtime.embedded import EmbeddedRuntime, RuntimeSettings
from vigil.sim import SimSummary


class SplitAtRequests:
    """The stream in batches that end just before each refund request; ``before`` is called
    with the request once everything before it was processed and published."""

    name = "replay"
    resumable = False

    def __init__(self, lines: list[bytes], before: Callable[[RefundRequested], None]) -> None:
        self.lines = lines
        self.before = before

    def batches(self, start_offset: int) -> Iterator[Batch]:
        batch: list[bytes] = []
        offset = 0
        for raw in self.lines:
            event = decode_one(raw, 1)
            if isinstance(event, RefundRequested):
                if batch:
                    yield batch, offset
                    batch = []
                self.before(event)
            batch.append(raw)
            offset += len(raw) + 1
        if batch:
            yield batch, offset


def decide_body(req: RefundRequested) -> dict[str, Any]:
    """The decide request for a request event the refund system posts itself."""
    fields = msgspec.structs.asdict(req)
    for drop in ("event_id", "v", "type"):
        fields.pop(drop, None)
    return {**fields, "record_event": False}


def replay(sim: SimSummary, settings: ApiSettings, ask: Callable[[RefundRequested], None]) -> None:
    """Run the simulated stream through a runtime publishing into the API's state (judging
    request profiles with the API's own ``request_profile``, as ``vigil serve`` has both)."""
    runtime = EmbeddedRuntime(
        default_detectors(),
        settings.out_dir,
        RuntimeSettings(publish_every_batch=True, analytics=False),
        request_profile=settings.request_profile,
    )
    runtime.run(SplitAtRequests(sim.events_path.read_bytes().splitlines(), ask))


def request_decisions(out_dir: Path) -> dict[str, RefundDecision]:
    """The runtime's request-time decisions, by refund."""
    lines = (out_dir / "decisions.jsonl").read_bytes().splitlines()
    return {d.refund_id: d for d in map(decision_decoder.decode, lines) if d.stage == "request"}


def refund_truth(sim: SimSummary) -> dict[str, dict[str, Any]]:
    return {
        rec["id"]: rec
        for rec in map(msgspec.json.decode, sim.truth_path.read_bytes().splitlines())
        if rec["kind"] == "refund"
    }

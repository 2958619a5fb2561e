"""Shared fixtures: one default 200k-line stream, simulated once and indexed for the tests."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import pytest

from vigil.events import DecodeFailure, decode_one
from vigil.events.schemas import (
    AdClick,
    AgentAction,
    AgentRostered,
    AgentSessionEnded,
    AgentSessionStarted,
    CarrierScan,
    CustomerSignup,
    Event,
    OrderPlaced,
    RefundIssued,
    ReturnReceived,
    ReturnRequested,
)
from vigil.events.truth import TruthRecord, truth_decoder
from vigil.sim import SimConfig, SimSummary, simulate

DEFAULT_EVENTS = 200_000


@dataclass
class Stream:
    """A simulated stream, decoded and indexed the ways the tests look at it."""

    summary: SimSummary
    raw: list[bytes]
    #: every line in file order: the event, or why it failed to decode
    decoded: list[Event | DecodeFailure]
    truth: list[TruthRecord]
    counts: dict[str, Any]
    config: dict[str, Any]
    #: first occurrence of each event id, in file order
    events: list[Event] = field(default_factory=list)
    refunds: dict[str, RefundIssued] = field(default_factory=dict)
    orders: dict[str, OrderPlaced] = field(default_factory=dict)
    scans_by_order: dict[str, list[CarrierScan]] = field(default_factory=lambda: defaultdict(list))
    receipts_by_order: dict[str, list[ReturnReceived]] = field(
        default_factory=lambda: defaultdict(list)
    )
    requests: dict[str, ReturnRequested] = field(default_factory=dict)
    sessions: dict[str, AgentSessionStarted] = field(default_factory=dict)
    session_ends: dict[str, AgentSessionEnded] = field(default_factory=dict)
    rosters: dict[str, AgentRostered] = field(default_factory=dict)
    clicks: dict[str, AdClick] = field(default_factory=dict)
    actions: list[AgentAction] = field(default_factory=list)
    signups: dict[str, CustomerSignup] = field(default_factory=dict)

    def truth_by_kind(self, kind: str) -> list[TruthRecord]:
        return [r for r in self.truth if r.kind == kind]


def load_stream(summary: SimSummary) -> Stream:
    raw = summary.events_path.read_bytes().splitlines()
    decoded = [decode_one(line, n) for n, line in enumerate(raw, start=1)]
    truth = [truth_decoder.decode(line) for line in summary.truth_path.read_bytes().splitlines()]
    doc = msgspec.json.decode(summary.summary_path.read_bytes())
    s = Stream(
        summary=summary,
        raw=raw,
        decoded=decoded,
        truth=truth,
        counts=doc["counts"],
        config=doc["config"],
    )
    seen: set[str] = set()
    for ev in decoded:
        if isinstance(ev, DecodeFailure) or ev.event_id in seen:
            continue
        seen.add(ev.event_id)
        s.events.append(ev)
        if isinstance(ev, RefundIssued):
            s.refunds[ev.refund_id] = ev
        elif isinstance(ev, OrderPlaced):
            s.orders[ev.order_id] = ev
        elif isinstance(ev, CarrierScan):
            s.scans_by_order[ev.order_id].append(ev)
        elif isinstance(ev, ReturnReceived):
            s.receipts_by_order[ev.order_id].append(ev)
        elif isinstance(ev, ReturnRequested):
            s.requests[ev.return_id] = ev
        elif isinstance(ev, AgentSessionStarted):
            s.sessions[ev.session_id] = ev
        elif isinstance(ev, AgentSessionEnded):
            s.session_ends[ev.session_id] = ev
        elif isinstance(ev, AgentRostered):
            s.rosters[ev.agent_id] = ev
        elif isinstance(ev, AdClick):
            s.clicks[ev.click_id] = ev
        elif isinstance(ev, AgentAction):
            s.actions.append(ev)
        elif isinstance(ev, CustomerSignup):
            s.signups[ev.customer_id] = ev
    return s


@pytest.fixture(scope="session")
def stream(tmp_path_factory: pytest.TempPathFactory) -> Stream:
    out = tmp_path_factory.mktemp("sim-default")
    return load_stream(simulate(SimConfig(seed=1, events=DEFAULT_EVENTS), out))


@pytest.fixture(scope="session")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small stream (seed 1, 30k lines) written once, for the determinism tests."""
    out = tmp_path_factory.mktemp("sim-small")
    simulate(SimConfig(seed=1, events=30_000), out)
    return out

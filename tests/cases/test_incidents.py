"""One incident, one case, on simulator data: the alerts of a dense simulated world (many
agent takeovers and bribed insiders) go into cases as ``vigil serve`` puts them. Every alert
about a taken-over session's refunds lands in one case; every window's ``agent_refunds``
alert about one agent joins that agent's one case, keyed by the plain agent id; and each
case counts each refund's money once."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

from vigil.cases import service
from vigil.detectors.base import Alert, refunds_of
from vigil.detectors.registry import default_detectors
from vigil.events.truth import truth_decoder
from vigil.runtime.harness import run_lines
from vigil.security import Database
from vigil.sim import SimConfig, simulate

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Alert], Path]:
    out = tmp_path_factory.mktemp("sim-incidents")
    simulate(
        SimConfig(
            seed=9,
            events=200_000,
            takeover_sessions_per_million=300.0,
            insider_refunds_per_million=240.0,
        ),
        out,
    )
    alerts, stats = run_lines(default_detectors(), (out / "events.jsonl").read_bytes().splitlines())
    assert stats.reconciles()
    return alerts, out


def test_an_incident_is_one_case(world: tuple[list[Alert], Path], db: Database, people) -> None:  # type: ignore[no-untyped-def]
    alerts, out = world
    truth = [truth_decoder.decode(x) for x in (out / "truth.jsonl").read_bytes().splitlines()]
    with db.transaction() as s:
        placed = service.ingest_alerts(s, people.system, alerts).case_of

    # a taken-over session: its session alert and every alert about its refunds, one case
    taken = {r.id for r in truth if r.kind == "refund" and r.scenario == "agent_takeover"}
    takeover_refunds: dict[str, str] = {}  # refund id -> the session that issued it
    for line in (out / "events.jsonl").read_bytes().splitlines():
        if b'"refund_requested"' in line:
            try:
                rec = json.loads(line)
            except ValueError:
                continue  # one of the simulator's malformed lines
            if rec["refund_id"] in taken:
                takeover_refunds[rec["refund_id"]] = rec["session_id"]
    cases_of_session: dict[str, set[int]] = defaultdict(set)
    for a in alerts:
        for rid in refunds_of(a):
            if rid in takeover_refunds:
                cases_of_session[takeover_refunds[rid]].add(placed[a.alert_id])
    assert len(cases_of_session) >= 3, "the world must have several takeovers with alerts"
    assert all(len(c) == 1 for c in cases_of_session.values()), dict(cases_of_session)

    # an agent judged in several windows: one case, titled by its plain id
    windows: dict[str, set[int]] = defaultdict(set)
    for a in alerts:
        if a.detector == "agent_refunds":
            assert a.agent_id and a.subject_id.startswith(a.agent_id + "@")
            windows[a.agent_id].add(placed[a.alert_id])
    assert any(len({a.subject_id for a in alerts if a.agent_id == agent
                    and a.detector == "agent_refunds"}) > 1 for agent in windows)  # fmt: skip
    with db.transaction() as s:
        for agent, case_ids in windows.items():
            assert len(case_ids) == 1, (agent, case_ids)
            detail = service.get_case(s, people.analyst, next(iter(case_ids)))
            assert f"agent:{agent}" in detail.members
            assert "@" not in detail.case.title

            # each refund's money once, however many alerts name it
            per_refund: dict[str, int] = {}
            for view in detail.alerts:
                if view.subject_type == "refund":
                    per_refund[view.subject_id] = max(
                        per_refund.get(view.subject_id, 0), view.amount_cents
                    )
            totals = [v.amount_cents for v in detail.alerts if v.subject_type != "refund"]
            assert detail.case.amount_cents == max(sum(per_refund.values()), *totals, 0)

"""The request-time view: held requests within the review budget, money stopped, precision;
from hand-made decisions and from a simulated run through `vigil run` and `vigil evaluate`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest
from click.testing import CliRunner

from vigil.cli.main import cli
from vigil.decisions.book import RefundDecision
from vigil.evaluation.request_view import request_view
from vigil.evaluation.truth_index import load_truth
from vigil.sim import SimConfig, simulate

from ._factories import refund, write


def _decision(rid: str, level: str, score: float, stage: str = "request") -> RefundDecision:
    return RefundDecision(
        refund_id=rid,
        decision=level,  # type: ignore[arg-type]
        score=score,
        reasons=(),
        explanation="",
        contributions=(),
        event_time_ms=0,
        revision=0 if stage == "request" else 1,
        stage=stage,  # type: ignore[arg-type]
    )


def _write_decisions(path: Path, decisions: list[RefundDecision]) -> Path:
    path.write_bytes(b"".join(msgspec.json.encode(d) + b"\n" for d in decisions))
    return path


def test_budget_caps_held_requests_highest_scores_first(tmp_path: Path) -> None:
    # 200 requests: a 1% budget holds at most 2
    truth = [refund(f"rf-{i:014x}") for i in range(196)]
    truth += [
        refund("rf-a0000000000001", 90_000, "agent_takeover"),
        refund("rf-a0000000000002", 40_000, "insider_refund"),
        refund("rf-a0000000000003", 10_000, "empty_box"),
        refund("rf-a0000000000004", 5_000, "trap_porch_theft"),
    ]
    decisions = [_decision(str(r["id"]), "approve", 0.0) for r in truth[:196]]
    decisions += [
        _decision("rf-a0000000000001", "deny", 0.99),
        _decision("rf-a0000000000002", "review", 0.8),
        _decision("rf-a0000000000003", "review", 0.6),
        _decision("rf-a0000000000004", "review", 0.7),
        # a later stream revision is not the request-time answer
        _decision("rf-a0000000000003", "deny", 0.99, stage="stream"),
    ]
    view = request_view(
        _write_decisions(tmp_path / "decisions.jsonl", decisions),
        load_truth(write(tmp_path / "truth.jsonl", truth)),
        budget=0.01,
    )
    assert (view.requests, view.budget_cap, view.held_as_configured) == (200, 2, 4)
    assert (view.held, view.capped) == (2, 2)
    assert (view.headline_held, view.money_stopped_cents) == (2, 130_000)
    assert view.precision == 1.0 and view.held_share == 0.01
    assert view.money_stopped == pytest.approx(130_000 / 140_000)
    by = {s.scenario: s for s in view.by_scenario}
    assert by["empty_box"].held == 0 and by["trap_porch_theft"].held == 0


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("reqview")
    cfg = SimConfig(seed=3, events=40_000, takeover_sessions_per_million=150.0,
                    insider_refunds_per_million=300.0)  # fmt: skip
    simulate(cfg, root / "sim")
    result = CliRunner().invoke(
        cli,
        [
            "run",
            "--input",
            str(root / "sim" / "events.jsonl"),
            "--out",
            str(root / "run"),
            "--no-analytics",
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    return root


def test_evaluate_reports_both_views_from_a_run(run: Path) -> None:
    # a stream this dense in fraud would fill a 1% review budget many times over
    args = ["evaluate", "--alerts", str(run / "run" / "alerts.jsonl"),
            "--truth", str(run / "sim" / "truth.jsonl"), "--budget", "0.2"]  # fmt: skip
    text = CliRunner().invoke(cli, args, catch_exceptions=False).output
    assert "stopped at request time" in text and "caught later (stream)" in text
    out: dict[str, Any] = json.loads(CliRunner().invoke(cli, [*args, "--json"]).output)
    rt = out["request_time"]
    for key in ("money_stopped", "precision", "held_share", "by_scenario", "by_detector"):
        assert key in rt
    # the figures are what the decisions file and the truth say
    truth = {
        r["id"]: r
        for r in map(json.loads, (run / "sim" / "truth.jsonl").read_text().splitlines())
        if r["kind"] == "refund"
    }
    decisions = [json.loads(x) for x in (run / "run" / "decisions.jsonl").read_text().splitlines()]
    requested = {d["refund_id"]: d for d in decisions if d["stage"] == "request"}
    assert rt["requests"] == len([r for r in requested if r in truth])
    held = [r for r, d in requested.items() if d["decision"] != "approve" and r in truth]
    assert rt["held_as_configured"] == len(held) and rt["held"] <= rt["budget_cap"]
    headline = {"insider_refund", "agent_takeover", "empty_box", "ring"}
    if rt["capped"] == 0:
        fraud = [r for r in held if truth[r]["fraud"] and truth[r].get("scenario") in headline]
        assert rt["headline_held"] == len(fraud)
        assert rt["money_stopped_cents"] == sum(truth[r]["amount_cents"] for r in fraud)
    takeover = next(s for s in rt["by_scenario"] if s["scenario"] == "agent_takeover")
    assert takeover["money_share"] >= 0.8


def test_evaluate_warns_when_the_review_budget_binds(run: Path) -> None:
    """A dense world holds more requests than a 1% budget scores: the report says how many
    were held and which budget would count them all, and with that budget it warns no more."""
    args = ["evaluate", "--alerts", str(run / "run" / "alerts.jsonl"),
            "--truth", str(run / "sim" / "truth.jsonl"), "--budget", "0.01"]  # fmt: skip
    out: dict[str, Any] = json.loads(CliRunner().invoke(cli, [*args, "--json"]).output)
    rt = out["request_time"]
    assert rt["capped"] > 0, "the world must hold more requests than the budget"
    warning = next(w for w in out["warnings"] if "more than the review budget" in w)
    assert f"the other {rt['capped']:,} as approved" in warning
    wider = warning.rsplit("--budget ", 1)[1].split(" ", 1)[0]
    again: dict[str, Any] = json.loads(
        CliRunner().invoke(cli, [*args[:-1], wider, "--json"]).output
    )
    assert again["request_time"]["capped"] == 0
    assert not [w for w in again["warnings"] if "more than the review budget" in w]

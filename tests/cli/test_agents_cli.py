"""``vigil agents`` on a small simulated stream (made by the session fixture ``sim_dir``)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from vigil.cli.main import cli
from vigil.errors import ConfigError


def _invoke(*args: str) -> str:
    result = CliRunner().invoke(cli, ["agents", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_agents_json_ranks_every_agent_with_calibrated_scores(sim_dir: Path) -> None:
    out = _invoke(
        "--input",
        str(sim_dir / "events.jsonl"),
        "--truth",
        str(sim_dir / "truth.jsonl"),
        "--top",
        "5",
        "--json",
    )
    result = json.loads(out[out.index("{") :])
    agents = result["agents"]
    assert len(agents) == 5 and result["total_agents"] >= 20
    assert [a["rank"] for a in agents] == [1, 2, 3, 4, 5]
    raws = [a["raw_score"] for a in agents]
    probs = [a["probability"] for a in agents]
    assert raws == sorted(raws, reverse=True) and probs == sorted(probs, reverse=True)
    assert all(0.0 <= p <= 1.0 for p in probs)
    first = agents[0]
    assert {m["metric"] for m in first["metrics"]} >= {"override_rate", "no_return_share"}
    cal = result["calibration"]
    assert cal["agents"] == result["total_agents"] and 0.0 <= cal["brier"] <= 1.0
    assert sum(b["agents"] for b in cal["reliability"]) == cal["agents"]


def test_agents_text_output_names_reasons_and_truth(sim_dir: Path) -> None:
    out = _invoke("--input", str(sim_dir / "events.jsonl"), "--truth", str(sim_dir / "truth.jsonl"))
    assert "by calibrated risk" in out and "calibration against truth" in out
    assert "  1. ag-" in out and "[truth:" in out
    assert "trap agents ranked" in out


def test_agents_without_truth_and_fit_needs_truth(sim_dir: Path) -> None:
    out = _invoke("--input", str(sim_dir / "events.jsonl"), "--top", "3")
    assert "  3. ag-" in out and "calibration against truth" not in out
    result = CliRunner().invoke(
        cli, ["agents", "--input", str(sim_dir / "events.jsonl"), "--fit-calibration"]
    )
    assert result.exit_code != 0 and isinstance(result.exception, ConfigError)


def test_agents_fit_calibration_reports_in_sample_coefficients(sim_dir: Path) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "agents",
            "--input",
            str(sim_dir / "events.jsonl"),
            "--truth",
            str(sim_dir / "truth.jsonl"),
            "--fit-calibration",
            "--json",
        ],
    )
    if result.exit_code != 0:  # a tiny stream may not rank positives above negatives
        assert "not positive" in str(result.exception)
        return
    out = result.output
    data = json.loads(out[out.index("{") :])
    assert data["platt_slope"] > 0

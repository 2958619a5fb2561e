"""`vigil rules ...` and `vigil run --rules` as a user drives them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from click.testing import CliRunner

from vigil.cli.main import cli

ROOT = Path(__file__).resolve().parents[2]


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), env=env)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout


def _rules(tmp_path: Path) -> Path:
    store = tmp_path / "rules"
    store.mkdir()
    path = store / "examples.yaml"
    shutil.copy(ROOT / "rules" / "examples.yaml", path)
    return path


def test_check_commit_history_show_diff(tmp_path: Path) -> None:
    path = _rules(tmp_path)
    store = str(path.parent)
    code, out = invoke("rules", "check", str(path))
    assert code == 0 and "6 rules OK (5 active, 1 shadow)" in out
    code, out = invoke("rules", "commit", str(path), "-m", "first", env={"USER": "alice"})
    assert code == 0 and "add    override_no_return v1 (alice" in out
    path.write_text(
        path.read_text().replace("refund.amount_cents > $500", "refund.amount_cents > $450")
    )
    code, out = invoke("rules", "commit", str(path), "--author", "bob")
    assert out.startswith("change override_no_return v2 (bob")
    code, out = invoke("rules", "history", "override_no_return", "--store", store)
    assert "override_no_return v1 add (active) by alice - first" in out
    assert "override_no_return v2 change (active) by bob" in out
    code, out = invoke("rules", "history", "--store", store, "--json")
    assert len([json.loads(line) for line in out.splitlines()]) == 7
    code, out = invoke("rules", "show", "override_no_return", "--version", "1", "--store", store)
    assert "refund.amount_cents > $500" in out and out.startswith("# override_no_return v1")
    code, out = invoke("rules", "diff", "override_no_return", "--store", store)
    assert "-when: refund.policy" in out and "$450" in out


def test_check_reports_every_problem(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "rules:\n  - name: a\n    description: x\n    when: refund.amount > 1\n    score: 2\n"
        "    reasons: [a]\n    subject: refund\n    mode: active\n"
    )
    result = CliRunner().invoke(cli, ["rules", "check", str(bad)])
    assert result.exit_code != 0
    text = str(result.exception)
    assert "2 problems" in text and f"{bad}:4:11" in text and "score: 2" in text


def test_backtest_on_a_small_generated_stream(sim_dir: Path, tmp_path: Path) -> None:
    path = _rules(tmp_path)
    invoke("rules", "commit", str(path), "--author", "alice")
    args = [
        "rules", "backtest", "--rules", str(path),
        "--input", str(sim_dir / "events.jsonl"), "--truth", str(sim_dir / "truth.jsonl"),
    ]  # fmt: skip
    code, out = invoke(*args)
    assert code == 0
    assert "backtest of 6 rule versions" in out
    assert "override_no_return" in out and "all active rules" in out
    code, out = invoke(*args, "--json")
    report = json.loads(out)
    names = [(r["rule"], r["version"], r["mode"]) for r in report["rules"]]
    assert ("override_no_return", 1, "active") in names
    assert ("refund_to_new_account", 1, "shadow") in names
    assert report["budget_cap"] == int(report["refunds"] * 0.01)
    for r in report["rules"]:
        assert r["at_budget"]["raised"] <= report["budget_cap"]
        assert r["all_alerts"]["alert_records"] >= r["at_budget"]["raised"]
    # every stored version side by side
    path.write_text(path.read_text().replace("score: 0.9", "score: 0.8", 1))
    invoke("rules", "commit", str(path), "--author", "bob")
    code, out = invoke(
        "rules", "backtest", "--all-versions", "--store", str(path.parent),
        "--input", str(sim_dir / "events.jsonl"), "--truth", str(sim_dir / "truth.jsonl"),
        "--json",
    )  # fmt: skip
    versions = [(r["rule"], r["version"]) for r in json.loads(out)["rules"]]
    assert ("override_no_return", 1) in versions and ("override_no_return", 2) in versions


def test_run_with_rules_writes_shadow_alerts_apart(sim_dir: Path, tmp_path: Path) -> None:
    path = _rules(tmp_path)
    out = tmp_path / "out"
    code, _ = invoke(
        "run", "--input", str(sim_dir / "events.jsonl"), "--out", str(out), "--no-analytics",
        "--rules", str(path),
    )  # fmt: skip
    assert code == 0
    alerts = [json.loads(x) for x in (out / "alerts.jsonl").read_text().splitlines()]
    shadow = [json.loads(x) for x in (out / "shadow_alerts.jsonl").read_text().splitlines()]
    assert not any(a["detector"].startswith("shadow:") for a in alerts)
    assert all(a["detector"] == "shadow:rule:refund_to_new_account" for a in shadow)
    rule_alerts = [a for a in alerts if a["detector"].startswith("rule:")]
    assert rule_alerts and all(a["version"] == 1 for a in rule_alerts)
    # the rules were recorded in the store beside the file on load
    assert (path.parent / "history.jsonl").exists()

"""The command line as a user drives it: outputs, reconciling counts, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from vigil.cli.main import cli


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def test_simulate_writes_events_truth_and_summary(tmp_path: Path) -> None:
    code, _ = invoke("simulate", "--seed", "3", "--events", "20000", "--out", str(tmp_path))
    assert code == 0
    summary = json.loads((tmp_path / "simulation.json").read_text())
    lines = (tmp_path / "events.jsonl").read_bytes().count(b"\n")
    assert lines == summary["counts"]["events_written"]
    assert (tmp_path / "truth.jsonl").stat().st_size > 0


def test_simulate_param_override_and_unknown_param(tmp_path: Path) -> None:
    code, _ = invoke(
        "simulate", "--events", "20000", "--out", str(tmp_path), "--param", "duplicate_rate=0"
    )
    assert code == 0
    assert json.loads((tmp_path / "simulation.json").read_text())["counts"]["duplicates"] == 0
    result = CliRunner().invoke(
        cli, ["simulate", "--events", "20000", "--out", str(tmp_path), "--param", "nope=1"]
    )
    assert result.exit_code != 0
    assert "unknown parameter 'nope'" in str(result.exception)


def test_list_params_needs_no_out_and_a_simulation_does() -> None:
    listed = CliRunner().invoke(cli, ["simulate", "--list-params"])
    assert listed.exit_code == 0 and "ftid_per_million" in listed.output
    missing = CliRunner().invoke(cli, ["simulate", "--events", "20000"])
    assert missing.exit_code == 2 and "Missing option '--out'" in missing.output


def test_run_reconciles_and_writes_every_output(sim_dir: Path, tmp_path: Path) -> None:
    code, _ = invoke("run", "--input", str(sim_dir / "events.jsonl"), "--out", str(tmp_path))
    assert code == 0
    stats = json.loads((tmp_path / "stats.json").read_text())
    sim = json.loads((sim_dir / "simulation.json").read_text())["counts"]
    assert stats["reconciles"]
    assert stats["events_read"] == sim["events_written"]
    assert stats["duplicates"] == sim["duplicates"]
    assert stats["dead_letter_reasons"]["malformed"] == sim["malformed"]
    dead = (tmp_path / "dead_letter.jsonl").read_bytes().splitlines()
    assert len(dead) == stats["dead_lettered"]
    assert stats["alerts"] == len((tmp_path / "alerts.jsonl").read_bytes().splitlines())
    assert (tmp_path / "analytics.duckdb").exists()


def test_run_writes_one_decision_per_refund_and_the_thresholds_move_them(
    sim_dir: Path, tmp_path: Path
) -> None:
    inp = str(sim_dir / "events.jsonl")
    code, _ = invoke("run", "--input", inp, "--out", str(tmp_path / "a"), "--no-analytics")
    assert code == 0
    lines = (tmp_path / "a" / "decisions.jsonl").read_bytes().splitlines()
    last = {d["refund_id"]: d for d in map(json.loads, lines)}
    assert last, "the simulated stream has fraud: some refund must get a decision"
    stats = json.loads((tmp_path / "a" / "stats.json").read_text())
    levels = {lvl: sum(1 for d in last.values() if d["decision"] == lvl) for lvl in ("deny",)}
    assert stats["refunds_by_decision"].get("deny", 0) == levels["deny"]
    # everything at or above 0.1 is reviewed when review and deny move down
    code, _ = invoke(
        "run", "--input", inp, "--out", str(tmp_path / "b"), "--no-analytics",
        "--review-threshold", "0.1", "--deny-threshold", "0.99",
    )  # fmt: skip
    assert code == 0
    moved = {
        d["refund_id"]: d
        for d in map(json.loads, (tmp_path / "b" / "decisions.jsonl").read_bytes().splitlines())
    }
    for rid, d in moved.items():
        want = "deny" if d["score"] >= 0.99 else "review" if d["score"] >= 0.1 else "approve"
        assert d["decision"] == want and d["score"] == last[rid]["score"]
    code, out = invoke(
        "run", "--input", inp, "--out", str(tmp_path / "c"),
        "--review-threshold", "0.9", "--deny-threshold", "0.5",
    )  # fmt: skip
    assert code != 0 and "deny_threshold 0.5 is below review_threshold 0.9" in out


def test_analytics_store_holds_processed_events_and_alerts(sim_dir: Path, tmp_path: Path) -> None:
    import duckdb

    invoke("run", "--input", str(sim_dir / "events.jsonl"), "--out", str(tmp_path))
    stats = json.loads((tmp_path / "stats.json").read_text())
    con = duckdb.connect(str(tmp_path / "analytics.duckdb"), read_only=True)
    n_events, n_distinct = con.execute(
        "select count(*), count(distinct event_id) from events"
    ).fetchone()  # type: ignore[misc]
    assert n_events == n_distinct == stats["processed"]
    assert con.execute("select count(*) from alerts").fetchone() == (stats["alerts"],)
    assert (
        con.execute("select count(*) from features where entity_type = 'agent'").fetchone()[0] > 0
    )  # type: ignore[index]


def test_evaluate_json_has_headline_and_per_detector(sim_dir: Path, tmp_path: Path) -> None:
    invoke("run", "--input", str(sim_dir / "events.jsonl"), "--out", str(tmp_path))
    code, out = invoke(
        "evaluate", "--alerts", str(tmp_path / "alerts.jsonl"),
        "--truth", str(sim_dir / "truth.jsonl"), "--json",
    )  # fmt: skip
    assert code == 0
    report = json.loads(out)
    assert report["budget"] == 0.01
    assert report["combined"]["raised"] <= int(0.01 * report["refunds"])


def test_evaluate_writes_a_self_contained_html_report(sim_dir: Path, tmp_path: Path) -> None:
    invoke(
        "run", "--input", str(sim_dir / "events.jsonl"), "--out", str(tmp_path), "--no-analytics"
    )
    page = tmp_path / "report" / "evaluation.html"
    code, _ = invoke(
        "evaluate", "--alerts", str(tmp_path / "alerts.jsonl"),
        "--truth", str(sim_dir / "truth.jsonl"), "--report", str(page),
    )  # fmt: skip
    assert code == 0
    html = page.read_text()
    assert html.lstrip().lower().startswith("<!doctype html>")
    assert "all detectors" in html and "insider_refund" in html
    assert "http://" not in html and "https://" not in html  # nothing fetched from elsewhere


def test_missing_input_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["run", "--input", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path)]
    )
    assert result.exit_code != 0
    assert "does not exist" in str(result.exception)


def test_bad_duration_names_the_accepted_forms(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["run", "--input", "-", "--out", str(tmp_path), "--allowed-lateness", "soon"]
    )
    assert result.exit_code == 2
    assert "use a number and a unit" in result.output


def test_stdin_cannot_be_checkpointed(tmp_path: Path) -> None:
    args = ["run", "--input", "-", "--out", str(tmp_path), "--checkpoint-dir", str(tmp_path / "c")]
    result = CliRunner().invoke(cli, args, input="")
    assert result.exit_code != 0
    assert "cannot be resumed" in str(result.exception)


def test_dead_letters_keep_exact_bytes_for_replay(tmp_path: Path) -> None:
    good = (
        b'{"type":"customer_login","event_id":"e1","event_time_ms":1,"customer_id":"c",'
        b'"device_id":"d","ip":"i","country":"US","success":true}'
    )
    bad = [b'{"type":"customer_login","event_id":"e\xff2"}', b'{"type":"nope"}', b"[1,"]
    src = tmp_path / "in.jsonl"
    src.write_bytes(b"\n".join([good, *bad]) + b"\n")
    code, _ = invoke("run", "--input", str(src), "--out", str(tmp_path / "run"), "--no-analytics")
    assert code == 0
    code, out = invoke(
        "dead-letters", "--input", str(tmp_path / "run" / "dead_letter.jsonl"),
        "--out", str(tmp_path / "replay.jsonl"),
    )  # fmt: skip
    assert code == 0
    assert "3 dead letters" in out and "malformed: 3" in out
    assert (tmp_path / "replay.jsonl").read_bytes() == b"".join(b + b"\n" for b in bad)


def test_run_follow_picks_up_appended_events_and_stops_when_idle(tmp_path: Path) -> None:
    import subprocess
    import sys
    import time

    def login(i: int) -> bytes:
        return (
            b'{"type":"customer_login","event_id":"e%d","event_time_ms":%d,"customer_id":"c",'
            b'"device_id":"d","ip":"i","country":"US","success":true}\n' % (i, 1000 * i)
        )

    growing = tmp_path / "growing.jsonl"
    growing.write_bytes(login(1))
    cmd = [
        sys.executable, "-m", "vigil.cli.main", "run", "--input", str(growing),
        "--out", str(tmp_path / "out"), "--follow", "--idle-timeout", "3", "--no-analytics",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE)
    time.sleep(1.0)
    with growing.open("ab") as fh:
        fh.write(login(2))
        fh.write(login(3)[:20])  # a line still being written is not read
        fh.flush()
        time.sleep(0.5)
        fh.write(login(3)[20:])
    assert proc.wait(timeout=60) == 0, proc.stderr.read() if proc.stderr else ""
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert stats["events_read"] == stats["processed"] == 3
    assert stats["dead_lettered"] == 0

"""evaluate() on tiny hand-made alerts and truth files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest

from vigil.errors import ConfigError, InputError
from vigil.evaluation import EvaluationReport, TruthFormatError, evaluate
from vigil.evaluation.html import render_html

from ._factories import alert, legit, refund, write


def run(
    tmp_path: Path, truth: list[dict[str, Any]], alerts: list[dict[str, Any]], **kw: Any
) -> EvaluationReport:
    return evaluate(
        write(tmp_path / "alerts.jsonl", alerts), write(tmp_path / "truth.jsonl", truth), **kw
    )


def test_budget_is_a_ceiling_and_the_best_scores_are_raised(tmp_path: Path) -> None:
    truth = [*legit(196), *(refund(f"f{i}", scenario="insider_refund") for i in range(4))]
    alerts = [
        alert("d", "f0", 0.99),
        alert("d", "f1", 0.95),
        alert("d", "ok0", 0.97),
        alert("d", "f2", 0.60),
        alert("d", "f3", 0.55),
    ]
    r = run(tmp_path, truth, alerts, budget=0.01)  # 200 refunds -> at most 2
    c = r.combined
    assert r.budget_cap == 2
    assert (c.candidates, c.raised, c.capped_out) == (5, 2, 3)
    assert c.fraud_raised == 1 and c.precision == pytest.approx(0.5)  # f0 and ok0 raised
    assert c.headline_recall == pytest.approx(0.25)


def test_budget_is_not_a_quota(tmp_path: Path) -> None:
    truth = [*legit(98), refund("f0", scenario="empty_box"), refund("f1", scenario="empty_box")]
    r = run(tmp_path, truth, [alert("d", "f0", 0.9)], budget=0.5)  # room for 50
    assert (r.combined.raised, r.combined.capped_out) == (1, 0)
    assert r.combined.precision == 1.0


def test_threshold_is_respected(tmp_path: Path) -> None:
    truth = [*legit(10), refund("f0", scenario="ring"), refund("f1", scenario="ring")]
    alerts = [alert("d", "f0", 0.5), alert("d", "f1", 0.49), alert("d", "ok1", 0.2)]
    r = run(tmp_path, truth, alerts, budget=1.0, threshold=0.5)
    assert (r.combined.refunds_alerted, r.combined.candidates, r.combined.raised) == (3, 1, 1)
    assert r.combined.headline_recall == pytest.approx(0.5)
    r2 = run(tmp_path, truth, alerts, budget=1.0, threshold=0.1)
    assert r2.combined.raised == 3 and r2.combined.precision == pytest.approx(2 / 3)


def test_precision_is_on_raised_alerts_only(tmp_path: Path) -> None:
    truth = [*legit(100), refund("f0", scenario="insider_refund")]
    # many legitimate candidates capped out do not hurt precision
    alerts = [alert("d", "f0", 0.99), *(alert("d", f"ok{i}", 0.6) for i in range(50))]
    r = run(tmp_path, truth, alerts, budget=0.01)
    assert (r.combined.raised, r.combined.capped_out) == (1, 50)
    assert r.combined.precision == 1.0


def test_refund_score_is_the_max_over_covering_alerts(tmp_path: Path) -> None:
    truth = [*legit(10), *(refund(f"f{i}", scenario="agent_takeover") for i in range(3))]
    alerts = [
        alert("sess", "s1#1", 0.4, ("f0",), subject_type="session", session_id="s1"),
        alert("sess", "s1#3", 0.8, ("f0", "f1", "f2"), subject_type="session", session_id="s1"),
        alert("rwr", "f0", 0.3),
    ]
    r = run(tmp_path, truth, alerts, budget=1.0)
    assert r.combined.raised == 3
    per = {d.detector: d for d in r.per_detector}
    assert per["sess"].raised == 3 and per["rwr"].raised == 0


def test_money_recall_and_per_scenario_figures(tmp_path: Path) -> None:
    truth = [
        *legit(100),
        refund("i0", 90_000, "insider_refund"),
        refund("i1", 10_000, "insider_refund"),
        refund("e0", 50_000, "empty_box"),
        refund("s0", 5_000, "serial_returner"),
        refund("s1", 5_000, "serial_returner"),
    ]
    alerts = [alert("d", "i0", 0.9), alert("d", "s0", 0.8)]
    r = run(tmp_path, truth, alerts, budget=0.1)
    c = r.combined
    by = {s.scenario: s for s in c.scenarios}
    assert (by["insider_refund"].refunds, by["insider_refund"].caught) == (2, 1)
    assert by["insider_refund"].money_recall == pytest.approx(0.9)
    assert by["empty_box"].recall == 0.0
    assert by["agent_takeover"].recall is None  # no such refunds in truth
    assert (by["serial_returner"].caught, by["serial_returner"].recall) == (1, 0.5)
    # headline excludes serial returners
    assert c.headline_money_cents == 150_000 and c.headline_money_caught_cents == 90_000
    assert c.headline_money_recall == pytest.approx(0.6)
    assert c.headline_recall == pytest.approx(1 / 3)
    assert c.precision == 1.0 and c.headline_precision == pytest.approx(0.5)
    assert r.headline_refunds == 3 and r.fraud_refunds == 5


def test_alerts_on_traps_are_counted(tmp_path: Path) -> None:
    truth = [
        *legit(20),
        refund("t0", scenario="trap_high_value_return"),
        refund("t1", scenario="trap_escalation_agent"),
        refund("f0", scenario="empty_box"),
    ]
    alerts = [
        alert("a", "t0", 0.9),
        alert("b", "t1", 0.8),
        alert("a", "f0", 0.7),
        alert("a", "ok1", 0.6),
    ]
    r = run(tmp_path, truth, alerts, budget=1.0)
    c = r.combined
    assert c.trap_alerts == 2 and c.trap_share == pytest.approx(0.5)
    assert c.legit_raised == 1
    traps = {t.trap: t for t in c.traps}
    assert (traps["trap_high_value_return"].refunds, traps["trap_high_value_return"].alerted) == (
        1,
        1,
    )
    per = {d.detector: d for d in r.per_detector}
    assert per["a"].trap_alerts == 1 and per["b"].trap_alerts == 1


def test_each_detector_alone_gets_the_same_budget(tmp_path: Path) -> None:
    truth = [*legit(98), refund("f0", scenario="ring"), refund("f1", scenario="ring")]
    alerts = [alert("a", "f0", 0.9), alert("a", "ok0", 0.95), alert("b", "f1", 0.8)]
    r = run(tmp_path, truth, alerts, budget=0.01)  # cap 1
    per = {d.detector: d for d in r.per_detector}
    assert per["a"].raised == 1 and per["a"].precision == 0.0  # ok0 outranks f0
    assert per["b"].raised == 1 and per["b"].precision == 1.0
    assert r.combined.raised == 1 and r.combined.precision == 0.0
    assert [d.detector for d in r.per_detector] == ["a", "b"]


def test_entity_hits(tmp_path: Path) -> None:
    truth = [
        *legit(10),
        refund("f0", scenario="insider_refund", agent_id="bad", customer_id="c1"),
        {"kind": "agent", "id": "bad", "fraud": True, "scenario": "insider_refund"},
        {"kind": "agent", "id": "esc", "fraud": False, "scenario": "trap_escalation_agent"},
        {"kind": "session", "id": "s1", "fraud": True, "scenario": "agent_takeover"},
        {"kind": "session", "id": "s2", "fraud": True, "scenario": "agent_takeover"},
        {"kind": "account", "id": "c1", "fraud": True, "scenario": "ring"},
    ]
    alerts = [
        alert("ag", "bad@w1", 0.9, ("f0",), subject_type="agent", agent_id="bad"),
        alert("ag", "esc@w1", 0.7, subject_type="agent", agent_id="esc"),
        alert("ag", "meh@w1", 0.2, subject_type="agent", agent_id="meh"),  # below threshold
        alert("se", "s1#2", 0.8, subject_type="session", session_id="s1"),
    ]
    e = run(tmp_path, truth, alerts, budget=1.0).combined.entities
    assert (e.corrupt_agents, e.corrupt_agents_flagged) == (1, 1)
    assert (e.agents_flagged, e.innocent_agents_flagged, e.escalation_agents_flagged) == (2, 1, 1)
    assert (e.taken_over_sessions, e.taken_over_sessions_flagged) == (2, 1)
    assert (e.fraud_accounts, e.fraud_accounts_with_raised_refund) == (1, 1)


def test_unknown_refund_ids_are_counted_and_left_out(tmp_path: Path) -> None:
    truth = [*legit(10), refund("f0", scenario="ring")]
    alerts = [alert("d", "f0", 0.9, ("f0", "zz1")), alert("d", "zz2", 0.9)]
    r = run(tmp_path, truth, alerts, budget=1.0)
    assert (r.unknown_refund_ids, r.alerts_with_unknown_refunds) == (2, 2)
    assert r.combined.raised == 1 and r.combined.unknown_refund_ids == 2
    assert any("not in the truth" in w for w in r.warnings)


def test_missing_and_empty_alert_files(tmp_path: Path) -> None:
    truth = write(tmp_path / "truth.jsonl", [*legit(10), refund("f0", scenario="ring")])
    r = evaluate(tmp_path / "nope.jsonl", truth)
    assert r.combined.raised == 0 and r.combined.precision is None
    assert r.combined.headline_recall == 0.0 and r.per_detector == ()
    assert any("not found" in w for w in r.warnings)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    r2 = evaluate(empty, truth)
    assert r2.combined.raised == 0 and any("empty" in w for w in r2.warnings)
    assert "WARNING" in r2.to_text()


def test_malformed_alert_lines_are_skipped_and_reported(tmp_path: Path) -> None:
    truth = write(tmp_path / "truth.jsonl", [*legit(10), refund("f0", scenario="ring")])
    alerts = tmp_path / "alerts.jsonl"
    alerts.write_text(json.dumps(alert("d", "f0", 0.9)) + "\n{oops\n\n")
    r = evaluate(alerts, truth, budget=1.0)
    assert r.malformed_alert_lines == 1 and r.combined.raised == 1
    assert any("line 2" in w or "lines 2" in w for w in r.warnings)


def test_bad_truth_line_is_an_error_with_its_line_number(tmp_path: Path) -> None:
    path = tmp_path / "truth.jsonl"
    path.write_text(
        json.dumps(refund("a")) + "\n" + json.dumps({"kind": "refund", "id": "b"}) + "\n"
    )
    with pytest.raises(TruthFormatError, match=r"line 2"):
        evaluate(tmp_path / "alerts.jsonl", path)
    path.write_text(json.dumps(refund("a")) + "\nnot json\n")
    with pytest.raises(TruthFormatError, match=r"line 2"):
        evaluate(tmp_path / "alerts.jsonl", path)
    path.write_text(json.dumps(refund("a")) + "\n" + json.dumps(refund("a")) + "\n")
    with pytest.raises(TruthFormatError, match=r"line 2.*twice"):
        evaluate(tmp_path / "alerts.jsonl", path)
    with pytest.raises(InputError, match="does not exist"):
        evaluate(tmp_path / "alerts.jsonl", tmp_path / "missing.jsonl")


def test_bad_budget_or_threshold(tmp_path: Path) -> None:
    truth = write(tmp_path / "truth.jsonl", legit(3))
    with pytest.raises(ConfigError, match="budget"):
        evaluate(tmp_path / "a.jsonl", truth, budget=1.5)
    with pytest.raises(ConfigError, match="threshold"):
        evaluate(tmp_path / "a.jsonl", truth, threshold=-0.1)


def test_ties_at_the_cap_are_cut_deterministically(tmp_path: Path) -> None:
    truth = [*legit(100), refund("f0", scenario="ring"), refund("f1", scenario="ring")]
    alerts = [alert("d", "f1", 0.9, t=5), alert("d", "f0", 0.9, t=5), alert("d", "ok3", 0.9, t=1)]
    r = run(tmp_path, truth, alerts, budget=0.02)  # cap 2: earliest alert first, then id
    assert r.combined.raised == 2 and r.combined.fraud_raised == 1
    assert r.to_json() == run(tmp_path, truth, list(reversed(alerts)), budget=0.02).to_json()


def test_text_and_json_renderings(tmp_path: Path) -> None:
    truth = [
        *legit(100),
        refund("f0", 80_000, scenario="insider_refund"),
        refund("t0", scenario="trap_traveller"),
    ]
    alerts = [alert("refund_without_return", "f0", 0.9), alert("session_risk", "t0", 0.8)]
    r = run(tmp_path, truth, alerts, budget=0.05)
    text = r.to_text()
    for needle in (
        "all detectors",
        "refund_without_return",
        "session_risk",
        "insider_refund",
        "serial_returner (separate)",
        "trap_traveller",
        "corrupt agents",
        "$800",
    ):
        assert needle in text
    # the detector table is aligned: every row has the same width up to its last column
    lines = text.splitlines()
    start = lines.index(next(line for line in lines if line.startswith("detector ")))
    header, rule = lines[start], lines[start + 1]
    assert set(rule) <= {"-", " "} and len(rule) >= len(header) - 1
    data = json.loads(r.to_json())
    assert data["combined"]["raised"] == 2
    assert data["combined"]["trap_alerts"] == 1
    assert msgspec.json.decode(r.to_json().encode(), type=EvaluationReport) == r
    assert r.to_dict()["budget_cap"] == 5
    page = render_html(r)
    assert page.startswith("<!doctype html>") and page.count("<table>") == 5
    assert "refund_without_return" in page and "&lt;" not in "".join(r.warnings)


def test_html_escapes_paths(tmp_path: Path) -> None:
    odd = tmp_path / "<b>"
    odd.mkdir()
    r = run(odd, legit(3), [])
    page = render_html(r)
    assert "<b>" not in page and "&lt;b&gt;" in page

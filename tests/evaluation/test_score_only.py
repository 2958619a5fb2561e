"""Serial returners are scored, not blocked: out of the headline, reported alone."""

from __future__ import annotations

from pathlib import Path

from vigil.evaluation import evaluate

from ._factories import alert, legit, refund, write


def test_score_only_findings_stay_out_of_the_combined_figures(tmp_path: Path) -> None:
    truth = [
        *legit(196),
        refund("f1", 50_000, "insider_refund"),
        *(refund(f"s{i}", 3_000, "serial_returner") for i in range(3)),
    ]
    alerts = [
        alert("refund_without_return", "f1", 0.9),
        alert("serial_returner", "c-sr#2", 0.8, ("s0", "s1", "s2"), subject_type="account"),
    ]
    r = evaluate(write(tmp_path / "a.jsonl", alerts), write(tmp_path / "t.jsonl", truth))
    assert r.combined.raised == 1 and r.combined.precision == 1.0
    alone = {g.detector: g for g in r.per_detector}["serial_returner"]
    assert alone.raised == 2  # the 1% budget of 200 refunds
    assert "serial_returner is scored, not blocked: its detector alone raises 2 of 3" in (
        r.to_text()
    )

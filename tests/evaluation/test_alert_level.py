"""The alert-level view of traps: an alert right about its subject counts once."""

from __future__ import annotations

from pathlib import Path

from vigil.evaluation import evaluate

from ._factories import small_run


def test_alerts_are_counted_by_what_they_cover(tmp_path: Path) -> None:
    c = evaluate(*small_run(tmp_path), threshold=0.5).combined
    # 12 alerts at or above 0.5 name known refunds; two cover only traps (the high-value
    # return and the escalation agent), every other one covers a fraudulent refund
    assert (c.alerts_at_threshold, c.alerts_with_fraud, c.alerts_only_on_traps) == (12, 10, 2)
    text = evaluate(*small_run(tmp_path), threshold=0.5).to_text()
    assert "12 alerts at or above the threshold, 10 cover a fraudulent refund, 2 = 16.7%" in text


def test_a_detector_alone_counts_only_its_alerts(tmp_path: Path) -> None:
    per = {g.detector: g for g in evaluate(*small_run(tmp_path), threshold=0.5).per_detector}
    assert per["agent_refunds"].alerts_at_threshold == 3
    assert per["agent_refunds"].alerts_only_on_traps == 1  # the escalation agent
    assert per["empty_box"].alerts_only_on_traps == 0

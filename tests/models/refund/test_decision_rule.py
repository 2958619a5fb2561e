"""``vigil run --model`` end to end: the refund model in the decisions and the evaluation
(the decision counts it only where another detector backs it; tests/decisions/test_backing.py)."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from vigil.cli.main import cli
from vigil.decisions import combine_scores
from vigil.errors import ConfigError
from vigil.events.codec import encode_many
from vigil.events.schemas import EventBase, RefundIssued
from vigil.models.refund.dataset import heartbeat_after
from vigil.models.refund.model import RefundModel, TrainSettings, save, train
from vigil.models.refund.pipeline import labelled_rows_of_streams

from ._factories import DAY, small_world, synthetic_rows


@pytest.fixture(scope="module")
def model() -> RefundModel:
    return train(synthetic_rows(2_000, seed=5), TrainSettings(max_rounds=40, min_rounds=10))


@pytest.fixture(scope="module")
def stream() -> list[EventBase]:
    events = small_world(seed=2, customers=60)
    return [*events, heartbeat_after(events, 8 * DAY)]


def _write_stream(tmp_path: Path, events: list[EventBase]) -> tuple[Path, Path]:
    events_path = tmp_path / "events.jsonl"
    events_path.write_bytes(encode_many(events))
    refunds = [e for e in events if isinstance(e, RefundIssued)]
    truth = tmp_path / "truth.jsonl"
    truth.write_text(
        "".join(
            json.dumps({"kind": "refund", "id": r.refund_id, "fraud": False, "amount_cents": 1})
            + "\n"
            for r in refunds
        )
    )
    return events_path, truth


def test_vigil_run_with_model_puts_it_in_the_decisions_and_the_evaluation(
    model: RefundModel, stream: list[EventBase], tmp_path: Path
) -> None:
    registry = tmp_path / "reg"
    save(model, registry, horizon_ms=7 * DAY, label_source="synthetic", label_cutoff_ms=0)
    events_path, truth = _write_stream(tmp_path, stream)
    runner = CliRunner()
    for out, extra in (("plain", []), ("with", ["--model", str(registry)])):
        args = ["run", "--input", str(events_path), "--out", str(tmp_path / out)]
        result = runner.invoke(cli, [*args, "--no-analytics", *extra])
        assert result.exit_code == 0, result.output
    plain = (tmp_path / "plain" / "alerts.jsonl").read_text()
    assert "refund_model" not in plain  # the default run needs no model
    alerts = [json.loads(x) for x in (tmp_path / "with" / "alerts.jsonl").read_text().splitlines()]
    model_alerts = [a for a in alerts if a["detector"] == "refund_model"]
    assert model_alerts  # calibrated probabilities: the decision applies the backing rule
    decisions = [
        json.loads(x) for x in (tmp_path / "with" / "decisions.jsonl").read_text().splitlines()
    ]
    with_model = [
        d for d in decisions if any(c["detector"] == "refund_model" for c in d["contributions"])
    ]
    assert with_model
    backers = {"agent_refunds", "session_risk", "fraud_ring", "empty_box"}
    for d in with_model:
        (c,) = [c for c in d["contributions"] if c["detector"] == "refund_model"]
        assert c["explanation"].startswith("refund model ")
        assert any(r.startswith("refund_model:") for r in d["reasons"])
        others = [x for x in d["contributions"] if x["detector"] != "refund_model"]
        if not any(x["detector"] in backers for x in others) and d["agent_id"] is None:
            # nothing backs it: listed with the decision, not counted in its score
            assert d["score"] == combine_scores(
                x["score"] for x in others if x["detector"] != "serial_returner"
            )
    result = runner.invoke(
        cli,
        ["evaluate", "--alerts", str(tmp_path / "with" / "alerts.jsonl"), "--truth", str(truth)],
    )
    assert result.exit_code == 0, result.output
    assert "refund_model" in result.output


def test_vigil_run_refuses_a_missing_registry(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["run", "--input", "-", "--out", str(tmp_path / "o"), "--model", str(tmp_path / "x")]
    )
    assert result.exit_code != 0 and "--model" in result.output


def test_streams_pool_only_paired_and_distinct(stream: list[EventBase], tmp_path: Path) -> None:
    events_path, truth = _write_stream(tmp_path, stream)
    rows, source, _ = labelled_rows_of_streams([events_path], truth_paths=[truth])
    assert isinstance(rows, pl.DataFrame) and len(rows) and source.startswith("truth")
    with pytest.raises(ConfigError, match="one truth file per events file"):
        labelled_rows_of_streams([events_path, events_path], truth_paths=[truth])
    with pytest.raises(ConfigError, match="same refund id"):
        labelled_rows_of_streams([events_path, events_path], truth_paths=[truth, truth])

"""`vigil model train` and `vigil model score` end to end on a small generated file."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
from click.testing import CliRunner

from vigil.cli.main import cli


def _table(tmp_path: Path, n: int = 2_000) -> Path:
    rng = np.random.default_rng(3)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    times = sorted(start + timedelta(minutes=int(m)) for m in rng.integers(0, 60 * 24 * 60, n))
    device = rng.integers(0, n // 4, n)
    amount = np.round(rng.gamma(2.0, 30.0, n), 2)
    channel = rng.choice(["web", "app", "store"], n)
    logit = -3.0 + 0.02 * amount + np.where(channel == "app", 1.0, 0.0)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    frame = pl.DataFrame(
        {
            "order_id": [f"o{i}" for i in range(n)],
            "created": [t.strftime("%-m/%-d/%Y %-H:%M") for t in times],
            "amount": [None if i % 17 == 0 else float(a) for i, a in enumerate(amount)],
            "channel": channel,
            "device": [f"d{d}" for d in device],
            "is_fraud": y,
        }
    )
    path = tmp_path / "orders.csv"
    text = frame.write_csv(separator="|")
    path.write_text(text + "o-last|3/1/2024 1:0", encoding="utf-8")  # truncated last line
    return path


def test_train_then_score(tmp_path: Path) -> None:
    data = _table(tmp_path)
    metrics_path = tmp_path / "m.json"
    registry_dir = tmp_path / "reg"
    runner = CliRunner()
    result = runner.invoke(
        cli,
        [
            "model", "train", "--data", str(data), "--label", "is_fraud", "--time", "created",
            "--entity", "device", "--metrics-out", str(metrics_path),
            "--registry", str(registry_dir), "--costs", "5,-25,-5",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    metrics = json.loads(metrics_path.read_text())
    for key in ("auc_roc", "auc_pr", "recall_at_1pct_fpr", "rows_train", "rows_test"):
        assert key in metrics
    assert metrics["rows_train"] + metrics["rows_test"] == 2_000
    assert metrics["auc_roc"] > 0.6
    assert {"time_split", "random_split", "drift", "money"} <= set(metrics)
    assert metrics["rows_skipped"] == 1
    assert "time-ordered hold-out" in result.output and "random" in result.output
    assert "line 2002" in result.output  # the truncated record, by line number
    listed = runner.invoke(cli, ["model", "registry", "list", "--registry", str(registry_dir)])
    assert "v0001" in listed.output
    out = tmp_path / "scores.jsonl"
    scored = runner.invoke(
        cli,
        [
            "model", "score", "--model", "v0001", "--registry", str(registry_dir),
            "--data", str(data), "--out", str(out),
        ],
    )  # fmt: skip
    assert scored.exit_code == 0, scored.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 2_000
    assert {"line", "order_id", "score", "reason_1"} <= set(rows[0])
    assert all(0.0 <= r["score"] <= 1.0 for r in rows)
    assert any("risk" in r["reason_1"] for r in rows)


def test_no_time_column_uses_row_order(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n = 600
    x = rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(2 * x - 2)))).astype(int)
    data = tmp_path / "d.csv"
    pl.DataFrame({"x": x, "noise": rng.normal(size=n), "y": y}).write_csv(data)
    result = CliRunner().invoke(
        cli, ["model", "train", "--data", str(data), "--label", "y", "--no-register"]
    )
    assert result.exit_code == 0, result.output
    assert "row order is used as time" in result.output


def test_unknown_column_is_a_clear_error(tmp_path: Path) -> None:
    data = tmp_path / "d.csv"
    data.write_text("a,y\n1,0\n2,1\n")
    result = CliRunner().invoke(
        cli, ["model", "train", "--data", str(data), "--label", "y", "--time", "when"]
    )
    assert result.exit_code != 0
    assert "--time 'when': no such column" in str(result.exception) + result.output

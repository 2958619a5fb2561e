"""bench/ecommerce_baseline.py on a small generated file shaped like the e-commerce data set."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from vigil.cli.main import cli

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "ecommerce_baseline.py"


def _data(tmp_path: Path, n: int = 3_000) -> tuple[Path, Path]:
    """January: a burst of purchases seconds after sign-up, all fraud; later: weak signal."""
    rng = np.random.default_rng(5)
    start = datetime(2015, 1, 1, tzinfo=UTC)
    lines = ["user_id,signup_time,purchase_time,purchase_value,device_id,source,browser,sex,age,"
             "ip_address,class"]  # fmt: skip
    for i in range(n):
        bought = start + timedelta(minutes=int(rng.integers(0, 120 * 24 * 60)))
        burst = bought < start + timedelta(days=31) and rng.random() < 0.5
        signed = bought - (
            timedelta(seconds=1) if burst else timedelta(hours=float(rng.gamma(2, 200)))
        )
        source = str(rng.choice(["SEO", "Ads", "Direct"]))
        fraud = burst or rng.random() < (0.08 if source == "Direct" else 0.04)
        device = f"DEV{rng.integers(0, 40)}" if burst else f"D{i}"
        ip = 16_777_216 + int(rng.integers(0, 2_000))
        browser, sex = rng.choice(["Chrome", "Safari", "IE"]), rng.choice(["M", "F"])
        lines.append(
            f"{i},{signed:%-m/%-d/%Y %-H:%M},{bought:%-m/%-d/%Y %-H:%M},{rng.integers(10, 90)},"
            f"{device},{source},{browser},{sex},{rng.integers(18, 70)},{ip}.0,{int(fraud)}"
        )
    data = tmp_path / "fraud_data.csv"
    data.write_text("\ufeff" + "\r\n".join(lines) + "\r\n99999,3/1/2015 1:00", encoding="utf-8")
    ranges = tmp_path / "ip_to_country.csv"
    ranges.write_text(
        "lower_bound_ip_address,upper_bound_ip_address,country\n"
        "16777216,16778215,Australia\n16778216,16779215,China\n"
    )
    return data, ranges


def test_the_bench_reports_the_documented_command_and_the_plain_baseline(tmp_path: Path) -> None:
    data, ranges = _data(tmp_path)
    out = tmp_path / "baseline.json"
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--data", str(data), "--ip-ranges", str(ranges),
         "--seeds", "1,2", "--out", str(out)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    result = json.loads(out.read_text())
    assert len(result["plain"]) == 4
    assert result["best_plain"]["time"] == max(p["time"] for p in result["plain"].values())
    assert set(result["vigil_by_seed"]) == {"1", "2"}
    for name in ("later 20%", "training part after January"):
        assert len(result["in_period_ceiling"][name]["auc_by_shuffle"]) == 10
    assert result["in_period_ceiling"]["later 20%"]["rows"] == 600
    assert "best plain reading (the baseline)" in run.stdout

    # the bench's seed-1 figure is the one `vigil model train` reports for the same file
    metrics = tmp_path / "m.json"
    cli_run = CliRunner().invoke(
        cli,
        ["model", "train", "--data", str(data), "--label", "class", "--time", "purchase_time",
         "--entity", "device_id", "--entity", "ip_address", "--duration-from", "signup_time",
         "--ip-ranges", str(ranges), "--ip-column", "ip_address", "--metrics-out", str(metrics),
         "--registry", str(tmp_path / "models")],
    )  # fmt: skip
    assert cli_run.exit_code == 0, cli_run.output
    documented = json.loads(metrics.read_text())
    assert result["vigil_at_default_seed"]["time"] == documented["time_split"]["auc_roc"]
    assert result["vigil_at_default_seed"]["random"] == documented["random_split"]["auc_roc"]

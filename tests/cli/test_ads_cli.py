"""``vigil ads report`` on a small simulated stream (the session fixture ``sim_dir``), from the
event file and from a ``vigil run``'s output folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from vigil.cli.main import cli


def _invoke(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.output


def _json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


@pytest.fixture(scope="module")
def run_dir(sim_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run")
    _invoke("run", "--input", str(sim_dir / "events.jsonl"), "--out", str(out), "--no-analytics")
    return out


def test_a_run_writes_campaign_figures_and_the_report_reads_them(
    sim_dir: Path, run_dir: Path
) -> None:
    assert (run_dir / "ad_figures.jsonl").stat().st_size > 0
    from_run = _json_lines(_invoke("ads", "report", "--run", str(run_dir), "--json"))
    from_input = _json_lines(
        _invoke("ads", "report", "--input", str(sim_dir / "events.jsonl"), "--json")
    )
    assert from_run == from_input  # the same pipeline, the same figures
    assert len(from_run) > 20
    spends = [line["spend_micros"] for line in from_run]
    assert spends == sorted(spends, reverse=True)  # largest spend first
    top = from_run[0]
    assert str(top["campaign_id"]).startswith("cmp-")
    assert top["ctr"] == round(int(top["clicks"]) / int(top["impressions"]), 4)
    net = int(top["revenue_cents"]) - int(top["refunded_cents"]) - int(top["fraud_cents"])
    assert top["net_revenue_cents"] == net
    assert sum(int(line["orders"]) for line in from_run) > 0


def test_one_advertiser_by_day_sees_only_its_campaigns(run_dir: Path) -> None:
    every = _json_lines(_invoke("ads", "report", "--run", str(run_dir), "--json"))
    advertiser = str(every[0]["advertiser_id"])
    mine = {str(line["campaign_id"]) for line in every if line["advertiser_id"] == advertiser}
    args = ("--run", str(run_dir), "--by", "day", "--advertiser", advertiser, "--json")
    days = _json_lines(_invoke("ads", "report", *args))
    assert days and {line["advertiser_id"] for line in days} == {advertiser}
    assert {line["campaign_id"] for line in days} <= mine
    assert all(len(str(line["day"])) == 10 for line in days)
    # the days add up to the campaign's totals
    for campaign in mine:
        total = next(line for line in every if line["campaign_id"] == campaign)
        by_day = [line for line in days if line["campaign_id"] == campaign]
        assert sum(int(d["impressions"]) for d in by_day) == total["impressions"]
    text = _invoke("ads", "report", "--run", str(run_dir), "--by", "advertiser")
    assert text.splitlines()[0].split()[:3] == ["advertiser", "impr", "clicks"]
    assert "net ROAS" in text


def test_mistakes_are_named(sim_dir: Path, tmp_path: Path) -> None:
    out = _invoke("ads", "report", code=2)
    assert "give either --input FILE" in out
    out = _invoke("ads", "report", "--run", str(tmp_path), code=1)
    assert "holds no ad_figures.jsonl" in out
    out = _invoke(
        "ads", "report", "--input", str(sim_dir / "events.jsonl"), "--ad-window", "x=7", code=2
    )
    assert "'x=7'" in out and "PLATFORM=CLICK,VIEW" in out
    out = _invoke(
        "ads", "report", "--input", str(sim_dir / "events.jsonl"), "--ad-window",
        "partner-video=7d,900d", code=2,
    )  # fmt: skip
    assert "at most 90 days" in out


def test_a_run_with_data_centre_ranges_resumes_from_its_checkpoint(
    sim_dir: Path, tmp_path: Path
) -> None:
    import vigil.sim

    ranges = Path(vigil.sim.__file__).parent / "data" / "datacenter_sample.txt"
    lines = (sim_dir / "events.jsonl").read_bytes().splitlines(keepends=True)
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"".join(lines[: len(lines) // 2]))
    ckpt, out = str(tmp_path / "ckpt"), str(tmp_path / "out")
    args = ("run", "--input", str(events), "--out", out, "--checkpoint-dir", ckpt,
            "--no-analytics", "--datacentre-ranges", str(ranges))  # fmt: skip
    _invoke(*args)
    events.write_bytes(b"".join(lines))  # the file grew: the run resumes where it stopped
    out = _invoke(*args)
    assert "resumed from the checkpoint" in out


def test_what_users_got_wrong_is_named(run_dir: Path, sim_dir: Path, tmp_path: Path) -> None:
    """From a newcomer's audit: each of these passed silently or with a traceback."""
    out = _invoke("ads", "report", "--run", str(run_dir), "--advertiser", "adv-999", code=1)
    assert "no figures for advertiser 'adv-999'" in out and "holds no ad" not in out
    events = str(sim_dir / "events.jsonl")
    twice = ("--ad-window", "partner-video=3d,12h", "--ad-window", "partner-video=1d,1h")
    out = _invoke("ads", "report", "--input", events, *twice, code=2)
    assert "'partner-video' given more than once" in out
    out = _invoke("ads", "report", "--input", events, "--ad-window", "PARTNER-VIDEO=1h,1m")
    assert "no ad event names platform 'PARTNER-VIDEO'" in out and "partner-video" in out
    torn = tmp_path / "torn"
    torn.mkdir()
    data = (run_dir / "ad_figures.jsonl").read_bytes()
    (torn / "ad_figures.jsonl").write_bytes(data[: len(data) // 2])  # a line cut in two
    out = _invoke("ads", "report", "--run", str(torn), code=1)
    assert "ad_figures.jsonl:" in out and "Traceback" not in out
    out = _invoke("ads", "report", "--input", events, "--truth", events, code=1)
    assert "events.jsonl:1:" in out  # named before the run, not after it

"""`vigil model alerts` writes its files into --out and leaves everything else there alone."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from vigil.cli.main import cli
from vigil.models.refund.pipeline import MODEL_ALERTS_FILES
from vigil.sim import SimConfig, simulate


@pytest.fixture(scope="module")
def stream(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A simulated stream and a refund model trained on its truth (about 5 s)."""
    out = tmp_path_factory.mktemp("sim300k")
    # fraud rates raised so that every time slice of the training holds fraud labels
    simulate(
        SimConfig(
            seed=5, events=300_000, insider_refunds_per_million=40.0, empty_box_per_million=30.0
        ),
        out,
    )
    args = [
        "model", "retrain", "--events", str(out / "events.jsonl"),
        "--truth", str(out / "truth.jsonl"), "--registry", str(out / "models"),
    ]  # fmt: skip
    trained = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert trained.exit_code == 0, trained.output
    return out


def model_alerts(stream: Path, out: Path | str) -> Result:
    args = [
        "model", "alerts", "--events", str(stream / "events.jsonl"),
        "--registry", str(stream / "models"), "--out", str(out),
    ]  # fmt: skip
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def test_other_files_in_out_are_kept_and_only_its_own_replaced(
    stream: Path, tmp_path: Path
) -> None:
    out = tmp_path / "results"
    (out / "earlier-run").mkdir(parents=True)
    (out / "notes.txt").write_text("keep me\n")
    (out / "earlier-run" / "alerts.jsonl").write_text('{"kept": true}\n')
    (out / "alerts.jsonl").write_text("stale alerts of a previous model run\n")

    result = model_alerts(stream, out)

    assert (out / "notes.txt").read_text() == "keep me\n"
    assert (out / "earlier-run" / "alerts.jsonl").read_text() == '{"kept": true}\n'
    alerts = (out / "alerts.jsonl").read_text().splitlines()
    assert alerts and "stale" not in alerts[0]
    assert result.output.startswith(f"{len(alerts):,} refund_model alerts in ")
    # exactly the files the help names, and no staging folder left behind
    names = {p.name for p in out.iterdir()}
    assert names == {"notes.txt", "earlier-run", *MODEL_ALERTS_FILES}


def test_out_may_be_the_current_folder_or_a_new_one(
    stream: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("events-notes.md").write_text("mine\n")
    model_alerts(stream, ".")
    assert Path("events-notes.md").read_text() == "mine\n"
    assert Path("alerts.jsonl").stat().st_size > 0

    model_alerts(stream, "new/deeper")
    assert {p.name for p in Path("new/deeper").iterdir()} == set(MODEL_ALERTS_FILES)


def test_the_registry_list_says_which_rows_a_refund_models_figures_are_on(stream: Path) -> None:
    args = ["model", "registry", "list", "--registry", str(stream / "models")]
    listed = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert listed.exit_code == 0
    line = next(x for x in listed.output.splitlines() if " refund " in x)
    assert "(on its calibration slice:" in line and "refunds," in line

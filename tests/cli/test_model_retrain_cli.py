"""`vigil model retrain` as an operator runs it on a labelled stream, twice."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from vigil.cli.main import cli
from vigil.sim import SimConfig, simulate


@pytest.fixture(scope="module")
def stream(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sim300k")
    # about 3,200 refunds; fraud rates raised so that every time slice holds fraud labels
    # (at the default rates 300k lines hold ~16 fraudulent refunds, and whether the 20%
    # calibration slice gets any is luck)
    simulate(
        SimConfig(
            seed=5, events=300_000, insider_refunds_per_million=40.0, empty_box_per_million=30.0
        ),
        out,
    )
    return out


def retrain(stream: Path, registry: Path, *extra: str) -> tuple[str, dict[str, object]]:
    report = registry.parent / f"report-{len(list(registry.parent.glob('report-*')))}.json"
    args = [
        "model", "retrain", "--events", str(stream / "events.jsonl"),
        "--truth", str(stream / "truth.jsonl"), "--registry", str(registry),
        "--report-out", str(report), *extra,
    ]  # fmt: skip
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output, json.loads(report.read_text())


def test_first_model_is_refitted_then_the_same_labels_cannot_replace_it(
    stream: Path, tmp_path: Path
) -> None:
    registry = tmp_path / "models"
    out, report = retrain(stream, registry)
    assert report["verdict"] == {
        "promote": True,
        "reason": "no champion yet: the first model is promoted",
    }
    assert isinstance(report["refit_rows"], int) and report["refit_rows"] > report["later_rows"]
    assert f"refitted on all {report['refit_rows']:,} labelled refunds" in out

    out, report = retrain(stream, registry)
    assert report["compared_rows"] == 0
    assert report["promoted_version"] is None
    assert "nothing fair to compare on, kept champion" in out
    # no row to score on: no figures (null, not zeros) and words saying why
    assert report["champion"] is None and report["challenger"] is None
    assert "AUC-ROC" not in out
    for who in ("champion  ", "challenger"):
        assert f"  {who} not scored: no later refund is newer than the champion's" in out


def test_no_refit_promotes_the_compared_model(stream: Path, tmp_path: Path) -> None:
    out, report = retrain(stream, tmp_path / "models", "--no-refit")
    assert report["verdict"]["promote"] is True  # type: ignore[index]
    assert report["refit_rows"] is None
    assert f"champion is now {report['promoted_version']}\n" in out


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, ["model", *args])


def assert_asks_for_labels(result: Result) -> None:
    assert result.exit_code != 0
    assert "no refund in the period has a label" in result.output
    assert "--truth FILE" in result.output and "--alerts FILE" in result.output


def test_retrain_without_labels_says_how_to_give_them(stream: Path, tmp_path: Path) -> None:
    # the simulator's events carry no label events: without --truth nothing is labelled
    registry = tmp_path / "models"
    result = invoke(
        "retrain", "--events", str(stream / "events.jsonl"), "--registry", str(registry)
    )
    assert_asks_for_labels(result)
    assert "longer period" not in result.output
    assert not registry.exists()


def test_evaluate_without_labels_stops_instead_of_printing_nan(
    stream: Path, tmp_path: Path
) -> None:
    registry = tmp_path / "models"
    retrain(stream, registry)
    events = ["--events", str(stream / "events.jsonl"), "--registry", str(registry)]
    result = invoke("evaluate", *events)
    assert_asks_for_labels(result)
    assert "AUC-ROC" not in result.output and "drift" not in result.output

    # labels exist, but none is known by the cut-off: say so and point at --cutoff
    truth = ["--truth", str(stream / "truth.jsonl")]
    result = invoke("evaluate", *events, *truth, "--cutoff", "2020-01-01T00:00:00Z")
    assert_asks_for_labels(result)
    assert "known by --cutoff 2020-01-01T00:00:00Z" in result.output
    assert "use a later --cutoff" in result.output

    assert invoke("evaluate", *events, *truth).exit_code == 0  # labelled: scored as before

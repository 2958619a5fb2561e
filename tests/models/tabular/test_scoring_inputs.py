"""`vigil model score` on the files users really have: unlabelled rows, a column missing,
times written another way, a label it cannot read; and training labels of one class."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner, Result

from vigil.cli.main import cli
from vigil.models.tabular.drift import DriftReport, FeatureDrift, _sentences

from .test_cli import _table

N = 2_000


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pl.DataFrame]:
    tmp = tmp_path_factory.mktemp("model")
    data = _table(tmp, N)
    result = CliRunner().invoke(
        cli,
        ["model", "train", "--data", str(data), "--label", "is_fraud", "--time", "created",
         "--entity", "device", "--registry", str(tmp / "reg")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    frame = pl.read_csv(data, separator="|", infer_schema_length=0, n_rows=N)
    return tmp / "reg", frame


def _invoke_score(registry: Path, data: Path, out: Path) -> Result:
    args = ["model", "score", "--model", "v0001", "--registry", str(registry),
            "--data", str(data), "--out", str(out)]  # fmt: skip
    return CliRunner().invoke(cli, args)


def _score(registry: Path, frame: pl.DataFrame, tmp_path: Path) -> tuple[str, list[dict]]:  # type: ignore[type-arg]
    data, out = tmp_path / "new.csv", tmp_path / "scores.jsonl"
    frame.write_csv(data)
    result = _invoke_score(registry, data, out)
    assert result.exit_code == 0, result.output
    return result.output, [json.loads(x) for x in out.read_text().splitlines()]


def test_unlabelled_rows_are_scored_and_left_out_of_the_figures(
    trained: tuple[Path, pl.DataFrame], tmp_path: Path
) -> None:
    registry, frame = trained
    half = frame.with_columns(
        pl.when(pl.int_range(pl.len()) >= N // 2).then(None).otherwise(pl.col("is_fraud"))
        .alias("is_fraud")
    )  # fmt: skip
    output, rows = _score(registry, half, tmp_path)
    assert len(rows) == N
    assert f"{N // 2:,} of {N:,} rows have no label" in output
    assert "AUC" in output


def test_a_missing_feature_column_is_scored_as_missing(
    trained: tuple[Path, pl.DataFrame], tmp_path: Path
) -> None:
    registry, frame = trained
    output, rows = _score(registry, frame.drop("channel"), tmp_path)
    assert len(rows) == N
    assert "not in this file, scored as missing: channel" in " ".join(output.split())


def test_a_missing_entity_column_names_the_training_option(
    trained: tuple[Path, pl.DataFrame], tmp_path: Path
) -> None:
    registry, frame = trained
    data = tmp_path / "new.csv"
    frame.drop("device").write_csv(data)
    result = _invoke_score(registry, data, tmp_path / "s.csv")
    assert result.exit_code != 0
    text = " ".join((str(result.exception) + result.output).split())
    assert "the model was trained with --entity 'device', and this file has no such column" in text


def test_times_written_another_way_are_still_read(
    trained: tuple[Path, pl.DataFrame], tmp_path: Path
) -> None:
    registry, frame = trained
    iso = frame.with_columns(
        pl.col("created").str.to_datetime("%m/%d/%Y %H:%M").dt.strftime("%Y-%m-%d %H:%M:%S")
    )
    output, rows = _score(registry, iso, tmp_path)
    assert len(rows) == N
    assert "not in the training file's format" in " ".join(output.split())


def test_a_label_that_cannot_be_read_only_costs_the_figures(
    trained: tuple[Path, pl.DataFrame], tmp_path: Path
) -> None:
    registry, frame = trained
    odd = frame.with_columns(
        pl.when(pl.int_range(pl.len()) == 0).then(pl.lit("2")).otherwise(pl.col("is_fraud"))
        .alias("is_fraud")
    )  # fmt: skip
    output, rows = _score(registry, odd, tmp_path)
    assert len(rows) == N
    assert "no figures against it" in " ".join(output.split())


def test_a_label_of_only_zeros_has_no_positives(tmp_path: Path) -> None:
    data = tmp_path / "d.csv"
    pl.DataFrame({"x": list(range(50)), "y": [0] * 50}).write_csv(data)
    result = CliRunner().invoke(
        cli, ["model", "train", "--data", str(data), "--label", "y", "--no-register"]
    )
    assert result.exit_code != 0
    assert "has 0 positives in 50 rows" in str(result.exception) + result.output


def test_a_signal_on_the_other_side_later_is_called_reversed_not_held() -> None:
    def feature(name: str, before: float, after: float) -> FeatureDrift:
        return FeatureDrift(name, 0.0, 0.5, before, after, 0.0, 0.0)

    report = DriftReport(0.1, 0.1, [feature("kept", 0.60, 0.58), feature("flipped", 0.57, 0.37)])
    text = _sentences(report, "the earlier part", "the later part")
    assert "Signal that held: kept (AUC 0.60 -> 0.58)." in text
    assert "Signal that reversed: flipped (AUC 0.57 -> 0.37)." in text


def test_csv_and_jsonl_scores_spell_the_time_the_same_way(
    trained: tuple[Path, pl.DataFrame], tmp_path: Path
) -> None:
    registry, frame = trained
    data = tmp_path / "new.csv"
    frame.write_csv(data)
    for out in (tmp_path / "s.csv", tmp_path / "s.jsonl"):
        result = _invoke_score(registry, data, out)
        assert result.exit_code == 0, result.output
    from_csv = pl.read_csv(tmp_path / "s.csv", infer_schema_length=0).get_column("created")
    first = json.loads((tmp_path / "s.jsonl").read_text().splitlines()[0])["created"]
    assert from_csv[0] == first
    assert first.endswith("Z") and "T" in first  # e.g. 2024-01-01T00:07:00Z


def test_register_all_rows_fits_the_same_recipe_on_every_row(tmp_path: Path) -> None:
    data = _table(tmp_path, N)
    base = ["model", "train", "--data", str(data), "--label", "is_fraud", "--time", "created",
            "--entity", "device"]  # fmt: skip
    runs = {}
    for flag in ("", "--register-all-rows"):
        registry, metrics = tmp_path / f"reg{flag}", tmp_path / f"m{flag}.json"
        args = [*base, "--registry", str(registry), "--metrics-out", str(metrics)]
        result = CliRunner().invoke(cli, [*args, flag] if flag else args)
        assert result.exit_code == 0, result.output
        meta = json.loads((registry / "v0001" / "meta.json").read_text())
        runs[flag] = (json.loads(metrics.read_text()), meta, result.output)
    (m_split, meta_split, _), (m_all, meta_all, out_all) = runs[""], runs["--register-all-rows"]
    assert m_all["auc_roc"] == m_split["auc_roc"]  # the figures are the measured model's
    assert meta_split["training_window"]["rows"] == m_split["rows_train"]
    assert meta_all["training_window"]["rows"] == m_split["rows_train"] + m_split["rows_test"]
    assert meta_all["training_window"]["end"] > meta_split["training_window"]["end"]
    assert "fitted again on every row" in meta_all["extra"]["fitted_on"]
    assert "fitted_on" not in meta_split["extra"]
    assert "(fitted again on all rows)" in out_all
    scored = _invoke_score(tmp_path / "reg--register-all-rows", data, tmp_path / "s.csv")
    assert scored.exit_code == 0, scored.output

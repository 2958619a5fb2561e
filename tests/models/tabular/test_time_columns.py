"""Numeric time columns (epoch seconds, epoch milliseconds, seconds from an unknown reference
such as IEEE-CIS ``TransactionDT``), the errors when a column cannot be a time, and the time
column never being a model input, whatever its kind."""

from __future__ import annotations

import importlib.util
import json
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner

from vigil.cli.main import cli
from vigil.errors import ConfigError
from vigil.models.tabular.features import FeatureConfig
from vigil.models.tabular.pipeline import Encoding, Prepared, prepare

GENERATOR = Path(__file__).resolve().parents[3] / "bench" / "ieee_like.py"
JAN_2024_S = 1_704_067_200  # 2024-01-01T00:00:00Z


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ieee_like", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def ieee_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3,000 rows of the bench's IEEE-CIS-shaped table, written as CSV as the real one is."""
    path = tmp_path_factory.mktemp("ieee") / "train_transaction.csv"
    _generator().make_ieee_like(3_000, seed=2).write_csv(path)
    return path


def _orders(tmp_path: Path, times: list[object], name: str = "orders.csv") -> Path:
    rng = np.random.default_rng(0)
    n = len(times)
    frame = pl.DataFrame(
        {
            "ts": times,
            "amount": np.round(rng.gamma(2.0, 30.0, n), 2),
            "card": [f"c{i % 40}" for i in range(n)],
            "fraud": (rng.random(n) < 0.2).astype(int),
        }
    )
    path = tmp_path / name
    if name.endswith(".parquet"):
        frame.write_parquet(path)
    else:
        frame.write_csv(path)
    return path


def _epoch_seconds(n: int) -> list[int]:
    return [JAN_2024_S + 3_607 * i for i in range(n)]


def _inputs(prepared: Prepared) -> Encoding:
    return Encoding.fit(prepared, np.arange(prepared.n_rows, dtype=np.int64))


def _assert_time_is_no_input(prepared: Prepared) -> None:
    """Neither the time column nor a copy of it (in s, ms or as read) is a model input."""
    time = prepared.config.time
    assert time is not None
    encoding = _inputs(prepared)
    assert time not in encoding.names
    x = encoding.matrix(prepared).astype(np.float64)
    ms = prepared.times.astype(np.float64)
    for copy in (ms, ms / 1_000.0):
        for j, name in enumerate(encoding.names):
            assert not np.allclose(x[:, j], copy.astype(np.float32), equal_nan=True), name


def test_the_ieee_cis_transaction_dt_is_read_as_seconds_from_a_reference(
    ieee_csv: Path, tmp_path: Path
) -> None:
    """It used to be refused: "values (...) match no known format"."""
    registry, metrics = tmp_path / "reg", tmp_path / "m.json"
    result = CliRunner().invoke(
        cli,
        ["model", "train", "--data", str(ieee_csv), "--label", "isFraud",
         "--time", "TransactionDT", "--entity", "card1+addr1+P_emaildomain",
         "--entity-stats", "TransactionAmt", "--entity-distinct", "R_emaildomain",
         "--split", "time", "--threads", "1", "--registry", str(registry),
         "--metrics-out", str(metrics)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert "match no known format" not in output
    assert "read as seconds from an unknown reference" in output
    assert json.loads(metrics.read_text())["auc_roc"] > 0.7
    meta = json.loads((registry / "v0001" / "meta.json").read_text())
    assert meta["extra"]["config"]["time_unit"] == "offset-s"
    names = [f["name"] for f in meta["features"]]
    assert "TransactionDT" not in names and "TransactionID" not in names
    assert {"TransactionDT_hour_offset", "TransactionDT_day_offset"} <= set(names)
    assert {"card1", "addr1", "P_emaildomain"} <= set(names)  # a combination's parts stay
    assert {
        "card1+addr1+P_emaildomain_count_1d",
        "card1+addr1+P_emaildomain_TransactionAmt_prior_std",
        "TransactionAmt_to_card1+addr1+P_emaildomain_prior_mean",
        "card1+addr1+P_emaildomain_R_emaildomain_prior_distinct",
    } <= set(names)
    assert meta["training_window"].get("start") is None  # no calendar for an offset
    assert "seconds from an unknown reference" in meta["training_window"]["ordering"]

    out = tmp_path / "scores.jsonl"
    scored = CliRunner().invoke(
        cli,
        ["model", "score", "--model", "v0001", "--registry", str(registry),
         "--data", str(ieee_csv), "--out", str(out)],
    )  # fmt: skip
    assert scored.exit_code == 0, scored.output
    first = json.loads(out.read_text().splitlines()[0])
    assert isinstance(first["TransactionDT"], int)  # the number as written, not a 1970 date
    assert first["TransactionDT"] >= 86_400


def test_offset_hour_and_day_count_from_the_reference(ieee_csv: Path) -> None:
    prepared = prepare(ieee_csv, FeatureConfig(label="isFraud", time="TransactionDT"))
    raw = pl.read_csv(ieee_csv, columns=["TransactionDT"]).get_column("TransactionDT").to_numpy()
    assert prepared.config.time_unit == "offset-s"
    assert prepared.times.tolist() == (raw * 1_000).tolist()
    assert prepared.numeric["TransactionDT_hour_offset"].tolist() == ((raw // 3_600) % 24).tolist()
    assert prepared.numeric["TransactionDT_day_offset"].tolist() == ((raw // 86_400) % 7).tolist()
    assert "TransactionDT_hour" not in prepared.numeric  # no UTC hour: the calendar is unknown
    _assert_time_is_no_input(prepared)


@pytest.mark.parametrize(
    ("scale", "fmt", "unit"),
    [(1, "orders.csv", "epoch-s"), (1_000, "orders.csv", "epoch-ms"),
     (1_000, "orders.parquet", "epoch-ms"), (1, "orders.parquet", "epoch-s")],
)  # fmt: skip
def test_epoch_seconds_and_milliseconds_are_told_apart_by_magnitude(
    tmp_path: Path, scale: int, fmt: str, unit: str
) -> None:
    seconds = _epoch_seconds(300)
    path = _orders(tmp_path, [s * scale for s in seconds], fmt)
    prepared = prepare(path, FeatureConfig(label="fraud", time="ts", entities=["card"]))
    assert prepared.config.time_unit == unit
    assert prepared.times.tolist() == [s * 1_000 for s in seconds]
    hours = [datetime.fromtimestamp(s, UTC).hour for s in seconds]
    assert prepared.numeric["ts_hour"].tolist() == hours
    assert any(f"read as epoch {'seconds' if scale == 1 else 'milliseconds'}" in n
               for n in prepared.notes)  # fmt: skip
    _assert_time_is_no_input(prepared)


def test_a_datetime_time_column_is_no_input_either(tmp_path: Path) -> None:
    stamps = [
        datetime.fromtimestamp(s, UTC).strftime("%Y-%m-%d %H:%M:%S") for s in _epoch_seconds(300)
    ]
    path = _orders(tmp_path, stamps)
    prepared = prepare(path, FeatureConfig(label="fraud", time="ts"))
    assert prepared.config.time_unit == "datetime"
    _assert_time_is_no_input(prepared)


def test_an_explicit_unit_wins_over_the_magnitude(tmp_path: Path) -> None:
    path = _orders(tmp_path, _epoch_seconds(300))
    offset = prepare(path, FeatureConfig(label="fraud", time="ts", time_unit="offset-s"))
    assert offset.config.time_unit == "offset-s" and "ts_hour_offset" in offset.numeric
    ms = prepare(path, FeatureConfig(label="fraud", time="ts", time_unit="offset-ms"))
    assert ms.times.tolist() == _epoch_seconds(300)  # the numbers taken as milliseconds
    _assert_time_is_no_input(offset)
    _assert_time_is_no_input(ms)


def test_a_missing_or_unreadable_time_skips_the_row_with_its_line(tmp_path: Path) -> None:
    times: list[object] = [float(s) for s in _epoch_seconds(300)]
    times[5], times[9] = None, float("nan")
    prepared = prepare(_orders(tmp_path, times, "orders.parquet"),
                       FeatureConfig(label="fraud", time="ts"))  # fmt: skip
    assert prepared.n_rows == 298
    assert any("2 with no readable time" in n and "line 6, 10" in n for n in prepared.notes)


@pytest.mark.parametrize(
    ("values", "unit", "message"),
    [
        (["soon", "later", "never"] * 20, "auto",
         r"--time 'ts': its values \('soon', 'later', 'never', \.\.\.\) are neither dates in a "
         r"known format .* nor numbers \(epoch seconds or milliseconds, or seconds from a "
         r"reference: see --time-unit\)"),
        (["2024-01-01 10:00"] * 60, "epoch-s",
         r"--time-unit epoch-s: column 'ts' holds dates "
         r"\(e\.g\. '2024-01-01T10:00:00\+00:00'\), not numbers"),
        ([86_400 + i for i in range(60)], "datetime",
         r"--time-unit datetime: column 'ts' holds numbers \(e\.g\. 86400"),
    ],
)  # fmt: skip
def test_a_column_that_cannot_be_a_time_is_named_with_what_it_holds(
    tmp_path: Path, values: list[object], unit: str, message: str
) -> None:
    path = _orders(tmp_path, values)
    with pytest.raises(ConfigError, match=message):
        prepare(path, FeatureConfig(label="fraud", time="ts", time_unit=unit))


def test_the_time_column_cannot_come_back_as_an_input(tmp_path: Path) -> None:
    path = _orders(tmp_path, [86_400 + 60 * i for i in range(60)])
    for config in (
        FeatureConfig(label="fraud", time="ts", entities=["card"], entity_stats=["ts"]),
        FeatureConfig(label="fraud", time="ts", entities=["card"], entity_distinct=["ts"]),
    ):
        with pytest.raises(ConfigError, match="is never a model input"):
            prepare(path, config)
    with pytest.raises(ConfigError, match="cannot also be an --entity column"):
        prepare(path, FeatureConfig(label="fraud", time="ts", entities=["card+ts"]))


def test_a_duration_to_an_offset_time_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    pl.DataFrame(
        {"ts": [86_400 + 60 * i for i in range(60)],
         "signup": ["2024-01-01 10:00"] * 60, "fraud": [0, 1] * 30}
    ).write_csv(path)  # fmt: skip
    with pytest.raises(ConfigError, match="counts from an unknown reference"):
        prepare(path, FeatureConfig(label="fraud", time="ts", duration_from=["signup"]))
    prepared = prepare(path, FeatureConfig(label="fraud", time="ts"))
    assert any("no durations from signup to ts" in n for n in prepared.notes)


def test_a_model_stored_before_time_units_reads_numbers_as_it_was_trained(tmp_path: Path) -> None:
    """Models trained before --time-unit took any numbers as epoch s (ms above 1e11)."""
    path = _orders(tmp_path, [86_400 + 60 * i for i in range(60)])
    trained = prepare(path, FeatureConfig(label="fraud", time="ts"))
    old = prepare(path, FeatureConfig(label="fraud", time="ts"), types=trained.types)
    assert old.config.time_unit == "epoch-s" and "ts_hour" in old.numeric
    new = prepare(path, trained.config, types=trained.types)
    assert new.config.time_unit == "offset-s" and "ts_hour_offset" in new.numeric


def test_help_documents_the_time_unit() -> None:
    text = CliRunner().invoke(cli, ["model", "train", "--help"]).output
    for word in ("--time-unit", "epoch-s", "epoch-ms", "offset-s", "TransactionDT",
                 "card1+addr1+P_emaildomain", "--entity-stats", "--entity-distinct"):  # fmt: skip
        assert word in text

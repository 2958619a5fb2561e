"""Loading and typing any table: separators, BOM, M/D/YYYY H:MM, truncated last line."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from vigil.models.tabular.loader import LINE_COLUMN, load_table
from vigil.models.tabular.typing import apply_types, infer_types


def _write(tmp_path: Path, name: str, text: str, bom: bool = False) -> Path:
    path = tmp_path / name
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


def test_bom_and_us_datetimes_and_crlf(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "a.csv",
        "user_id,signup_time,value,browser,class\r\n"
        "1,2/24/2015 22:55,34,Chrome,0\r\n"
        "2,12/3/2015 2:07,16.5,Safari,1\r\n"
        "3,1/1/2016 0:00,,Chrome,0\r\n",
        bom=True,
    )
    table = load_table(path)
    assert table.frame.columns[0] == "user_id"  # no BOM in the first name
    typed = infer_types(table.frame.drop(LINE_COLUMN), keep={"class"})
    kinds = {t.name: t.kind for t in typed.types}
    assert kinds["signup_time"] == "datetime"
    assert kinds["value"] == "numeric"
    assert kinds["browser"] == "categorical"
    ts = typed.frame.get_column("signup_time")
    assert ts.dt.month().to_list() == [2, 12, 1]
    assert ts.dt.day().to_list() == [24, 3, 1]
    assert ts.dt.hour().to_list() == [22, 2, 0]
    assert typed.frame.get_column("value").to_list() == [34.0, 16.5, None]
    assert table.frame.get_column(LINE_COLUMN).to_list() == [2, 3, 4]


def test_pipe_separator_is_sniffed(tmp_path: Path) -> None:
    path = _write(tmp_path, "p.csv", "a|b|fraud\n1|0.5|0\n2|NA|1\n")
    table = load_table(path)
    assert table.report.separator == "|"
    assert table.frame.columns == ["a", "b", "fraud", LINE_COLUMN]
    typed = infer_types(table.frame.drop(LINE_COLUMN), keep={"fraud"})
    assert typed.frame.get_column("b").to_list() == [0.5, None]


def test_truncated_last_line_is_reported_and_skipped(tmp_path: Path) -> None:
    path = _write(tmp_path, "t.csv", "a,b,c\n1,2,3\n4,5,6\n7,8")
    table = load_table(path)
    assert table.frame.height == 2
    assert [n for n, _ in table.report.skipped] == [4]
    assert "line 4" in table.report.notes[0] and "truncated" in table.report.notes[0]


def test_quoted_separator_is_not_a_ragged_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "q.csv", 'a,b\n1,"x, y"\n2,z\n')
    table = load_table(path)
    assert table.report.skipped == []
    assert table.frame.get_column("b").to_list() == ["x, y", "z"]


def test_jsonl_bad_line_reported(tmp_path: Path) -> None:
    path = _write(tmp_path, "e.jsonl", '{"a": 1, "y": 0}\n{"a": 2, "y": 1}\n{"a": 3, "y"\n')
    table = load_table(path)
    assert table.frame.height == 2
    assert [n for n, _ in table.report.skipped] == [3]


def test_parquet_and_types_reapplied(tmp_path: Path) -> None:
    path = tmp_path / "x.parquet"
    pl.DataFrame({"t": ["2024-01-02 03:04:05", "2024-01-03 00:00:00"], "v": [1, 2]}).write_parquet(
        path
    )
    table = load_table(path)
    typed = infer_types(table.frame.drop(LINE_COLUMN), keep={"v"})
    assert {t.name: t.kind for t in typed.types}["t"] == "datetime"
    again, notes = apply_types(table.frame, typed.types)
    assert again.get_column("t").dt.day().to_list() == [2, 3]
    assert notes == []


def test_identifier_and_constant_columns_are_not_inputs() -> None:
    n = 500
    frame = pl.DataFrame(
        {
            "order_id": [str(i) for i in range(n)],
            "const": ["x"] * n,
            "flag": ["yes", "no"] * (n // 2),
            "label": ["0"] * n,
        }
    )
    kinds = {t.name: t.kind for t in infer_types(frame, keep={"label"}).types}
    assert kinds == {
        "order_id": "identifier",
        "const": "constant",
        "flag": "boolean",
        "label": "numeric",
    }

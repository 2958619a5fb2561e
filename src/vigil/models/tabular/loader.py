"""Reading any labelled table: CSV (any separator), Parquet or JSON Lines.

Every problem with a record is said, never silently absorbed: a line with the wrong number
of fields (a truncated last line, typically) or a JSON line that does not parse is reported
with its line number and skipped; ``LoadReport.notes`` carries those sentences to the CLI.

CSV is read as text first (polars, all columns as strings) and typed afterwards by
``typing.infer_schema``, so a column whose first 10,000 values look numeric and whose
later ones do not never crashes the read. Field counts are checked per line with one numpy
pass over the bytes; lines that look ragged are re-checked with the ``csv`` module, so a
quoted separator is not mistaken for an extra field. A UTF-8 byte-order mark is dropped.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import msgspec
import numpy as np
import polars as pl

from vigil.errors import InputError

__all__ = ["LINE_COLUMN", "NULL_TOKENS", "LoadReport", "LoadedTable", "detect_format", "load_table"]

#: the 1-based line number (CSV/JSONL) or row number (Parquet) of each row in its file
LINE_COLUMN = "__line"
#: text read as a missing value in CSV files
NULL_TOKENS = ["", "NA", "N/A", "n/a", "NaN", "nan", "NULL", "null", "None", "none", "?", "-"]
_SEPARATORS = (",", "|", ";", "\t")
_MAX_LISTED = 5

Format = Literal["csv", "parquet", "jsonl"]


@dataclass
class LoadReport:
    path: str
    format: Format
    separator: str | None = None
    rows_read: int = 0
    #: (line number, reason) of each skipped record
    skipped: list[tuple[int, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def note(self, text: str) -> None:
        self.notes.append(text)


@dataclass
class LoadedTable:
    frame: pl.DataFrame
    report: LoadReport


def detect_format(path: Path) -> Format:
    name = path.name.lower()
    for suffix in (".gz", ".zst"):
        name = name.removesuffix(suffix)
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    return "csv"


def load_table(path: Path, separator: str | None = None) -> LoadedTable:
    """The table in ``path`` with a ``LINE_COLUMN``; CSV/JSONL columns still untyped text."""
    if not path.is_file():
        raise InputError(f"data file {path} does not exist or is not a file")
    fmt = detect_format(path)
    if fmt == "parquet":
        try:
            frame = pl.read_parquet(path)
        except Exception as exc:
            raise InputError(f"cannot read {path} as Parquet: {exc}") from exc
        report = LoadReport(str(path), "parquet", rows_read=frame.height)
        frame = frame.with_row_index(LINE_COLUMN, offset=1).with_columns(
            pl.col(LINE_COLUMN).cast(pl.Int64)
        )
        return LoadedTable(frame, report)
    data = path.read_bytes()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if fmt == "jsonl":
        return _load_jsonl(path, data)
    return _load_csv(path, data, separator)


def _line_bounds(buf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (exclusive, without the newline) of every line of ``buf``."""
    newlines = np.flatnonzero(buf == 10)
    starts = np.concatenate(([0], newlines + 1))
    ends = np.concatenate((newlines, [buf.size]))
    if starts[-1] >= buf.size:  # the file ends with a newline: no last empty line
        starts, ends = starts[:-1], ends[:-1]
    return starts, ends


def _sniff_separator(header: str) -> str:
    counts = {sep: header.count(sep) for sep in _SEPARATORS}
    best = max(counts, key=lambda s: counts[s])
    return best if counts[best] > 0 else ","


def _load_csv(path: Path, data: bytes, separator: str | None) -> LoadedTable:
    if not data.strip():
        raise InputError(f"{path} is empty")
    buf = np.frombuffer(data, dtype=np.uint8)
    starts, ends = _line_bounds(buf)
    header = data[starts[0] : ends[0]].decode("utf-8", errors="replace").rstrip("\r")
    sep = separator or _sniff_separator(header)
    report = LoadReport(str(path), "csv", separator=sep)
    n_fields = next(csv.reader([header], delimiter=sep)).__len__()
    # separators per line: where they are, counted between each line's bounds (one pass
    # over the bytes, no Python loop over lines, and no running count as wide as the file)
    sep_at = np.flatnonzero(buf == ord(sep))
    per_line = np.searchsorted(sep_at, ends) - np.searchsorted(sep_at, starts)
    length = ends - starts
    blank = (length == 0) | ((length == 1) & (buf[np.minimum(starts, buf.size - 1)] == 13))
    suspect = np.flatnonzero((per_line != n_fields - 1) & ~blank)
    suspect = suspect[suspect > 0]
    bad: list[int] = []
    if suspect.size:
        has_quotes = bool(np.any(buf == ord('"')))
        for i in suspect.tolist():
            text = data[starts[i] : ends[i]].decode("utf-8", errors="replace").rstrip("\r")
            got = per_line[i] + 1
            if has_quotes:
                got = len(next(csv.reader([text], delimiter=sep), []))
                if got == n_fields:
                    continue
            bad.append(i)
            what = "truncated" if got < n_fields else "too long"
            report.skipped.append(
                (i + 1, f"{what} record: {got} of {n_fields} fields ({_clip(text)})")
            )
    keep = np.ones(starts.size, dtype=bool)
    keep[0] = False
    keep[blank] = False
    if bad:
        keep[np.asarray(bad)] = False
        body = b"\n".join(data[starts[i] : ends[i]] for i in np.flatnonzero(keep).tolist())
        text_bytes = data[starts[0] : ends[0]] + b"\n" + body
    else:
        text_bytes = data
    line_numbers = np.flatnonzero(keep) + 1
    try:
        frame = pl.read_csv(
            io.BytesIO(text_bytes),
            separator=sep,
            infer_schema=False,
            null_values=NULL_TOKENS,
            truncate_ragged_lines=True,
            encoding="utf8-lossy",
        )
    except Exception as exc:
        raise InputError(f"cannot read {path} as CSV with separator {sep!r}: {exc}") from exc
    frame = frame.rename({c: c.strip() for c in frame.columns})
    if frame.height == line_numbers.size:
        lines = pl.Series(LINE_COLUMN, line_numbers, dtype=pl.Int64)
    else:  # quoted newlines inside fields: row numbers instead of line numbers
        report.note(
            f"{path.name}: some quoted fields span lines; row numbers are counted per record"
        )
        lines = pl.Series(LINE_COLUMN, np.arange(2, frame.height + 2), dtype=pl.Int64)
    frame = frame.with_columns(lines)
    report.rows_read = frame.height
    _note_skipped(report, path)
    return LoadedTable(frame, report)


def _load_jsonl(path: Path, data: bytes) -> LoadedTable:
    """Each line validated with msgspec (fast), the good ones read by polars in one go."""
    report = LoadReport(str(path), "jsonl")
    good: list[bytes] = []
    lines: list[int] = []
    decoder = msgspec.json.Decoder()
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            value = decoder.decode(raw)
        except msgspec.DecodeError as exc:
            report.skipped.append((number, f"not valid JSON ({exc}): {_clip(raw.decode())}"))
            continue
        if not isinstance(value, dict):
            report.skipped.append((number, "not a JSON object"))
            continue
        good.append(raw)
        lines.append(number)
    if not good:
        raise InputError(f"{path} holds no JSON object per line")
    try:
        frame = pl.read_ndjson(io.BytesIO(b"\n".join(good)), infer_schema_length=None)
        nested = [c for c in frame.columns if frame.schema[c].is_nested()]
        if nested:
            report.note(f"{path.name}: nested fields not used as inputs: {', '.join(nested)}")
            frame = frame.drop(nested)
    except Exception:  # mixed types in a column: read every value as text, type later
        records = [
            {k: (None if v is None else str(v)) for k, v in decoder.decode(raw).items()}
            for raw in good
        ]
        frame = pl.from_dicts(records, infer_schema_length=None)
    frame = frame.with_columns(pl.Series(LINE_COLUMN, lines, dtype=pl.Int64))
    report.rows_read = frame.height
    _note_skipped(report, path)
    return LoadedTable(frame, report)


def _note_skipped(report: LoadReport, path: Path) -> None:
    if not report.skipped:
        return
    listed = "; ".join(f"line {n}: {why}" for n, why in report.skipped[:_MAX_LISTED])
    more = len(report.skipped) - _MAX_LISTED
    report.note(
        f"{path.name}: skipped {len(report.skipped)} malformed record(s) — {listed}"
        + (f"; and {more} more" if more > 0 else "")
    )


def _clip(text: str, width: int = 60) -> str:
    text = text.strip()
    return repr(text if len(text) <= width else text[:width] + "...")

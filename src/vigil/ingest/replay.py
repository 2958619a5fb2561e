"""Read dead letters back: count them by reason and field, and extract their exact raw
records so an operator can fix them (or widen the lateness) and run them through again."""

from __future__ import annotations

import base64
from collections import Counter
from pathlib import Path

import msgspec

from vigil.errors import InputError
from vigil.ingest.dead_letter import dead_letter_decoder


def extract_dead_letters(
    path: Path, out_path: Path | None, reasons: frozenset[str] | None
) -> list[str]:
    """Summary lines; with ``out_path``, the selected raw records written there, one a line."""
    by_reason: Counter[str] = Counter()
    by_field: Counter[tuple[str, str]] = Counter()
    selected: list[bytes] = []
    with path.open("rb") as fh:
        for line_no, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                dead = dead_letter_decoder.decode(line)
            except msgspec.DecodeError as exc:
                raise InputError(
                    f"{path}: line {line_no} is not a dead-letter record ({exc}); "
                    "pass the dead_letter.jsonl that vigil run wrote"
                ) from exc
            by_reason[dead.reason_code] += 1
            by_field[(dead.reason_code, dead.field or "-")] += 1
            if reasons is None or dead.reason_code in reasons:
                raw = base64.b64decode(dead.raw_base64) if dead.raw_base64 else dead.raw.encode()
                selected.append(raw)
    lines = [f"{sum(by_reason.values()):,} dead letters in {path}"]
    for reason, n in sorted(by_reason.items()):
        lines.append(f"  {reason}: {n:,}")
        for (r, field), m in sorted(by_field.items(), key=lambda kv: -kv[1]):
            if r == reason:
                lines.append(f"    field {field}: {m:,}")
    if out_path is not None:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.write_bytes(b"".join(raw + b"\n" for raw in selected))
        lines.append(f"wrote {len(selected):,} raw records to {out_path}")
    return lines

"""Reading ``truth.jsonl`` and ``alerts.jsonl`` for evaluation, with errors that say where."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from vigil.detectors.base import Alert, alert_decoder
from vigil.errors import InputError
from vigil.events.truth import SubjectKind, TruthRecord, truth_decoder


class TruthFormatError(InputError):
    """A ground-truth file has a record that cannot be read."""


@dataclass
class TruthIndex:
    """Ground truth by refund, by scenario, and the other (entity) records."""

    refunds: dict[str, TruthRecord] = field(default_factory=dict)
    by_scenario: dict[str, list[str]] = field(default_factory=dict)
    others: list[TruthRecord] = field(default_factory=list)

    def fraud_ids(self, kind: SubjectKind) -> set[str]:
        return {r.id for r in self.others if r.kind == kind and r.fraud}

    @property
    def fraud_refunds(self) -> int:
        return sum(1 for r in self.refunds.values() if r.fraud)


def load_truth(path: Path) -> TruthIndex:
    """Read a truth file; any bad line is an error naming the file and line."""
    if not path.is_file():
        raise InputError(f"truth file {str(path)!r} does not exist or is not a file")
    index = TruthIndex()
    seen_other: set[tuple[str, str]] = set()
    with path.open("rb") as fh:
        for line_no, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                rec = truth_decoder.decode(raw)
            except (msgspec.ValidationError, msgspec.DecodeError) as exc:
                raise TruthFormatError(
                    f"truth file {str(path)!r}, line {line_no}: not a truth record ({exc}); "
                    "regenerate it with `vigil simulate` or fix that line"
                ) from exc
            if rec.kind == "refund":
                if rec.id in index.refunds:
                    raise TruthFormatError(
                        f"truth file {str(path)!r}, line {line_no}: refund {rec.id!r} appears "
                        "twice; each refund must have exactly one truth record"
                    )
                index.refunds[rec.id] = rec
                if rec.scenario is not None:
                    index.by_scenario.setdefault(rec.scenario, []).append(rec.id)
            else:
                key = (rec.kind, rec.id)
                if key not in seen_other:
                    seen_other.add(key)
                    index.others.append(rec)
    return index


@dataclass
class AlertsRead:
    alerts: list[Alert]
    malformed_lines: list[int]
    missing: bool


def load_alerts(path: Path) -> AlertsRead:
    """Read an alerts file. A missing file reads as no alerts (and says so); bad lines are
    skipped and their line numbers kept for the report."""
    if not path.exists():
        return AlertsRead([], [], missing=True)
    if not path.is_file():
        raise InputError(f"alerts path {str(path)!r} is not a file")
    alerts: list[Alert] = []
    bad: list[int] = []
    with path.open("rb") as fh:
        for line_no, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                alerts.append(alert_decoder.decode(raw))
            except (msgspec.ValidationError, msgspec.DecodeError):
                bad.append(line_no)
    return AlertsRead(alerts, bad, missing=False)

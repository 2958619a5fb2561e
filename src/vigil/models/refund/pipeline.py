"""From files to labelled rows and to model alerts: what the CLI and the figures run."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from vigil.detectors.base import alert_decoder
from vigil.errors import ConfigError
from vigil.events.codec import decode_one
from vigil.events.schemas import AnalystDecision, Chargeback, EventBase, InvestigationOutcome
from vigil.ingest.sources import FileSource
from vigil.models.refund.dataset import (
    DEFAULT_LABEL_DELAY_MS,
    Label,
    collect_rows,
    join_labels,
    labels_from_events,
    truth_labels,
)
from vigil.models.refund.detector import build_refund_model_detector
from vigil.runtime.embedded import EmbeddedRuntime, RuntimeSettings
from vigil.runtime.stats import RunStats

_LABEL_TYPES = (b'"chargeback"', b'"investigation_outcome"', b'"analyst_decision"')


def read_label_events(events_path: Path | str) -> list[EventBase]:
    """The label events of an events file (a cheap byte filter, then the strict decoder)."""
    out: list[EventBase] = []
    with open(events_path, "rb") as fh:
        for n, raw in enumerate(fh, start=1):
            if not any(t in raw for t in _LABEL_TYPES):
                continue
            ev = decode_one(raw, n)
            if isinstance(ev, Chargeback | InvestigationOutcome | AnalystDecision):
                out.append(ev)
    # duplicates (at-least-once producers) carry the same id: keep the first
    first: dict[str, EventBase] = {}
    for e in out:
        first.setdefault(e.event_id, e)
    return list(first.values())


def labelled_rows(
    events_path: Path | str,
    *,
    truth_path: Path | str | None,
    alerts_path: Path | str | None = None,
    cutoff_ms: int | None = None,
    label_delay_ms: int = DEFAULT_LABEL_DELAY_MS,
    horizon_ms: int = 7 * 86_400_000,
) -> tuple[pl.DataFrame, str, int]:
    """(rows with ``label``, the label source, the cut-off used).

    Labels from ``truth_path`` (known ``label_delay_ms`` after each refund) or, without it,
    from the label events of the events file. The cut-off defaults to the latest decision
    time plus the label delay (everything that will be known has arrived).
    """
    rows = collect_rows(events_path, horizon_ms=horizon_ms)
    labels: dict[str, Label]
    if truth_path is not None:
        labels = truth_labels(truth_path, rows, label_delay_ms=label_delay_ms)
        source = f"truth ({Path(truth_path).name}, known {label_delay_ms // 86_400_000} days on)"
    else:
        alerts = (
            [alert_decoder.decode(x) for x in Path(alerts_path).read_bytes().splitlines() if x]
            if alerts_path is not None
            else []
        )
        labels = labels_from_events(read_label_events(events_path), rows, alerts)
        source = "label events (investigation_outcome, chargeback, analyst_decision)"
    if cutoff_ms is None:
        last = int(rows["decision_time_ms"].to_numpy().max()) if len(rows) else 0
        known = max((lab.known_ms for lab in labels.values()), default=0)
        cutoff_ms = max(last, known)
    return join_labels(rows, labels, cutoff_ms), source, cutoff_ms


def check_streams(
    events_paths: Sequence[Path | str],
    truth_paths: Sequence[Path | str],
    alerts_path: Path | str | None,
) -> None:
    """Streams to pool: at least one, one truth file each or none, --alerts for one only."""
    if not events_paths:
        raise ConfigError("no events file given")
    if truth_paths and len(truth_paths) != len(events_paths):
        raise ConfigError(
            f"{len(truth_paths)} truth files for {len(events_paths)} events files: give one "
            "truth file per events file, in the same order, or none"
        )
    if alerts_path is not None and len(events_paths) > 1:
        raise ConfigError("--alerts maps analyst decisions of one stream: give one events file")


def pool_streams(parts: Sequence[pl.DataFrame]) -> pl.DataFrame:
    """The rows of several streams as one frame; refused if a refund id is in two."""
    pooled = pl.concat(parts)
    if pooled["refund_id"].n_unique() != len(pooled):
        raise ConfigError("the same refund id appears in two streams: pool distinct streams only")
    return pooled


def labelled_rows_of_streams(
    events_paths: Sequence[Path | str],
    *,
    truth_paths: Sequence[Path | str] = (),
    alerts_path: Path | str | None = None,
    cutoff_ms: int | None = None,
    label_delay_ms: int = DEFAULT_LABEL_DELAY_MS,
    horizon_ms: int = 7 * 86_400_000,
) -> tuple[pl.DataFrame, str, int]:
    """``labelled_rows`` of one or several streams (say, several simulator seeds), pooled.

    More labelled history for the model: each stream is read on its own (its own state and
    labels; ``truth_paths`` pair with ``events_paths`` in order, or are empty), then the rows
    are pooled; training orders them by decision time as usual. Refund ids must not repeat
    across streams.
    """
    check_streams(events_paths, truth_paths, alerts_path)
    parts: list[pl.DataFrame] = []
    sources: list[str] = []
    cuts: list[int] = []
    for i, events in enumerate(events_paths):
        rows, source, cut = labelled_rows(
            events,
            truth_path=truth_paths[i] if truth_paths else None,
            alerts_path=alerts_path,
            cutoff_ms=cutoff_ms,
            label_delay_ms=label_delay_ms,
            horizon_ms=horizon_ms,
        )
        parts.append(rows)
        sources.append(source)
        cuts.append(cut)
    if len(parts) == 1:
        return parts[0], sources[0], cuts[0]
    pooled = pool_streams(parts)
    said = sources[0] if len(set(sources)) == 1 else "; ".join(sources)
    return pooled, f"{len(parts)} streams pooled, labels from {said}", max(cuts)


#: what ``model_alerts`` writes (the runtime's outputs without analytics)
MODEL_ALERTS_FILES = (
    "alerts.jsonl",
    "decisions.jsonl",
    "dead_letter.jsonl",
    "shadow_alerts.jsonl",
    "stats.json",
)


def model_alerts(
    events_path: Path | str,
    registry_dir: Path | str,
    out_dir: Path | str,
    *,
    ref: str = "refund",
    min_score: float = 0.05,
) -> RunStats:
    """Run ``refund_model`` alone over an events file; ``out_dir/alerts.jsonl`` holds its alerts.

    Concatenate them with a detector run's ``alerts.jsonl`` and `vigil evaluate` the result to
    see the decision with the model as one more contribution.

    ``out_dir`` may be ``.`` or a folder of other results: it is created if missing, and only
    the run's own files (``MODEL_ALERTS_FILES``) replace their namesakes there. The run writes
    into a hidden folder inside ``out_dir`` first, so a failed run leaves it as it was.
    """
    det = build_refund_model_detector(registry_dir, ref, min_score)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".model-alerts-", dir=out) as staging:
        stats = EmbeddedRuntime([det], Path(staging), RuntimeSettings(analytics=False)).run(
            FileSource(Path(events_path))
        )
        _move_files(Path(staging), out)
    return stats


def _move_files(src: Path, dest: Path) -> None:
    """Each file of ``src`` replaces its namesake in ``dest`` at once (same file system)."""
    for path in sorted(src.iterdir()):
        os.replace(path, dest / path.name)

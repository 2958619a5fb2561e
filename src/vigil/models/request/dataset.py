"""Training rows of the request model: every refund request as it was asked, with its truth.

The events go through the ``EmbeddedRuntime`` with every default detector (the agent's
alerts so far are one of the features) and a ``RowCollector`` in the place of the request
model: at each ``refund_requested``, the runtime's request-time decision calls it with the
facts known at that instant, and it keeps the row (``request_features``) while judging the
profile as ``request_risk`` does, so the rest of the run is what a run without the model
gives. Online and in training the row comes from the same call at the same moment.

Labels come from the simulator's truth (a refund's truth record labels its request:
positive = fraud of a headline scenario (1-4); serial returners and traps are negative), or,
for a retailer's own stream, from its label events: an investigation outcome about the
refund, its order or its customer, a chargeback on the order, an analyst's decision about
an alert that covers the refund (``vigil.models.refund.dataset.labels_from_events``, the
refund model's rules). A request no label speaks about is left out of training.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import msgspec
import polars as pl

from vigil.detectors.base import Signal
from vigil.detectors.registry import default_detectors
from vigil.detectors.request.profile import profile_finding
from vigil.detectors.settings import DetectorSettings
from vigil.errors import InputError
from vigil.events.schemas import RefundRequested
from vigil.events.truth import HEADLINE_SCENARIOS, TRAPS, truth_decoder
from vigil.features.facts import RequestFacts
from vigil.ingest.sources import FileSource
from vigil.models.refund.dataset import labels_from_events
from vigil.models.refund.pipeline import check_streams, pool_streams, read_label_events
from vigil.models.request.features import REQUEST_FEATURES, request_features
from vigil.runtime.embedded import EmbeddedRuntime, RuntimeSettings

__all__ = ["ID_COLUMNS", "RowCollector", "collect_rows", "label_rows", "labelled_rows"]

#: the columns before the features: which request, when, for how much
ID_COLUMNS = (
    "refund_id",
    "decision_time_ms",
    "amount_cents",
    "issued_by",
    "customer_id",
    "order_id",
)


class RowCollector:
    """Keeps each request's row; judges the profile as ``request_risk`` does meanwhile."""

    def __init__(self) -> None:
        self.rows: list[tuple[Any, ...]] = []

    def finding(
        self,
        req: RefundRequested,
        facts: RequestFacts,
        settings: DetectorSettings,
        agent_flag: float,
    ) -> Signal | None:
        row = request_features(req, facts, settings.request_risk, agent_flag)
        self.rows.append(
            (
                req.refund_id,
                req.event_time_ms,
                req.amount_cents,
                req.issued_by,
                req.customer_id,
                req.order_id,
                *row,
            )
        )
        return profile_finding(req, facts, settings.request_risk, agent_flag)

    def frame(self) -> pl.DataFrame:
        schema: dict[str, Any] = {
            "refund_id": pl.String,
            "decision_time_ms": pl.Int64,
            "amount_cents": pl.Int64,
            "issued_by": pl.String,
            "customer_id": pl.String,
            "order_id": pl.String,
        }
        for f in REQUEST_FEATURES:
            schema[f.name] = pl.String if f.kind == "categorical" else pl.Float64
        return pl.DataFrame(self.rows, schema=schema, orient="row", nan_to_null=False)


def collect_rows(
    events_path: Path,
    settings: DetectorSettings | None = None,
    progress: Callable[[int], None] | None = None,
) -> pl.DataFrame:
    """One row per refund request of the stream, as it was asked (see the module doc)."""
    settings = settings or DetectorSettings()
    collector = RowCollector()
    with tempfile.TemporaryDirectory(prefix="vigil-request-rows-") as tmp:
        runtime = EmbeddedRuntime(
            default_detectors(settings),
            Path(tmp),
            RuntimeSettings(analytics=False),
            detector_settings=settings,
            request_profile=collector,
            progress=(lambda stats, _line: progress(stats.processed)) if progress else None,
        )
        runtime.run(FileSource(events_path))
    return collector.frame()


def label_rows(rows: pl.DataFrame, truth_path: Path) -> pl.DataFrame:
    """``rows`` with ``label`` (1 headline fraud, 0 not, null unknown) and ``scenario``."""
    decode = truth_decoder.decode
    label: dict[str, int] = {}
    scenario: dict[str, str] = {}
    with truth_path.open("rb") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = decode(line)
            except msgspec.DecodeError as exc:
                raise InputError(f"{truth_path} line {n}: not a truth record ({exc})") from exc
            if rec.kind != "refund":
                continue
            hit = bool(rec.fraud) and rec.scenario in HEADLINE_SCENARIOS
            label[rec.id] = int(hit)
            scenario[rec.id] = rec.scenario or ("honest" if not rec.fraud else "fraud")
    ids = rows["refund_id"].to_list()
    return rows.with_columns(
        pl.Series("label", [label.get(i) for i in ids], dtype=pl.Int8),
        pl.Series("scenario", [scenario.get(i, "unknown") for i in ids], dtype=pl.String),
        # an honest refund built to look like fraud (a trap)
        pl.Series("lookalike", [scenario.get(i) in TRAPS for i in ids], dtype=pl.Boolean),
    )


def label_rows_from_events(
    rows: pl.DataFrame, events_path: Path, alerts_path: Path | None = None
) -> pl.DataFrame:
    """``rows`` with ``label`` from the stream's label events (null where none speaks)."""
    from vigil.detectors.base import alert_decoder

    alerts = (
        [alert_decoder.decode(x) for x in alerts_path.read_bytes().splitlines() if x.strip()]
        if alerts_path is not None
        else []
    )
    keyed = rows.with_columns(pl.col("decision_time_ms").alias("refund_time_ms"))
    labels = labels_from_events(read_label_events(events_path), keyed, alerts)
    ids = rows["refund_id"].to_list()
    found = [labels.get(i) for i in ids]
    return rows.with_columns(
        pl.Series("label", [None if x is None else int(x.fraud) for x in found], dtype=pl.Int8),
        pl.Series("scenario", [None if x is None else x.source for x in found], dtype=pl.String),
        # a request a person looked at and found legitimate
        pl.Series(
            "lookalike",
            [x is not None and not x.fraud and x.source != "chargeback" for x in found],
            dtype=pl.Boolean,
        ),
    )


def labelled_rows(
    events_paths: Sequence[Path],
    truth_paths: Sequence[Path] = (),
    alerts_path: Path | None = None,
    settings: DetectorSettings | None = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[pl.DataFrame, str]:
    """Labelled request rows of one or more streams, pooled; and where the labels came from.

    ``truth_paths`` pair with ``events_paths`` in order (the simulator's truth), or are
    empty: then the labels are the streams' own label events.
    """
    check_streams(events_paths, truth_paths, alerts_path)
    parts = []
    for i, events in enumerate(events_paths):
        if progress is not None:
            progress(f"reading {events} ({i + 1} of {len(events_paths)})")
        rows = collect_rows(events, settings)
        if truth_paths:
            rows = label_rows(rows, truth_paths[i])
        else:
            rows = label_rows_from_events(rows, events, alerts_path)
        parts.append(rows.with_columns(pl.lit(i, dtype=pl.Int32).alias("stream")))
    pooled = pool_streams(parts)
    source = (
        "simulator truth"
        if truth_paths
        else "label events (investigation_outcome, chargeback"
        + (", analyst_decision)" if alerts_path is not None else ")")
    )
    return pooled, source

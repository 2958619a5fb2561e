"""Point-in-time training sets for the refund model, and the labels joined to them.

**Rows.** The events go through the ``EmbeddedRuntime`` with one detector,
``RefundFeatureCollector``: the same ``RefundFeatureTracker`` the online ``refund_model``
uses, which keeps each snapshot row in its keyed state instead of scoring it. A row is the
refund as of its *decision time* (refund time + ``horizon_ms``; 7 days by default, the moment
the sequence detectors judge it), built only from events whose event time is at or before
that moment (``features.py``). Refunds whose decision time the watermark has not passed by
the end of the input have no row (their week is not over); ``heartbeat_after`` closes it
in tests.

**Labels.** They arrive later than the decision, and a training set may only use the labels
known by its *cut-off* time:

- from the simulator's truth (``join_truth_labels``): the truth file has no times, so a
  refund's label is taken to be known ``label_delay_ms`` after the refund (14 days by
  default: an investigation, or the first chargebacks). Positive = fraud of a headline
  scenario (1-4); serial returners (policy abuse, scored separately) and traps are negative.
- from label events (``labels_from_events``): an ``investigation_outcome`` about a refund, its
  order or its customer's account, a ``chargeback`` on its order (fraud), an
  ``analyst_decision`` about an alert that covers it. Each is known at its own event time.
  When several speak about one refund, an investigation beats a chargeback, which beats an
  analyst's decision; within a kind the latest wins.

A row whose label is not known by the cut-off gets ``label = null`` and is left out of
training (never counted as legitimate: that would teach the model that recent fraud is fine).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import polars as pl

from vigil.detectors.base import Alert, Context, Signal
from vigil.events.codec import encode_one
from vigil.events.schemas import (
    AdImpression,
    AnalystDecision,
    Chargeback,
    EventBase,
    InvestigationOutcome,
)
from vigil.events.truth import HEADLINE_SCENARIOS, truth_decoder
from vigil.ingest.sources import FileSource
from vigil.models.refund.features import (
    DAY_MS,
    FEATURES,
    ID_COLUMNS,
    RefundFeatureTracker,
    Row,
    TrackerSettings,
)
from vigil.runtime.embedded import EmbeddedRuntime, RuntimeSettings

#: default delay after which a simulator truth label counts as known
DEFAULT_LABEL_DELAY_MS = 14 * DAY_MS
_ROWS = "rows"
# label precedence: investigation > chargeback > analyst decision
_RANK = {"investigation_outcome": 3, "chargeback": 2, "analyst_decision": 1}


class RefundFeatureCollector(RefundFeatureTracker):
    """The tracker that keeps every snapshot row in keyed state (for training sets)."""

    name: ClassVar[str] = "refund_features"
    version: ClassVar[int] = 1

    def on_snapshot(self, row: Row, ctx: Context) -> Sequence[Signal]:
        ctx.keyed(_ROWS)[row[0]] = row
        return ()


def rows_schema() -> dict[str, Any]:
    """Polars column types of a rows frame (ids, then features)."""
    schema: dict[str, Any] = {
        "refund_id": pl.String,
        "refund_time_ms": pl.Int64,
        "decision_time_ms": pl.Int64,
        "customer_id": pl.String,
        "agent_id": pl.String,
        "order_id": pl.String,
        "amount_cents": pl.Int64,
    }
    for f in FEATURES:
        schema[f.name] = pl.String if f.kind == "categorical" else pl.Float64
    return schema


def rows_frame(rows: Iterable[Row]) -> pl.DataFrame:
    """Rows as a frame, ordered by decision time then refund id (deterministic)."""
    schema = rows_schema()
    assert len(schema) == len(ID_COLUMNS) + len(FEATURES)
    df = pl.DataFrame(list(rows), schema=schema, orient="row")
    # NaN (unknown) becomes null so that polars and LightGBM treat it as missing
    df = df.with_columns(pl.col(pl.Float64).fill_nan(None))
    return df.sort("decision_time_ms", "refund_id")


def collect_rows(
    events_path: Path | str,
    *,
    horizon_ms: int = 7 * DAY_MS,
    settings: RuntimeSettings | None = None,
) -> pl.DataFrame:
    """Point-in-time rows of every refund of an events file (JSONL, as ``vigil run`` reads)."""
    collector = RefundFeatureCollector(TrackerSettings(horizon_ms=horizon_ms))
    settings = settings or RuntimeSettings(analytics=False)
    with tempfile.TemporaryDirectory(prefix="vigil-refund-rows-") as tmp:
        rt = EmbeddedRuntime([collector], Path(tmp), settings)
        rt.run(FileSource(Path(events_path)))
        kept = rt.keyed_state.get(f"{collector.name}@{collector.version}/{_ROWS}", {})
    return rows_frame(kept.values())


def collect_rows_from_events(
    events: Sequence[EventBase],
    *,
    horizon_ms: int = 7 * DAY_MS,
    settings: RuntimeSettings | None = None,
) -> pl.DataFrame:
    """Rows of events given in arrival order (tests; small inputs)."""
    with tempfile.TemporaryDirectory(prefix="vigil-refund-events-") as tmp:
        path = Path(tmp) / "events.jsonl"
        path.write_bytes(b"".join(encode_one(e) + b"\n" for e in events))
        return collect_rows(path, horizon_ms=horizon_ms, settings=settings)


def heartbeat_after(events: Sequence[EventBase], delay_ms: int) -> AdImpression:
    """An event no refund feature reads, ``delay_ms`` after the latest one: moves time on."""
    t = max(e.event_time_ms for e in events) + delay_ms
    return AdImpression(
        event_id=f"heartbeat-{t}",
        event_time_ms=t,
        impression_id=f"hb-{t}",
        campaign_id="heartbeat",
        advertiser_id="heartbeat",
        platform="none",
        device_id="none",
        cost_micros=0,
    )


# --- labels ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Label:
    """What is known about one refund, and since when."""

    fraud: bool
    known_ms: int
    source: str


def truth_labels(
    truth_path: Path | str,
    rows: pl.DataFrame,
    *,
    label_delay_ms: int = DEFAULT_LABEL_DELAY_MS,
    target: str = "headline",
) -> dict[str, Label]:
    """Simulator truth as labels known ``label_delay_ms`` after each refund.

    ``target``: ``headline`` (fraud of scenarios 1-4 is positive) or ``any`` (every fraud).
    """
    if target not in ("headline", "any"):
        raise ValueError(f"target {target!r} must be 'headline' or 'any'")
    when = dict(zip(rows["refund_id"], rows["refund_time_ms"], strict=True))
    out: dict[str, Label] = {}
    with open(truth_path, "rb") as fh:
        for raw in fh:
            if not raw.strip():
                continue
            rec = truth_decoder.decode(raw)
            if rec.kind != "refund" or rec.id not in when:
                continue
            positive = rec.fraud and (target == "any" or rec.scenario in HEADLINE_SCENARIOS)
            out[rec.id] = Label(positive, when[rec.id] + label_delay_ms, "truth")
    return out


def labels_from_events(
    events: Iterable[EventBase],
    rows: pl.DataFrame,
    alerts: Iterable[Alert] = (),
) -> dict[str, Label]:
    """Labels from label events (each known at its event time), per refund of ``rows``.

    ``alerts`` (an ``alerts.jsonl`` read with ``alert_decoder``) map an analyst's decision
    about an alert to the refunds the alert covers.
    """
    by_order: dict[str, list[str]] = {}
    by_customer: dict[str, list[tuple[int, str]]] = {}
    for rid, oid, cid, t in zip(
        rows["refund_id"],
        rows["order_id"],
        rows["customer_id"],
        rows["refund_time_ms"],
        strict=True,
    ):
        by_order.setdefault(oid, []).append(rid)
        by_customer.setdefault(cid, []).append((t, rid))
    covered: dict[str, tuple[str, ...]] = {}
    for alert in alerts:
        ids = alert.refund_ids
        if alert.subject_type == "refund" and alert.subject_id not in ids:
            ids = (*ids, alert.subject_id)
        covered[alert.alert_id] = ids
    best: dict[str, tuple[int, int, bool]] = {}  # refund -> (rank, time, fraud)

    def note(rid: str, kind: str, t: int, fraud: bool) -> None:
        key = (_RANK[kind], t)
        old = best.get(rid)
        if old is None or key > old[:2]:
            best[rid] = (key[0], key[1], fraud)

    for ev in events:
        t = ev.event_time_ms
        if isinstance(ev, InvestigationOutcome):
            fraud = ev.outcome == "fraud"
            if ev.subject_type == "refund":
                targets: list[str] = [ev.subject_id]
            elif ev.subject_type == "order":
                targets = by_order.get(ev.subject_id, [])
            elif ev.subject_type == "account":
                # an account found fraudulent taints its refunds up to the finding
                targets = [rid for rt, rid in by_customer.get(ev.subject_id, []) if rt <= t]
            else:
                continue  # agents and sessions: too broad to label single refunds
            for rid in targets:
                note(rid, "investigation_outcome", t, fraud)
        elif isinstance(ev, Chargeback):
            for rid in by_order.get(ev.order_id, []):
                note(rid, "chargeback", t, True)
        elif isinstance(ev, AnalystDecision):
            for rid in covered.get(ev.alert_id, ()):
                note(rid, "analyst_decision", t, ev.outcome == "fraud")
    source = {v: k for k, v in _RANK.items()}
    return {rid: Label(fraud, t, source[rank]) for rid, (rank, t, fraud) in best.items()}


def join_labels(rows: pl.DataFrame, labels: Mapping[str, Label], cutoff_ms: int) -> pl.DataFrame:
    """Add ``label`` (1 / 0 / null when not known by ``cutoff_ms``) and ``label_known_ms``.

    A refund whose decision time is after the cut-off is dropped: it had not happened yet.
    """
    rows = rows.filter(pl.col("decision_time_ms") <= cutoff_ms)
    known: list[int | None] = []
    value: list[int | None] = []
    for rid in rows["refund_id"]:
        lab = labels.get(rid)
        if lab is None or lab.known_ms > cutoff_ms:
            known.append(None if lab is None else lab.known_ms)
            value.append(None)
        else:
            known.append(lab.known_ms)
            value.append(int(lab.fraud))
    return rows.with_columns(
        pl.Series("label", value, dtype=pl.Int8),
        pl.Series("label_known_ms", known, dtype=pl.Int64),
    )

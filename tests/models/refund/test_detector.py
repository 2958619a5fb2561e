"""``refund_model`` in the runtime: well-formed signals, determinism, state only in Context."""

from __future__ import annotations

import pickle
import re

import polars as pl
import pytest

from vigil.detectors.base import Alert
from vigil.events.schemas import EventBase
from vigil.models.refund.dataset import collect_rows_from_events, heartbeat_after
from vigil.models.refund.detector import RefundModelDetector, RefundModelSettings
from vigil.models.refund.model import RefundModel, TrainSettings, train
from vigil.runtime.harness import run_events

from ._factories import DAY, MINUTE, small_world, synthetic_rows

SNAKE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")


@pytest.fixture(scope="module")
def model() -> RefundModel:
    return train(synthetic_rows(2_000, seed=5), TrainSettings(max_rounds=40, min_rounds=10))


@pytest.fixture(scope="module")
def stream() -> list[EventBase]:
    events = small_world(seed=2, customers=60)
    return [*events, heartbeat_after(events, 8 * DAY)]


def _alerts(model: RefundModel, events: list[EventBase]) -> list[Alert]:
    det = RefundModelDetector(model, RefundModelSettings(min_score=0.0))
    alerts, stats = run_events([det], events)
    assert stats.reconciles()
    return alerts


def _key(alerts: list[Alert]) -> list[tuple[object, ...]]:
    return sorted((a.alert_id, a.score, a.reasons, a.explanation, a.event_time_ms) for a in alerts)


def test_signals_are_well_formed(model: RefundModel, stream: list[EventBase]) -> None:
    alerts = _alerts(model, stream)
    refunds = {e.refund_id: e for e in stream if hasattr(e, "refund_id")}
    assert {a.subject_id for a in alerts} == set(refunds)  # min_score 0: every refund
    for a in alerts:
        assert a.detector == "refund_model" and a.subject_type == "refund"
        assert 0.0 <= a.score <= 1.0
        assert a.refund_ids == (a.subject_id,)
        assert a.reasons and all(SNAKE.match(r) for r in a.reasons)
        assert a.explanation.startswith("refund model ") and "\n" not in a.explanation
        assert a.event_time_ms == refunds[a.subject_id].event_time_ms + 7 * DAY


def test_scores_equal_the_offline_model_on_the_training_rows(
    model: RefundModel, stream: list[EventBase]
) -> None:
    """Online and offline share one feature path: same rows, same scores."""
    rows = collect_rows_from_events(stream)
    offline = dict(zip(rows["refund_id"], model.proba_frame(rows), strict=True))
    for a in _alerts(model, stream):
        assert a.score == pytest.approx(offline[a.subject_id], abs=1e-6)


def test_deterministic_and_arrival_order_independent(
    model: RefundModel, stream: list[EventBase]
) -> None:
    expected = _key(_alerts(model, stream))
    assert _key(_alerts(model, stream)) == expected
    # swap neighbours that are within the out-of-orderness bound (10 minutes)
    shuffled = list(stream)
    for i in range(0, len(shuffled) - 1, 2):
        a, b = shuffled[i], shuffled[i + 1]
        if abs(a.event_time_ms - b.event_time_ms) < 9 * MINUTE:
            shuffled[i], shuffled[i + 1] = b, a
    assert _key(_alerts(model, shuffled)) == expected


def test_state_lives_only_in_the_context_and_the_detector_pickles(
    model: RefundModel, stream: list[EventBase]
) -> None:
    det = RefundModelDetector(model)
    before = pickle.dumps(det)
    run_events([det], stream)
    assert pickle.dumps(det) == before
    assert set(vars(det)) == {"settings", "model"}
    again = pickle.loads(before)
    assert _key(run_events([again], stream)[0]) == _key(run_events([det], stream)[0])


def test_min_score_filters_and_horizon_must_match(
    model: RefundModel, stream: list[EventBase]
) -> None:
    det = RefundModelDetector(model, RefundModelSettings(min_score=0.99))
    high, _ = run_events([det], stream)
    assert all(a.score >= 0.99 for a in high)
    with pytest.raises(ValueError, match="horizon"):
        RefundModelDetector(model, RefundModelSettings(horizon_ms=DAY))


def test_rows_frame_round_trip(stream: list[EventBase]) -> None:
    rows = collect_rows_from_events(stream)
    assert isinstance(rows, pl.DataFrame) and rows["refund_id"].n_unique() == len(rows)

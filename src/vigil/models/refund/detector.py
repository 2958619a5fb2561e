"""``refund_model``: the refund model scoring every refund inside the runtime, on the hot path.

The detector *is* the feature tracker of the training rows (``features.py``), so online
features and training features come from one code path. At each refund's decision time
(refund time + the model's horizon, 7 days) it scores the snapshot with the registered
model and, when the calibrated probability reaches ``min_score``, returns a refund
``Signal`` whose explanation names the features that pushed the score up, in words
("refund model 0.93: account 3 days old (+1.2), ..."). The ``DecisionBook`` then treats it
as one more detector's finding (noisy-OR with the others).

In the decision (``vigil run --model``) the finding counts only when another detector backs
it: the refund's agent flagged by an agent or session finding, or the refund found by a
detector that sees what the model does not (``vigil.decisions.backing``). The detector emits
the calibrated probability; the ``DecisionBook`` applies the rule, and ``vigil evaluate`` the
same. The rule was chosen on training seeds by leave-one-seed-out, then reported on unseen
seeds (docs/models.md, "Refund model"). An earlier rule (a capped "lift-only"
score) is measured in the same section and was removed.

Not in the default registry (``vigil.detectors.registry``): whether the model joins the
pipeline is the lead's decision; ``build_refund_model_detector`` builds it from a registry.

Cost: every subscribed event updates a few dict entries (about 1-3 µs); one LightGBM
prediction per refund (about 50-80 µs for one row, single-threaded) and one contribution
call per emitted signal. Refunds are about 1% of events, so scoring one at a time costs
well under a microsecond per event; batching rows (about 4 µs per row in batches of 100)
would save little and delay decisions, so it is not done (``bench/model_scoring.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from vigil.detectors.base import Context, Signal, clamp01
from vigil.models.refund.features import (
    ID_COLUMNS,
    RefundFeatureTracker,
    Row,
    TrackerSettings,
)
from vigil.models.refund.model import MODEL_NAME, RefundModel, explanation_text, load

#: reason when nothing pushed the score up (the base rate alone reached ``min_score``)
REASON_MODEL_BASE_RATE = "model_base_rate"
_N_IDS = len(ID_COLUMNS)


@dataclass(frozen=True)
class RefundModelSettings(TrackerSettings):
    """How the online refund model speaks (plus the tracker's own settings)."""

    #: lowest calibrated probability worth a signal (below: nothing is emitted)
    min_score: float = 0.05
    #: how many contributing features the explanation names
    top_features: int = 3
    #: the registry version scored (so it is part of the checkpoint fingerprint)
    model_version: str = ""


class RefundModelDetector(RefundFeatureTracker):
    """Scores each refund at its decision time with the registered refund model.

    State: ``settings`` (frozen) and ``model`` (read-only); everything else via ``Context``.
    """

    name: ClassVar[str] = "refund_model"
    version: ClassVar[int] = 1
    settings: RefundModelSettings

    def __init__(self, model: RefundModel, settings: RefundModelSettings | None = None) -> None:
        settings = settings or RefundModelSettings(
            horizon_ms=model.horizon_ms, model_version=model.version
        )
        if settings.horizon_ms != model.horizon_ms:
            raise ValueError(
                f"decision horizon {settings.horizon_ms} ms differs from the "
                f"{model.horizon_ms} ms model {model.version} was trained with"
            )
        super().__init__(settings)
        self.settings = settings
        self.model = model

    def on_snapshot(self, row: Row, ctx: Context) -> Sequence[Signal]:
        features = row[_N_IDS:]
        model = self.model
        score = clamp01(float(model.proba(model.encode_one(features))[0]))
        s = self.settings
        if score < s.min_score:
            return ()
        parts = model.explain_one(features, s.top_features)
        rid, _t, decision_ms, cid, aid, oid, amount = row[:_N_IDS]
        explanation = explanation_text(score, parts)
        return (
            Signal(
                detector=self.name,
                version=self.version,
                subject_type="refund",
                subject_id=rid,
                score=round(score, 6),
                reasons=tuple(p.feature for p in parts) or (REASON_MODEL_BASE_RATE,),
                explanation=explanation,
                event_time_ms=decision_ms,
                refund_ids=(rid,),
                amount_cents=amount,
                customer_id=cid,
                agent_id=aid,
                order_id=oid,
            ),
        )


def build_refund_model_detector(
    registry_dir: Path | str,
    ref: str = MODEL_NAME,
    min_score: float = 0.05,
) -> RefundModelDetector:
    """The ``refund_model`` detector with a model from the registry (``refund`` = champion).

    Defaults: the model's own calibrated probability, which is also what the decision
    takes (``decision_refund_model``; the backing rule is the ``DecisionBook``'s).
    """
    model = load(registry_dir, ref)
    return RefundModelDetector(
        model,
        RefundModelSettings(
            horizon_ms=model.horizon_ms,
            min_score=min_score,
            model_version=model.version,
        ),
    )


def decision_refund_model(registry_dir: Path | str, ref: str = MODEL_NAME) -> RefundModelDetector:
    """``refund_model`` for the decision (``vigil run --model``): calibrated probabilities,
    counted by the ``DecisionBook`` only where another detector backs them
    (``vigil.decisions.backing``)."""
    return build_refund_model_detector(registry_dir, ref)

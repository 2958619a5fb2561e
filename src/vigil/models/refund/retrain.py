"""Feedback: retrain a challenger on newer labels and promote it only if it does better.

Labels are events (``dataset.labels_from_events``) or the simulator's truth with a delay.
``retrain`` takes the rows whose label is known by the cut-off, in decision-time order, and
keeps the latest ``holdout_share`` of them aside as the *later data*. A challenger is trained
on the rest (with its own time-ordered validation and calibration slices), and the current
champion (the latest ``refund`` model of the registry) and the challenger are scored on the
*same* later rows. ``decide`` promotes the challenger when it catches at least as much fraud
money at the alert budget (by ``min_money_gain`` or more), does not lose more than
``max_auc_pr_loss`` of average precision, and is better on at least one of the two.
A first model (no champion) is promoted. Every challenger is kept in the registry as
``refund-challenger``.

Both are compared only on later rows *newer than anything the champion was trained on*: a
champion scored on its own training rows would look better than it is. When no such row is
left (the same labels again), there is nothing fair to compare on: neither model is scored
(the report says so rather than print zeros) and the champion stays.

A winning challenger never saw the later rows, the newest labels, which under drift matter
most. So by default (``refit``) the promoted ``refund`` model is the challenger's recipe
trained again on *all* the labelled rows, its metadata naming the challenger it was compared
as; ``refit=False`` promotes the compared challenger itself.

Drift is measured both ways: champion's training data vs the later data (what changed since
the model in production was trained) and the challenger's training vs the later data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from vigil.errors import InputError
from vigil.models import registry
from vigil.models.refund.drift import Drift, compare, drift_lines
from vigil.models.refund.model import (
    CHALLENGER_NAME,
    MODEL_NAME,
    RefundModel,
    TrainSettings,
    evaluate_frame,
    iso_ms,
    load,
    save,
    train,
)


@dataclass(frozen=True)
class RetrainSettings:
    holdout_share: float = 0.25
    #: the challenger must catch at least this much more of the fraud money (share, 0 = tie ok)
    min_money_gain: float = 0.0
    #: ... and may lose at most this much average precision
    max_auc_pr_loss: float = 0.02
    #: promote the challenger's recipe refitted on all labelled rows, not the compared model
    refit: bool = True
    train: TrainSettings = field(default_factory=TrainSettings)


@dataclass(frozen=True)
class Verdict:
    promote: bool
    reason: str


def _num(x: Any) -> float:
    return 0.0 if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def decide(
    champion: dict[str, Any] | None, challenger: dict[str, Any], settings: RetrainSettings
) -> Verdict:
    """Champion/challenger on the same later data (metrics of ``evaluate_frame``)."""
    if champion is None:
        return Verdict(True, "no champion yet: the first model is promoted")
    c_money, h_money = (
        _num(champion["money_recall_at_budget"]),
        _num(challenger["money_recall_at_budget"]),
    )
    c_ap, h_ap = _num(champion["auc_pr"]), _num(challenger["auc_pr"])
    figures = (
        f"money caught at budget {c_money:.1%} -> {h_money:.1%}, "
        f"average precision {c_ap:.3f} -> {h_ap:.3f}"
    )
    if h_money < c_money + settings.min_money_gain:
        need = "less" if h_money < c_money else "not enough more"
        return Verdict(False, f"challenger catches {need} fraud money ({figures}): kept champion")
    if h_ap < c_ap - settings.max_auc_pr_loss:
        return Verdict(False, f"challenger ranks fraud worse ({figures}): kept champion")
    if h_money == c_money and h_ap <= c_ap:
        return Verdict(False, f"challenger is no better ({figures}): kept champion")
    return Verdict(True, f"challenger is better ({figures}): promoted")


#: why neither model has figures when no later row is newer than the champion's data
NOT_SCORED = "no later refund is newer than the champion's training data"


@dataclass
class RetrainReport:
    verdict: Verdict
    later_rows: int
    #: the later rows both models were scored on: those newer than the champion's training data
    compared_rows: int
    challenger_version: str
    champion_version: str | None
    promoted_version: str | None
    #: labelled rows the promoted model was refitted on (None: the challenger itself promoted)
    refit_rows: int | None
    #: figures on the compared rows; None when not scored (no champion, or no compared row)
    champion_metrics: dict[str, Any] | None
    challenger_metrics: dict[str, Any] | None
    drift_since_champion: list[Drift]
    drift_since_challenger: list[Drift]

    def text_lines(self) -> list[str]:
        lines = [
            f"later data: {self.later_rows:,} labelled refunds (the latest, held out of training)",
        ]
        if 0 < self.compared_rows != self.later_rows:
            lines.append(
                f"  compared on {self.compared_rows:,} of them: those newer than the "
                "champion's training data"
            )
        lines.append(self._metrics_line("champion", self.champion_metrics))
        lines.append(self._metrics_line("challenger", self.challenger_metrics))
        lines.append(f"verdict: {self.verdict.reason}")
        if self.promoted_version and self.refit_rows is not None:
            lines.append(
                f"champion is now {self.promoted_version}: the challenger "
                f"{self.challenger_version} refitted on all {self.refit_rows:,} labelled "
                "refunds, the later ones included"
            )
        elif self.promoted_version:
            lines.append(f"champion is now {self.promoted_version}")
        if self.champion_version is not None:
            lines.append("drift since the champion's training data:")
            lines += ["  " + s for s in drift_lines(self.drift_since_champion)]
        lines.append("drift since the challenger's training data:")
        lines += ["  " + s for s in drift_lines(self.drift_since_challenger)]
        return lines

    def _metrics_line(self, who: str, m: dict[str, Any] | None) -> str:
        """One model's figures, or why it has none (zeros would read as a bad model)."""
        if m is not None:
            return (
                f"  {who:<10} AUC-ROC {_num(m['auc_roc']):.3f}, average precision "
                f"{_num(m['auc_pr']):.3f}, at budget {m['budget']:.1%}: "
                f"{m['raised_at_budget']} raised, {m['fraud_raised_at_budget']} fraud, "
                f"{_num(m['money_recall_at_budget']):.1%} of fraud money"
            )
        if self.champion_version is None:
            return (
                "  champion: none"
                if who == "champion"
                else f"  {who:<10} not scored: no later refund"
            )
        return f"  {who:<10} not scored: {NOT_SCORED}"


def split_later(labelled: pl.DataFrame, holdout_share: float) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(earlier, later) labelled rows by decision time."""
    df = labelled.filter(pl.col("label").is_not_null()).sort("decision_time_ms", "refund_id")
    cut = int(len(df) * (1.0 - holdout_share))
    return df[:cut], df[cut:]


def champion_of(registry_dir: Path | str) -> RefundModel | None:
    try:
        return load(registry_dir, MODEL_NAME)
    except InputError:
        return None


def unseen_by(champion: RefundModel | None, later: pl.DataFrame) -> pl.DataFrame:
    """The later rows decided after the last row the champion was trained on."""
    window = champion.extra.get("window_ms") if champion is not None else None
    if not window:
        return later
    return later.filter(pl.col("decision_time_ms") > int(window[1]))


def retrain(
    labelled: pl.DataFrame,
    registry_dir: Path | str,
    *,
    horizon_ms: int,
    label_source: str,
    label_cutoff_ms: int,
    settings: RetrainSettings | None = None,
    promote: bool = True,
    data_fingerprint: str = "",
) -> RetrainReport:
    """Train a challenger, compare it with the champion on the same later rows, maybe promote."""
    settings = settings or RetrainSettings()
    earlier, later = split_later(labelled, settings.holdout_share)
    challenger = train(earlier, settings.train)
    kwargs: dict[str, Any] = {
        "horizon_ms": horizon_ms,
        "label_source": label_source,
        "label_cutoff_ms": label_cutoff_ms,
        "settings": settings.train,
        "data_fingerprint": data_fingerprint,
    }
    challenger_version = save(challenger, registry_dir, name=CHALLENGER_NAME, **kwargs)
    challenger = load(registry_dir, challenger_version)
    champion = champion_of(registry_dir)
    compared = unseen_by(champion, later)
    budget = settings.train.budget
    scored = not compared.is_empty()  # else the report says "not scored", not zeros
    h_metrics = evaluate_frame(challenger, compared, budget)
    c_metrics = evaluate_frame(champion, compared, budget) if champion is not None else None
    if champion is not None and int(compared["label"].sum() or 0) == 0:
        which = (
            f"none of the {len(later):,} later refunds is"
            if compared.is_empty()
            else f"no fraud label among the {len(compared):,} later refunds"
        )
        verdict = Verdict(
            False,
            f"{which} newer than the champion's training data (up to "
            f"{iso_ms(int(champion.extra['window_ms'][1]))}): nothing fair to compare on, "
            "kept champion",
        )
    else:
        verdict = decide(c_metrics, h_metrics, settings)
    promoted = None
    refit_rows = None
    if verdict.promote and promote:
        if settings.refit:
            labelled_all = earlier.vstack(later)
            refit = train(labelled_all, settings.train)
            refit.extra["promoted_from"] = challenger_version
            refit.extra["compared_on_rows"] = len(compared)
            promoted = save(refit, registry_dir, name=MODEL_NAME, **kwargs)
            refit_rows = len(labelled_all)
        else:
            promoted = registry.save(
                registry_dir, challenger.booster, _renamed(challenger, MODEL_NAME)
            )
    elif verdict.promote:
        verdict = Verdict(False, verdict.reason.replace("promoted", "not promoted (--no-promote)"))
    drift_champion = (
        compare(champion.extra["reference"], later, champion.proba_frame(later))
        if champion is not None and "reference" in champion.extra
        else []
    )
    drift_challenger = compare(challenger.extra["reference"], later, challenger.proba_frame(later))
    return RetrainReport(
        verdict=verdict,
        later_rows=len(later),
        compared_rows=len(compared),
        challenger_version=challenger_version,
        champion_version=champion.version if champion is not None else None,
        promoted_version=promoted,
        refit_rows=refit_rows,
        champion_metrics=c_metrics if scored else None,
        challenger_metrics=h_metrics if scored else None,
        drift_since_champion=drift_champion,
        drift_since_challenger=drift_challenger,
    )


def _renamed(model: RefundModel, name: str) -> registry.ModelMeta:
    assert model.meta is not None
    extra = dict(model.meta.extra)
    extra["promoted_from"] = model.meta.version
    return registry.ModelMeta(
        name=name,
        features=model.meta.features,
        training_window=model.meta.training_window,
        params=model.meta.params,
        metrics=model.meta.metrics,
        data_fingerprint=model.meta.data_fingerprint,
        extra=extra,
    )

"""The request model on simulated streams: trained on two, judged on a third it never saw.

Rows are what each request saw as it was asked (checked against the raw events), the model
is stored and loaded unchanged, its operating point keeps look-alikes (traps) rare on rows
it never saw, ``vigil run --request-model`` puts its findings in the request-time
decisions, and ``decide`` gives the same answers as the runtime with the same model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from tests.api._replay import decide_body, request_decisions
from tests.api._replay import replay as replay_stream
from tests.api.conftest import headers, static_keys

from vigil.cli.main import cli
from vigil.decisions.book import decision_decoder
from vigil.errors import ConfigError
from vigil.events.schemas import RefundRequested
from vigil.models import registry
from vigil.models.request.dataset import collect_rows, label_rows
from vigil.models.request.model import (
    DETECTOR,
    TrainSettings,
    choose_operating_point,
    load,
    out_of_fold,
    train,
)
from vigil.sim import SimConfig, SimSummary, simulate


def dense(seed: int) -> SimConfig:
    """A small stream dense in fraud and in honest look-alikes (porch theft)."""
    return SimConfig(
        seed=seed,
        events=60_000,
        takeover_sessions_per_million=150.0,
        insider_refunds_per_million=300.0,
        empty_box_per_million=200.0,
        rings_per_million=40.0,
        porch_theft_per_million=300.0,
    )


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Two training streams and an unseen one; a request model trained with the CLI."""
    root = tmp_path_factory.mktemp("request-model")
    sims = {s: simulate(dense(s), root / f"s{s}") for s in (41, 42, 43)}
    reg = root / "registry"
    args = ["model", "train-request", "--registry", str(reg)]
    for s in (41, 42):
        args += ["--events", str(sims[s].events_path), "--truth", str(sims[s].truth_path)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    return {"root": root, "sims": sims, "registry": reg, "train_output": result.output}


def _rows(sim: SimSummary) -> pl.DataFrame:
    return label_rows(collect_rows(sim.events_path), sim.truth_path)


def test_the_cli_trains_and_registers_a_request_model(world: dict[str, Any]) -> None:
    out = world["train_output"]
    assert "refund requests" in out and "fraud) from simulator truth" in out
    assert "leave one of 2 streams out" in out
    meta = registry.read_meta(world["registry"], "request")
    assert meta.name == "request"
    point = meta.extra["operating_point"]
    assert 0.05 <= point["threshold"] <= 1.0
    # on the rows it never saw, the operating point kept look-alikes under 1% of holds
    assert point["lookalikes_held"] < 0.01 * max(point["held"], 1) or point["held"] == 0


def test_a_row_is_what_the_request_saw_as_it_was_asked(world: dict[str, Any]) -> None:
    """Account age and earlier requests, recomputed from the raw events in arrival order."""
    sim = world["sims"][43]
    rows = collect_rows(sim.events_path)
    signup: dict[str, int] = {}
    asked: dict[str, int] = {}
    expect: dict[str, tuple[float | None, float]] = {}
    seen: set[str] = set()
    for raw in sim.events_path.read_bytes().splitlines():
        try:  # the simulated producers send malformed lines and duplicates too
            rec = msgspec.json.decode(raw)
            if rec["event_id"] in seen:
                continue
            seen.add(rec["event_id"])
        except (msgspec.DecodeError, TypeError, KeyError):
            continue
        if rec.get("type") == "customer_signup":
            c = rec["customer_id"]
            signup[c] = min(signup.get(c, rec["event_time_ms"]), rec["event_time_ms"])
        elif rec.get("type") == "refund_requested" and rec["refund_id"] not in expect:
            c, t = rec["customer_id"], rec["event_time_ms"]
            age = (t - signup[c]) / 86_400_000 if c in signup and signup[c] <= t else None
            expect[rec["refund_id"]] = (age, float(asked.get(c, 0)))
            asked[c] = asked.get(c, 0) + 1
    # a request the runtime dead-letters (too late, invalid) has no row
    assert set(rows["refund_id"]) <= set(expect)
    assert len(rows) >= 0.97 * len(expect) > 300
    young = 0
    for rid, age, before in rows.select(
        "refund_id", "account_age_days", "customer_requests_before"
    ).iter_rows():
        want_age, want_before = expect[rid]
        if want_age is None:
            assert age is None or np.isnan(age), rid
        else:
            assert age == pytest.approx(want_age), rid
            young += want_age < 30
        assert before == want_before, rid
    assert young > 10  # the stream's own young accounts, not a made-up case


def test_the_stored_model_scores_as_the_trained_one(world: dict[str, Any], tmp_path: Path) -> None:
    sims = world["sims"]
    rows = pl.concat(
        [
            _rows(sims[s]).with_columns(pl.lit(i, dtype=pl.Int32).alias("stream"))
            for i, s in enumerate((41, 42))
        ]
    )
    model = train(rows)
    from vigil.models.request.model import save

    version = save(model, tmp_path / "reg", label_source="simulator truth")
    loaded = load(tmp_path / "reg")
    unseen = _rows(sims[43])
    assert loaded.version == version
    assert loaded.min_score == model.min_score
    np.testing.assert_array_equal(
        loaded.proba(loaded.encode(unseen)), model.proba(model.encode(unseen))
    )
    # the same model from its artifact folder (what `vigil serve` hands its runtime)
    same = load(registry.artifact_dir(tmp_path / "reg", version))
    assert same.version == version


def test_the_operating_point_is_the_lowest_score_keeping_lookalikes_rare(
    world: dict[str, Any],
) -> None:
    sims = world["sims"]
    rows = pl.concat(
        [
            _rows(sims[s]).with_columns(pl.lit(i, dtype=pl.Int32).alias("stream"))
            for i, s in enumerate((41, 42))
        ]
    ).sort("decision_time_ms", "refund_id")
    scored, how = out_of_fold(rows, TrainSettings())
    assert how == "leave one of 2 streams out" and len(scored) == len(rows)
    assert int(scored["lookalike"].sum()) > 0  # the traps are in the rows
    point = choose_operating_point(scored, 0.01, 0.05)
    t = point["threshold"]
    p = scored["p"].to_numpy()
    look = scored["lookalike"].to_numpy()
    held = p >= t
    assert look[held].sum() < 0.01 * held.sum() or held.sum() == 0
    # any lower score that the model gave would have held too many look-alikes
    for lower in np.unique(p[(p >= 0.05) & (p < t)]):
        h = p >= lower
        assert look[h].sum() >= 0.01 * h.sum()


def test_run_with_the_request_model_decides_with_its_findings(
    world: dict[str, Any], tmp_path: Path
) -> None:
    sim = world["sims"][43]
    out = tmp_path / "run"
    result = CliRunner().invoke(
        cli,
        [
            "run",
            "--input",
            str(sim.events_path),
            "--out",
            str(out),
            "--no-analytics",
            "--request-model",
            str(world["registry"]),
        ],
    )
    assert result.exit_code == 0, result.output
    lines = (out / "decisions.jsonl").read_bytes().splitlines()
    request = [d for d in map(decision_decoder.decode, lines) if d.stage == "request"]
    detectors = {c.detector for d in request for c in d.contributions}
    assert DETECTOR in detectors and "request_risk" not in detectors
    spoken = [c for d in request for c in d.contributions if c.detector == DETECTOR]
    point = registry.read_meta(world["registry"], "request").extra["operating_point"]
    assert all(c.score >= point["threshold"] - 1e-6 for c in spoken)
    assert all("request model v" in c.explanation for c in spoken)
    held = [d for d in request if d.decision != "approve"]
    assert held


def test_decide_answers_as_the_runtime_with_the_same_model(
    world: dict[str, Any], tmp_path: Path
) -> None:
    from vigil.api import ApiSettings, create_app

    sim = world["sims"][43]
    settings = ApiSettings(
        state_dir=tmp_path / "state",
        fsync_events=False,
        fsync_decisions=False,
        request_profile=load(world["registry"]),
    )
    answers: dict[str, dict[str, Any]] = {}
    with TestClient(create_app(settings, static_keys())) as client:
        from tests.api.conftest import state_of

        state = state_of(client)

        def ask(req: RefundRequested) -> None:
            state.tailer.catch_up()
            r = client.post("/v1/refunds/decide", json=decide_body(req), headers=headers())
            assert r.status_code == 200, r.text
            answers[req.refund_id] = r.json()

        replay_stream(sim, settings, ask)
    runtime = request_decisions(settings.out_dir)
    assert len(runtime) > 300
    spoke = 0
    for rid, mine in runtime.items():
        a = answers[rid]
        assert (a["decision"], a["score"], a["reasons"], a["explanation"]) == (
            mine.decision,
            mine.score,
            list(mine.reasons),
            mine.explanation,
        ), rid
        spoke += any(c.detector == DETECTOR for c in mine.contributions)
    assert spoke > 0


def test_a_registry_without_a_request_model_is_a_clear_error(
    world: dict[str, Any], tmp_path: Path
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    sim = world["sims"][43]
    result = CliRunner().invoke(
        cli,
        [
            "run",
            "--input",
            str(sim.events_path),
            "--out",
            str(tmp_path / "out"),
            "--request-model",
            str(empty),
        ],
    )
    assert result.exit_code != 0
    assert "holds no model" in str(result.exception)
    assert "vigil model train-request" in str(result.exception)


def test_a_model_trained_on_other_features_is_refused_by_name(
    world: dict[str, Any], tmp_path: Path
) -> None:
    # a model trained before a feature was added to the request model (as one trained
    # before agent_risky_before): its meta lists the features it was trained on
    import shutil

    folder = tmp_path / "old"
    shutil.copytree(registry.artifact_dir(world["registry"], "request"), folder)
    meta_path = folder / registry.META_FILE
    meta = msgspec.json.decode(meta_path.read_bytes())
    meta["features"] = [f for f in meta["features"] if f["name"] != "agent_risky_before"]
    meta_path.write_bytes(msgspec.json.encode(meta))
    with pytest.raises(ConfigError) as err:
        load(folder)
    assert "new: agent_risky_before" in str(err.value)
    assert "vigil model train-request" in str(err.value)

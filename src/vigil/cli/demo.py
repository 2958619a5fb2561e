"""``vigil demo``: simulate a retailer, run Vigil over it, evaluate, and say where it all went."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click
from rich.panel import Panel

from vigil.cli.progress import stderr
from vigil.cli.simulate import build_sim_config, run_simulation
from vigil.runtime.embedded import RuntimeSettings


def run_demo(out_dir: Path, n_events: int, seed: int) -> None:
    from vigil.ads.settings import AdSettings
    from vigil.cli.main import print_run_summary, run_pipeline
    from vigil.evaluation import evaluate
    from vigil.evaluation.html import render_html

    sim_dir, run_dir = out_dir / "sim", out_dir / "run"
    stderr.rule(f"1/3 simulate a retailer: {n_events:,} events, seed {seed}")
    t0 = time.perf_counter()
    run_simulation(build_sim_config(seed, n_events, ()), sim_dir)
    t_sim = time.perf_counter() - t0

    stderr.rule("2/3 run Vigil's detectors over the stream")
    t0 = time.perf_counter()
    stats = run_pipeline(
        str(sim_dir / "events.jsonl"), run_dir, RuntimeSettings(), None, ads=AdSettings()
    )
    t_run = time.perf_counter() - t0
    print_run_summary(stats, run_dir, resumable=False)
    if stats.stopped_early:  # evaluating half a stream would print misleading figures
        raise click.Abort()

    stderr.rule("3/3 evaluate the alerts against ground truth (alerts capped at 1% of refunds)")
    report = evaluate(run_dir / "alerts.jsonl", sim_dir / "truth.jsonl", budget=0.01)
    text = report.to_text()
    (out_dir / "evaluation.txt").write_text(text + "\n")
    (out_dir / "evaluation.json").write_text(report.to_json() + "\n")
    (out_dir / "evaluation.html").write_text(render_html(report), encoding="utf-8")
    print(text)
    stderr.print(
        Panel.fit(
            "\n".join(
                [
                    f"simulated {n_events:,} events in {t_sim:.1f}s; ran them in {t_run:.1f}s",
                    f"events and ground truth:  {sim_dir}/events.jsonl, {sim_dir}/truth.jsonl",
                    f"alerts:                   {run_dir}/alerts.jsonl",
                    f"dead letters (replayable): {run_dir}/dead_letter.jsonl",
                    f"counts:                   {run_dir}/stats.json",
                    f"analytics (DuckDB):       {run_dir}/analytics.duckdb",
                    f"campaign figures:         vigil ads report --run {run_dir}",
                    f"evaluation:               {out_dir}/evaluation.txt, .json",
                    f"report with plots:        {out_dir}/evaluation.html",
                    "",
                    "query the analytics store:",
                    f'  {sys.executable} -c "import duckdb; print(duckdb.connect('
                    f"'{run_dir}/analytics.duckdb', read_only=True).sql("
                    "'select detector, count(*) from alerts group by 1'))\"",
                ]
            ),
            title="vigil demo: where everything went",
        )
    )

"""The HTML report page: self-contained, every plot present and accessible, deterministic."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import matplotlib as mpl
import msgspec
import pytest
from click.testing import CliRunner

from vigil.cli.main import cli
from vigil.evaluation import EvaluationReport, evaluate
from vigil.evaluation.html import PageSection, render_html
from vigil.evaluation.plots import PLOTTERS, all_plots, ring_sizes_plot
from vigil.evaluation.report import RingSizeCount

from ._factories import legit, refund, small_run, write

PLOT_IDS = (
    "plot-pr-curve",
    "plot-money-budget",
    "plot-scenario-recall",
    "plot-detector-contribution",
    "plot-top-agents",
    "plot-ring-sizes",
)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> EvaluationReport:
    return evaluate(*small_run(tmp_path_factory.mktemp("run")), budget=0.05, threshold=0.5)


@pytest.fixture(scope="module")
def page(report: EvaluationReport) -> str:
    return render_html(report)


def test_every_plot_is_an_accessible_inline_svg(report: EvaluationReport, page: str) -> None:
    plots = all_plots(report)
    assert tuple(p.id for p in plots) == PLOT_IDS and len(PLOTTERS) == len(PLOT_IDS)
    for p in plots:
        assert p.svg is not None, p.id
        assert page.count(f'id="{p.id}"') == 1
        assert p.svg.startswith("<svg ") and p.svg.endswith("</svg>")
        assert f'role="img" aria-label="{p.title}"' in p.svg
        assert f'<title id="{p.id}-title">{p.title}</title>' in p.svg
        assert f'<desc id="{p.id}-desc">' in p.svg and p.summary and p.caption
        assert "<path" in p.svg and "<text" in p.svg  # drawn, and text stays text


def test_page_is_self_contained_with_unique_ids(page: str) -> None:
    assert page.startswith("<!doctype html>")
    for banned in ("http://", "https://", "<script", "<link", "<img", "<?xml", "xlink:"):
        assert banned not in page, banned
    ids = Counter(re.findall(r'\sid="([^"]+)"', page))
    assert [i for i, n in ids.items() if n > 1] == []
    # every internal reference points at an id on the page
    refs = re.findall(r'href="#([^"]+)"', page) + re.findall(r"url\(#([^)]+)\)", page)
    assert refs and set(refs) <= set(ids)


def test_page_states_settings_and_keeps_the_tables(report: EvaluationReport, page: str) -> None:
    assert report.alerts_path in page and report.truth_path in page
    assert "5% of refunds = at most 10 refunds alerted" in page
    assert "<dt>threshold</dt><dd>0.5" in page
    assert page.count("<table>") == 5 and "refund_without_return" in page


def test_same_report_same_bytes_whatever_the_users_matplotlib_style(
    report: EvaluationReport, page: str
) -> None:
    with mpl.rc_context({"font.size": 22, "lines.linewidth": 7, "svg.hashsalt": None}):
        assert render_html(report) == page
    assert mpl.rcParams["svg.hashsalt"] is None  # the user's settings are left alone


def test_empty_states(tmp_path: Path) -> None:
    truth = write(tmp_path / "t.jsonl", [*legit(50), refund("f0", 500, "ring")])
    r = evaluate(tmp_path / "missing.jsonl", truth)
    plots = {p.id: p for p in all_plots(r)}
    assert plots["plot-ring-sizes"].svg is None
    assert "No ring alerts" in plots["plot-ring-sizes"].empty_message
    assert plots["plot-top-agents"].svg is None and plots["plot-pr-curve"].svg is None
    assert plots["plot-money-budget"].svg is not None  # nothing caught is still a curve
    page = render_html(r)
    assert page.count('class="empty-state"') == 4
    for pid in PLOT_IDS:
        assert page.count(f'id="{pid}"') == 1
    nothing = evaluate(tmp_path / "missing.jsonl", write(tmp_path / "l.jsonl", legit(5)))
    assert all(p.svg is None for p in all_plots(nothing))


def test_extra_sections_go_between_plots_and_tables(report: EvaluationReport) -> None:
    extra = PageSection("decision", "Decision view", "<p>thresholds by budget</p>")
    page = render_html(report, extra=[extra])
    assert page.index('id="plots"') < page.index('id="decision"') < page.index('id="tables"')
    assert '<a href="#decision">Decision view</a>' in page


def test_cli_writes_the_page_with_plots(tmp_path: Path) -> None:
    alerts, truth = small_run(tmp_path)
    out = tmp_path / "r" / "report.html"
    result = CliRunner().invoke(
        cli,
        ["evaluate", "--alerts", str(alerts), "--truth", str(truth), "--report", str(out)],
        catch_exceptions=False,
    )
    assert result.exit_code == 0
    page = out.read_text(encoding="utf-8")
    assert all(f'id="{pid}"' in page for pid in PLOT_IDS) and page.count("<svg ") == 6


def test_ring_sizes_are_binned_when_they_spread_wide(report: EvaluationReport) -> None:
    sizes = ((2, 5), (3, 4), (40, 1), (95, 2))
    data = msgspec.structs.replace(
        report.plot_data,
        ring_alerts=12,
        ring_sizes=tuple(RingSizeCount(members=m, rings=n) for m, n in sizes),
    )
    plot = ring_sizes_plot(msgspec.structs.replace(report, plot_data=data))
    assert plot.svg is not None and "4 sizes per bar" in plot.svg
    assert "12 ring alerts; 5 with 2 members" in plot.summary

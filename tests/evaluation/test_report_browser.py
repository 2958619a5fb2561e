"""The HTML report in a real browser: Debian's headless chromium driven by Playwright.

Never downloads a browser: chromium is Debian's (``make browser`` installs it and
``make test`` runs that first). A missing chromium fails the test, so CI cannot skip it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PIL import Image, ImageStat
from tests.browser import browser_page, chromium_path

from vigil.evaluation import evaluate
from vigil.evaluation.html import render_html

from ._factories import SMALL_RUN_PR_POINTS, small_run

PLOT_IDS = (
    "plot-pr-curve",
    "plot-money-budget",
    "plot-scenario-recall",
    "plot-detector-contribution",
    "plot-top-agents",
    "plot-ring-sizes",
)


def test_a_missing_chromium_fails_and_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    monkeypatch.setattr(Path, "is_file", lambda _self: False)
    with pytest.raises(pytest.fail.Exception, match="run `make browser`"):
        chromium_path()


@pytest.mark.slow  # starts a browser: several seconds
def test_report_renders_every_plot_in_chromium(tmp_path: Path) -> None:
    report = evaluate(*small_run(tmp_path), budget=0.05, threshold=0.5)
    page_path = tmp_path / "report.html"
    page_path.write_text(render_html(report), encoding="utf-8")
    url = page_path.as_uri()
    requests: list[str] = []
    with browser_page(tmp_path / "profile") as (page, errors):
        page.on("request", lambda req: requests.append(req.url))
        page.goto(url, wait_until="load")

        for pid in PLOT_IDS:
            figure = page.locator(f"#{pid}")
            assert figure.count() == 1, pid
            assert figure.is_visible(), pid
            svg = figure.locator("svg")
            assert svg.count() == 1, pid
            box = svg.bounding_box()
            assert box is not None and box["width"] > 100 and box["height"] > 100, pid
            assert svg.locator("path").count() > 5, pid
            title = svg.locator("title").text_content()
            assert title and svg.get_attribute("aria-label") == title, pid

        pr = page.locator("#plot-pr-curve svg")
        assert pr.locator("#plot-pr-curve-pr-points use").count() == SMALL_RUN_PR_POINTS
        labels = " ".join(pr.locator("text").all_text_contents())
        assert "recall: share of the 15 headline fraud refunds alerted (%)" in labels
        assert "precision" in labels and "100%" in labels

        shot = tmp_path / "report.png"
        page.screenshot(path=str(shot), full_page=True)
        pr.screenshot(path=str(tmp_path / "pr.png"))

    assert errors == []
    assert requests == [url]  # the page itself and nothing else
    for png in (shot, tmp_path / "pr.png"):
        with Image.open(png) as im:
            gray = im.convert("L")
            assert gray.width > 300 and gray.height > 300
            assert ImageStat.Stat(gray).stddev[0] > 20, f"{png.name} looks blank"
            shades = sum(1 for n in gray.histogram() if n)
            assert shades > 50, f"{png.name} has only {shades} shades of grey"

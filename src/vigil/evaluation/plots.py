"""The report's plots, drawn with matplotlib (Agg canvas) and returned as inline SVG text.

Every plot is a ``Plot``: an element id (``plot-pr-curve``, ...), a title, a caption saying
how to read it, a one-line data summary (the SVG's ``<desc>``), and the SVG itself, or
``None`` with an empty-state message when there is nothing to draw.

Determinism: each figure is drawn under Matplotlib's default style plus ``STYLE`` (fixed
font, sizes and colours, whatever the user's matplotlibrc says), with a fixed
``svg.hashsalt`` and no date in the metadata, so the same report gives the same bytes. The
SVG is rewritten for inlining in HTML: no XML prologue, no metadata, no namespaces, and every
id prefixed with the plot's id so several plots can share one page.
"""

from __future__ import annotations

import html
import io
import math
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import matplotlib as mpl
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator, PercentFormatter
from matplotlib.typing import RcKeyType

from vigil.evaluation.curves import money_at
from vigil.evaluation.report import EvaluationReport, pct, usd
from vigil.events.truth import HEADLINE_SCENARIOS

#: rcParams on top of Matplotlib's defaults for every plot
STYLE: dict[RcKeyType, Any] = {
    "font.family": "DejaVu Sans",  # shipped with Matplotlib: the same metrics everywhere
    "font.size": 9.0,
    "axes.titlesize": 11.0,
    "axes.titleweight": "bold",
    "axes.labelsize": 9.0,
    "xtick.labelsize": 8.5,
    "ytick.labelsize": 8.5,
    "legend.fontsize": 8.5,
    "legend.frameon": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#e3e3e3",
    "grid.linewidth": 0.6,
    "axes.axisbelow": True,
    "text.parse_math": False,  # "$1,200" is money, not mathtext
    "text.usetex": False,
    "svg.fonttype": "none",  # text stays text: selectable, searchable, small
    "svg.hashsalt": "vigil-evaluation-report",
    "svg.image_inline": True,
    "figure.dpi": 100.0,
    "savefig.bbox": None,
}
FIGSIZE_IN = (6.4, 3.8)
#: the ring-size histogram bins sizes together past this many bars
MAX_RING_BARS = 30

# Okabe-Ito colours: distinguishable with the common colour-vision deficiencies
BLUE, ORANGE, VERMILLION, PURPLE, SKY, GREY = (
    "#0072B2",
    "#E69F00",
    "#D55E00",
    "#CC79A7",
    "#56B4E9",
    "#888888",
)


@dataclass(frozen=True)
class Plot:
    id: str
    title: str
    #: how to read the plot (plain text)
    caption: str
    #: a one-line summary of what the plot shows (plain text; the SVG's ``<desc>``)
    summary: str
    #: the inline ``<svg>`` element, or ``None`` when there is nothing to draw
    svg: str | None
    #: shown instead of the SVG when ``svg`` is ``None``
    empty_message: str = ""


@contextmanager
def _style() -> Iterator[None]:
    with mpl.rc_context():
        mpl.rcdefaults()
        mpl.rcParams.update(STYLE)
        yield


def _paired_bars(
    ax: Any, top: list[float], top_label: str, bottom: list[float], bottom_label: str
) -> tuple[range, float]:
    """Two horizontal bars per row (blue above, orange below); returns (rows, bar height)."""
    ys = range(len(top))
    h = 0.38
    ax.barh([y + h / 2 for y in ys], top, height=h, color=BLUE, label=top_label)
    ax.barh([y - h / 2 for y in ys], bottom, height=h, color=ORANGE, label=bottom_label)
    return ys, h


def _share_axis(ax: Any) -> None:
    """An x axis of shares 0-100%, with room right of the bars for their labels."""
    ax.set_xlim(0.0, 1.3)
    ax.set_xticks([0.0, 0.25, 0.5, 0.75, 1.0])
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))


def _figure(nrows: int = 1, ncols: int = 1, height_in: float | None = None) -> Figure:
    fig = Figure(figsize=(FIGSIZE_IN[0], height_in or FIGSIZE_IN[1]), layout="constrained")
    FigureCanvasAgg(fig)  # the Agg canvas, explicitly: never a GUI backend, never pyplot
    return fig


_TAG = re.compile(r"<[^>]*>")
_ID = re.compile(r'(\sid=")([^"]+)(")')
_HREF = re.compile(r'(\shref="#)([^"]+)(")')
_URL = re.compile(r"(url\(#)([^)]+)(\))")


def to_inline_svg(fig: Figure, plot_id: str, title: str, summary: str) -> str:
    """``fig`` as an ``<svg>`` element for an HTML page, with a ``<title>`` and ``<desc>``."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None})
    raw = buf.getvalue()
    svg = raw[raw.index("<svg") :]
    svg = re.sub(r"\s*<metadata>.*?</metadata>", "", svg, flags=re.S)

    def rewrite_tag(m: re.Match[str]) -> str:
        tag = m.group(0)
        tag = re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", tag)  # inline SVG needs no namespaces
        tag = tag.replace(" xlink:href=", " href=")
        tag = _ID.sub(lambda i: f"{i.group(1)}{plot_id}-{i.group(2)}{i.group(3)}", tag)
        tag = _HREF.sub(lambda i: f"{i.group(1)}{plot_id}-{i.group(2)}{i.group(3)}", tag)
        return _URL.sub(lambda i: f"{i.group(1)}{plot_id}-{i.group(2)}{i.group(3)}", tag)

    svg = _TAG.sub(rewrite_tag, svg)
    esc = html.escape
    open_end = svg.index(">")
    return (
        f'{svg[:open_end]} id="{plot_id}-svg" role="img" aria-label="{esc(title)}" '
        f'aria-describedby="{plot_id}-desc">'
        f'<title id="{plot_id}-title">{esc(title)}</title>'
        f'<desc id="{plot_id}-desc">{esc(summary)}</desc>'
        f"{svg[open_end + 1 :].strip()}"
    )


def _finish(ax: Axes, title: str, xlabel: str, ylabel: str) -> None:
    ax.set_title(title, loc="left")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)


# --- the plots ---------------------------------------------------------------------------


def pr_curve_plot(r: EvaluationReport) -> Plot:
    d = r.plot_data
    pid, title = "plot-pr-curve", "Precision and recall of the combined refund score"
    caption = (
        "Each point is one decision threshold: every refund whose best alert score is at or "
        "above it is alerted, with no budget. Moving right (lower thresholds) catches more of "
        "the headline fraud (recall) but usually alerts more legitimate refunds (precision "
        "falls). The star is the configured operating point: threshold "
        f"{r.threshold:g} and at most {r.budget_cap:,} refunds ({100 * r.budget:g}% budget). "
        "Refunds no alert covers are never alerted, so the curve may end before 100% recall."
    )
    if not d.pr_curve:
        why = (
            "no headline fraud in the truth file"
            if d.positives == 0
            else "no alert covers a refund in the truth file"
        )
        return Plot(pid, title, caption, "", None, f"Nothing to draw: {why}.")
    c = r.combined
    last = d.pr_curve[-1]
    summary = (
        f"{len(d.pr_curve)} thresholds from {d.pr_curve[0].threshold:.3g} down to "
        f"{last.threshold:.3g}; at the lowest, recall {pct(last.recall)} with precision "
        f"{pct(last.precision)}; configured: recall {pct(c.headline_recall)}, precision "
        f"{pct(c.headline_precision)}."
    )
    with _style():
        fig = _figure()
        ax = fig.add_subplot()
        (line,) = ax.plot(
            [p.recall for p in d.pr_curve],
            [p.precision for p in d.pr_curve],
            color=BLUE,
            marker="o",
            markersize=3.5,
            linewidth=1.4,
            label="threshold sweep (no budget)",
        )
        line.set_gid("pr-points")
        if c.raised and c.headline_recall is not None and c.headline_precision is not None:
            ax.plot(
                [c.headline_recall],
                [c.headline_precision],
                linestyle="none",
                marker="*",
                markersize=13,
                color=VERMILLION,
                label=f"configured: threshold {r.threshold:g}, budget {100 * r.budget:g}%",
            )
        ax.set_xlim(-0.02, 1.02)
        ax.set_ylim(-0.02, 1.05)
        ax.xaxis.set_major_formatter(PercentFormatter(1.0))
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        ax.legend(loc="lower left")
        _finish(
            ax,
            title,
            f"recall: share of the {d.positives:,} headline fraud refunds alerted (%)",
            "precision: alerted refunds\nthat are headline fraud (%)",
        )
        return Plot(pid, title, caption, summary, to_inline_svg(fig, pid, title, summary))


def money_budget_plot(r: EvaluationReport) -> Plot:
    d = r.plot_data
    pid, title = "plot-money-budget", "Headline fraud money caught against the alert budget"
    caption = (
        "The x axis is the alert budget: the share of all refunds that may be alerted, the "
        "highest-scored first. The solid line is what Vigil catches when only refunds scoring "
        f"at least the threshold ({r.threshold:g}) may be alerted; it goes flat once those run "
        "out. The dashed line ranks every refund any alert covers, whatever its score: the "
        "gap between them is money a lower threshold would add. The dotted line marks the "
        f"configured budget ({100 * r.budget:g}% = {r.budget_cap:,} refunds)."
    )
    if not d.money_curve or r.headline_money_cents == 0:
        return Plot(
            pid,
            title,
            caption,
            "",
            None,
            "Nothing to draw: the truth file has no headline fraud money to catch.",
        )
    caught = money_at(d.money_curve_at_threshold, r.budget_cap)
    share = caught / r.headline_money_cents
    summary = (
        f"At the configured budget of {100 * r.budget:g}% of refunds, {pct(share)} of the "
        f"headline fraud money ({usd(caught)} of {usd(r.headline_money_cents)}) is caught; "
        f"the curves run to {100 * d.money_curve_max_share:g}% of refunds."
    )
    with _style():
        fig = _figure()
        ax = fig.add_subplot()
        for points, style, label, color in (
            (d.money_curve, "--", "any alerted refund (no threshold)", GREY),
            (d.money_curve_at_threshold, "-", f"score at least {r.threshold:g}", BLUE),
        ):
            line = ax.plot(
                [p.alerted_share for p in points],
                [p.money_share for p in points],
                drawstyle="steps-post",
                linestyle=style,
                color=color,
                linewidth=1.6,
                label=label,
            )[0]
            line.set_gid("money-line" if style == "-" else "money-line-any-score")
        ax.axvline(
            r.budget,
            color=ORANGE,
            linestyle=":",
            linewidth=1.6,
            label=f"budget {100 * r.budget:g}% = {r.budget_cap:,} refunds",
        )
        ax.plot([r.budget], [share], marker="o", color=VERMILLION, markersize=6)
        ax.annotate(
            f"{pct(share)} caught",
            (r.budget, share),
            textcoords="offset points",
            xytext=(6, -12),
            color=VERMILLION,
        )
        ax.set_xlim(0.0, d.money_curve_max_share)
        ax.set_ylim(-0.02, 1.05)
        ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=1))
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        ax.legend(loc="lower right")
        _finish(
            ax,
            title,
            f"alert budget: share of the {r.refunds:,} refunds alerted (%)",
            f"headline fraud money caught\n(% of {usd(r.headline_money_cents)})",
        )
        return Plot(pid, title, caption, summary, to_inline_svg(fig, pid, title, summary))


def scenario_recall_plot(r: EvaluationReport) -> Plot:
    pid, title = "plot-scenario-recall", "Recall per fraud scenario (all detectors combined)"
    caption = (
        "For each fraud scenario: the share of its fraudulent refunds that were alerted "
        "(count) and the share of its money. A money bar longer than the count bar means the "
        "big refunds are caught and the small ones missed. Serial returners (policy abuse) are "
        "scored separately from the headline scenarios 1-4."
    )
    rows = list(reversed(r.combined.scenarios))  # the first scenario on top
    if not any(s.refunds for s in rows):
        return Plot(
            pid, title, caption, "", None, "Nothing to draw: no fraudulent refunds in truth."
        )
    summary = "; ".join(
        f"{s.scenario}: {s.caught}/{s.refunds} refunds ({pct(s.recall)}), "
        f"money {pct(s.money_recall)}"
        for s in r.combined.scenarios
    )
    with _style():
        fig = _figure(height_in=3.6)
        ax = fig.add_subplot()
        ys, h = _paired_bars(
            ax,
            [s.recall or 0.0 for s in rows],
            "refunds caught",
            [s.money_recall or 0.0 for s in rows],
            "money caught",
        )
        for y, s in zip(ys, rows, strict=True):
            if not s.refunds:
                ax.text(0.01, y, "no such refunds in truth", va="center", color=GREY)
                continue
            ax.text((s.recall or 0.0) + 0.01, y + h / 2, f"{s.caught:,}/{s.refunds:,}", va="center")
            ax.text(
                (s.money_recall or 0.0) + 0.01,
                y - h / 2,
                f"{usd(s.money_caught_cents)} of {usd(s.money_cents)}",
                va="center",
            )
        ax.set_yticks(
            list(ys),
            [
                s.scenario + ("" if s.scenario in HEADLINE_SCENARIOS else "\n(separate)")
                for s in rows
            ],
        )
        _share_axis(ax)
        ax.grid(axis="y", visible=False)
        fig.legend(loc="outside lower center", ncols=3)
        _finish(ax, title, "share of the scenario's fraudulent refunds / money caught (%)", "")
        return Plot(pid, title, caption, summary, to_inline_svg(fig, pid, title, summary))


def detector_contribution_plot(r: EvaluationReport) -> Plot:
    pid, title = "plot-detector-contribution", "What each detector contributes"
    caption = (
        "For each detector: the headline fraud money it catches alone, under the same budget "
        "and threshold (blue), and the money in refunds the combined run caught that only this "
        "detector's alerts cover (orange): what would be lost without it. The dotted line is "
        "all detectors combined. A detector with a long blue bar and no orange bar is fully "
        "covered by the others."
    )
    groups = r.per_detector
    if not groups:
        return Plot(pid, title, caption, "", None, "Nothing to draw: there are no alerts.")
    only = {c.detector: c for c in r.plot_data.contributions}
    total = r.headline_money_cents
    rows = list(reversed(groups))

    def only_share(name: str) -> float:
        c = only.get(name)
        return c.only_money_cents / total if c is not None and total else 0.0

    summary = f"combined: {pct(r.combined.headline_money_recall)} of headline money; " + "; ".join(
        f"{g.detector}: {pct(g.headline_money_recall)} alone, "
        f"{only[g.detector].only_refunds if g.detector in only else 0} refunds only it catches"
        for g in groups
    )
    with _style():
        fig = _figure(height_in=max(2.6, 1.3 + 0.55 * len(rows)))
        ax = fig.add_subplot()
        ys, h = _paired_bars(
            ax,
            [g.headline_money_recall or 0.0 for g in rows],
            "caught alone",
            [only_share(g.detector) for g in rows],
            "caught only by this detector",
        )
        for y, g in zip(ys, rows, strict=True):
            ax.text(
                (g.headline_money_recall or 0.0) + 0.01,
                y + h / 2,
                usd(g.headline_money_caught_cents),
                va="center",
            )
            c = only.get(g.detector)
            n, cents = (c.only_refunds, c.only_money_cents) if c else (0, 0)
            ax.text(
                only_share(g.detector) + 0.01,
                y - h / 2,
                f"{n:,} refund{'s' if n != 1 else ''}, {usd(cents)}",
                va="center",
            )
        if r.combined.headline_money_recall is not None:
            ax.axvline(
                r.combined.headline_money_recall,
                color=GREY,
                linestyle=":",
                linewidth=1.6,
                label=f"all combined: {pct(r.combined.headline_money_recall)}",
            )
        ax.set_yticks(list(ys), [g.detector for g in rows])
        _share_axis(ax)
        ax.grid(axis="y", visible=False)
        fig.legend(loc="outside lower center", ncols=3)
        _finish(ax, title, f"share of the headline fraud money, {usd(total)} (%)", "detector")
        return Plot(pid, title, caption, summary, to_inline_svg(fig, pid, title, summary))


TRUTH_COLOURS = {"corrupt": VERMILLION, "taken_over": PURPLE, "trap": ORANGE, "innocent": SKY}
TRUTH_LABELS = {
    "corrupt": "corrupt",
    "taken_over": "account taken over",
    "trap": "innocent look-alike (trap)",
    "innocent": "innocent",
}


def top_agents_plot(r: EvaluationReport) -> Plot:
    d = r.plot_data
    pid, title = "plot-top-agents", "Top agents named by agent alerts"
    caption = (
        "Agents that agent-level alerts name, highest alert score first (then money); each "
        "bar is the agent's best score and is labelled with the money of the refunds those "
        "alerts cover. The colour is the ground truth: a corrupt agent; an innocent agent "
        "whose account was taken over (the refunds are fraud, the agent is a victim); an "
        "innocent look-alike planted as a trap (e.g. one who handles many escalations); or "
        f"another innocent agent. Bars right of the dashed threshold ({r.threshold:g}) are "
        "flagged."
    )
    if not d.top_agents:
        return Plot(pid, title, caption, "", None, "No agent alerts in this run.")
    shown = list(reversed(d.top_agents))
    counts = {k: sum(1 for a in d.top_agents if a.truth == k) for k in TRUTH_LABELS}
    summary = (
        f"{len(d.top_agents)} of {d.agents_alerted} agents shown: "
        + ", ".join(f"{n} {TRUTH_LABELS[k]}" for k, n in counts.items() if n)
        + "."
    )
    with _style():
        fig = _figure(height_in=max(2.6, 1.3 + 0.3 * len(shown)))
        ax = fig.add_subplot()
        ys = list(range(len(shown)))
        ax.barh(ys, [a.max_score for a in shown], color=[TRUTH_COLOURS[a.truth] for a in shown])
        for y, a in zip(ys, shown, strict=True):
            ax.text(
                a.max_score + 0.01,
                y,
                f"{usd(a.money_cents)}, {a.refunds:,} refund{'s' if a.refunds != 1 else ''}",
                va="center",
            )
        ax.axvline(r.threshold, color=GREY, linestyle="--", linewidth=1.2)
        handles: list[Artist] = [
            Patch(color=TRUTH_COLOURS[key], label=label)
            for key, label in TRUTH_LABELS.items()
            if counts[key]  # legend entries only for the kinds shown
        ]
        handles.append(
            Line2D([], [], color=GREY, linestyle="--", label=f"threshold {r.threshold:g}")
        )
        ax.set_yticks(ys, [a.agent_id for a in shown])
        ax.set_xlim(0.0, 1.35)
        ax.set_xticks([0.0, 0.25, 0.5, 0.75, 1.0])
        ax.grid(axis="y", visible=False)
        fig.legend(handles=handles, loc="outside lower center", ncols=min(4, len(handles)))
        shown_of = f" ({len(shown)} of {d.agents_alerted})" if d.agents_alerted > len(shown) else ""
        _finish(ax, title + shown_of, "highest alert score of the agent (0-1)", "agent")
        return Plot(pid, title, caption, summary, to_inline_svg(fig, pid, title, summary))


def ring_sizes_plot(r: EvaluationReport) -> Plot:
    d = r.plot_data
    pid, title = "plot-ring-sizes", "Ring sizes"
    caption = (
        "How many members (accounts, devices, addresses, ...) each ring alert ties together. "
        "Real account farms usually show as a few large rings; many rings of two or three "
        "members often mean that shared households or shared devices are being linked."
    )
    if not d.ring_sizes:
        return Plot(
            pid,
            title,
            caption,
            "",
            None,
            "No ring alerts in this run: no detector raised an alert about a ring "
            "(subject type 'ring').",
        )
    summary = f"{d.ring_alerts} ring alerts; " + ", ".join(
        f"{s.rings} with {s.members} members" for s in d.ring_sizes
    )
    # one bar per size from 2 (the smallest ring) up, or bins of equal width past 30 sizes
    lo = min(2, d.ring_sizes[0].members)
    hi = d.ring_sizes[-1].members
    width = max(1, math.ceil((hi - lo + 1) / MAX_RING_BARS))
    bins: Counter[int] = Counter()
    for size in d.ring_sizes:
        bins[lo + (size.members - lo) // width * width] += size.rings
    starts = sorted(bins)
    with _style():
        fig = _figure(height_in=3.2)
        ax = fig.add_subplot()
        bars = ax.bar(
            [b + (width - 1) / 2 for b in starts],
            [bins[b] for b in starts],
            width=0.8 * width,
            color=BLUE,
        )
        ax.bar_label(bars, padding=2)
        ax.set_xlim(lo - 0.5, hi + width - (hi - lo) % width - 0.5)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylim(0, max(bins.values()) * 1.15 + 0.5)
        ax.grid(axis="x", visible=False)
        per_bar = f", {width} sizes per bar" if width > 1 else ""
        _finish(ax, title, f"members per ring (entities{per_bar})", "ring alerts (count)")
        return Plot(pid, title, caption, summary, to_inline_svg(fig, pid, title, summary))


PLOTTERS = (
    pr_curve_plot,
    money_budget_plot,
    scenario_recall_plot,
    detector_contribution_plot,
    top_agents_plot,
    ring_sizes_plot,
)


def all_plots(r: EvaluationReport) -> Sequence[Plot]:
    """Every plot of the report, in page order."""
    return [plot(r) for plot in PLOTTERS]

"""The evaluation report as one self-contained HTML page: settings, headline figures, plots,
tables.

Nothing is fetched from elsewhere and no JavaScript runs: the CSS is inline and the plots are
inline SVG (``vigil.evaluation.plots``). The page is a list of ``PageSection``s; a new view
is one more section, e.g. a decision view (thresholds chosen by budget vs by money):
write ``decision_section(report) -> PageSection`` and add it in ``page_sections`` where
marked, or pass it to ``render_html(report, extra=[...])``.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

from vigil.evaluation.decision_view import ThresholdFigures
from vigil.evaluation.plots import Plot, all_plots
from vigil.evaluation.report import EvaluationReport, footer, pct, sections, usd
from vigil.events.truth import HEADLINE_SCENARIOS

esc = html.escape


@dataclass(frozen=True)
class PageSection:
    """One ``<section id=...>`` of the page, listed in its table of contents."""

    id: str
    title: str
    #: the section's HTML below its heading; whoever builds it escapes its own text
    body_html: str


CSS = """
:root{--ink:#1f2328;--muted:#5b636e;--line:#d5d9de;--soft:#f4f6f8;--warn:#9a3b00}
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;
 margin:0;color:var(--ink);background:#fff;line-height:1.45}
main{max-width:1360px;margin:0 auto;padding:1.5em 2em 3em}
h1{font-size:1.7em;margin:.2em 0 .4em}h2{font-size:1.3em;margin:1.8em 0 .6em;
 border-bottom:1px solid var(--line);padding-bottom:.2em}h3{font-size:1.05em;margin:1.2em 0 .3em}
nav{font-size:.92em;color:var(--muted);margin-bottom:1em}nav a{margin-right:1.2em;color:#0a5ea8}
dl.settings{display:grid;grid-template-columns:max-content 1fr;gap:.15em 1.2em;margin:.6em 0}
dl.settings dt{color:var(--muted)}dl.settings dd{margin:0;overflow-wrap:anywhere}
code{font-family:"DejaVu Sans Mono",monospace;font-size:.92em}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(190px,1fr));gap:.8em;margin:1em 0}
.card{border:1px solid var(--line);border-radius:6px;padding:.6em .9em;background:var(--soft)}
.card .value{font-size:1.6em;font-weight:600}.card .label{font-weight:600}
.card .note{color:var(--muted);font-size:.88em}
.warn{color:var(--warn);font-weight:600}
.plots{display:grid;grid-template-columns:repeat(auto-fit,minmax(520px,1fr));gap:1.2em}
figure.plot{margin:0;border:1px solid var(--line);border-radius:6px;padding:.8em;background:#fff}
figure.plot svg{display:block;width:100%;height:auto}
figure.plot figcaption{color:var(--muted);font-size:.9em;margin-top:.5em}
.empty-state{border:1px dashed var(--line);border-radius:6px;padding:2em 1em;text-align:center;
 color:var(--muted);background:var(--soft)}
table{border-collapse:collapse;margin:.5em 0 1.2em;font-size:.92em}
th,td{border:1px solid var(--line);padding:.25em .6em}td{text-align:right}
td:first-child,th:first-child{text-align:left}th{background:var(--soft)}
.table-wrap{overflow-x:auto}
footer{color:var(--muted);font-size:.9em;margin-top:2em}
"""


def _settings(r: EvaluationReport) -> str:
    rows = [
        ("alerts", f"<code>{esc(r.alerts_path)}</code>"),
        ("truth", f"<code>{esc(r.truth_path)}</code>"),
        (
            "budget",
            f"{100 * r.budget:g}% of refunds = at most {r.budget_cap:,} refunds alerted "
            "(a ceiling, not a quota; highest scores first)",
        ),
        ("threshold", f"{r.threshold:g}: only refunds scoring at least this may be alerted"),
        (
            "refunds",
            f"{r.refunds:,} ({usd(r.refund_money_cents)}); {r.fraud_refunds:,} fraudulent, "
            f"{r.headline_refunds:,} in headline scenarios 1-4 ({usd(r.headline_money_cents)})",
        ),
    ]
    items = "".join(f"<dt>{esc(k)}</dt><dd>{v}</dd>" for k, v in rows)
    return f'<dl class="settings">{items}</dl>'


def _cards(r: EvaluationReport) -> str:
    c = r.combined
    headline = [s for s in c.scenarios if s.scenario in HEADLINE_SCENARIOS]
    caught = sum(s.caught for s in headline)
    cards = [
        (
            "headline money caught",
            pct(c.headline_money_recall),
            f"{usd(c.headline_money_caught_cents)} of {usd(c.headline_money_cents)}",
        ),
        (
            "precision",
            pct(c.precision),
            f"{c.fraud_raised:,} of {c.raised:,} raised refunds are fraud",
        ),
        (
            "headline recall",
            pct(c.headline_recall),
            f"{caught:,} of {r.headline_refunds:,} refunds",
        ),
        ("alerts on traps", pct(c.trap_share), f"{c.trap_alerts:,} raised refunds are traps"),
        (
            "refunds raised",
            f"{c.raised:,}",
            f"of at most {r.budget_cap:,}; {c.capped_out:,} capped out",
        ),
    ]
    return (
        '<div class="cards">'
        + "".join(
            f'<div class="card"><div class="label">{esc(label)}</div>'
            f'<div class="value">{esc(value)}</div><div class="note">{esc(note)}</div></div>'
            for label, value, note in cards
        )
        + "</div>"
    )


def summary_section(r: EvaluationReport) -> PageSection:
    warnings = "".join(f'<p class="warn">WARNING: {esc(w)}</p>' for w in r.warnings)
    return PageSection(
        "summary", "Settings and headline figures", _settings(r) + warnings + _cards(r)
    )


def plot_figure(p: Plot) -> str:
    """One plot as a ``<figure>`` with its caption (or its empty-state message)."""
    if p.svg is None:
        body = f'<p class="empty-state" role="note">{esc(p.empty_message)}</p>'
        return (
            f'<figure class="plot empty" id="{p.id}" aria-label="{esc(p.title)}">'
            f"<h3>{esc(p.title)}</h3>{body}<figcaption>{esc(p.caption)}</figcaption></figure>"
        )
    return (
        f'<figure class="plot" id="{p.id}" aria-labelledby="{p.id}-title">{p.svg}'
        f"<figcaption>{esc(p.caption)}</figcaption></figure>"
    )


def plots_section(r: EvaluationReport) -> PageSection:
    figures = "".join(plot_figure(p) for p in all_plots(r))
    return PageSection("plots", "Plots", f'<div class="plots">{figures}</div>')


def tables_section(r: EvaluationReport) -> PageSection:
    parts: list[str] = []
    for sec in sections(r):
        parts.append(f'<h3>{esc(sec.title)}</h3><div class="table-wrap"><table><thead><tr>')
        parts.extend(f"<th>{esc(h)}</th>" for h in sec.headers)
        parts.append("</tr></thead><tbody>")
        for row in sec.rows:
            parts.append("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>")
        parts.append("</tbody></table></div>")
        parts.extend(f"<p>{esc(n)}</p>" for n in sec.notes)
    return PageSection("tables", "Tables", "\n".join(parts))


def decision_section(r: EvaluationReport) -> PageSection | None:
    """Refunds per decision band, and the thresholds a budget and money would choose."""
    v = r.decisions
    if v is None:
        return None
    bands = "".join(
        f"<tr><td>{esc(b.level)}</td><td>{b.refunds:,}</td><td>{b.headline_fraud:,}</td>"
        f"<td>${b.headline_money_cents / 100:,.0f}</td></tr>"
        for b in v.bands
    )

    def row(name: str, f: ThresholdFigures, note: str) -> str:
        precision = "-" if f.precision is None else f"{f.precision:.1%}"
        recall = "-" if f.headline_money_recall is None else f"{f.headline_money_recall:.1%}"
        return (
            f"<tr><td>{esc(name)}</td><td>{f.threshold:.3f}</td><td>{f.raised:,}</td>"
            f"<td>{precision}</td><td>{recall}</td><td>{esc(note)}</td></tr>"
        )

    m = v.money_choice
    body = (
        f"<p>Each detector's best finding per refund, combined by noisy-OR. Configured: review "
        f"at &ge; {v.policy_review_threshold:g}, deny at &ge; {v.policy_deny_threshold:g}.</p>"
        '<div class="table-wrap"><table id="decision-bands"><thead><tr><th>decision</th>'
        "<th>refunds</th><th>headline fraud</th><th>headline fraud money</th></tr></thead>"
        f"<tbody>{bands}</tbody></table></div>"
        '<div class="table-wrap"><table id="decision-thresholds"><thead><tr><th>threshold '
        "chosen by</th><th>threshold</th><th>raised</th><th>precision</th><th>headline money "
        "caught</th><th>note</th></tr></thead><tbody>"
        + row(
            f"alert budget ({v.budget_choice.budget:.2%})",
            v.at_budget,
            f"at most {v.budget_choice.cap:,} refunds; needs no labels",
        )
        + row(
            f"money (review ${m.review_cost_cents / 100:,.2f})",
            v.at_money,
            f"cost ${m.cost_cents / 100:,.0f} vs ${m.cost_without_review_cents / 100:,.0f} "
            "with no review; chosen on this data, so optimistic",
        )
        + "</tbody></table></div>"
    )
    return PageSection("decisions", "Decisions and thresholds", body)


def page_sections(r: EvaluationReport, extra: Sequence[PageSection] = ()) -> list[PageSection]:
    """The page's sections in order; ``extra`` ones go between the plots and the tables."""
    out = [summary_section(r), plots_section(r)]
    decisions = decision_section(r)
    if decisions is not None:
        out.append(decisions)
    out.extend(extra)
    out.append(tables_section(r))
    return out


def render_html(r: EvaluationReport, extra: Sequence[PageSection] = ()) -> str:
    """The report as one self-contained HTML page (for ``vigil evaluate --report FILE.html``)."""
    secs = page_sections(r, extra)
    nav = "".join(f'<a href="#{esc(s.id)}">{esc(s.title)}</a>' for s in secs)
    body = "\n".join(
        f'<section id="{esc(s.id)}"><h2>{esc(s.title)}</h2>\n{s.body_html}\n</section>'
        for s in secs
    )
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        "<title>Vigil evaluation</title>\n"
        f"<style>{CSS}</style></head>\n"
        "<body><main>\n<h1>Vigil evaluation</h1>\n"
        f'<nav aria-label="sections">{nav}</nav>\n'
        f"{body}\n"
        f"<footer><p>{esc(footer(r))}</p></footer>\n"
        "</main></body></html>\n"
    )

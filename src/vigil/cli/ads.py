"""``vigil ads report``: campaign figures (impressions, clicks, spend, attributed orders and
revenue, CPA, ROAS, and ROAS net of refunds and fraud), from an event file or a run.

``--input FILE`` runs the embedded runtime over the file as ``vigil run`` does (every
detector, so refund decisions take fraud out of net revenue) into a scratch folder and
reports on its ``ad_figures.jsonl``; ``--run DIR`` reports on a run that already wrote one
(``vigil run``, ``vigil serve``), as it stands now.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import click
import msgspec

from vigil.ads.figures import settled_length
from vigil.ads.givt import DataCentres
from vigil.ads.report import GROUPINGS, report
from vigil.ads.settings import AdSettings, IvtSettings, Windows
from vigil.cli.options import parse_duration_ms
from vigil.cli.progress import Reporter, stderr
from vigil.errors import ConfigError
from vigil.runtime.embedded import RuntimeSettings

__all__ = ["ad_settings_of", "ads"]


def parse_window(text: str) -> tuple[str, Windows]:
    """``PLATFORM=CLICK,VIEW`` (``partner-video=3d,12h``) -> the platform and its windows."""
    platform, sep, rest = text.partition("=")
    click_text, comma, view_text = rest.partition(",")
    if not sep or not comma or not platform.strip():
        raise ConfigError(f"{text!r}: write PLATFORM=CLICK,VIEW, for example partner-video=3d,12h")
    try:
        return platform.strip(), Windows(
            parse_duration_ms(click_text), parse_duration_ms(view_text)
        )
    except ValueError as exc:
        raise ConfigError(f"{text!r}: {exc}") from exc


def ad_settings_of(
    windows: tuple[str, ...], runtime: RuntimeSettings, ranges: Path | None = None
) -> AdSettings:
    """The ad analytics' settings from ``--ad-window``, ``--datacentre-ranges`` and the
    runtime's lateness."""
    try:
        pairs = [parse_window(text) for text in windows]
    except ConfigError as exc:
        raise click.BadParameter(str(exc), param_hint="--ad-window") from exc
    platforms = dict(pairs)
    if len(platforms) < len(pairs):
        twice = sorted({p for p, _ in pairs if sum(1 for q, _ in pairs if q == p) > 1})
        raise click.BadParameter(
            f"platform {', '.join(map(repr, twice))} given more than once", param_hint="--ad-window"
        )
    try:
        centres = DataCentres.load(ranges) if ranges is not None else None
    except ConfigError as exc:
        raise click.BadParameter(str(exc), param_hint="--datacentre-ranges") from exc
    late = runtime.allowed_lateness_ms + runtime.max_out_of_orderness_ms
    return AdSettings(
        platforms=tuple(sorted(platforms.items())),
        late_ms=late,
        ivt=IvtSettings(datacentres=centres),
    )


#: the ad analytics' options, shared by vigil run, vigil serve (for its runtime child) and
#: vigil ads report --input
NO_ADS_OPTION = click.option(
    "--no-ads",
    is_flag=True,
    help="Compute no campaign figures (ad_figures.jsonl; docs/ads.md).",
)
AD_WINDOW_OPTION = click.option(
    "--ad-window",
    "ad_windows",
    multiple=True,
    metavar="PLATFORM=CLICK,VIEW",
    help="A platform's attribution windows (repeatable), e.g. partner-video=3d,12h; others "
    "keep 7d after a click and 1d after an impression.",
)
DATACENTRE_OPTION = click.option(
    "--datacentre-ranges",
    "datacentre_ranges",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help="Data-centre IP ranges, one CIDR per line: ad clicks and impressions from them are "
    "invalid traffic (docs/ads.md).",
)


@click.group("ads")
def ads() -> None:
    """Direct-response ad analytics: campaign figures, honest about refunds and fraud."""


@ads.command("report")
@click.option(
    "--input",
    "input_path",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help="An event file (JSON Lines): run the pipeline over it and report.",
)
@click.option(
    "--run",
    "run_dir",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    default=None,
    help="The output folder of a run (vigil run --out, vigil serve's state/run): report on "
    "its ad_figures.jsonl as it stands.",
)
@click.option(
    "--by",
    type=click.Choice(GROUPINGS),
    default="campaign",
    show_default=True,
    help="One line per campaign, per advertiser, or per campaign and day or minute (UTC).",
)
@click.option("--advertiser", default=None, help="Only this advertiser's campaigns.")
@AD_WINDOW_OPTION
@DATACENTRE_OPTION
@click.option(
    "--truth",
    "truth_path",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help="The simulator's truth.jsonl: also measure the invalid-traffic filter against it "
    "(precision and recall, by count and by spend).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per line.")
def report_command(
    input_path: Path | None,
    run_dir: Path | None,
    by: Any,
    advertiser: str | None,
    ad_windows: tuple[str, ...],
    datacentre_ranges: Path | None,
    truth_path: Path | None,
    as_json: bool,
) -> None:
    """Figures per campaign: impressions, clicks, CTR, spend, attributed orders and revenue,
    CPA, ROAS, and ROAS net of refunds and fraud (docs/ads.md)."""
    try:
        _report(input_path, run_dir, by, advertiser, ad_windows, datacentre_ranges, truth_path,
                as_json)  # fmt: skip
    except ConfigError as exc:  # a file's bad line, named: one line, not a traceback
        raise click.ClickException(str(exc)) from exc


def _report(
    input_path: Path | None,
    run_dir: Path | None,
    by: Any,
    advertiser: str | None,
    ad_windows: tuple[str, ...],
    datacentre_ranges: Path | None,
    truth_path: Path | None,
    as_json: bool,
) -> None:
    if (input_path is None) == (run_dir is None):
        raise click.UsageError("give either --input FILE (an event file) or --run DIR")
    if run_dir is not None and (ad_windows or datacentre_ranges):
        raise click.UsageError(
            "--ad-window and --datacentre-ranges apply to --input: a run's figures were made "
            "with the settings of that run"
        )
    quality = None
    truth = None
    if truth_path is not None:  # read first: a wrong file is named now, not after the run
        from vigil.ads.ivt_eval import truth_of

        truth = truth_of(truth_path)
    if input_path is not None:
        with tempfile.TemporaryDirectory(prefix="vigil-ads-") as tmp:
            figures = _figures_of_input(input_path, Path(tmp), ad_windows, datacentre_ranges)
            rows = _rows(figures)
            lines = report(rows, by, advertiser)
            _warn_unseen_platforms(ad_windows, rows)
            if truth is not None:
                quality = _quality(Path(tmp), truth)
    else:
        assert run_dir is not None
        figures = run_dir / "ad_figures.jsonl"
        if not figures.exists():
            raise click.ClickException(
                f"{run_dir} holds no ad_figures.jsonl: was it written by vigil run with --no-ads, "
                "or is it not a run's output folder?"
            )
        lines = report(_rows(figures, settled_length(run_dir)), by, advertiser)
        if truth is not None:
            quality = _quality(run_dir, truth)
    if advertiser is not None and not lines:
        raise click.ClickException(f"no figures for advertiser {advertiser!r}")
    if as_json:
        for line in lines:
            click.echo(msgspec.json.encode(line).decode())
        for q in quality or ():
            click.echo(msgspec.json.encode({"invalid_traffic": q.as_dict()}).decode())
        return
    click.echo(_table(lines, by))
    if quality is not None:
        from vigil.ads.ivt_eval import text

        click.echo("\n" + text(quality))


def _quality(run_dir: Path, truth: dict[Any, Any]) -> list[Any]:
    from vigil.ads.ivt_eval import measure, verdicts

    invalid = run_dir / "ad_invalid.jsonl"
    if not invalid.exists():
        raise click.ClickException(f"{run_dir} holds no ad_invalid.jsonl to measure")
    return measure(verdicts(invalid), truth)


def _warn_unseen_platforms(windows: tuple[str, ...], rows: list[Any]) -> None:
    """A window for a platform no event named is a typo more often than not: say so."""
    seen = {r.platform for r in rows}
    for text in windows:
        platform = text.partition("=")[0].strip()
        if platform not in seen:
            stderr.print(
                f"--ad-window {text}: no ad event names platform {platform!r} (names are "
                f"exact; seen: {', '.join(sorted(seen)) or 'none'})"
            )


def _rows(path: Path, upto: int | None = None) -> list[Any]:
    from vigil.ads.figures import read_rows

    return list(read_rows(path, upto))


def _figures_of_input(
    input_path: Path, out: Path, ad_windows: tuple[str, ...], ranges: Path | None
) -> Path:
    from vigil.ads.pipeline import AdAnalytics
    from vigil.detectors.registry import default_detectors
    from vigil.ingest.sources import FileSource
    from vigil.runtime.embedded import EmbeddedRuntime

    settings = RuntimeSettings(analytics=False)
    ads_settings = ad_settings_of(ad_windows, settings, ranges)
    runtime = EmbeddedRuntime([*default_detectors(), AdAnalytics(ads_settings)], out, settings)
    total = input_path.stat().st_size
    with Reporter("vigil ads report", total, "bytes") as rep:
        runtime.progress = lambda _stats, offset: rep.update(offset)
        stats = runtime.run(FileSource(input_path))
    dead = stats.summary()["dead_lettered"]
    if dead:
        stderr.print(
            f"{dead:,} of {stats.lines:,} lines were not counted (dead letters: malformed, too "
            "late or too early); vigil run --out DIR keeps them with their reasons"
        )
    return out / "ad_figures.jsonl"


#: valid traffic in the columns the ratios divide (CTR = clicks / impr, CPA = spend / orders,
#: ROAS = revenue / spend), invalid traffic's cost beside them
_COLUMNS = (
    ("valid_impressions", "impr", "{:,}"),
    ("valid_clicks", "clicks", "{:,}"),
    ("ctr", "CTR", "{:.2%}"),
    ("valid_spend_cents", "spend $", "{:,.2f}"),
    ("invalid_spend_cents", "IVT $", "{:,.2f}"),
    ("orders", "orders", "{:,}"),
    ("revenue_cents", "revenue $", "{:,.2f}"),
    ("cpa_cents", "CPA $", "{:,.2f}"),
    ("roas", "ROAS", "{:,.2f}"),
    ("net_roas", "net ROAS", "{:,.2f}"),
    ("view_orders", "view orders", "{:,}"),
)
_CENTS = {"valid_spend_cents", "invalid_spend_cents", "revenue_cents", "cpa_cents"}


def _table(lines: list[dict[str, Any]], by: str) -> str:
    if not lines:
        return "no ad figures (the input holds no ad impressions or clicks)"
    head = {
        "campaign": ["campaign", "advertiser"],
        "advertiser": ["advertiser"],
        "day": ["day", "campaign"],
        "minute": ["minute", "campaign"],
    }[by]
    keys = {"campaign": "campaign_id", "advertiser": "advertiser_id"}
    rows = [[*head, *(c[1] for c in _COLUMNS)]]
    for line in lines:
        cells = [str(line[keys.get(h, h)]) for h in head]
        for name, _, fmt in _COLUMNS:
            value = line[name]
            if value is None:
                cells.append("-")
                continue
            cells.append(fmt.format(value / 100 if name in _CENTS else value))
        rows.append(cells)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    text = []
    for r in rows:
        pairs = zip(r, widths, strict=True)
        text.append("  ".join(c.ljust(w) if i < len(head) else c.rjust(w) for i, (c, w) in
                              enumerate(pairs)))  # fmt: skip
    net = (
        "impr, clicks, spend $: valid traffic; IVT $: what invalid traffic cost (owed back). "
        "net ROAS: revenue less refunds and orders judged fraud (labels, deny decisions)"
    )
    return "\n".join([*text, "", net])

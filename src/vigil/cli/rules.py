"""``vigil rules``: check, commit, history, show, diff and backtest rule files.

A rule store is a directory holding ``history.jsonl`` (``--store``; by default the
directory of the rules file, or ``rules/``). See docs/rules.md.
"""

from __future__ import annotations

import datetime as dt
import getpass
import os
from pathlib import Path
from typing import TYPE_CHECKING

import click
import msgspec

from vigil.cli.options import Duration
from vigil.cli.progress import Reporter, stderr

if TYPE_CHECKING:
    from vigil.detectors.rules import RulesDetector

__all__ = ["build_rules_detector", "default_author", "now_utc", "rules"]


def default_author() -> str:
    try:
        return os.environ.get("USER") or getpass.getuser()
    except Exception:  # no user database entry (containers)
        return "unknown"


def now_utc() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_rules_detector(path: Path, allowed_lateness_ms: int) -> RulesDetector:
    """The rules detector of ``vigil run --rules FILE``: loaded now (every problem is an
    error), versioned in the store beside the file, and hot-reloaded between batches."""
    from vigil.detectors.rules import RuleFileWatcher, RulesDetector, RulesSettings, RuleStore

    watcher = RuleFileWatcher(
        path,
        store=RuleStore(path.parent),
        author=default_author(),
        clock=now_utc,
        report=lambda message: stderr.print(f"vigil run: {message}", markup=False),
        lateness_ms=allowed_lateness_ms,
    )
    rs = watcher.ruleset
    shadow = sum(1 for r in rs if r.shadow)
    history = watcher.store.path if watcher.store else "-"
    stderr.print(
        f"rules: {len(rs)} from {path} ({len(rs) - shadow} active, {shadow} shadow: their "
        f"alerts go to shadow_alerts.jsonl); versions in {history}; "
        "the file is reloaded when it changes",
        markup=False,
    )
    return RulesDetector(rs, RulesSettings(lateness_ms=allowed_lateness_ms), watcher)


_STORE = click.option(
    "--store",
    "store_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Rule store directory (history.jsonl); default: the rules file's directory, or rules/.",
)
_RULES_FILE = click.Path(path_type=Path, dir_okay=False, exists=True)


def _store(store_dir: Path | None, rules_file: Path | None = None) -> Path:
    if store_dir is not None:
        return store_dir
    return rules_file.parent if rules_file is not None else Path("rules")


@click.group("rules")
def rules() -> None:
    """Rules as data: check, version, show, diff and backtest them."""


@rules.command("check")
@click.argument("rules_file", type=_RULES_FILE)
def check(rules_file: Path) -> None:
    """Load RULES_FILE and report every problem (exit 2 if any)."""
    from vigil.detectors.rules import load_rules

    loaded = load_rules(rules_file)
    active = sum(1 for r in loaded.ruleset if not r.shadow)
    click.echo(
        f"{rules_file}: {len(loaded.ruleset)} rules OK ({active} active, "
        f"{len(loaded.ruleset) - active} shadow)"
    )
    for r in loaded.ruleset:
        when = "on the event" if not r.fire_offset_ms else f"at event time + {r.fire_offset_ms} ms"
        click.echo(f"  {r.name}: on {r.trigger}, evaluated {when}, subject {r.definition.subject}")


@rules.command("commit")
@click.argument("rules_file", type=_RULES_FILE)
@_STORE
@click.option("--author", default=None, help="Who makes the change (default: $USER).")
@click.option("-m", "--message", default="", help="Why the rules changed.")
@click.option(
    "--keep-missing",
    is_flag=True,
    help="Do not record rules missing from the file (stored from it before) as removed.",
)
def commit(
    rules_file: Path, store_dir: Path | None, author: str | None, message: str, keep_missing: bool
) -> None:
    """Record a new version of every rule in RULES_FILE that changed."""
    from vigil.detectors.rules import RuleStore, load_rules

    loaded = load_rules(rules_file)
    store = RuleStore(_store(store_dir, rules_file))
    written = store.record(
        loaded.definitions,
        author=author or default_author(),
        now=now_utc(),
        source=str(rules_file),
        message=message,
        remove_missing=not keep_missing,
    )
    if not written:
        click.echo(f"no rule changed; {store.path} is up to date")
    for rec in written:
        click.echo(f"{rec.action:<6} {rec.rule} v{rec.version} ({rec.author}, {rec.time})")


@rules.command("history")
@click.argument("name", required=False)
@_STORE
@click.option("--json", "as_json", is_flag=True, help="One JSON record per line.")
def history(name: str | None, store_dir: Path | None, as_json: bool) -> None:
    """List every stored change (of rule NAME only, if given), oldest first."""
    from vigil.detectors.rules import RuleStore

    store = RuleStore(_store(store_dir))
    records = [r for r in store.records() if name is None or r.rule == name]
    if not records:
        click.echo(f"no history{' for ' + repr(name) if name else ''} in {store.path}")
        return
    for r in records:
        if as_json:
            click.echo(msgspec.json.encode(r).decode())
        else:
            mode = r.definition.get("mode", "")
            note = f" - {r.message}" if r.message else ""
            click.echo(
                f"#{r.seq:<4} {r.time}  {r.rule} v{r.version} {r.action} ({mode}) "
                f"by {r.author}{note}"
            )


@rules.command("show")
@click.argument("name")
@click.option("--version", "version", type=int, default=None, help="Default: the latest.")
@_STORE
def show(name: str, version: int | None, store_dir: Path | None) -> None:
    """Print one stored version of rule NAME as YAML."""
    from vigil.detectors.rules import RuleStore
    from vigil.detectors.rules.store import to_yaml

    rec = RuleStore(_store(store_dir)).get(name, version)
    click.echo(f"# {name} v{rec.version}: {rec.action} by {rec.author} at {rec.time}")
    if rec.message:
        click.echo(f"# {rec.message}")
    click.echo(to_yaml(rec.definition), nl=False)


@rules.command("diff")
@click.argument("name")
@click.argument("old", type=int, required=False)
@click.argument("new", type=int, required=False)
@_STORE
def diff(name: str, old: int | None, new: int | None, store_dir: Path | None) -> None:
    """Show what changed in rule NAME between versions OLD and NEW (default: the last two)."""
    from vigil.detectors.rules import RuleStore

    click.echo(RuleStore(_store(store_dir)).diff(name, old, new), nl=False)


@rules.command("backtest")
@click.option("--rules", "rules_file", type=_RULES_FILE, default=None, help="Rules file.")
@click.option(
    "--input",
    "input_path",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    required=True,
    help="Events (JSON Lines) to replay.",
)
@click.option(
    "--truth",
    "truth_path",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    required=True,
    help="Ground truth (truth.jsonl).",
)
@click.option(
    "--budget",
    type=click.FloatRange(min=0.0, max=1.0, min_open=True),
    default=0.01,
    show_default=True,
    help="Ceiling on the share of refunds raised (highest scores first).",
)
@click.option(
    "--threshold",
    type=click.FloatRange(min=0.0, max=1.0),
    default=0.0,
    show_default=True,
    help="Only alerts scored at or above it count (0: every rule alert).",
)
@click.option(
    "--all-versions",
    is_flag=True,
    help="Backtest every stored version of every rule in the store side by side.",
)
@_STORE
@click.option("--max-out-of-orderness", type=Duration(), default="10m", show_default=True)
@click.option("--allowed-lateness", type=Duration(), default="2d", show_default=True)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Keep the run's alerts.jsonl and shadow_alerts.jsonl here.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def backtest_cmd(
    rules_file: Path | None,
    input_path: Path,
    truth_path: Path,
    budget: float,
    threshold: float,
    all_versions: bool,
    store_dir: Path | None,
    max_out_of_orderness: int,
    allowed_lateness: int,
    out_dir: Path | None,
    as_json: bool,
) -> None:
    """Replay events through the runtime with the rules; score each rule and version."""
    from vigil.detectors.rules import RuleStore, compile_rules, load_rules
    from vigil.detectors.rules.backtest import backtest
    from vigil.detectors.rules.compiler import FeatureDef
    from vigil.errors import ConfigError
    from vigil.runtime.embedded import RuntimeSettings

    settings = RuntimeSettings(
        max_out_of_orderness_ms=max_out_of_orderness,
        allowed_lateness_ms=allowed_lateness,
        checkpoint_every_events=1 << 62,
        analytics=False,
    )
    if rules_file is None and not all_versions:
        raise ConfigError("give --rules FILE, or --all-versions to backtest the store's history")
    store = RuleStore(_store(store_dir, rules_file))
    if all_versions:
        records = [r for r in store.records() if r.action != "remove"]
        if not records:
            raise ConfigError(f"the store {str(store.directory)!r} has no rule versions yet")
        defs = [r.rule_def() for r in records]
        builtin: dict[str, FeatureDef] = {}  # stored versions carry the features they used
        ruleset, problems = compile_rules(
            defs,
            builtin,
            [r.version for r in records],
            lateness_ms=allowed_lateness,
            version_suffix=True,
        )
        if ruleset is None:
            detail = "; ".join(f"{defs[p.index or 0].name}: {p.message}" for p in problems)
            raise ConfigError(f"stored rule versions no longer compile: {detail}")
    else:
        assert rules_file is not None
        first = load_rules(rules_file, lateness_ms=allowed_lateness)
        versions = store.versions_for(first.definitions)
        ruleset = load_rules(rules_file, versions, allowed_lateness).ruleset
    total = input_path.stat().st_size
    with Reporter("vigil rules backtest", total, "bytes") as rep:
        report = backtest(
            ruleset,
            input_path,
            truth_path,
            budget=budget,
            threshold=threshold,
            runtime_settings=settings,
            out_dir=out_dir,
            progress=lambda _stats, offset: rep.update(offset),
        )
    click.echo(report.to_json() if as_json else report.to_text())

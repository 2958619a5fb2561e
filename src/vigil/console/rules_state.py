"""The rules page's state: the rule file and store, shadow results, proposals, backtests.

``RulesConsole`` (one per app) knows where the rules live (the server's ``--rules`` file and
the store beside it, or ``STATE_DIR/rules/``), reads shadow results, checks and applies
proposals, and runs backtests one at a time in a background thread; ``rules_page`` holds
only the routes and the template context. See that module's docstring for the behaviour.
"""

from __future__ import annotations

import difflib
import os
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import msgspec
import yaml
from fastapi import Request

from vigil.api.state import ApiState, get_state
from vigil.decisions.policy import DecisionPolicy
from vigil.detectors.base import Alert, alert_decoder
from vigil.detectors.rules import LoadedRules, RuleLoadError, RuleStore, load_rules_text
from vigil.detectors.rules.backtest import backtest
from vigil.detectors.rules.features import BUILTIN_FEATURES
from vigil.detectors.rules.store import HistoryRecord, to_yaml
from vigil.detectors.rules.watch import load_versioned
from vigil.errors import ConflictError, RequestError, VigilError
from vigil.evaluation.report import DetectorFigures
from vigil.evaluation.scoring import covered_refunds
from vigil.evaluation.truth_index import load_alerts
from vigil.events.codec import decode_strict
from vigil.events.schemas import AnalystDecision
from vigil.events.truth import TruthRecord, truth_encoder
from vigil.runtime.embedded import RuntimeSettings
from vigil.security.approvals import ChangeView

__all__ = ["RulesConsole", "ShadowResults"]

#: the target of a change to the whole rule set (rule names are snake_case, never ``*``)
SET_TARGET = "*"
LATENESS_MS = 2 * 86_400_000
SHADOW_FILE = "shadow_alerts.jsonl"
SHADOW_PREFIX = "shadow:rule:"
#: shadow alerts shown per rule
LAST_SHADOW = 5
PAGE = "/console/rules"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- shadow results -----------------------------------------------------------------------


@dataclass
class ShadowRule:
    count: int = 0
    last: deque[Alert] = field(default_factory=lambda: deque(maxlen=LAST_SHADOW))


class ShadowResults:
    """Per rule, the shadow alerts the runtime wrote to ``shadow_alerts.jsonl``: how many, and
    the last few. Read incrementally; a file cut back (the runtime resumed from a checkpoint
    and writes the same lines again) is read again from the start."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._offset = 0
        self.by_rule: dict[str, ShadowRule] = {}

    def read(self) -> dict[str, ShadowRule]:
        with self._lock:
            try:
                size = self.path.stat().st_size
            except FileNotFoundError:
                size = 0
            if size < self._offset:
                self._offset, self.by_rule = 0, {}
            if size > self._offset:
                with self.path.open("rb") as fh:
                    fh.seek(self._offset)
                    data = fh.read(size - self._offset)
                cut = data.rfind(b"\n") + 1  # complete lines only
                self._offset += cut
                for raw in data[:cut].splitlines():
                    try:
                        alert = alert_decoder.decode(raw)
                    except (msgspec.ValidationError, msgspec.DecodeError):
                        continue
                    name = alert.detector.removeprefix(SHADOW_PREFIX).partition("@")[0]
                    rule = self.by_rule.setdefault(name, ShadowRule())
                    rule.count += 1
                    rule.last.append(alert)
            return dict(self.by_rule)


# --- proposals ----------------------------------------------------------------------------


class ProposalProblems(Exception):
    """A proposal the rule loader refused: every problem, as ``line:column: message``."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def _problems(exc: RuleLoadError, shift: tuple[int, int] = (0, 0), lines: int = 0) -> list[str]:
    out = []
    for p in exc.problems:
        line, col = p.line - shift[0], p.col - shift[1]
        who = f"rule {p.rule!r}: " if p.rule else ""
        if lines and not 1 <= line <= lines:
            out.append(f"(in the rules in force) {who}{p.message}")
        else:
            out.append(f"{line}:{max(col, 1)}: {who}{p.message}")
    return out


@dataclass(frozen=True)
class Proposal:
    target: str
    value: dict[str, Any] | None


@dataclass(frozen=True)
class InForce:
    """The rules file as it is now: its text, and the loaded rules or why they do not load."""

    text: str
    loaded: LoadedRules | None
    error: str | None

    def raw(self) -> dict[str, Any]:
        try:
            data = yaml.safe_load(self.text) if self.text.strip() else None
        except yaml.YAMLError:
            return {}  # ``error`` says why
        return data if isinstance(data, dict) else {}


@dataclass
class BacktestRow:
    rule: str
    version: int | None
    mode: str
    alerts: int
    refunds: int
    money_cents: int
    #: labelled refunds among those alerted, and how many of them are labelled fraud
    labelled: int
    fraud: int
    precision: float | None
    recall: float | None


@dataclass
class BacktestJob:
    id: int
    what: str
    started_by: str
    started_at: float = field(default_factory=time.time)
    status: Literal["running", "done", "failed"] = "running"
    progress: float = 0.0
    events_read: int = 0
    wall_s: float = 0.0
    labelled_fraud: int = 0
    labelled_legit: int = 0
    rows: list[BacktestRow] = field(default_factory=list)
    error: str | None = None


class RulesConsole:
    """The rules file and store a server works on, its shadow results and its backtests."""

    def __init__(self, state: ApiState, rules_file: Path | None = None) -> None:
        self.state = state
        #: the file the runtime child hot-reloads (None: the server runs without one)
        self.rules_file = rules_file
        self.store_dir = rules_file.parent if rules_file else state.settings.state_dir / "rules"
        self.store = RuleStore(self.store_dir)
        self.target = rules_file or self.store_dir / "rules.yaml"
        self.shadow = ShadowResults(state.settings.out_dir / SHADOW_FILE)
        self.jobs: deque[BacktestJob] = deque(maxlen=10)
        self._next_job = 1
        self.approval_lock = threading.Lock()  # one approval writes the file at a time
        self._job_lock = threading.Lock()
        current = self.in_force()
        if current.loaded is not None:  # seed the store (as `vigil run --rules` does on load)
            self.store.record(
                current.loaded.definitions,
                author="vigil serve",
                now=_now(),
                source=str(self.target),
                message="loaded by the console",
            )

    @classmethod
    def of(cls, request: Request) -> RulesConsole:
        """The app's rules console, made on first use (tests may set ``console_rules``)."""
        app_state = request.app.state
        rc: RulesConsole | None = getattr(app_state, "console_rules", None)
        if rc is None:
            st = get_state(request)
            command = getattr(st.runtime, "command", None)
            rc = cls(st, getattr(command, "rules", None))
            app_state.console_rules = rc
        return rc

    # --- the rules in force -------------------------------------------------------------

    def in_force(self) -> InForce:
        try:
            text = self.target.read_text(encoding="utf-8")
        except FileNotFoundError:
            return InForce("", None, None)
        except (OSError, UnicodeDecodeError) as exc:
            return InForce("", None, f"cannot read {str(self.target)!r}: {exc}")
        try:
            return InForce(text, self._load(text), None)
        except VigilError as exc:
            return InForce(text, None, str(exc))

    def _load(self, text: str) -> LoadedRules:
        return load_versioned(text, str(self.target), self.store, LATENESS_MS)

    def parse(self, text: str) -> Proposal:
        """A proposal from YAML text: a rule set, or one rule checked with the file's features."""
        if not text.strip():
            raise ProposalProblems(["1:1: the proposal is empty"])
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError:
            data = None  # the loader says where
        if (isinstance(data, dict) and ("rules" in data or "features" in data)) or data is None:
            try:
                load_rules_text(text, "proposal", None, LATENESS_MS)
            except RuleLoadError as exc:
                raise ProposalProblems(_problems(exc)) from None
            return Proposal(SET_TARGET, {"yaml": text})
        if not isinstance(data, dict) or "name" not in data:
            raise ProposalProblems(
                [
                    "1:1: give a rule set (a mapping with `rules:`) "
                    "or one rule (`name:`, `when:`, ...)"
                ]
            )
        lines = text.rstrip("\n").split("\n")
        wrapped = "rules:\n  - " + "\n    ".join(lines) + "\n"
        features = self.in_force().raw().get("features")
        if isinstance(features, dict) and features:
            wrapped += yaml.safe_dump({"features": features}, sort_keys=False, width=10_000)
        try:
            loaded = load_rules_text(wrapped, "proposal", None, LATENESS_MS)
        except RuleLoadError as exc:
            raise ProposalProblems(_problems(exc, (1, 4), len(lines))) from None
        (rule,) = loaded.definitions
        return Proposal(rule.name, rule.content())

    def proposed_text(self, change: ChangeView, current: InForce) -> str:
        """The rules file approving ``change`` would write, checked by the loader."""
        assert isinstance(change.value, dict) or change.value is None
        if change.target == SET_TARGET:
            assert change.value is not None
            text = str(change.value["yaml"])
        else:
            text = self._merged(change, current)
        try:
            load_rules_text(text, str(self.target), None, LATENESS_MS)
        except RuleLoadError as exc:
            raise ConflictError(
                f"change request {change.id}: with the rules now in force the result does not "
                f"load ({'; '.join(str(p) for p in exc.problems)}); reject it and propose again"
            ) from None
        return text

    def _merged(self, change: ChangeView, current: InForce) -> str:
        if current.error is not None and current.text:
            raise ConflictError(f"the rules file does not load now, fix it first: {current.error}")
        raw = current.raw()
        features: dict[str, Any] = dict(raw.get("features") or {})
        rules: list[dict[str, Any]] = [r for r in raw.get("rules") or [] if isinstance(r, dict)]
        value = change.value
        kept = [r for r in rules if r.get("name") != change.target]
        if value is not None:
            definition = {k: v for k, v in value.items() if k != "features"}
            for name, expr in (value.get("features") or {}).items():
                if BUILTIN_FEATURES.get(name) == expr or features.get(name) == expr:
                    continue
                if name in features:
                    raise ConflictError(
                        f"change request {change.id}: feature {name!r} changed since it was "
                        "proposed; reject it and propose again"
                    )
                features[name] = expr
            at = next((i for i, r in enumerate(rules) if r.get("name") == change.target), None)
            if at is None:
                kept.append(definition)
            else:
                kept.insert(at, definition)
        body: dict[str, Any] = {}
        if features:
            body["features"] = features
        body["rules"] = kept
        header = (
            f"# Written by the Vigil console: change {change.id} ({change.kind} "
            f"{change.target}) by {change.requested_by}.\n"
        )
        dumped = yaml.safe_dump(body, sort_keys=False, allow_unicode=True, width=10_000)
        return header + dumped

    def diff(self, change: ChangeView, current: InForce, policy: DecisionPolicy) -> list[str]:
        """What approving ``change`` now would change: a unified diff of the rules, or
        the threshold in force against the proposed one."""
        if change.kind == "threshold":
            now = getattr(policy, change.target, None)
            return [f"-{change.target}: {now}", f"+{change.target}: {change.value}"]
        if change.target == SET_TARGET:
            assert isinstance(change.value, dict)
            old, new = current.text, str(change.value["yaml"])
        else:
            before = next(
                (r for r in current.raw().get("rules") or [] if r.get("name") == change.target),
                None,
            )
            old = "" if before is None else to_yaml(before)
            assert change.value is None or isinstance(change.value, dict)
            new = "" if change.value is None else to_yaml(change.value)
        lines = difflib.unified_diff(
            old.splitlines(),
            new.splitlines(),
            fromfile="in force",
            tofile=f"change {change.id}",
            lineterm="",
        )
        return list(lines) or ["(no difference)"]

    def apply_rules(self, change: ChangeView, approver: str) -> list[HistoryRecord]:
        """Record the approved rules in the store and replace the file (atomically)."""
        text = self.proposed_text(change, self.in_force())
        loaded = load_rules_text(text, str(self.target), None, LATENESS_MS)
        written = self.store.record(
            loaded.definitions,
            author=change.requested_by,
            now=_now(),
            source=str(self.target),
            message=f"change {change.id} approved by {approver}: {change.reason}",
            remove_missing=True,
        )
        self.target.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.target.with_name(f".{self.target.name}.console-{os.getpid()}.tmp")
        with tmp.open("w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.target)
        return written

    # --- backtests ----------------------------------------------------------------------

    def job(self, job_id: int) -> BacktestJob | None:
        return next((j for j in self.jobs if j.id == job_id), None)

    def start_backtest(self, text: str, what: str, actor: str) -> BacktestJob:
        with self._job_lock:
            running = next((j for j in self.jobs if j.status == "running"), None)
            if running is not None:
                raise ConflictError(
                    f"backtest {running.id} ({running.what}, by {running.started_by}) is "
                    "still running; one at a time"
                )
            loaded = self._load(text)  # raises when the rules do not load
            job = BacktestJob(self._next_job, what, actor)
            self._next_job += 1
            self.jobs.append(job)
        threading.Thread(
            target=self._run, args=(job, loaded), name=f"vigil-backtest-{job.id}", daemon=True
        ).start()
        return job

    def _run(self, job: BacktestJob, loaded: LoadedRules) -> None:
        try:
            self._backtest(job, loaded)
            job.status = "done"
        except Exception as exc:  # shown on the page; the server carries on
            job.error = f"{type(exc).__name__}: {exc}"
            job.status = "failed"

    def labels(self) -> dict[str, bool]:
        """Refund -> fraud, from the ``analyst_decision`` events in the input log (the
        latest decision about an alert covering the refund wins)."""
        index = self.state.index
        found: dict[str, tuple[int, bool]] = {}
        path = self.state.settings.input_log
        if not path.exists():
            return {}
        with path.open("rb") as fh:
            for raw in fh:
                if b'"analyst_decision"' not in raw:
                    continue
                try:
                    ev = decode_strict(raw)
                except (msgspec.ValidationError, msgspec.DecodeError):
                    continue
                if not isinstance(ev, AnalystDecision):
                    continue
                alert = index.get(ev.alert_id)
                if alert is not None:
                    refunds: tuple[str, ...] = covered_refunds(alert)
                else:  # ids are detector:subject type:subject id
                    head, sep, rid = ev.alert_id.rpartition(":refund:")
                    refunds = (rid,) if sep and head and rid else ()
                for rid in refunds:
                    old = found.get(rid)
                    if old is None or ev.event_time_ms >= old[0]:
                        found[rid] = (ev.event_time_ms, ev.outcome == "fraud")
        return {rid: fraud for rid, (_, fraud) in found.items()}

    def _backtest(self, job: BacktestJob, loaded: LoadedRules) -> None:
        input_log = self.state.settings.input_log
        total = input_log.stat().st_size if input_log.exists() else 0
        if not total:
            raise RequestError(f"the input log {str(input_log)!r} is empty: nothing to replay")
        labels = self.labels()
        job.labelled_fraud = sum(labels.values())
        job.labelled_legit = len(labels) - job.labelled_fraud
        settings = RuntimeSettings(analytics=False, checkpoint_every_events=1 << 62)

        def progress(_stats: object, offset: int) -> None:
            job.progress = min(1.0, offset / total)

        with tempfile.TemporaryDirectory(prefix="vigil-console-backtest-") as tmp:
            truth = Path(tmp) / "labels.jsonl"
            with truth.open("wb") as fh:
                for rid, fraud in labels.items():
                    rec = TruthRecord(kind="refund", id=rid, fraud=fraud)
                    fh.write(truth_encoder.encode(rec) + b"\n")
            out = Path(tmp) / "out"
            out.mkdir()
            report = backtest(
                loaded.ruleset,
                input_log,
                truth,
                budget=1.0,
                threshold=0.0,
                runtime_settings=settings,
                out_dir=out,
                progress=progress,
            )
            alerts = [
                a for name in ("alerts.jsonl", SHADOW_FILE) for a in load_alerts(out / name).alerts
            ]
        by_detector: dict[str, list[Alert]] = {}
        for a in alerts:
            by_detector.setdefault(a.detector, []).append(a)
        rows: list[tuple[str, int | None, str, DetectorFigures, list[Alert]]] = [
            (r.rule, r.version, r.mode, r.all_alerts, by_detector.get(r.detector, []))
            for r in report.rules
        ]
        active = [
            a for r in loaded.ruleset if not r.shadow for a in by_detector.get(r.detector_name, [])
        ]
        rows.append(("all active rules", None, "", report.combined_all_alerts, active))
        for rule, version, mode, fig, mine in rows:
            refunds = {rid for a in mine for rid in covered_refunds(a)}
            job.rows.append(
                BacktestRow(
                    rule=rule,
                    version=version,
                    mode=mode,
                    alerts=len(mine),
                    refunds=len(refunds),
                    money_cents=sum(a.amount_cents for a in mine),
                    labelled=fig.raised,
                    fraud=fig.fraud_raised,
                    precision=fig.precision,
                    recall=fig.fraud_raised / job.labelled_fraud if job.labelled_fraud else None,
                )
            )
        job.events_read = report.events_read
        job.wall_s = report.wall_seconds
        job.progress = 1.0

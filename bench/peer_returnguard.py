"""Vigil side by side with the ``returnguard`` library (issue 3 part 6), on the same stream.

One command::

    .venv/bin/python bench/peer_returnguard.py [--data DIR] [--alerts FILE] \\
        [--json-out FILE] [--md-out FILE]

``--data DIR`` holds a simulator output (``events.jsonl``, ``truth.jsonl``); without it the
script simulates ``--events`` lines (default 1M, ``--seed`` 1) into a temporary directory.
``--alerts FILE`` is the ``alerts.jsonl`` of a Vigil run on that stream; without it the script
runs ``vigil run --no-analytics`` itself (and times it).

returnguard scores *return requests* given a *customer profile*. The adapter below builds both
for every refund in the stream, point in time: events are decoded with ``vigil.events.codec``,
duplicates dropped, and replayed in event-time order; a refund's profile holds only what
happened strictly before the refund (and never the refund's own return). Its scores become
refund-level alerts that ``vigil.evaluation.scoring`` evaluates exactly like Vigil's, at the
same budget. The mapping decisions are listed in ``docs/peer-comparison.md``.

This file lives in ``bench/`` only: nothing under ``src/`` imports returnguard.
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
from returnguard import CustomerProfile, FraudScore, FraudScorer, ReturnReason, ReturnRequest
from returnguard import RiskLevel as RgLevel

from vigil.detectors.base import Alert
from vigil.evaluation.report import DetectorFigures
from vigil.evaluation.scoring import budget_cap, figures_for, raise_under_budget, refund_scores
from vigil.evaluation.truth_index import TruthIndex, load_alerts, load_truth
from vigil.events.codec import DecodeFailure, decode_one
from vigil.events.schemas import (
    CustomerSignup,
    EventBase,
    OrderPlaced,
    RefundIssued,
    ReturnRequested,
)
from vigil.events.truth import HEADLINE_SCENARIOS, SCENARIOS
from vigil.ingest.sources import FileSource

BUDGET = 0.01
VIGIL_THRESHOLD = 0.5  # Vigil's default decision threshold (``vigil evaluate``)
DETECTOR = "returnguard"

#: Vigil's request reasons -> returnguard's enum. ``wrong_size`` is a no-fault return (the item
#: is as described; the customer chose it), the same class as ``changed_mind``: returnguard
#: has no size reason, and this is the mapping that lets its wardrobing rule see fit returns.
#: ``item_not_received`` has no counterpart (its EMPTY_BOX is "the parcel came empty").
REASONS: dict[str, ReturnReason] = {
    "changed_mind": ReturnReason.CHANGED_MIND,
    "wrong_size": ReturnReason.CHANGED_MIND,
    "defective": ReturnReason.DEFECTIVE,
    "not_as_described": ReturnReason.NOT_AS_DESCRIBED,
    "arrived_damaged": ReturnReason.DAMAGED_IN_SHIPPING,
    "wrong_item": ReturnReason.WRONG_ITEM,
    "item_not_received": ReturnReason.OTHER,
}
#: a refund with no return request (agent override / returnless, goodwill) has no reason
NO_REQUEST_REASON = ReturnReason.OTHER
#: verdicts that count as a "flag" in later profiles: MEDIUM's own action is
#: "Flag for manual review", so MEDIUM and above
FLAG_LEVELS = frozenset({RgLevel.MEDIUM, RgLevel.HIGH, RgLevel.CRITICAL})
REVIEW_LEVELS = FLAG_LEVELS  # candidates under the budget: what it would send to review
UNCAPPED_LEVELS = frozenset({RgLevel.HIGH, RgLevel.CRITICAL})

#: returnguard's settings: its constructor defaults (the documented ones), and an alternative
VARIANTS: dict[str, dict[str, Any]] = {
    "defaults": {},
    # tuned to this retailer's base rates: a 12 % everyday return rate and 60-90-day
    # histories, so one return in one order (rate 100 %) or 3 returns is not yet abuse;
    # the README quick-start's lower high-value line ($150) for wardrobing
    "alt": {"return_rate_threshold": 0.5, "velocity_limit": 5, "high_value_threshold": 150.0},
}


# --- events in, point-in-time cases out --------------------------------------------------

_KEEP = (OrderPlaced, ReturnRequested, RefundIssued, CustomerSignup)


def read_events(path: Path) -> tuple[list[EventBase], int]:
    """Decode a JSON Lines stream with Vigil's codec, drop duplicates and bad lines, keep the
    event types the adapter needs, in event-time order (file order breaks ties). Returns the
    events and how many lines were read."""
    seen: set[str] = set()
    kept: list[EventBase] = []
    n = 0
    for lines, _end in FileSource(path).batches(0):
        for raw in lines:
            n += 1
            ev = decode_one(raw, n)
            if isinstance(ev, DecodeFailure) or ev.event_id in seen:
                continue
            seen.add(ev.event_id)
            if isinstance(ev, _KEEP):
                kept.append(ev)
    kept.sort(key=lambda e: e.event_time_ms)  # stable: file order within a millisecond
    return kept, n


def _reason(vigil_reason: str) -> ReturnReason:
    return REASONS.get(vigil_reason, ReturnReason.OTHER)


def naive_utc(ms: int) -> datetime:
    """returnguard works in naive UTC (it compares with ``datetime.utcnow()``)."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).replace(tzinfo=None)


@dataclass
class _Order:
    placed_ms: int
    total_cents: int
    units: dict[str, int]


@dataclass
class _Return:
    """One past claim: a return request, or a refund that had none."""

    key: str
    time_ms: int
    reason: str


@dataclass
class _Customer:
    orders: int = 0
    signup_ms: int | None = None
    returns: list[_Return] = field(default_factory=list)
    refunded_cents: int = 0
    flags: int = 0
    scores: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class ScoredRefund:
    refund_id: str
    time_ms: int
    has_request: bool
    request: ReturnRequest
    profile: CustomerProfile
    result: FraudScore
    #: the plain fields both models were built from (to time returnguard alone)
    inputs: tuple[dict[str, Any], dict[str, Any]]


@dataclass
class Replay:
    scored: list[ScoredRefund]
    replay_s: float
    orders_missing: int


class ReturnguardAdapter:
    """Replays events in event-time order and scores every refund when it is issued."""

    def __init__(self, scorer: FraudScorer) -> None:
        self.scorer = scorer
        self.customers: defaultdict[str, _Customer] = defaultdict(_Customer)
        self.orders: dict[str, _Order] = {}
        self.requests: dict[str, ReturnRequested] = {}
        self.scored: list[ScoredRefund] = []
        self.orders_missing = 0

    def feed(self, ev: EventBase) -> None:
        if isinstance(ev, OrderPlaced):
            units: dict[str, int] = {}
            for item in ev.items:
                units[item.sku] = units.get(item.sku, 0) + item.quantity
            self.orders[ev.order_id] = _Order(ev.event_time_ms, ev.total_cents, units)
            self.customers[ev.customer_id].orders += 1
        elif isinstance(ev, ReturnRequested):
            if ev.return_id not in self.requests:
                self.requests[ev.return_id] = ev
                self.customers[ev.customer_id].returns.append(
                    _Return(ev.return_id, ev.event_time_ms, _reason(ev.reason).value)
                )
        elif isinstance(ev, CustomerSignup):
            self.customers[ev.customer_id].signup_ms = ev.event_time_ms
        elif isinstance(ev, RefundIssued):
            self._refund(ev)

    def _refund(self, ev: RefundIssued) -> None:
        cust = self.customers[ev.customer_id]
        req_ev = self.requests.get(ev.return_id) if ev.return_id else None
        order = self.orders.get(ev.order_id)
        if order is None:
            self.orders_missing += 1
        own = ev.return_id if req_ev is not None else None
        fields = self._request_fields(ev, req_ev, order, cust)
        history = [r for r in cust.returns if r.key != own and r.time_ms < ev.event_time_ms]
        reasons: dict[str, int] = {}
        for r in history:
            reasons[r.reason] = reasons.get(r.reason, 0) + 1
        profile_fields: dict[str, Any] = {
            "customer_id": ev.customer_id,
            "total_orders": cust.orders,
            "total_returns": len(history),
            "total_return_value": cust.refunded_cents / 100,
            "flagged_count": cust.flags,
            "last_return_date": naive_utc(max(r.time_ms for r in history)) if history else None,
            "return_reasons": reasons,
            "fraud_scores": list(cust.scores),
        }
        request = ReturnRequest(**fields)
        profile = CustomerProfile(**profile_fields)
        result = self.scorer.score(request, profile)
        # what the merchant learns from this refund, for later profiles
        if req_ev is None:
            cust.returns.append(_Return(ev.refund_id, ev.event_time_ms, NO_REQUEST_REASON.value))
        cust.refunded_cents += ev.amount_cents
        cust.scores.append(result.score)
        if result.risk_level in FLAG_LEVELS:
            cust.flags += 1
        self.scored.append(
            ScoredRefund(
                ev.refund_id,
                ev.event_time_ms,
                req_ev is not None,
                request,
                profile,
                result,
                (fields, profile_fields),
            )
        )

    def _request_fields(
        self,
        ev: RefundIssued,
        req: ReturnRequested | None,
        order: _Order | None,
        cust: _Customer,
    ) -> dict[str, Any]:
        when_ms = req.event_time_ms if req is not None else ev.event_time_ms
        if order is not None:
            skus = list(req.skus) if req is not None and req.skus else list(order.units)
            quantity = sum(order.units.get(s, 1) for s in skus)
            order_date, order_value = naive_utc(order.placed_ms), order.total_cents / 100
        else:  # the order line was malformed: the refund is all we know
            skus = list(req.skus) if req is not None else []
            quantity = max(1, len(skus))
            order_date, order_value = naive_utc(when_ms), ev.amount_cents / 100
        metadata: dict[str, Any] = {"policy": ev.policy, "refund_cents": ev.amount_cents}
        if cust.signup_ms is not None and cust.signup_ms <= ev.event_time_ms:
            # returnguard ages accounts against the wall clock (naive utcnow); shift the
            # signup so that its "now" stands for the refund's event time
            age = timedelta(milliseconds=ev.event_time_ms - cust.signup_ms)
            wall_now = datetime.now(UTC).replace(tzinfo=None)
            metadata["account_created_at"] = (wall_now - age).isoformat()
        return {
            "return_id": req.return_id if req is not None else ev.refund_id,
            "order_id": ev.order_id,
            "customer_id": ev.customer_id,
            "sku": "|".join(skus) or "unknown",
            "quantity": max(1, quantity),
            "reason": _reason(req.reason) if req is not None else NO_REQUEST_REASON,
            "order_date": order_date,
            "return_date": naive_utc(when_ms),
            "order_value": order_value,
            "channel": req.channel if req is not None else ev.issued_by,
            "metadata": metadata,
        }


def replay(events: Iterable[EventBase], scorer: FraudScorer) -> Replay:
    # what is already alive (the events, earlier replays) is not this replay's garbage
    # collection cost
    gc.collect()
    gc.freeze()
    t0 = time.perf_counter()
    adapter = ReturnguardAdapter(scorer)
    for ev in events:
        adapter.feed(ev)
    return Replay(adapter.scored, time.perf_counter() - t0, adapter.orders_missing)


def scoring_seconds(scored: Sequence[ScoredRefund], scorer: FraudScorer, passes: int = 3) -> float:
    """returnguard alone (validate both models, ``score``) over every refund: best of passes.
    The profiles are the recorded ones, so every pass does the same work."""
    best = float("inf")
    for _ in range(passes):
        t0 = time.perf_counter()
        for s in scored:
            request_fields, profile_fields = s.inputs
            scorer.score(ReturnRequest(**request_fields), CustomerProfile(**profile_fields))
        best = min(best, time.perf_counter() - t0)
    return best


def as_alerts(scored: Sequence[ScoredRefund], levels: frozenset[RgLevel]) -> list[Alert]:
    """returnguard verdicts at the given levels as refund-level Vigil alerts."""
    return [
        Alert(
            alert_id=f"{DETECTOR}:refund:{s.refund_id}",
            detector=DETECTOR,
            version=1,
            subject_type="refund",
            subject_id=s.refund_id,
            score=s.result.score,
            reasons=tuple(sig.value for sig in s.result.signals),
            explanation=s.result.explanation,
            event_time_ms=s.time_ms,
            refund_ids=(s.refund_id,),
            customer_id=s.request.customer_id,
            order_id=s.request.order_id,
        )
        for s in scored
        if s.result.risk_level in levels
    ]


# --- evaluation ------------------------------------------------------------------------


@dataclass(frozen=True)
class Contender:
    name: str
    figures: DetectorFigures
    raised: frozenset[str]


def evaluate_group(
    name: str, alerts: Sequence[Alert], truth: TruthIndex, threshold: float, cap: int
) -> Contender:
    figs = figures_for(name, alerts, truth, threshold, cap)
    scores, _unknown = refund_scores(alerts, truth)
    raised, _capped = raise_under_budget(scores, threshold, cap)
    return Contender(name, figs, frozenset(s.refund_id for s in raised))


def run_vigil(events_path: Path, out_dir: Path) -> tuple[Path, float]:
    """``vigil run --no-analytics`` in a child process; the alerts file and the run's seconds."""
    cmd = [sys.executable, "-m", "vigil.cli.main", "run", "--input", str(events_path)]
    cmd += ["--out", str(out_dir), "--no-analytics"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise SystemExit(f"vigil run failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return out_dir / "alerts.jsonl", _stats_seconds(out_dir / "stats.json") or wall


def _stats_seconds(path: Path) -> float | None:
    if not path.is_file():
        return None
    doc = json.loads(path.read_text())
    wall = doc.get("wall_seconds_this_process_and_before") or doc.get("wall_s")
    return float(wall) if wall else None


# --- the table -------------------------------------------------------------------------


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _usd(cents: int) -> str:
    return f"${cents / 100:,.0f}"


def table_rows(cs: Sequence[Contender], throughput: Sequence[str] | None) -> list[list[str]]:
    figs = [c.figures for c in cs]

    def row(label: str, cell: Callable[[DetectorFigures], str]) -> list[str]:
        return [label, *(cell(f) for f in figs)]

    def headline(f: DetectorFigures) -> str:
        hs = [s for s in f.scenarios if s.scenario in HEADLINE_SCENARIOS]
        caught, total = sum(s.caught for s in hs), sum(s.refunds for s in hs)
        return f"{caught}/{total} ({_pct(f.headline_recall)})"

    def scenario(name: str) -> Callable[[DetectorFigures], str]:
        def cell(f: DetectorFigures) -> str:
            s = next(s for s in f.scenarios if s.scenario == name)
            return f"{_pct(s.money_recall)} ({s.caught}/{s.refunds})"

        return cell

    rows = [
        ["", *(c.name for c in cs)],
        row("refunds raised", lambda f: f"{f.raised:,}"),
        row("capped out by the budget", lambda f: f"{f.capped_out:,}"),
        row("precision (any fraud)", lambda f: _pct(f.precision)),
        row("headline precision (1-4)", lambda f: _pct(f.headline_precision)),
        row("headline recall (count)", headline),
        row(
            "headline money recall",
            lambda f: f"{_usd(f.headline_money_caught_cents)} ({_pct(f.headline_money_recall)})",
        ),
        *(row(f"money recall: {name}", scenario(name)) for name in SCENARIOS),
        row("trap alerts", lambda f: f"{f.trap_alerts:,}"),
        row("plain legitimate raised", lambda f: f"{f.legit_raised:,}"),
    ]
    if throughput is not None:
        rows.append(["throughput (refunds/s)", *throughput])
    return rows


def render_text(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for n, r in enumerate(rows):
        out.append(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(r, widths, strict=True))
            )
        )
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def render_markdown(rows: list[list[str]]) -> str:
    head, *body = rows
    lines = [
        "| " + " | ".join(head) + " |",
        "|" + "|".join(["---"] + ["--:"] * (len(head) - 1)) + "|",
    ]
    lines += ["| " + " | ".join(r) + " |" for r in body]
    return "\n".join(lines)


def overlap(cs: Sequence[Contender], truth: TruthIndex) -> list[list[str]]:
    """Per scenario: fraud refunds raised by Vigil only, by a returnguard variant only, by both."""
    vigil, others = cs[0], cs[1:]
    rows = [["scenario", *(f"Vigil only / {o.name} only / both" for o in others)]]
    for scenario in SCENARIOS:
        ids = {rid for rid in truth.by_scenario.get(scenario, ()) if truth.refunds[rid].fraud}
        v = ids & vigil.raised
        cells = []
        for o in others:
            r = ids & o.raised
            cells.append(f"{len(v - r)} / {len(r - v)} / {len(v & r)}")
        rows.append([scenario, *cells])
    return rows


def requestless_by_scenario(scored: Sequence[ScoredRefund], truth: TruthIndex) -> dict[str, int]:
    """Fraudulent refunds per scenario that had no return request (returnguard's blind spot)."""
    out = {s: 0 for s in SCENARIOS}
    for s in scored:
        rec = truth.refunds.get(s.refund_id)
        if rec is not None and rec.fraud and rec.scenario in out and not s.has_request:
            out[rec.scenario] += 1
    return out


def verdict_counts(scored: Sequence[ScoredRefund]) -> dict[str, dict[str, int]]:
    """How often returnguard gave each risk level and raised each signal."""
    levels = Counter(s.result.risk_level.value for s in scored)
    signals = Counter(sig.value for s in scored for sig in s.result.signals)
    return {"levels": dict(levels.most_common()), "signals": dict(signals.most_common())}


# --- the command -----------------------------------------------------------------------


@dataclass
class Comparison:
    """What the report shows: plain figures (``meta``) and the contenders of both views."""

    meta: dict[str, Any]
    views: dict[str, list[Contender]]
    truth: TruthIndex

    def to_dict(self) -> dict[str, Any]:
        views = {
            view: {c.name: msgspec.to_builtins(c.figures) for c in cs}
            for view, cs in self.views.items()
        }
        return {**self.meta, "views": views}


def compare(
    data: Path, alerts_path: Path | None, work: Path, variants: dict[str, dict[str, Any]]
) -> Comparison:
    truth = load_truth(data / "truth.jsonl")
    n_refunds = len(truth.refunds)
    vigil_s: float | None
    if alerts_path is None:
        print("running vigil run --no-analytics ...", flush=True)
        alerts_path, vigil_s = run_vigil(data / "events.jsonl", work / "vigil")
    else:
        vigil_s = _stats_seconds(alerts_path.parent / "stats.json")
    read = load_alerts(alerts_path)
    if read.missing:
        raise SystemExit(f"alerts file {alerts_path} not found")

    print("reading events for returnguard ...", flush=True)
    t0 = time.perf_counter()
    events, lines = read_events(data / "events.jsonl")
    read_s = time.perf_counter() - t0
    replays: dict[str, Replay] = {}
    throughput: dict[str, dict[str, float | None]] = {
        "Vigil": {"end_to_end_refunds_per_s": n_refunds / vigil_s if vigil_s else None},
    }
    for name, params in variants.items():
        print(f"scoring every refund with returnguard ({name}: {params or 'defaults'}) ...")
        rep = replays[name] = replay(events, FraudScorer(**params))
        alone_s = scoring_seconds(rep.scored, FraudScorer(**params))
        throughput[f"returnguard ({name})"] = {
            "end_to_end_refunds_per_s": len(rep.scored) / (read_s + rep.replay_s),
            "returnguard_alone_refunds_per_s": len(rep.scored) / alone_s,
            "read_and_decode_seconds": read_s,
            "replay_seconds": rep.replay_s,
            "returnguard_seconds_best_of_3": alone_s,
        }

    cap = budget_cap(BUDGET, n_refunds)
    views: dict[str, list[Contender]] = {}
    for view, vcap, levels in (
        ("budget", cap, REVIEW_LEVELS),
        ("uncapped", n_refunds, UNCAPPED_LEVELS),
    ):
        views[view] = [evaluate_group("Vigil", read.alerts, truth, VIGIL_THRESHOLD, vcap)]
        views[view] += [
            evaluate_group(f"returnguard ({name})", as_alerts(rep.scored, levels), truth, 0.0, vcap)
            for name, rep in replays.items()
        ]
    first = next(iter(replays.values()))
    meta = {
        "data": str(data),
        "alerts": str(alerts_path),
        "lines": lines,
        "refunds": n_refunds,
        "refunds_scored_by_returnguard": len(first.scored),
        "orders_missing": first.orders_missing,
        "budget": BUDGET,
        "budget_cap": cap,
        "vigil_threshold": VIGIL_THRESHOLD,
        "vigil_alerts_by_detector": dict(sorted(Counter(a.detector for a in read.alerts).items())),
        "returnguard_variants": {k: _settings(FraudScorer(**v)) for k, v in variants.items()},
        "throughput": throughput,
        "returnguard_verdicts": {k: verdict_counts(r.scored) for k, r in replays.items()},
        "fraud_refunds_without_request": requestless_by_scenario(first.scored, truth),
    }
    return Comparison(meta, views, truth)


def _settings(scorer: FraudScorer) -> dict[str, Any]:
    return {k: v for k, v in vars(scorer).items() if not k.startswith("_")}


def render(cmp: Comparison) -> tuple[str, str]:
    """The report as aligned text (stdout) and as markdown."""
    tput = []
    for c in cmp.views["budget"]:
        t = cmp.meta["throughput"][c.name]
        e2e, alone = t["end_to_end_refunds_per_s"], t.get("returnguard_alone_refunds_per_s")
        cell = "-" if e2e is None else f"{e2e:,.0f} end to end"
        tput.append(cell if alone is None else f"{cell}; {alone:,.0f} returnguard alone")
    budget_rows = table_rows(cmp.views["budget"], tput)
    uncapped_rows = table_rows(cmp.views["uncapped"], None)
    overlap_rows = overlap(cmp.views["budget"], cmp.truth)
    m = cmp.meta
    head = (
        f"{m['refunds']:,} refunds; budget {m['budget']:.0%} = at most {m['budget_cap']:,} raised"
    )
    titles = (
        f"Under the budget ({head}; Vigil >= {m['vigil_threshold']}, returnguard's MEDIUM and "
        "above, best score first)",
        f"Without the budget cap (Vigil >= {m['vigil_threshold']}; returnguard HIGH and CRITICAL)",
        "Fraud refunds raised under the budget: who catches what",
    )
    tables = (budget_rows, uncapped_rows, overlap_rows)
    text = "\n\n".join(f"{t}\n\n{render_text(r)}" for t, r in zip(titles, tables, strict=True))
    md = "\n\n".join(
        f"### {t}\n\n{render_markdown(r)}" for t, r in zip(titles, tables, strict=True)
    )
    return text, md


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--data", type=Path, default=None, help="simulator output directory")
    ap.add_argument("--events", type=int, default=1_000_000, help="lines to simulate (no --data)")
    ap.add_argument("--seed", type=int, default=1, help="simulator seed (no --data)")
    ap.add_argument("--alerts", type=Path, default=None, help="alerts.jsonl of a Vigil run")
    ap.add_argument("--json-out", type=Path, default=None, help="write the figures as JSON")
    ap.add_argument("--md-out", type=Path, default=None, help="write the tables as markdown")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="vigil-peer-") as tmp:
        work = Path(tmp)
        data = args.data
        if data is None:
            data = work / "sim"
            print(f"simulating {args.events:,} events (seed {args.seed}) ...", flush=True)
            cmd = [sys.executable, "-m", "vigil.cli.main", "simulate", "--seed", str(args.seed)]
            subprocess.run([*cmd, "--events", str(args.events), "--out", str(data)], check=True)
        cmp = compare(data, args.alerts, work, VARIANTS)
    text, md = render(cmp)
    print("\n" + text)
    if args.json_out is not None:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        doc = {**cmp.to_dict(), "tables_markdown": md}
        args.json_out.write_text(json.dumps(doc, indent=2) + "\n")
    if args.md_out is not None:
        args.md_out.parent.mkdir(parents=True, exist_ok=True)
        args.md_out.write_text(md + "\n")


if __name__ == "__main__":
    main()

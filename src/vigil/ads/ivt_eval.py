"""How good the invalid-traffic filter is, against the simulator's ground truth.

The filter's verdicts are a run's ``ad_invalid.jsonl`` (the last line about an id is its
verdict); the truth is ``truth.jsonl``'s records of kind ``ad_click`` and ``ad_impression``
(one per invalid event; an event with none is valid). Precision and recall are reported by
count and by spend (what the events cost the advertiser: recall of spend is what the
advertiser gets back of what it is owed), for clicks and for impressions, with the recall of
each simulated scenario and the events each rule flagged that were valid.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vigil.ads.figures import AdInvalid, decoded, invalid_decoder
from vigil.events.truth import TruthRecord, truth_decoder


@dataclass
class Quality:
    """One kind's (clicks' or impressions') confusion, by count and by cost."""

    kind: str
    flagged: int = 0
    invalid: int = 0
    caught: int = 0
    flagged_micros: int = 0
    invalid_micros: int = 0
    caught_micros: int = 0
    #: truth scenario -> [invalid, caught]
    by_scenario: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    #: rule -> valid events it flagged
    false_by_rule: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "flagged": self.flagged,
            "invalid": self.invalid,
            "caught": self.caught,
            "precision": _share(self.caught, self.flagged),
            "recall": _share(self.caught, self.invalid),
            "precision_of_spend": _share(self.caught_micros, self.flagged_micros),
            "recall_of_spend": _share(self.caught_micros, self.invalid_micros),
            "refund_cents": round(self.flagged_micros / 10_000, 2),
            "owed_cents": round(self.invalid_micros / 10_000, 2),
            "recall_by_scenario": {
                s: _share(c, n) for s, (n, c) in sorted(self.by_scenario.items())
            },
            "valid_flagged_by_rule": dict(self.false_by_rule.most_common()),
        }


def _share(a: int, b: int) -> float | None:
    return None if b == 0 else round(a / b, 4)


def verdicts(path: Path) -> dict[tuple[str, str], AdInvalid]:
    """The last line about each (kind, id) of an ``ad_invalid.jsonl``: those still invalid."""
    last: dict[tuple[str, str], AdInvalid] = {}
    with path.open("rb") as fh:
        for n, line in enumerate(fh, 1):
            if line.strip():
                rec = decoded(invalid_decoder, line, path, n)
                last[(rec.kind, rec.id)] = rec
    return {k: v for k, v in last.items() if v.invalid}


def truth_of(path: Path) -> dict[tuple[str, str], TruthRecord]:
    """The invalid ad events of a ``truth.jsonl``."""
    found: dict[tuple[str, str], TruthRecord] = {}
    with path.open("rb") as fh:
        for n, line in enumerate(fh, 1):
            rec: TruthRecord = decoded(truth_decoder, line, path, n)
            if rec.kind in ("ad_click", "ad_impression"):
                found[(rec.kind.removeprefix("ad_"), rec.id)] = rec
    return found


def measure(
    flagged: dict[tuple[str, str], AdInvalid], truth: dict[tuple[str, str], TruthRecord]
) -> list[Quality]:
    """Clicks' and impressions' quality."""
    out = {k: Quality(k) for k in ("click", "impression")}
    for key, rec in flagged.items():
        q = out[key[0]]
        q.flagged += 1
        q.flagged_micros += rec.cost_micros
        if key in truth:
            q.caught += 1
            q.caught_micros += rec.cost_micros
        else:
            for reason in rec.reasons:
                q.false_by_rule[reason] += 1
    for key, t in truth.items():
        q = out[key[0]]
        q.invalid += 1
        q.invalid_micros += t.cost_micros
        cell = q.by_scenario[t.scenario or "?"]
        cell[0] += 1
        if key in flagged:
            cell[1] += 1
    return list(out.values())


def text(qualities: Iterable[Quality]) -> str:
    lines = ["invalid traffic, against the simulator's truth:"]
    for q in qualities:
        d: dict[str, Any] = q.as_dict()
        refund, owed = q.flagged_micros / 1e6, q.invalid_micros / 1e6
        lines.append(
            f"  {q.kind}s: {q.flagged:,} flagged, {q.invalid:,} invalid, {q.caught:,} caught; "
            f"precision {d['precision']}, recall {d['recall']}; of spend: precision "
            f"{d['precision_of_spend']}, recall {d['recall_of_spend']}; "
            f"refund ${refund:,.2f} of ${owed:,.2f} owed"
        )
        by: dict[str, Any] = d["recall_by_scenario"]
        if by:
            lines.append("    recall by scenario: " + ", ".join(f"{k} {v}" for k, v in by.items()))
        wrong: dict[str, int] = d["valid_flagged_by_rule"]
        if wrong:
            listed = ", ".join(f"{k} {v}" for k, v in wrong.items())
            lines.append(f"    valid ones flagged, by rule: {listed}")
    return "\n".join(lines)

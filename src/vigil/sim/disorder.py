"""Arrival disorder: lateness, duplicate re-sends and malformed lines.

Why here and how: producers deliver events late, twice, or broken, and Vigil must handle each on
purpose. The timeline asks this module, for every event it plans, how long after its event time
it arrives, and, for every line it writes, whether a twin follows:

* Most events arrive within seconds (exponential, mean ``on_time_delay_mean_ms``, capped at
  ``on_time_delay_max_ms``); ``late_fraction`` arrive minutes to hours late (log-uniform
  between ``late_min_s`` and ``late_max_s``: beyond the runtime's out-of-orderness, within its
  allowed lateness); ``very_late_fraction`` arrive more than two days late (the runtime
  dead-letters them as too late).
* A duplicate is the same bytes (same ``event_id``) re-sent up to ``duplicate_delay_max_s``
  after the original.
* A malformed line is an *extra* broken copy (truncated JSON, wrong field type, missing required
  field, unknown type, bad enum value) arriving just after the intact one, so ground truth stays
  complete. Every malformed line fails ``vigil.events.decode_one``.

The common case (an on-time event, no twin) is inlined by the timeline for speed; the rare
cases are the methods below, which also keep the counts for ``simulation.json``.
"""

from __future__ import annotations

import math
import random
from typing import Any

import msgspec

from vigil.sim.config import SECOND_MS, SimConfig

MALFORMED_KINDS = ("truncated", "wrong_type", "missing_field", "unknown_type", "bad_enum")
#: fields whose value is an enum, by event type (for the bad-enum kind)
_ENUM_FIELDS = {
    "return_requested": "channel",
    "refund_issued": "policy",
    "carrier_scan": "scan_type",
    "return_received": "condition",
    "agent_action": "action",
    "profile_changed": "field",
}
#: required fields every event type has, one of which a "missing field" line lacks
_DROPPABLE = ("event_id", "event_time_ms")


class Disorder:
    """Arrival delays and twins (duplicates, malformed copies), with their counts."""

    def __init__(self, cfg: SimConfig, rng: random.Random) -> None:
        self.rng = rng
        #: on-time delays: exponential with this mean, capped
        self.on_time_mean_ms = cfg.on_time_delay_mean_ms
        self.on_time_max_ms = int(cfg.on_time_delay_max_ms)
        #: a uniform draw below this takes the slow path (:meth:`late_delay`)
        self.late_p = cfg.very_late_fraction + cfg.late_fraction
        #: a uniform draw below this gives the written line a twin (:meth:`twin`)
        self.twin_p = cfg.duplicate_rate + cfg.malformed_rate
        self._very_late_p = cfg.very_late_fraction
        self._dup_p = cfg.duplicate_rate
        self._late_lo = math.log(cfg.late_min_s * SECOND_MS)
        self._late_hi = math.log(cfg.late_max_s * SECOND_MS)
        self._vlate = (cfg.very_late_min_s * SECOND_MS, cfg.very_late_max_s * SECOND_MS)
        self._dup_max = cfg.duplicate_delay_max_s * SECOND_MS
        self.late = 0
        self.very_late = 0
        self.duplicates = 0
        self.malformed = 0
        self.malformed_by_kind: dict[str, int] = dict.fromkeys(MALFORMED_KINDS, 0)
        #: the largest delay drawn (on-time delays are capped at on_time_delay_max_ms)
        self.max_delay_ms = self.on_time_max_ms

    def late_delay(self, u: float) -> int:
        """Delay of an event whose draw ``u`` fell below ``late_p``."""
        rng = self.rng
        if u >= self._very_late_p:
            delay = int(math.exp(rng.uniform(self._late_lo, self._late_hi)))
            self.late += 1
        else:
            delay = int(rng.uniform(*self._vlate))
            self.very_late += 1
        self.max_delay_ms = max(self.max_delay_ms, delay)
        return delay

    def twin(self, v: float, line: bytes) -> tuple[int, bytes]:
        """(delay after the original, line) of the twin of a line whose draw ``v`` fell below
        ``twin_p``: the same bytes (duplicate) or a broken copy (malformed)."""
        rng = self.rng
        if v < self._dup_p:
            self.duplicates += 1
            return 1 + int(rng.random() * self._dup_max), line
        self.malformed += 1
        return int(rng.random() * 2 * SECOND_MS), self._break(line)

    def _break(self, line: bytes) -> bytes:
        rng = self.rng
        kind = MALFORMED_KINDS[int(rng.random() * len(MALFORMED_KINDS))]
        record: dict[str, Any] = msgspec.json.decode(line)
        etype = record.get("type", "")
        if kind == "bad_enum" and etype not in _ENUM_FIELDS:
            kind = "wrong_type"
        self.malformed_by_kind[kind] += 1
        if kind == "truncated":
            return line[: max(1, int(len(line) * rng.uniform(0.2, 0.9)))]
        if kind == "wrong_type":
            record["event_time_ms"] = str(record["event_time_ms"])
        elif kind == "missing_field":
            del record[_DROPPABLE[int(rng.random() * len(_DROPPABLE))]]
        elif kind == "unknown_type":
            record["type"] = f"{etype}_v9"
        else:
            record[_ENUM_FIELDS[etype]] = "carrier_pigeon"
        return msgspec.json.encode(record)

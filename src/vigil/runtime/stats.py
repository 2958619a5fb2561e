"""Run counters that must reconcile: events read = processed + dead-lettered + duplicates."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class RunStats:
    lines: int = 0
    blank_lines: int = 0
    processed: int = 0
    malformed: int = 0
    too_late: int = 0
    too_early: int = 0
    #: an accepted event's id again, with another body (dead-lettered, not a plain duplicate)
    conflicting_duplicates: int = 0
    #: times the stream's clock jumped ahead (``RuntimeSettings.clock_jump_events``)
    clock_jumps: int = 0
    duplicates: int = 0
    late_accepted: int = 0
    window_late_drops: int = 0
    timers_fired: int = 0
    windows_fired: int = 0
    alerts: int = 0
    alerts_suppressed: int = 0
    alerts_by_detector: dict[str, int] = field(default_factory=dict)
    #: decision lines written (a refund gets a new line each time its decision changes)
    decisions: int = 0
    #: refunds by their final decision (refunds no detector spoke about are not counted)
    refunds_by_decision: dict[str, int] = field(default_factory=dict)
    #: refund requests by the decision given at request time
    requests_by_decision: dict[str, int] = field(default_factory=dict)
    #: refund requests whose decision set aside an alert about the agent (a takeover's)
    requests_set_aside: int = 0
    checkpoints: int = 0
    resumed_from_line: int | None = None
    watermark_ms: int | None = None
    pending_timers: int = 0
    wall_s: float = 0.0
    stopped_early: bool = False
    #: the decision thresholds changed at a resume: from which input line, before and after
    policy_changes: list[dict[str, Any]] = field(default_factory=list)

    @property
    def events_read(self) -> int:
        return self.lines - self.blank_lines

    @property
    def dead_lettered(self) -> int:
        return self.malformed + self.too_late + self.too_early + self.conflicting_duplicates

    def dead_letter_reasons(self) -> dict[str, int]:
        return {
            "malformed": self.malformed,
            "too_late": self.too_late,
            "too_early": self.too_early,
            "conflicting_duplicate": self.conflicting_duplicates,
        }

    def reconciles(self) -> bool:
        return self.events_read == self.processed + self.dead_lettered + self.duplicates

    def summary(self) -> dict[str, Any]:
        return {
            "events_read": self.events_read,
            "processed": self.processed,
            "dead_lettered": self.dead_lettered,
            "duplicates": self.duplicates,
            "reconciles": self.reconciles(),
            "dead_letter_reasons": self.dead_letter_reasons(),
            "clock_jumps": self.clock_jumps,
            "blank_lines": self.blank_lines,
            "late_accepted": self.late_accepted,
            "window_late_drops": self.window_late_drops,
            "timers_fired": self.timers_fired,
            "pending_timers_at_end": self.pending_timers,
            "windows_fired": self.windows_fired,
            "alerts": self.alerts,
            "alerts_by_detector": dict(sorted(self.alerts_by_detector.items())),
            "alerts_suppressed_as_repeats": self.alerts_suppressed,
            "decision_lines": self.decisions,
            "refunds_by_decision": dict(sorted(self.refunds_by_decision.items())),
            "requests_by_decision": dict(sorted(self.requests_by_decision.items())),
            "requests_with_agent_alerts_set_aside": self.requests_set_aside,
            "final_watermark_ms": self.watermark_ms,
            "checkpoints_written": self.checkpoints,
            "resumed_from_line": self.resumed_from_line,
            "stopped_early_on_signal": self.stopped_early,
            "decision_policy_changes": self.policy_changes,
            "wall_seconds_this_process_and_before": round(self.wall_s, 3),
            "events_per_second": round(self.lines / self.wall_s) if self.wall_s else None,
        }

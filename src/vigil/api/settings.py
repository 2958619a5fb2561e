"""The API's one settings object, built by ``vigil serve`` (or a test) and passed down."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from vigil.api.bounds import BodyLimits
from vigil.decisions.policy import DecisionPolicy
from vigil.detectors.request import ProfileScorer
from vigil.detectors.return_centres import ReturnCentres
from vigil.detectors.settings import DetectorSettings
from vigil.errors import ConfigError


@dataclass(frozen=True, kw_only=True)
class ApiSettings:
    """Where the API keeps its files, how it reads the runtime, and who may call it.

    Files under ``state_dir``:

    - ``input.jsonl``: the runtime's input log; ``POST /v1/events`` and
      ``POST /v1/refunds/decide`` append to it, the runtime follows it.
    - ``api_dead_letter.jsonl``: every record ``POST /v1/events`` rejected, with its reason.
    - ``api_decisions.jsonl``: the journal of synchronous decisions (idempotency by refund id).
    - ``run/``: the runtime's outputs (``alerts.jsonl``, ``decisions.jsonl``, ...) that the API
      tails into its index; ``checkpoint/``: the runtime's checkpoints.
    """

    state_dir: Path
    #: the runtime's output directory (default ``state_dir/run``)
    runtime_out_dir: Path | None = None
    #: the runtime's checkpoint directory (default ``state_dir/checkpoint``); the API reads only
    #: the checkpoint file's modification time (and that of the runtime's ``progress.json``,
    #: replaced at every publish), to measure how stale the index may be
    checkpoint_dir: Path | None = None
    decision_policy: DecisionPolicy = field(default_factory=DecisionPolicy)
    #: what the request-time scorers weigh: the same as the runtime's (``vigil run``
    #: defaults), so ``decide`` answers as the runtime's request-time decision does
    detector_settings: DetectorSettings = field(default_factory=DetectorSettings)
    return_centres: ReturnCentres = field(default_factory=ReturnCentres)
    #: judges each request's profile in place of ``request_risk`` (the request model; the
    #: runtime child loads the same artifact)
    request_profile: ProfileScorer | None = None
    #: how often the API reads new lines of the runtime's outputs
    tail_interval_s: float = 0.05
    #: fsync the input log and dead letters before ``POST /v1/events`` answers
    fsync_events: bool = True
    #: fsync the decision journal and the refund event before ``/v1/refunds/decide`` answers
    fsync_decisions: bool = True
    #: largest request body accepted by ``POST /v1/events``
    max_body_bytes: int = 16 << 20
    #: largest body of any other request
    max_other_body_bytes: int = 1 << 20
    #: a body must keep coming (a piece at least this often) and be complete within
    #: ``body_total_timeout_s``; else 408
    body_idle_timeout_s: float = 10.0
    body_total_timeout_s: float = 60.0
    #: the memory all bodies being received may hold together; past it, 503 and Retry-After
    max_bodies_in_flight_bytes: int = 128 << 20
    max_records_per_request: int = 50_000
    #: how long an authenticated API key is trusted before it is checked again (revocation
    #: takes effect within this time)
    auth_cache_s: float = 5.0
    #: the runtime is healthy when the index is at most this stale (``/healthz``)
    max_healthy_staleness_s: float = 30.0
    #: the index drops alerts and decisions older than this, in event time, before the newest
    #: (None: keeps everything; ``index.RiskIndex``)
    index_retention_ms: int | None = 90 * 86_400_000

    def __post_init__(self) -> None:
        if self.tail_interval_s <= 0:
            raise ConfigError(f"tail_interval_s {self.tail_interval_s} must be > 0")
        if self.index_retention_ms is not None and self.index_retention_ms <= 0:
            raise ConfigError(f"index_retention_ms {self.index_retention_ms} must be > 0 or None")
        if min(self.max_body_bytes, self.max_other_body_bytes, self.max_records_per_request) <= 0:
            raise ConfigError("body limits and max_records_per_request must be > 0")
        if self.body_idle_timeout_s <= 0 or self.body_total_timeout_s <= 0:
            raise ConfigError("body timeouts must be > 0")

    @property
    def body_limits(self) -> BodyLimits:
        return BodyLimits(
            events_bytes=self.max_body_bytes,
            other_bytes=self.max_other_body_bytes,
            idle_s=self.body_idle_timeout_s,
            total_s=self.body_total_timeout_s,
            in_flight_bytes=max(self.max_bodies_in_flight_bytes, self.max_body_bytes),
        )

    @property
    def input_log(self) -> Path:
        return self.state_dir / "input.jsonl"

    @property
    def dead_letter_path(self) -> Path:
        return self.state_dir / "api_dead_letter.jsonl"

    @property
    def decision_journal(self) -> Path:
        return self.state_dir / "api_decisions.jsonl"

    @property
    def out_dir(self) -> Path:
        return self.runtime_out_dir or self.state_dir / "run"

    @property
    def progress_path(self) -> Path:
        """Replaced by a following runtime after each batch's outputs are published."""
        return self.out_dir / "progress.json"

    @property
    def checkpoint_path(self) -> Path:
        return (self.checkpoint_dir or self.state_dir / "checkpoint") / "checkpoint.pkl"

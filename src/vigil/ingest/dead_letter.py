"""The dead-letter store: every record Vigil did not process, with its reason, replayable.

Each line of ``dead_letter.jsonl`` holds the source, line number, event id (if it could be
read), field, reason code, human reason and the raw text, so an operator can fix and
replay it (``vigil replay-dead-letters``-style tooling just re-reads ``raw``).
"""

from __future__ import annotations

from typing import Literal

import msgspec

DeadReason = Literal["malformed", "too_late"]


class DeadLetter(msgspec.Struct, frozen=True, kw_only=True):
    source: str
    line_no: int
    event_id: str | None
    field: str | None
    reason_code: DeadReason
    reason: str
    raw: str


dead_letter_encoder = msgspec.json.Encoder()
dead_letter_decoder = msgspec.json.Decoder(DeadLetter)

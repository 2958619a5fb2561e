"""The dead-letter store: every record Vigil did not process, with its reason, replayable.

Each line of ``dead_letter.jsonl`` holds the source, line number, event id (if it could be
read), field, reason code, human reason and the raw text, so an operator can fix and
replay it: ``raw`` is the line as text; when the line is not valid UTF-8, ``raw`` shows it
with replacement characters and ``raw_base64`` keeps the exact bytes.
"""

from __future__ import annotations

import base64
from typing import Literal

import msgspec

DeadReason = Literal["malformed", "too_late", "too_early", "conflicting_duplicate"]


class DeadLetter(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    source: str
    line_no: int
    event_id: str | None
    field: str | None
    reason_code: DeadReason
    reason: str
    raw: str
    raw_base64: str | None = None

    @classmethod
    def of(
        cls,
        raw: bytes,
        *,
        source: str,
        line_no: int,
        event_id: str | None,
        field: str | None,
        reason_code: DeadReason,
        reason: str,
    ) -> DeadLetter:
        """A dead letter that keeps ``raw`` exactly, whatever its encoding."""
        try:
            text, exact = raw.decode("utf-8"), None
        except UnicodeDecodeError:
            text, exact = raw.decode("utf-8", "replace"), base64.b64encode(raw).decode("ascii")
        return cls(
            source=source,
            line_no=line_no,
            event_id=event_id,
            field=field,
            reason_code=reason_code,
            reason=reason,
            raw=text,
            raw_base64=exact,
        )


dead_letter_encoder = msgspec.json.Encoder()
dead_letter_decoder = msgspec.json.Decoder(DeadLetter)

"""docs/events.md is executable: every example decodes and every event type has one."""

from __future__ import annotations

import re
from pathlib import Path

import msgspec

from vigil.events import EVENT_TYPES, DecodeFailure, decode_one, type_name
from vigil.events.truth import truth_decoder

DOC = Path(__file__).resolve().parents[2] / "docs" / "events.md"
BLOCKS = re.findall(r"```json\n(.*?)\n```", DOC.read_text(), flags=re.S)


def test_every_event_example_decodes_and_every_type_is_shown() -> None:
    shown = set()
    for block in BLOCKS:
        record = msgspec.json.decode(block)
        if "kind" in record:
            truth_decoder.decode(block)
            continue
        event = decode_one(block.encode(), 1)
        assert not isinstance(event, DecodeFailure), event
        shown.add(record["type"])
    assert shown == {type_name(t) for t in EVENT_TYPES}

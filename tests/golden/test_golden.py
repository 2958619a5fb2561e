"""Golden streams: each ``tests/golden/<name>.jsonl`` through ``default_detectors()`` must
give exactly the alerts in ``<name>.expected.jsonl`` (id, detector, score to 3 places).

Regenerate on purpose, then review the diff:

    VIGIL_UPDATE_GOLDEN=1 .venv/bin/pytest tests/golden

The streams themselves are built by ``tests/golden/make_streams.py`` (see its docstring).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from vigil.detectors.registry import default_detectors
from vigil.runtime.harness import run_lines

HERE = Path(__file__).resolve().parent
STREAMS = sorted(p for p in HERE.glob("*.jsonl") if not p.name.endswith(".expected.jsonl"))
UPDATE = os.environ.get("VIGIL_UPDATE_GOLDEN") == "1"


def _actual(stream: Path) -> list[dict[str, object]]:
    alerts, stats = run_lines(default_detectors(), stream.read_bytes().splitlines())
    assert stats.reconciles()
    return [
        {
            "alert_id": a.alert_id,
            "detector": a.detector,
            "score": round(a.score, 3),
            "refund_ids": list(a.refund_ids),
        }
        for a in alerts
    ]


def test_there_is_a_stream_per_scenario_and_a_legit_mix() -> None:
    names = {p.stem for p in STREAMS}
    assert names == {"insider_refund", "agent_takeover", "empty_box", "ring", "legit_mix"}


@pytest.mark.parametrize("stream", STREAMS, ids=lambda p: p.stem)
def test_golden_stream(stream: Path) -> None:
    expected_path = stream.with_suffix(".expected.jsonl")
    actual = _actual(stream)
    if UPDATE:
        expected_path.write_text("".join(json.dumps(a, sort_keys=True) + "\n" for a in actual))
    assert expected_path.exists(), f"no {expected_path.name}; run with VIGIL_UPDATE_GOLDEN=1"
    expected = [json.loads(line) for line in expected_path.read_text().splitlines() if line]
    assert actual == expected, (
        f"alerts on {stream.name} changed; if on purpose, regenerate with "
        "VIGIL_UPDATE_GOLDEN=1 and review the diff"
    )

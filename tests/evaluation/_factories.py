"""Hand-made truth and alert records for evaluation tests, and one small run with every kind
of alert the report plots (refund, session, agent and ring subjects; traps; several scenarios).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def refund(
    rid: str, amount: int = 10_000, scenario: str | None = None, **kw: Any
) -> dict[str, Any]:
    rec: dict[str, Any] = {"kind": "refund", "id": rid, "amount_cents": amount}
    rec["fraud"] = kw.pop("fraud", scenario is not None and not scenario.startswith("trap_"))
    if scenario is not None:
        rec["scenario"] = scenario
    rec.update(kw)
    return rec


def alert(
    detector: str, subject: str, score: float, refunds: tuple[str, ...] = (), **kw: Any
) -> dict[str, Any]:
    subject_type = kw.pop("subject_type", "refund")
    return {
        "alert_id": f"{detector}:{subject_type}:{subject}",
        "detector": detector,
        "version": 1,
        "subject_type": subject_type,
        "subject_id": subject,
        "score": score,
        "reasons": ["x"],
        "explanation": "x",
        "event_time_ms": kw.pop("t", 0),
        "refund_ids": list(refunds) if refunds else ([subject] if subject_type == "refund" else []),
        **kw,
    }


def write(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def legit(n: int, start: int = 0) -> list[dict[str, Any]]:
    return [refund(f"ok{i}") for i in range(start, start + n)]


#: distinct refund-level scores in ``small_run`` (points of its precision-recall curve)
SMALL_RUN_PR_POINTS = 11


def small_run(directory: Path) -> tuple[Path, Path]:
    """200 refunds, 4 detectors and a ring detector; writes and returns (alerts, truth)."""
    truth = [
        *legit(176),
        *(refund(f"ins{i}", 40_000, "insider_refund", agent_id="bad") for i in range(4)),
        *(refund(f"ato{i}", 80_000, "agent_takeover", agent_id="victim") for i in range(3)),
        *(refund(f"box{i}", 30_000, "empty_box") for i in range(4)),
        *(refund(f"ring{i}", 5_000, "ring", customer_id=f"c{i}") for i in range(4)),
        *(refund(f"ser{i}", 2_000, "serial_returner") for i in range(3)),
        refund("trap0", 90_000, "trap_high_value_return"),
        refund("trap1", 20_000, "trap_escalation_agent", agent_id="esc"),
        *legit(4, start=176),
        refund("trap2", 10_000, "trap_traveller"),
        refund("trap3", 10_000, "trap_family_device"),
        refund("trap4", 10_000, "trap_lost_parcel"),
        refund("trap5", 10_000, "trap_new_device_agent"),
        {"kind": "agent", "id": "bad", "fraud": True, "scenario": "insider_refund"},
        {"kind": "agent", "id": "esc", "fraud": False, "scenario": "trap_escalation_agent"},
        {"kind": "session", "id": "s1", "fraud": True, "scenario": "agent_takeover"},
    ]
    ins = tuple(f"ins{i}" for i in range(4))
    alerts = [
        # a refund scores each detector's best covering alert, joined by noisy-OR:
        # 0.995 (ins0) 0.99 0.98 (ins1) 0.97 0.95 0.85 0.7 0.6 0.4 0.3 0.2
        alert("refund_without_return", "ins0", 0.9, t=1),
        alert("refund_without_return", "ins1", 0.6, t=2),
        alert("refund_without_return", "trap0", 0.7, t=3),
        alert("refund_without_return", "ok3", 0.4, t=4),
        alert("empty_box", "box0", 0.99, t=5),
        alert("empty_box", "box1", 0.97, t=6),
        alert("empty_box", "box2", 0.3, t=7),
        alert("empty_box", "ok5", 0.2, t=8),
        alert("agent_refunds", "bad@w1", 0.95, ins, subject_type="agent", agent_id="bad", t=9),
        alert("agent_refunds", "esc@w1", 0.6, ("trap1",), subject_type="agent", agent_id="esc"),
        alert("agent_refunds", "victim@w1", 0.8, ("ato0",), subject_type="agent", t=10),
        alert(
            "session_risk", "s1#1", 0.85, ("ato0", "ato1", "ato2"), subject_type="session",
            session_id="s1", agent_id="victim", t=11,
        ),
        *(
            alert(
                "ring_links", f"ring-{n}", 0.6 if n else 0.97, (f"ring{n}",), subject_type="ring",
                members=tuple(f"c{n}-{k}" for k in range(size)), t=12,
            )
            for n, size in enumerate((3, 3, 5))
        ),
    ]  # fmt: skip
    return write(directory / "alerts.jsonl", alerts), write(directory / "truth.jsonl", truth)

"""Fixtures of the case tests: the security tests' databases, plus an alert factory."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest

from vigil.detectors.base import Alert


def _load_dbfixtures() -> Any:
    """tests/security/dbfixtures.py, shared by both folders (tests/ is not a package)."""
    name = "vigil_tests_dbfixtures"
    if name not in sys.modules:
        path = Path(__file__).resolve().parents[1] / "security" / "dbfixtures.py"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


_dbfixtures = _load_dbfixtures()
db = _dbfixtures.db
people = _dbfixtures.people
store = _dbfixtures.store
T0 = _dbfixtures.T0

__all__ = ["AlertFactory", "alerts", "db", "people", "store"]

BASE_MS = 1_767_225_600_000


class AlertFactory:
    """Alerts with deterministic ids and times; any field can be overridden."""

    def __init__(self) -> None:
        self.count = 0

    def make(self, subject_type: str = "refund", subject_id: str | None = None, **kw: Any) -> Alert:
        self.count += 1
        n = self.count
        subject_id = subject_id or f"{subject_type}-{n}"
        fields: dict[str, Any] = {
            "detector": "refund_without_return",
            "version": 1,
            "subject_type": subject_type,
            "subject_id": subject_id,
            "score": 0.8,
            "reasons": ("no_return",),
            "explanation": "refund with no parcel scanned",
            "event_time_ms": BASE_MS + 1_000 * n,
            "amount_cents": 10_000,
            "alert_id": f"a{n}:{subject_type}:{subject_id}",
        }
        fields.update(kw)
        return Alert(**fields)

    def refund(self, customer: str, amount_cents: int = 10_000, **kw: Any) -> Alert:
        return self.make("refund", customer_id=customer, amount_cents=amount_cents, **kw)

    def ring(self, ring_id: str, accounts: list[str], **kw: Any) -> Alert:
        members = (*(f"account:{a}" for a in accounts), "device:d1")
        return self.make(
            "ring", ring_id, detector="fraud_ring", members=members, reasons=("linked",), **kw
        )


@pytest.fixture
def alerts() -> AlertFactory:
    return AlertFactory()

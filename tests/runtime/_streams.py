"""Building streams for the runtime tests: events, lines, and running them to a directory."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from vigil.detectors.base import Alert, Detector, alert_decoder
from vigil.events.schemas import (
    CustomerLogin,
    EventBase,
    LineItem,
    OrderPlaced,
    RefundIssued,
    ReturnReceived,
)
from vigil.ingest.dead_letter import DeadLetter, dead_letter_decoder
from vigil.ingest.sources import FileSource
from vigil.runtime.embedded import EmbeddedRuntime, RuntimeSettings
from vigil.runtime.stats import RunStats


def refund(n: int, t: int, order: str, customer: str, amount: int) -> RefundIssued:
    return RefundIssued(
        event_id=f"e{n}",
        event_time_ms=t,
        refund_id=f"r{n}",
        order_id=order,
        customer_id=customer,
        amount_cents=amount,
        method="original_payment",
        issued_by="system",
        policy="on_receipt",
    )


def receipt(n: int, t: int, order: str) -> ReturnReceived:
    return ReturnReceived(
        event_id=f"e{n}",
        event_time_ms=t,
        return_id=f"ret-{order}",
        order_id=order,
        warehouse_id="w1",
        items_matched=True,
        weight_g=500,
        condition="intact",
    )


def login(n: int, t: int, customer: str) -> CustomerLogin:
    return CustomerLogin(
        event_id=f"e{n}",
        event_time_ms=t,
        customer_id=customer,
        device_id="d1",
        ip="10.0.0.1",
        country="US",
        success=True,
    )


def order_placed(n: int, t: int, order: str, customer: str, amount: int) -> OrderPlaced:
    items = [
        LineItem(sku="sku-1", category="shoes", price_cents=amount, weight_g=800),
        LineItem(sku="sku-2", category="socks", price_cents=500, quantity=2, weight_g=50),
    ]
    return OrderPlaced(
        event_id=f"e{n}",
        event_time_ms=t,
        order_id=order,
        customer_id=customer,
        items=items,
        total_cents=amount + 1_000,
        shipping_address_hash="h-addr",
        payment_fingerprint="pf-1",
        device_id="d1",
        ip="10.0.0.1",
        country="US",
    )


def make_event(n: int, kind: str, t: int, key: int, amount: int) -> EventBase:
    """Event number ``n`` of a generated stream; ``key`` picks the order and the customer."""
    order_id, customer = f"o{key}", f"c{key % 3}"
    if kind == "refund":
        return refund(n, t, order_id, customer, amount)
    if kind == "receipt":
        return receipt(n, t, order_id)
    if kind == "order":
        return order_placed(n, t, order_id, customer, amount)
    return login(n, t, customer)


@dataclass
class RunResult:
    alerts: list[Alert]
    dead_letters: list[DeadLetter]
    stats: RunStats
    alerts_bytes: bytes
    dead_letter_bytes: bytes


def run_to_dir(
    detectors: list[Detector], lines: list[bytes], settings: RuntimeSettings
) -> RunResult:
    """Like ``harness.run_lines``, but also returns the dead letters and raw output bytes."""
    with tempfile.TemporaryDirectory(prefix="vigil-test-") as tmp:
        inp = Path(tmp) / "events.jsonl"
        inp.write_bytes(b"".join(line + b"\n" for line in lines))
        out = Path(tmp) / "out"
        stats = EmbeddedRuntime(detectors, out, settings).run(FileSource(inp))
        alerts_bytes = (out / "alerts.jsonl").read_bytes()
        dead_bytes = (out / "dead_letter.jsonl").read_bytes()
    return RunResult(
        alerts=[alert_decoder.decode(x) for x in alerts_bytes.splitlines()],
        dead_letters=[dead_letter_decoder.decode(x) for x in dead_bytes.splitlines()],
        stats=stats,
        alerts_bytes=alerts_bytes,
        dead_letter_bytes=dead_bytes,
    )

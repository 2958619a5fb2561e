"""``vigil serve --demo``: a simulated retailer posting to the API at a steady rate.

A separate process (``python -m vigil.api.demo_feed``) so that its work never competes with
the API's event loop for the GIL. It simulates a stream with ``vigil.sim``, then posts it
in small batches to ``POST /v1/events`` at ``rate`` events per second. Each refund request
of the stream goes to ``POST /v1/refunds/decide`` instead, in its place in the stream, as a
refund system would ask (the API records it as a ``refund_requested`` event), so alerts,
decisions and metrics move on their own. At the end of the stream it starts again with fresh
event ids and event times moved past the previous lap, so the runtime sees new, in-order
events forever.

Where it got to (lap and line) is kept in ``WORK_DIR/feed-position.json`` after every batch:
``vigil serve --demo`` started again on the same state goes on from there instead of
posting the same stream a second time (which the dashboard would count twice).
"""

from __future__ import annotations

import argparse
import http.client
import sys
import time
from pathlib import Path
from typing import Any

import msgspec

from vigil.api.poster import Poster, wait_for_server
from vigil.sim import SimConfig, simulate

_decode = msgspec.json.decode
_encode = msgspec.json.encode


def lap_lines(events_path: Path, lap: int, shift_ms: int) -> list[bytes]:
    """The stream's lines for one lap: ids prefixed, times shifted (bad lines kept as is)."""
    out: list[bytes] = []
    for raw in events_path.read_bytes().splitlines():
        if lap == 0:
            out.append(raw)
            continue
        try:
            rec: dict[str, Any] = _decode(raw)
            rec["event_id"] = f"lap{lap}-{rec['event_id']}"
            rec["event_time_ms"] = int(rec["event_time_ms"]) + shift_ms * lap
            for key in ("refund_id", "order_id", "return_id", "session_id"):
                if isinstance(rec.get(key), str):
                    rec[key] = f"lap{lap}-{rec[key]}"
            out.append(_encode(rec))
        except Exception:
            out.append(raw)  # malformed on purpose: the API must reject it again
    return out


_REQUEST_KEYS = (
    "refund_id",
    "order_id",
    "customer_id",
    "amount_cents",
    "policy",
    "agent_id",
    "session_id",
    "return_id",
    "method",
    "issued_by",
    "event_time_ms",
    "skus",
    "reason",
    "channel",
)


def _decide_body(raw: bytes) -> dict[str, Any] | None:
    """The decide request for a ``refund_requested`` line (None for any other line)."""
    if b'"refund_requested"' not in raw:
        return None
    try:
        rec: dict[str, Any] = _decode(raw)
    except msgspec.DecodeError:
        return None
    if rec.get("type") != "refund_requested":
        return None
    return {k: rec[k] for k in _REQUEST_KEYS if rec.get(k) is not None}


def feed(
    url: str,
    api_key: str,
    work_dir: Path,
    rate: float,
    seed: int,
    n_events: int,
    laps: int | None = None,
    batch_s: float = 0.25,
) -> int:
    """Post the simulated stream at ``rate`` events/s; return how many lines were posted."""
    sim = simulate(SimConfig(seed=seed, events=n_events), work_dir)
    first = sim.events_path.read_bytes().splitlines()
    times = [t for t in (_time_of(r) for r in first) if t is not None]
    shift_ms = (max(times) - min(times)) + 86_400_000 if times else 86_400_000
    per_batch = max(1, int(rate * batch_s))
    position = work_dir / POSITION_FILE
    stream = {"seed": seed, "events": n_events}
    lap, line = _resume_at(position, stream)
    posted = 0
    with Poster(url, api_key) as client:
        while laps is None or lap < laps:
            lines = first if lap == 0 else lap_lines(sim.events_path, lap, shift_ms)
            next_at = time.monotonic()
            for start in range(line, len(lines), per_batch):
                chunk = lines[start : start + per_batch]
                _post_in_order(client, chunk)
                posted += len(chunk)
                _keep_position(position, {**stream, "lap": lap, "line": start + len(chunk)})
                next_at += len(chunk) / rate
                pause = next_at - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
            lap, line = lap + 1, 0
    return posted


POSITION_FILE = "feed-position.json"


def _post_in_order(client: Poster, chunk: list[bytes]) -> None:
    """Post a chunk's events, and ask ``decide`` about each request where it stands."""
    pending: list[bytes] = []
    for raw in chunk:
        body = _decide_body(raw)
        if body is None:
            pending.append(raw)
            continue
        if pending:
            client.post("/v1/events", b"\n".join(pending) + b"\n", "application/x-ndjson")
            pending = []
        client.post("/v1/refunds/decide", _encode(body), "application/json")
    if pending:
        client.post("/v1/events", b"\n".join(pending) + b"\n", "application/x-ndjson")


def _resume_at(position: Path, stream: dict[str, int]) -> tuple[int, int]:
    """(lap, line) to go on from: where the last feed of this same stream got to."""
    try:
        kept: dict[str, Any] = _decode(position.read_bytes())
    except (OSError, msgspec.DecodeError):
        return 0, 0
    if any(kept.get(k) != v for k, v in stream.items()):
        return 0, 0  # another seed or size: another stream
    return int(kept.get("lap", 0)), int(kept.get("line", 0))


def _keep_position(position: Path, where: dict[str, int]) -> None:
    tmp = position.with_suffix(".tmp")
    tmp.write_bytes(_encode(where))
    tmp.replace(position)


def _time_of(raw: bytes) -> int | None:
    try:
        t = _decode(raw).get("event_time_ms")
    except Exception:
        return None
    return t if isinstance(t, int) else None


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m vigil.api.demo_feed", description=__doc__)
    p.add_argument("--url", required=True)
    p.add_argument("--work-dir", type=Path, required=True)
    p.add_argument("--rate", type=float, default=200.0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--events", type=int, default=50_000)
    p.add_argument("--laps", type=int, default=None)
    args = p.parse_args(argv)
    api_key = sys.stdin.readline().strip()  # never on the command line (ps shows it)
    wait_for_server(args.url)
    feed(args.url, api_key, args.work_dir, args.rate, args.seed, args.events, args.laps)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:  # Ctrl-C on `vigil serve --demo` reaches the feeder too
        sys.exit(130)
    except (OSError, http.client.HTTPException):  # the server stopped first
        print("demo feed: the server stopped, so the feed stops too", file=sys.stderr)
        sys.exit(0)

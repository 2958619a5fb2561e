"""``vigil serve --kafka-input``: Kafka topics fed into the API, so they reach its runtime.

A separate process (``python -m vigil.api.kafka_feed``), like the demo feed, so its work
never competes with the API's event loop. It reads every partition of the topics with the
same source as ``vigil run`` and posts the records in batches to ``POST /v1/events``: the
API validates each one (a bad record is kept as the API's dead letter, with its reason),
appends the rest durably to the runtime's input log, and answers. Only then are the batch's
offsets committed to the consumer group, which is where a restarted feed goes on from.
A crash between the answer and the commit posts those records again: the runtime drops an
event id it has seen with the same body as a duplicate (counted in its stats), so nothing is
processed twice and nothing is lost. docs/kafka.md.
"""

from __future__ import annotations

import argparse
import http.client
import json
import logging
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

from vigil.api.poster import Poster, wait_for_server
from vigil.kafka.config import parse_kafka_url, parse_options
from vigil.kafka.source import KafkaSource

_log = logging.getLogger("vigil.kafka_feed")

#: a batch posted at most: records and bytes (the API takes 50,000 records and 16 MiB)
MAX_RECORDS = 5_000
MAX_BYTES = 8 << 20
#: the file (in the work directory) for records the API cannot take even alone (too large)
REFUSED_FILE = "kafka-feed-refused.jsonl"


def _one_line(value: bytes) -> bytes:
    """A record on one line: a raw newline in valid JSON is whitespace between tokens (one
    inside a string must be escaped), so it becomes a space; invalid JSON stays invalid."""
    if b"\n" in value or b"\r" in value:
        return value.replace(b"\r", b" ").replace(b"\n", b" ")
    return value


class _Stopped(Exception):
    """The feed was told to stop while a batch waited for the API (it is posted again at
    the next start: the runtime drops what it already has as duplicates)."""


def feed(
    source: KafkaSource,
    client: Poster,
    refused: Path,
    stopping: Callable[[], bool] = lambda: False,
) -> int:
    """Post the topics' records until the source stops; return how many were posted."""
    posted = 0
    for lines, position in source.batches(0):
        if not lines:
            continue
        chunk: list[bytes] = []
        size = 0
        for raw in lines:
            line = _one_line(raw)
            if chunk and (len(chunk) >= MAX_RECORDS or size + len(line) > MAX_BYTES):
                _post(client, chunk, refused, stopping)
                chunk, size = [], 0
            chunk.append(line)
            size += len(line) + 1
        if chunk:
            _post(client, chunk, refused, stopping)
        posted += len(lines)
        source.committed(position)
    return posted


def _post(client: Poster, chunk: list[bytes], refused: Path, stopping: Callable[[], bool]) -> None:
    """Post until the API has the records: it may be starting, restarting or busy (503)."""
    body = b"\n".join(chunk) + b"\n"
    delay = 0.2
    while True:
        try:
            status = client.post("/v1/events", body, "application/x-ndjson")
        except (OSError, http.client.HTTPException) as exc:
            status, why = 0, str(exc) or type(exc).__name__
        else:
            why = f"HTTP {status}"
        if 200 <= status < 300:
            return
        if status == 413 and len(chunk) > 1:  # too large together: halves go alone
            half = len(chunk) // 2
            _post(client, chunk[:half], refused, stopping)
            _post(client, chunk[half:], refused, stopping)
            return
        if status in (400, 413):  # one record the API cannot take: kept here, with why
            with refused.open("ab") as fh:
                fh.write(
                    json.dumps({"reason": why, "raw": chunk[0].decode("utf-8", "replace")}).encode()
                    + b"\n"
                )
            _log.error("the API refused a record (%s); kept in %s", why, refused)
            return
        if status in (401, 403):
            raise SystemExit(f"kafka feed: the API refused the feed's key ({why})")
        if stopping():
            raise _Stopped
        _log.warning("posting to the API failed (%s); retrying in %.1f s", why, delay)
        time.sleep(delay)
        delay = min(delay * 2, 5.0)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m vigil.api.kafka_feed", description=__doc__)
    p.add_argument("--url", required=True)
    p.add_argument("--input", required=True, help="kafka://HOST:PORT/TOPIC[,TOPIC]")
    p.add_argument("--group", default="vigil-serve")
    p.add_argument("--work-dir", type=Path, required=True)
    p.add_argument("--kafka-option", action="append", default=[])
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="kafka feed: %(message)s")
    api_key = sys.stdin.readline().strip()  # never on the command line (ps shows it)
    address = parse_kafka_url(args.input, parse_options(args.kafka_option))
    args.work_dir.mkdir(parents=True, exist_ok=True)
    wait_for_server(args.url)
    stop = {"flag": False}
    # vigil serve stops its children with SIGTERM, and Ctrl-C reaches the whole process
    # group: finish the batch in hand, commit, leave
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda _s, _f: stop.update(flag=True))
    source = KafkaSource(
        address, group=args.group, start="committed", should_stop=lambda: stop["flag"]
    )
    try:
        with Poster(args.url, api_key) as client:
            feed(source, client, args.work_dir / REFUSED_FILE, lambda: stop["flag"])
    except _Stopped:
        _log.info("stopped while the API was away: that batch is posted again at the next start")
    finally:
        source.close()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:  # Ctrl-C on `vigil serve` reaches the feed too
        sys.exit(130)

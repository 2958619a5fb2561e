"""Kafka in and out against the test broker (tansu, memory storage, on loopback), beside
the same input read from a file in the same run.

``python bench/kafka.py [--events N | --data events.jsonl] [--json]`` simulates a stream
(or takes one), starts a broker, and measures, one after the other on this process:

* produce: the file's lines into a one-partition topic (idempotent producer), records/s;
* consume: the topic read back to its end with Vigil's Kafka source, beside the file
  source reading the file (the baseline), records/s and the ratio;
* pipeline: ``vigil run``'s runtime (all detectors, decisions, no analytics) over the
  topic, beside the same runtime over the file, events/s and the ratio;
* outbox: the run's decisions produced to a topic by the exactly-once outbox, records/s.

The broker runs on the same two cores as the client, so these are figures for the client
side on this machine, not for a Kafka cluster.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the tests' broker fixture (tests/kafka_broker.py)


def _read_all(source: object) -> int:
    n = 0
    for lines, _end in source.batches(0):  # type: ignore[attr-defined]
        n += len(lines)
    return n


def _runtime(out: Path, publisher: object = None) -> object:
    from vigil.detectors.registry import default_detectors
    from vigil.runtime.embedded import EmbeddedRuntime, RuntimeSettings

    return EmbeddedRuntime(
        default_detectors(), out, RuntimeSettings(analytics=False), publisher=publisher
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--data", type=Path, default=None, help="an events.jsonl to use")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()

    from tests.kafka_broker import create_topics, produce_lines, running_broker

    from vigil.ingest.sources import FileSource
    from vigil.kafka.config import parse_kafka_url
    from vigil.kafka.outbox import TopicOutbox
    from vigil.kafka.source import KafkaSource

    with tempfile.TemporaryDirectory(prefix="vigil-bench-kafka-") as tmp_name:
        tmp = Path(tmp_name)
        path = args.data
        if path is None:
            from vigil.sim import SimConfig, simulate

            simulate(SimConfig(seed=args.seed, events=args.events), tmp / "sim")
            path = tmp / "sim" / "events.jsonl"
        lines = path.read_bytes().splitlines()
        figures: dict[str, float] = {"events": len(lines)}
        with running_broker(tmp / "tansu.log") as broker:
            create_topics(broker, {"events": 1, "decisions": 1})
            t0 = time.perf_counter()
            produce_lines(broker, "events", lines)
            figures["produce_per_s"] = len(lines) / (time.perf_counter() - t0)

            t0 = time.perf_counter()
            assert _read_all(FileSource(path)) == len(lines)
            figures["file_read_per_s"] = len(lines) / (time.perf_counter() - t0)
            address = parse_kafka_url(f"kafka://{broker}/events")
            source = KafkaSource(address, idle_timeout_s=0.5, group="bench-read")
            t0 = time.perf_counter()
            assert _read_all(source) == len(lines)
            # the idle timeout that ends the read is not reading time
            figures["kafka_read_per_s"] = len(lines) / (time.perf_counter() - t0 - 0.5)
            source.close()

            t0 = time.perf_counter()
            _runtime(tmp / "file-out").run(FileSource(path))  # type: ignore[attr-defined]
            figures["pipeline_file_per_s"] = len(lines) / (time.perf_counter() - t0)
            source = KafkaSource(address, idle_timeout_s=0.5, group="bench-run")
            t0 = time.perf_counter()
            _runtime(tmp / "kafka-out").run(source)  # type: ignore[attr-defined]
            figures["pipeline_kafka_per_s"] = len(lines) / (time.perf_counter() - t0 - 0.5)

            decisions = (tmp / "kafka-out" / "decisions.jsonl").read_bytes()
            first = decisions.index(b"\n") + 1  # one record first: the producer's connection
            outbox = TopicOutbox(address, {"decisions": "decisions"}, tmp / "kafka-out")
            outbox.start(None, resumed=False)
            outbox.publish({"decisions": first})
            t0 = time.perf_counter()
            outbox.publish({"decisions": len(decisions)})
            figures["outbox_per_s"] = (outbox.produced - 1) / (time.perf_counter() - t0)
            figures["outbox_records"] = outbox.produced
            outbox.close()
        figures["read_ratio"] = figures["kafka_read_per_s"] / figures["file_read_per_s"]
        figures["pipeline_ratio"] = figures["pipeline_kafka_per_s"] / figures["pipeline_file_per_s"]
    if args.json:
        print(json.dumps({k: round(v, 3) for k, v in figures.items()}))
        return
    print(f"{figures['events']:,.0f} events, tansu on loopback (same 2 cores)")
    print(f"produce (idempotent)     {figures['produce_per_s']:>12,.0f} records/s")
    print(
        f"read: kafka source       {figures['kafka_read_per_s']:>12,.0f} records/s   "
        f"file source {figures['file_read_per_s']:,.0f}/s   ratio {figures['read_ratio']:.2f}x"
    )
    print(
        f"pipeline: from kafka     {figures['pipeline_kafka_per_s']:>12,.0f} events/s    "
        f"from file {figures['pipeline_file_per_s']:,.0f}/s   "
        f"ratio {figures['pipeline_ratio']:.2f}x"
    )
    print(
        f"outbox (exactly once)    {figures['outbox_per_s']:>12,.0f} records/s   "
        f"({figures['outbox_records']:,.0f} decisions)"
    )


if __name__ == "__main__":
    main()

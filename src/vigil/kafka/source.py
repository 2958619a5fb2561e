"""Kafka topics as the runtime's input: one record value is one event.

The position is the next offset to read per partition (``{"events/0": 1234}``). The
checkpoint holds it, so a resume reads exactly what follows what the state has seen,
whatever the group says; after each checkpoint the same offsets are committed to the
consumer group (``committed``), for lag monitoring and for a run without a checkpoint.

Vigil reads every partition of its topics itself (``assign``, not a group subscription):
its stages are keyed by order, customer, agent and more at once, so one runtime needs the
whole stream (docs/adr/0005-kafka.md). Records of one partition come in offset order;
across partitions, in the order the broker delivers them, so a run is replayed exactly
from a single-partition topic, and within the watermark's bound from several.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

from vigil.errors import InputError
from vigil.ingest.sources import Batch, Position
from vigil.kafka.config import (
    DEFAULT_SESSION_TIMEOUT_MS,
    METADATA_TIMEOUT_S,
    KafkaAddress,
    client_log,
    make_client,
    require_client,
    topic_partitions,
)
from vigil.kafka.merge import AlignedMerge

_log = logging.getLogger(__name__)

#: where a run without a checkpoint starts (``--kafka-start``)
STARTS = ("committed", "earliest", "latest")
#: records handed to the runtime per batch at most
BATCH_RECORDS = 10_000


def partition_key(topic: str, partition: int) -> str:
    return f"{topic}/{partition}"


class KafkaSource:
    """Reads ``address``'s topics from the checkpoint's offsets, or per ``start``."""

    resumable = True

    def __init__(
        self,
        address: KafkaAddress,
        *,
        group: str = "vigil",
        start: str = "committed",
        idle_timeout_s: float | None = None,
        should_stop: Callable[[], bool] = lambda: False,
        on_start: Callable[[str], None] | None = None,
        poll_s: float = 0.2,
        batch_records: int = BATCH_RECORDS,
    ) -> None:
        if start not in STARTS:
            raise ValueError(f"start must be one of {STARTS}, not {start!r}")
        self.address = address
        self.name = address.url
        #: what a checkpoint compares at a resume: the topics, not the brokers (they may move)
        self.fingerprint = "kafka:" + ",".join(sorted(address.topics))
        self.group = group
        self.start = start
        self.idle_timeout_s = idle_timeout_s
        self.should_stop = should_stop
        #: told where the run starts (a line for the operator)
        self.on_start = on_start
        self.poll_s = poll_s
        self.batch_records = batch_records
        self._kafka = require_client()
        self._consumer: Any = None
        self._last_commit: list[Any] = []
        self._assigned: list[str] = []
        #: (partition, offset) of each record of the batch handed on last
        self._where: list[tuple[str, int]] = []

    # --- reading ------------------------------------------------------------------------

    def batches(self, start_position: Position) -> Iterator[Batch]:
        kafka = self._kafka
        consumer = self._open()
        position = self._assign(
            consumer, start_position if isinstance(start_position, dict) else None
        )
        eof = kafka.KafkaError._PARTITION_EOF
        #: the end offset each partition last reported (an EOF event): idle means every
        #: partition read to its end, and nothing new for ``idle_timeout_s`` (a consumer still
        #: connecting is not idle)
        ends: dict[str, int] = {}
        #: the next offset fetched per partition (``position``: the next one handed on)
        fetched = dict(position)
        # one partition: records go as fetched; several: merged by event time (``merge``)
        merge = AlignedMerge(self._assigned) if len(self._assigned) > 1 else None
        only = self._assigned[0]
        idle_since = time.monotonic()
        while True:
            messages = consumer.consume(self.batch_records, self.poll_s)
            lines: list[bytes] = []
            append = lines.append
            where: list[tuple[str, int]] = []
            #: the last offset read per (topic, partition) in this batch
            last: dict[tuple[str, int], int] = {}
            for msg in messages:
                err = msg.error()
                if err is None:  # the hot path: a record
                    if merge is None:
                        append(msg.value() or b"")
                        where.append((only, msg.offset()))
                    else:
                        key = partition_key(msg.topic(), msg.partition())
                        merge.add(key, msg.value() or b"", msg.offset())
                    last[msg.topic(), msg.partition()] = msg.offset()
                    continue
                if err.code() == eof:
                    ends[partition_key(msg.topic(), msg.partition())] = msg.offset()
                    continue
                if err.fatal() or not err.retriable():
                    raise InputError(
                        f"{self.name}: reading {msg.topic()}[{msg.partition()}] failed: {err.str()}"
                    )
                _log.warning("%s: %s (retrying)", self.name, err.str())
            for (topic, part), offset in last.items():
                fetched[partition_key(topic, part)] = offset + 1
            if merge is None:
                position.update(fetched)
            else:
                caught_up = {
                    k for k in self._assigned if k in ends and fetched.get(k, ends[k]) >= ends[k]
                }
                lines = merge.take(caught_up, position, where)
            if lines:
                idle_since = time.monotonic()
                self._where = where
                yield Batch(lines, dict(position))
                continue
            if self.should_stop():
                return
            if (
                self.idle_timeout_s is not None
                and time.monotonic() - idle_since > self.idle_timeout_s
                and self._all_read(fetched, ends)
                and (merge is None or not merge.waiting)
            ):
                return
            # the runtime gets control while nothing arrives (it checkpoints what it has)
            yield Batch([], dict(position))

    def locate(self, index: int) -> str | None:
        """``topic/partition@offset`` of record ``index`` of the batch handed on last (for a
        dead letter to name the record), or None."""
        if 0 <= index < len(self._where):
            key, offset = self._where[index]
            return f"{key}@{offset}"
        return None

    def _all_read(self, position: dict[str, int], ends: dict[str, int]) -> bool:
        """Every partition has reported its end, and was read up to it."""
        return all(
            key in ends and position.get(key, ends[key]) >= ends[key] for key in self._assigned
        )

    def _open(self) -> Any:
        if self._consumer is None:
            self._consumer = make_client(
                "Consumer",
                self.address.client_config(
                    **{
                        "group.id": self.group,
                        "client.id": "vigil-run",
                        "enable.auto.commit": False,
                        "enable.auto.offset.store": False,
                        "enable.partition.eof": True,
                        "auto.offset.reset": "earliest",
                        "session.timeout.ms": DEFAULT_SESSION_TIMEOUT_MS,
                        "error_cb": self._on_error,
                    }
                ),
            )
        return self._consumer

    def _on_error(self, err: Any) -> None:
        client_log.warning("%s: %s", self.name, err.str())  # repeats: once a minute

    def _partitions(self, consumer: Any) -> list[tuple[str, int]]:
        found: list[tuple[str, int]] = []
        for topic in self.address.topics:
            missing = (
                f"{self.name}: topic {topic!r} does not exist on {self.address.bootstrap}; "
                "Vigil never creates its input topics, create it (docs/kafka.md)"
            )
            found += [(topic, p) for p in topic_partitions(consumer, self.address, topic, missing)]
        return found

    def _assign(self, consumer: Any, checkpointed: dict[str, int] | None) -> dict[str, int]:
        """Assign every partition at its start offset; the position as a dict."""
        kafka = self._kafka
        parts = self._partitions(consumer)
        committed: dict[str, int] = {}
        if checkpointed is not None or self.start == "committed":
            try:
                answer = consumer.committed(
                    [kafka.TopicPartition(t, p) for t, p in parts], timeout=METADATA_TIMEOUT_S
                )
            except kafka.KafkaException as exc:
                raise InputError(
                    f"{self.name}: cannot read group {self.group!r}'s committed offsets: "
                    f"{exc.args[0].str()}"
                ) from exc
            committed = {
                partition_key(tp.topic, tp.partition): tp.offset for tp in answer if tp.offset >= 0
            }
        fallback = kafka.OFFSET_END if self.start == "latest" else kafka.OFFSET_BEGINNING
        assignment = []
        position: dict[str, int] = {}
        for topic, p in parts:
            key = partition_key(topic, p)
            if checkpointed is not None and key in checkpointed:
                offset = checkpointed[key]
            elif self.start != "earliest" and key in committed:
                offset = committed[key]
            else:
                offset = fallback
            assignment.append(kafka.TopicPartition(topic, p, offset))
            if offset >= 0:
                position[key] = offset
        consumer.assign(assignment)
        self._assigned = [partition_key(t, p) for t, p in parts]
        if checkpointed is not None:
            started_from = "the checkpoint"
            gone = sorted(set(checkpointed) - {partition_key(t, p) for t, p in parts})
            if gone:
                raise InputError(
                    f"{self.name}: the checkpoint read partitions that no longer exist "
                    f"({', '.join(gone)}); was a topic deleted and created again?"
                )
        elif committed and self.start == "committed":
            started_from = f"the offsets committed by group {self.group!r}"
        else:
            started_from = "the end" if self.start == "latest" else "the beginning"
        where = ", ".join(f"{k}@{v}" for k, v in sorted(position.items())) or "no record yet"
        line = f"{self.name}: starting from {started_from} ({where})"
        _log.info("%s", line)
        if self.on_start is not None:
            self.on_start(line)
        return position

    # --- after a checkpoint -------------------------------------------------------------

    def committed(self, position: Any) -> None:
        """The runtime checkpointed up to ``position``: tell the group (asynchronously)."""
        if self._consumer is None or not isinstance(position, dict) or not position:
            return
        kafka = self._kafka
        offsets = []
        for key, offset in sorted(position.items()):
            topic, _, part = key.rpartition("/")
            offsets.append(kafka.TopicPartition(topic, int(part), offset))
        self._last_commit = offsets
        self._commit(asynchronous=True)

    def _commit(self, *, asynchronous: bool) -> None:
        if not self._last_commit or self._consumer is None:
            return
        try:
            self._consumer.commit(offsets=self._last_commit, asynchronous=asynchronous)
        except self._kafka.KafkaException as exc:  # the checkpoint has the position: only
            # the group's view (lag, a run without a checkpoint) is behind
            _log.warning(
                "%s: committing offsets to group %r failed: %s", self.name, self.group, exc
            )

    def close(self) -> None:
        """Commit the last checkpoint's offsets (waiting for the answer) and leave."""
        if self._consumer is not None:
            self._commit(asynchronous=False)
            consumer, self._consumer = self._consumer, None
            consumer.close()

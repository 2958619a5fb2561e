"""The durable outputs (alerts, decisions) produced to Kafka topics, exactly once.

Only what a checkpoint has made durable is produced: the output files up to the positions
the checkpoint recorded, which a resume reproduces byte for byte. Each record carries two
headers, ``vigil-run`` (an id drawn when the run first started, kept in the checkpoint)
and ``vigil-line`` (its line number in the file). The producer is idempotent, so retries
never duplicate; what a crash leaves uncertain (records sent after the last checkpoint
recorded how far production got) is settled at the resume by reading the topics back from
the offsets that checkpoint recorded to their end and skipping the lines already there.
Transactions are not needed for this, and a consumer sees records as soon as they are
acknowledged (no read_committed delay). docs/adr/0005-kafka.md.
"""

from __future__ import annotations

import logging
import time
import uuid
from pathlib import Path
from typing import Any

import msgspec

from vigil.errors import CheckpointError
from vigil.kafka.config import KafkaAddress, make_client, require_client, topic_partitions
from vigil.kafka.source import partition_key

_log = logging.getLogger(__name__)

RUN_HEADER = "vigil-run"
LINE_HEADER = "vigil-line"
#: the record key of each output: all revisions of one refund's decision land in one
#: partition, in order
KEY_FIELDS = {"alerts": "alert_id", "decisions": "refund_id", "shadow_alerts": "alert_id"}
#: how long to wait for the broker to acknowledge a checkpoint's records, or to read back
FLUSH_TIMEOUT_S = 120.0


class SinkProgress(msgspec.Struct):
    """How far one output file has been produced (and acknowledged)."""

    bytes: int = 0
    lines: int = 0


class OutboxState(msgspec.Struct):
    """What a checkpoint keeps of the outbox."""

    run_id: str
    sinks: dict[str, SinkProgress]
    #: per ``topic/partition``: the offset after the last record acknowledged
    ends: dict[str, int] = {}


class TopicOutbox:
    """Produces ``out_dir``'s output files to ``topics`` (file stem -> topic)."""

    def __init__(self, address: KafkaAddress, topics: dict[str, str], out_dir: Path) -> None:
        unknown = set(topics) - set(KEY_FIELDS)
        if unknown:
            raise ValueError(f"no output named {sorted(unknown)}")
        self.address = address
        self.topics = dict(topics)
        self.out_dir = out_dir
        self._kafka = require_client()
        self._producer: Any = None
        self.state = OutboxState(uuid.uuid4().hex, {n: SinkProgress() for n in topics})
        #: line numbers a crashed run already produced past ``state``, per output
        self._present: dict[str, set[int]] = {n: set() for n in topics}
        #: each output topic's partitions (``_check_topics``, at the start)
        self._partitions: dict[str, list[int]] = {}
        self._failed: list[str] = []
        self._keys = {
            name: msgspec.json.Decoder(
                msgspec.defstruct(f"_{name}_key", [(KEY_FIELDS[name], str, "")])
            )
            for name in topics
        }
        self.produced = 0

    # --- resume -------------------------------------------------------------------------

    def start(self, saved: Any, resumed: bool) -> None:
        """Check the topics; on a resume, take the checkpoint's state and settle what the
        crashed run produced after it."""
        self._open()
        if not resumed:
            return
        if saved is None:
            _log.warning(
                "the checkpoint was written without output topics: producing %s from its "
                "first line",
                ", ".join(self.topics.values()),
            )
            return
        self.state = msgspec.convert(saved, OutboxState)
        for name in self.topics:
            self.state.sinks.setdefault(name, SinkProgress())
        self._read_back()

    def snapshot(self) -> dict[str, Any]:
        return msgspec.to_builtins(self.state)  # type: ignore[no-any-return]

    def _read_back(self) -> None:
        """Collect the lines of this run already in the topics after the recorded ends."""
        kafka = self._kafka
        consumer = self._reader()
        try:
            assignment = []
            for topic, partitions in self._partitions.items():  # asked by ``_check_topics``
                for p in partitions:
                    start = self.state.ends.get(partition_key(topic, p), kafka.OFFSET_BEGINNING)
                    assignment.append(kafka.TopicPartition(topic, p, start))
            consumer.assign(assignment)
            by_topic = {topic: name for name, topic in self.topics.items()}
            waiting = {partition_key(tp.topic, tp.partition) for tp in assignment}
            deadline = time.monotonic() + FLUSH_TIMEOUT_S
            found = 0
            while waiting:
                if time.monotonic() > deadline:
                    raise CheckpointError(
                        f"reading the output topics back to settle the last run's records "
                        f"took over {FLUSH_TIMEOUT_S:.0f} s (partitions not read to their "
                        f"end: {', '.join(sorted(waiting))})"
                    )
                for msg in consumer.consume(10_000, 0.5):
                    err = msg.error()
                    key = partition_key(msg.topic(), msg.partition())
                    if err is not None:
                        if err.code() == kafka.KafkaError._PARTITION_EOF:
                            waiting.discard(key)
                            continue
                        raise CheckpointError(f"reading back {key} failed: {err.str()}")
                    headers = dict(msg.headers() or ())
                    if headers.get(RUN_HEADER, b"").decode() != self.state.run_id:
                        continue
                    name = by_topic[msg.topic()]
                    line = int(headers[LINE_HEADER])
                    if line > self.state.sinks[name].lines:
                        self._present[name].add(line)
                        found += 1
            if found:
                _log.info("the last run produced %d records after its checkpoint: kept", found)
        finally:
            consumer.close()

    # --- after each checkpoint ----------------------------------------------------------

    def publish(self, positions: dict[str, int]) -> None:
        """Produce what the files hold up to ``positions`` (durable) and wait for the acks."""
        producer = self._open()
        for name, topic in self.topics.items():
            progress = self.state.sinks[name]
            end = positions.get(name, 0)
            if end <= progress.bytes:
                continue
            with (self.out_dir / f"{name}.jsonl").open("rb") as fh:
                fh.seek(progress.bytes)
                data = fh.read(end - progress.bytes)
            present = self._present[name]
            decode_key = self._keys[name].decode
            field = KEY_FIELDS[name]
            line_no = progress.lines
            for line in data.split(b"\n")[:-1]:  # every durable line ends with a newline
                line_no += 1
                if line_no in present:
                    present.discard(line_no)
                    continue
                key = getattr(decode_key(line), field) or None
                self._produce(producer, topic, line, key, line_no)
            progress.bytes, progress.lines = end, line_no
        self._flush(producer)

    def _produce(
        self, producer: Any, topic: str, line: bytes, key: str | None, line_no: int
    ) -> None:
        headers = [(RUN_HEADER, self.state.run_id.encode()), (LINE_HEADER, str(line_no).encode())]
        while True:
            try:
                producer.produce(
                    topic, value=line, key=key, headers=headers, on_delivery=self._delivered
                )
                self.produced += 1
                return
            except BufferError:  # the local queue is full: let the broker catch up
                producer.poll(0.1)

    def _delivered(self, err: Any, msg: Any) -> None:
        if err is not None:
            self._failed.append(f"{msg.topic()}: {err.str()}")
            return
        key = partition_key(msg.topic(), msg.partition())
        ends = self.state.ends
        if msg.offset() + 1 > ends.get(key, 0):
            ends[key] = msg.offset() + 1

    def _flush(self, producer: Any) -> None:
        left = producer.flush(FLUSH_TIMEOUT_S)
        if self._failed or left:
            why = self._failed[0] if self._failed else f"{left} records not acknowledged"
            raise CheckpointError(
                f"producing the outputs to Kafka failed ({why}); the outputs and the "
                "checkpoint are intact: run the same command again once the broker is back, "
                "and the records not yet in the topics are produced then"
            )

    def _open(self) -> Any:
        if self._producer is None:
            self._producer = make_client(
                "Producer",
                self.address.client_config(
                    **{
                        "client.id": "vigil-outbox",
                        "enable.idempotence": True,
                        "acks": "all",
                        "linger.ms": 5,
                        "message.timeout.ms": int(FLUSH_TIMEOUT_S * 1000),
                    }
                ),
            )
            self._check_topics()
        return self._producer

    def _check_topics(self) -> None:
        """Refuse a missing topic rather than have a broker create it with its defaults (a
        producer's metadata request may; a consumer's never does); keep their partitions."""
        consumer = self._reader()
        try:
            self._partitions = {
                topic: topic_partitions(
                    consumer, self.address, topic, _missing(topic, self.address)
                )
                for topic in sorted(set(self.topics.values()))
            }
        finally:
            consumer.close()

    def _reader(self) -> Any:
        """A consumer that only reads: it never commits, and reports partition ends."""
        return make_client(
            "Consumer",
            self.address.client_config(
                **{
                    "group.id": f"vigil-outbox-{self.state.run_id}",
                    "enable.auto.commit": False,
                    "enable.partition.eof": True,
                }
            ),
        )

    def close(self) -> None:
        if self._producer is not None:
            self._producer.flush(FLUSH_TIMEOUT_S)
            self._producer = None


def _missing(topic: str, address: KafkaAddress) -> str:
    return (
        f"output topic {topic!r} does not exist on {address.bootstrap}; Vigil never creates "
        "topics, create it (docs/kafka.md)"
    )

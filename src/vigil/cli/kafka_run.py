"""``vigil run``'s Kafka options: a ``kafka://`` input and output topics, checked up front."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from vigil.errors import ConfigError
from vigil.kafka.config import KafkaAddress, is_kafka_url, parse_kafka_url, parse_options

if TYPE_CHECKING:
    from vigil.kafka.outbox import TopicOutbox
    from vigil.kafka.source import KafkaSource

#: a Kafka input checkpoints (and commits its offsets, and produces its output topics) at
#: least this often when ``--checkpoint-interval`` is not given
DEFAULT_CHECKPOINT_INTERVAL_S = 5.0


@dataclass(frozen=True)
class KafkaRunOptions:
    source: KafkaAddress | None
    group: str
    start: str
    #: output name (``alerts``, ``decisions``) -> (brokers, topic)
    outputs: dict[str, KafkaAddress]
    checkpoint_interval_s: float = DEFAULT_CHECKPOINT_INTERVAL_S

    def open_source(
        self, idle_timeout_s: float | None, should_stop: Callable[[], bool]
    ) -> KafkaSource:
        from vigil.cli.progress import stderr
        from vigil.kafka.source import KafkaSource

        assert self.source is not None
        return KafkaSource(
            self.source,
            group=self.group,
            start=self.start,
            idle_timeout_s=idle_timeout_s,
            should_stop=should_stop,
            on_start=lambda line: stderr.print(line, markup=False, highlight=False),
        )

    def open_outbox(self, out_dir: Path) -> TopicOutbox | None:
        if not self.outputs:
            return None
        from vigil.kafka.outbox import TopicOutbox

        brokers = {a.bootstrap for a in self.outputs.values()}
        if len(brokers) > 1:
            raise ConfigError(
                f"--alerts-topic and --decisions-topic name different brokers ({sorted(brokers)})"
                ": Vigil produces its outputs to one cluster"
            )
        first = next(iter(self.outputs.values()))
        return TopicOutbox(first, {name: a.topics[0] for name, a in self.outputs.items()}, out_dir)


def kafka_run_options(
    input_path: str,
    group: str,
    start: str,
    option_pairs: tuple[str, ...],
    alerts_topic: str | None,
    decisions_topic: str | None,
) -> KafkaRunOptions | None:
    """None when nothing of the run touches Kafka."""
    options = parse_options(option_pairs)
    source = parse_kafka_url(input_path, options) if is_kafka_url(input_path) else None
    outputs: dict[str, KafkaAddress] = {}
    for name, flag, value in (
        ("alerts", "--alerts-topic", alerts_topic),
        ("decisions", "--decisions-topic", decisions_topic),
    ):
        if value is None:
            continue
        if is_kafka_url(value):
            address = parse_kafka_url(value, options)
            if len(address.topics) != 1:
                raise ConfigError(f"{flag} {value!r}: name one topic")
        elif source is not None:
            address = parse_kafka_url(f"kafka://{source.bootstrap}/{value}", options)
        else:
            raise ConfigError(
                f"{flag} {value!r}: with a file input, give the brokers too, as in "
                f"kafka://localhost:9092/{value}"
            )
        if source is not None and address.topics[0] in source.topics:
            raise ConfigError(
                f"{flag} {value!r} is an input topic: the run would read its own outputs"
            )
        outputs[name] = address
    topics = [a.topics[0] for a in outputs.values()]
    if len(set(topics)) != len(topics):
        raise ConfigError(
            f"--alerts-topic and --decisions-topic are both {topics[0]!r}: give each its own "
            "topic (a record's line number is its line in its own file)"
        )
    if source is None and not outputs:
        if option_pairs:
            raise ConfigError("--kafka-option given, but neither the input nor an output is Kafka")
        return None
    return KafkaRunOptions(source, group, start, outputs)

"""``kafka://`` addresses and the client settings every Vigil Kafka client shares."""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from typing import Any

from vigil.errors import ConfigError

SCHEME = "kafka://"
#: a topic name as Kafka allows it
_TOPIC = re.compile(r"^[A-Za-z0-9._-]{1,249}$")
#: settings Vigil owns, and the option that sets them instead (``--kafka-option`` may not)
RESERVED = {
    "bootstrap.servers": "the brokers of the kafka:// address",
    "group.id": "--group",
    "enable.auto.commit": "offsets are committed after each checkpoint",
    "enable.auto.offset.store": "offsets are committed after each checkpoint",
    "enable.partition.eof": "the idle timeout needs end-of-partition events",
    "auto.offset.reset": "--kafka-start",
    "enable.idempotence": "the outputs are produced exactly once",
    "acks": "acks=all, for the outputs to be produced exactly once",
    "transactional.id": "the outputs are produced exactly once without transactions",
    "logger": "librdkafka's log goes to Vigil's log",
}
#: a group join waits about half the session timeout with some brokers (tansu: 23 s at
#: librdkafka's default 45 s); Vigil is the group's only member, so a short one costs nothing
DEFAULT_SESSION_TIMEOUT_MS = 6_000


@dataclass(frozen=True)
class KafkaAddress:
    """Where to read: the brokers and the topics of one ``kafka://`` address."""

    bootstrap: str
    topics: tuple[str, ...]
    #: librdkafka settings given with ``--kafka-option`` (security, timeouts)
    options: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"{SCHEME}{self.bootstrap}/{','.join(self.topics)}"

    def client_config(self, **more: Any) -> dict[str, Any]:
        return {"bootstrap.servers": self.bootstrap, "logger": client_log, **self.options, **more}


def is_kafka_url(text: str) -> bool:
    """``kafka://...`` in any case; ``kafka:/...`` (one slash) is refused, not a file name."""
    if text[:6].lower() == "kafka:" and text[:8].lower() != SCHEME:
        raise ConfigError(f"{text!r}: a Kafka address starts with kafka:// (two slashes)")
    return text[:8].lower() == SCHEME


def parse_kafka_url(url: str, options: dict[str, str] | None = None) -> KafkaAddress:
    """``kafka://HOST:PORT[,HOST:PORT...]/TOPIC[,TOPIC...]`` into brokers and topics."""
    rest = url[len(SCHEME) :] if is_kafka_url(url) else ""
    hosts, _, topics_part = rest.partition("/")
    example = "kafka://localhost:9092/events"
    if not hosts or not all(_host_port(h) for h in hosts.split(",")):
        raise ConfigError(f"{url!r}: expected brokers as HOST:PORT[,HOST:PORT], as in {example}")
    topics = tuple(topics_part.split(",")) if topics_part else ()
    if "" in topics and any(topics):
        raise ConfigError(f"{url!r} has an empty topic name (two commas, or one at an end)")
    if not any(topics):
        raise ConfigError(f"{url!r} names no topic: add one after the brokers, as in {example}")
    bad = [t for t in topics if not _TOPIC.match(t)]
    if bad:
        raise ConfigError(
            f"{url!r}: {bad[0]!r} is not a Kafka topic name (letters, digits, '.', '_', '-')"
        )
    if len(set(topics)) != len(topics):
        raise ConfigError(f"{url!r} names a topic twice")
    return KafkaAddress(hosts, topics, dict(options or {}))


def parse_options(pairs: tuple[str, ...] | list[str]) -> dict[str, str]:
    """``KEY=VALUE`` pairs (``--kafka-option``) into librdkafka settings."""
    options: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(
                f"--kafka-option {pair!r}: expected KEY=VALUE, as in security.protocol=SSL"
            )
        key = key.strip()
        if key in RESERVED:
            raise ConfigError(f"--kafka-option {key}: Vigil sets it ({RESERVED[key]})")
        options[key] = value
    return options


def make_client(kind: str, config: dict[str, Any]) -> Any:
    """A confluent-kafka ``Consumer``/``Producer``; a setting librdkafka refuses is named."""
    kafka = require_client()
    try:
        return getattr(kafka, kind)(config)
    except kafka.KafkaException as exc:
        raise ConfigError(
            f"--kafka-option: librdkafka refused a setting: {exc.args[0].str()}"
        ) from exc
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"--kafka-option: {exc}") from exc


#: how long to wait for the brokers' metadata and committed offsets
METADATA_TIMEOUT_S = 15.0


def topic_partitions(consumer: Any, address: KafkaAddress, topic: str, missing: str) -> list[int]:
    """The partitions of ``topic``, asked with ``consumer`` (a consumer's metadata request
    never creates a topic); an ``InputError`` when the brokers do not answer, or with
    ``missing`` when the topic does not exist."""
    from vigil.errors import InputError

    kafka = require_client()
    try:
        meta = consumer.list_topics(topic, timeout=METADATA_TIMEOUT_S)
    except kafka.KafkaException as exc:
        raise InputError(
            f"no answer from the brokers {address.bootstrap} within {METADATA_TIMEOUT_S:.0f} s "
            f"({exc.args[0].str()}); is the broker running?"
        ) from exc
    info = meta.topics.get(topic)
    if info is None or info.error is not None or not info.partitions:
        raise InputError(missing)
    return sorted(info.partitions)


class _Repeats(logging.Filter):
    """librdkafka logs a refused connection at every retry: once a minute is enough."""

    def __init__(self, every_s: float = 60.0) -> None:
        super().__init__()
        self.every_s = every_s
        self._last: dict[str, float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        # "FAIL|rdkafka#consumer-2| [thrd:...]: ...: Connect to ... failed: ..." minus the
        # client and thread names, which change from client to client
        text = record.getMessage().split("]: ", 1)[-1]
        now = time.monotonic()
        if now - self._last.get(text, -1e9) < self.every_s:
            return False
        self._last[text] = now
        return True


#: where librdkafka's own log lines go (each distinct line at most once a minute)
client_log = logging.getLogger("vigil.kafka.client")
client_log.addFilter(_Repeats())


def _host_port(text: str) -> bool:
    host, sep, port = text.rpartition(":")
    return bool(sep and host and port.isdigit())


def require_client() -> Any:
    """The ``confluent_kafka`` module, or a clear error saying how to install it."""
    try:
        import confluent_kafka
    except ImportError as exc:  # pragma: no cover - the dev install has it
        raise ConfigError(
            "Kafka input and output need the confluent-kafka client: pip install 'vigil[kafka]'"
        ) from exc
    return confluent_kafka

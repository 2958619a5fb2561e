"""``kafka://`` addresses and the client settings every Vigil Kafka client shares."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from vigil.errors import ConfigError

SCHEME = "kafka://"
#: a topic name as Kafka allows it
_TOPIC = re.compile(r"^[A-Za-z0-9._-]{1,249}$")
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
        return {"bootstrap.servers": self.bootstrap, **more, **self.options}


def is_kafka_url(text: str) -> bool:
    return text.startswith(SCHEME)


def parse_kafka_url(url: str, options: dict[str, str] | None = None) -> KafkaAddress:
    """``kafka://HOST:PORT[,HOST:PORT...]/TOPIC[,TOPIC...]`` into brokers and topics."""
    rest = url[len(SCHEME) :] if is_kafka_url(url) else ""
    hosts, _, topics_part = rest.partition("/")
    example = "kafka://localhost:9092/events"
    if not hosts or not all(_host_port(h) for h in hosts.split(",")):
        raise ConfigError(f"{url!r}: expected brokers as HOST:PORT[,HOST:PORT], as in {example}")
    topics = tuple(t for t in topics_part.split(",") if t)
    if not topics:
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
        options[key.strip()] = value
    return options


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

"""``kafka://`` addresses and ``vigil run``'s Kafka options: mistakes named before any
connection is tried."""

from __future__ import annotations

import pytest

from vigil.cli.kafka_run import kafka_run_options
from vigil.errors import ConfigError
from vigil.kafka.config import parse_kafka_url, parse_options


def test_an_address_gives_brokers_and_topics() -> None:
    address = parse_kafka_url("kafka://b1:9092,b2:9093/events,returns", {"acks": "all"})
    assert address.bootstrap == "b1:9092,b2:9093"
    assert address.topics == ("events", "returns")
    config = address.client_config(**{"group.id": "g"})
    assert config["bootstrap.servers"] == "b1:9092,b2:9093"
    assert config["group.id"] == "g" and config["acks"] == "all"
    assert config["logger"].name == "vigil.kafka.client"  # librdkafka's log, repeats thinned


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("kafka://localhost/events", "HOST:PORT"),
        ("kafka://localhost:9092", "names no topic"),
        ("kafka://localhost:9092/", "names no topic"),
        ("kafka://localhost:9092/bad topic", "'bad topic' is not a Kafka topic name"),
        ("kafka://localhost:9092/a,a", "names a topic twice"),
        ("kafka://localhost:9092/a,,b", "an empty topic name"),
        ("kafka:/localhost:9092/a", "starts with kafka:// \\(two slashes\\)"),
    ],
)
def test_a_bad_address_is_explained(url: str, says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        parse_kafka_url(url)


def test_options_are_key_value_pairs() -> None:
    assert parse_options(["security.protocol=SSL", "sasl.password=a=b"]) == {
        "security.protocol": "SSL",
        "sasl.password": "a=b",
    }
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        parse_options(["security.protocol"])
    # what Vigil sets itself is not an option: the flag that sets it is named
    with pytest.raises(ConfigError, match=r"group.id: Vigil sets it \(--group\)"):
        parse_options(["group.id=other"])
    with pytest.raises(ConfigError, match=r"enable\.idempotence: Vigil sets it"):
        parse_options(["enable.idempotence=false"])


def test_a_setting_librdkafka_refuses_is_named() -> None:
    from vigil.kafka.config import make_client

    config = {"bootstrap.servers": "k:1", "group.id": "g"}
    with pytest.raises(ConfigError, match=r'No such configuration property: "no\.such\.setting"'):
        make_client("Consumer", {**config, "no.such.setting": "1"})
    with pytest.raises(ConfigError, match='Invalid value for configuration property "fetch'):
        make_client("Consumer", {**config, "fetch.max.bytes": "abc"})


def test_upper_case_scheme_is_kafka() -> None:
    assert parse_kafka_url("KAFKA://k:9092/events").topics == ("events",)


def test_output_topics_take_the_inputs_brokers_or_their_own() -> None:
    run = kafka_run_options(
        "kafka://k:9092/events", "g", "committed", (), "alerts", "kafka://k:9092/decisions"
    )
    assert run is not None and run.source is not None
    assert {n: (a.bootstrap, a.topics) for n, a in run.outputs.items()} == {
        "alerts": ("k:9092", ("alerts",)),
        "decisions": ("k:9092", ("decisions",)),
    }
    # a file input has no brokers to borrow
    with pytest.raises(ConfigError, match="give the brokers too"):
        kafka_run_options("events.jsonl", "g", "committed", (), "alerts", None)
    assert kafka_run_options("events.jsonl", "g", "committed", (), None, None) is None
    with pytest.raises(ConfigError, match="is an input topic"):
        kafka_run_options("kafka://k:9092/events", "g", "committed", (), "events", None)
    with pytest.raises(ConfigError, match="are both 'out'"):
        kafka_run_options("kafka://k:9092/events", "g", "committed", (), "out", "out")
    with pytest.raises(ConfigError, match="neither the input nor an output is Kafka"):
        kafka_run_options("events.jsonl", "g", "committed", ("linger.ms=5",), None, None)

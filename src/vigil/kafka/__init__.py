"""Kafka in and out of the embedded runtime (``confluent-kafka``, the ``kafka`` extra).

``source.KafkaSource`` reads topics as the runtime's input, its position one offset per
partition, kept in the checkpoint and committed to the consumer group after it.
``outbox.TopicOutbox`` produces the durable outputs (alerts, decisions) to topics exactly
once across crashes. docs/kafka.md says how to run them; docs/adr/0005-kafka.md why so.
"""

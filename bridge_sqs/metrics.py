"""Prometheus metrics of the bridge."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

RECEIVED = Counter("paystream_bridge_received_total", "SQS messages received")
FORWARDED = Counter("paystream_bridge_forwarded_total", "Messages acknowledged by Kafka")
REJECTED = Counter("paystream_bridge_rejected_total", "Invalid messages sent to the DLQ")
KAFKA_ERRORS = Counter("paystream_bridge_kafka_errors_total",
                       "Messages left on SQS because Kafka did not acknowledge them")
QUEUE_DEPTH = Gauge("paystream_bridge_queue_depth", "Messages waiting in SQS (lag)", ["queue"])
FORWARD_LATENCY = Histogram("paystream_bridge_forward_seconds",
                            "SQS receive to Kafka acknowledgement, per batch")

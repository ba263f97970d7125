"""Settings of the SQS -> Kafka bridge, from the environment."""

from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class BridgeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PAYSTREAM_BRIDGE_", extra="ignore")

    sqs_endpoint_url: str | None = Field(
        default="http://127.0.0.1:9324",
        validation_alias=AliasChoices("SQS_ENDPOINT_URL", "PAYSTREAM_BRIDGE_SQS_ENDPOINT_URL"),
    )
    aws_region: str = Field(default="us-east-1",
                            validation_alias=AliasChoices("AWS_REGION", "AWS_DEFAULT_REGION",
                                                          "PAYSTREAM_BRIDGE_AWS_REGION"))
    queue_name: str = "payment-requests.fifo"
    dead_letter_queue_name: str = "payment-requests-dlq.fifo"
    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:9092",
        validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS",
                                      "PAYSTREAM_BRIDGE_KAFKA_BOOTSTRAP_SERVERS"),
    )
    topic: str = "payment-requests"
    # Only used when the bridge has to create the topic; must match the worker's.
    partitions: int = Field(default=4, validation_alias=AliasChoices(
        "PAYSTREAM_WORKER_PARTITIONS", "PAYSTREAM_BRIDGE_PARTITIONS"))
    batch_size: int = Field(default=10, ge=1, le=10)
    # Long poll: an idle bridge makes one request per wait, not a busy loop.
    wait_time_s: int = Field(default=1, ge=0, le=20)
    # Several receivers in parallel: one SQS receive returns at most 10 messages.
    receivers: int = Field(default=4, ge=1, le=32)
    metrics_port: int | None = None
    queue_depth_interval_s: float = 5.0

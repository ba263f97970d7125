"""Settings of the SQS -> Kafka bridge, from the environment.

`PAYSTREAM_BRIDGE_*` wins over the shared variables (streams.settings states the rule).
"""

from __future__ import annotations

from typing import Final

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from streams.channels import PAYMENT_DLQ, PAYMENT_QUEUE
from streams.settings import (
    DEFAULT_PARTITIONS,
    LOCAL_KAFKA,
    LOCAL_REGION,
    LOCAL_SQS,
    SHARED_KAFKA,
    SHARED_PARTITIONS,
    SHARED_REGION,
    SHARED_SQS,
    SqsEndpoint,
    own_then_shared,
)

_BRIDGE: Final = "PAYSTREAM_BRIDGE_"


class BridgeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=_BRIDGE, extra="ignore", populate_by_name=True)

    sqs_endpoint_url: SqsEndpoint = Field(
        default=LOCAL_SQS,
        validation_alias=own_then_shared(_BRIDGE, "sqs_endpoint_url", SHARED_SQS),
    )
    aws_region: str = Field(default=LOCAL_REGION,
                            validation_alias=own_then_shared(_BRIDGE, "aws_region",
                                                             SHARED_REGION))
    queue_name: str = PAYMENT_QUEUE
    dead_letter_queue_name: str = PAYMENT_DLQ
    kafka_bootstrap_servers: str = Field(
        default=LOCAL_KAFKA,
        validation_alias=own_then_shared(_BRIDGE, "kafka_bootstrap_servers", SHARED_KAFKA),
    )
    # Only used when the bridge has to create the topics; must match the worker's.
    partitions: int = Field(default=DEFAULT_PARTITIONS,
                            validation_alias=own_then_shared(_BRIDGE, "partitions",
                                                             SHARED_PARTITIONS))
    batch_size: int = Field(default=10, ge=1, le=10)
    # Long poll: an idle bridge makes one request per wait, not a busy loop.
    wait_time_s: int = Field(default=1, ge=0, le=20)
    # Several receivers in parallel: one SQS receive returns at most 10 messages.
    receivers: int = Field(default=4, ge=1, le=32)
    metrics_port: int | None = None
    queue_depth_interval_s: float = 5.0
    sqs_timeout_s: float = Field(default=5.0, gt=0)

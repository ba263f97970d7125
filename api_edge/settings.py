"""Configuration of the HTTP edge (Payments-A facade and Payments-B orchestrator)."""

from __future__ import annotations

from typing import Final

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from api_edge.auth.settings import AuthSettings
from streams.channels import PAYMENT_QUEUE
from streams.settings import (
    LOCAL_KAFKA,
    LOCAL_REGION,
    LOCAL_SQS,
    SHARED_KAFKA,
    SHARED_REGION,
    SHARED_SQS,
    SqsEndpoint,
    own_then_shared,
)

DEFAULT_PUBLIC_PORT: Final = 8080
DEFAULT_ORCHESTRATOR_PORT: Final = 8081


class EdgeSettings(BaseSettings):
    """Settings read from `PAYSTREAM_EDGE_*` (and the stack's shared variables).

    Token verification has its own `PAYSTREAM_AUTH_*` settings (`auth`).
    """

    model_config = SettingsConfigDict(env_prefix="PAYSTREAM_EDGE_", extra="ignore",
                                      populate_by_name=True)

    public_host: str = "127.0.0.1"
    public_port: int = DEFAULT_PUBLIC_PORT
    # Payments-A's metrics and detailed readiness: an internal port, never the public one
    # (None: not served; `paystream up` gives it a port).
    ops_host: str = "127.0.0.1"
    ops_port: int | None = None
    orchestrator_host: str = "127.0.0.1"
    orchestrator_port: int = DEFAULT_ORCHESTRATOR_PORT
    # None: derived from orchestrator_host/port.
    orchestrator_url: str | None = None
    worker_url: str = "http://127.0.0.1:6066"

    sqs_endpoint_url: SqsEndpoint = Field(
        default=LOCAL_SQS,
        validation_alias=own_then_shared("PAYSTREAM_EDGE_", "sqs_endpoint_url", SHARED_SQS),
    )
    sqs_queue_name: str = PAYMENT_QUEUE
    # Concurrent SendMessageBatch calls, and how long a sender waits to fill a batch: a
    # few milliseconds of linger turn ~1 message per call into several, which halves the
    # CPU the edge and the queue server spend per payment at a few hundred requests/s.
    sqs_senders: int = Field(default=2, ge=1, le=32)
    sqs_batch_linger_ms: float = Field(default=5.0, ge=0, le=100)
    aws_region: str = Field(
        default=LOCAL_REGION,
        validation_alias=own_then_shared("PAYSTREAM_EDGE_", "aws_region", SHARED_REGION))
    kafka_bootstrap_servers: str = Field(
        default=LOCAL_KAFKA,
        validation_alias=own_then_shared("PAYSTREAM_EDGE_", "kafka_bootstrap_servers",
                                         SHARED_KAFKA),
    )

    # The client-credentials grant Payments-A uses to call Payments-B. None: the issuer's
    # discovery document names the token endpoint.
    token_endpoint: str | None = None
    service_client_id: str = "paystream-orchestrator-client"
    service_client_secret: SecretStr | None = None

    orchestrator_timeout_seconds: float = Field(default=5.0, gt=0)
    worker_timeout_seconds: float = Field(default=2.0, gt=0)
    sqs_timeout_seconds: float = Field(default=5.0, gt=0)
    kafka_timeout_seconds: float = Field(default=5.0, gt=0)

    idempotency_ttl_seconds: float = Field(default=24 * 3600.0, gt=0)
    idempotency_max_entries: int = Field(default=100_000, gt=0)
    # Verified tokens are remembered for this long (never past their exp), so a busy
    # shopper's requests do not each pay for a signature check.
    token_cache_seconds: float = Field(default=60.0, ge=0)

    # Limits at the public edge (api_edge.request_limits): bodies over this are refused with 413
    # before anything reads them (a payment or wallet request is a few hundred bytes; the
    # dispute evidence route, which takes documents, has its own: api_edge.disputes);
    # rates are `limits` strings ("20/second", "600/minute").
    max_body_bytes: int = Field(default=64 * 1024, gt=0)
    rate_limit_per_subject: str = "50/second"
    rate_limit_per_client: str = "500/second"

    auth: AuthSettings = Field(default_factory=AuthSettings)

    @property
    def resolved_orchestrator_url(self) -> str:
        if self.orchestrator_url:
            return self.orchestrator_url.rstrip("/")
        return f"http://{self.orchestrator_host}:{self.orchestrator_port}"

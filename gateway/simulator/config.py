"""Simulator configuration (environment prefix `PAYSTREAM_SIM_`)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_MERCHANT_ACCOUNTS: dict[str, str] = {
    "sim_merchant_usd": "USD",
    "sim_merchant_eur": "EUR",
    "sim_merchant_gbp": "GBP",
    "sim_merchant_cad": "CAD",
    "sim_merchant_aud": "AUD",
    "sim_merchant_jpy": "JPY",
}


class FaultConfig(BaseModel):
    """What can be changed at run time through POST /__sim__/config."""

    latency_ms: float = Field(default=0.0, ge=0)
    latency_distribution: Literal["fixed", "uniform", "exponential"] = "fixed"
    latency_max_ms: float = Field(default=10_000.0, ge=0)
    # Fractions of API requests (0..1), drawn in this order from one uniform number.
    timeout_fraction: float = Field(default=0.0, ge=0, le=1)
    error_5xx_fraction: float = Field(default=0.0, ge=0, le=1)
    throttle_fraction: float = Field(default=0.0, ge=0, le=1)
    drop_after_apply_fraction: float = Field(default=0.0, ge=0, le=1)
    # A "timeout" holds the request this long, then applies it: the caller gave up, the
    # gateway did not, exactly the unknown-outcome case a client must resolve.
    timeout_hold_seconds: float = Field(default=30.0, ge=0)
    error_5xx_status: int = Field(default=503, ge=500, le=599)
    auto_settle_seconds: float | None = Field(default=None, ge=0)
    # Braintree settles in batches: every this many seconds, everything submitted settles
    # (or declines, by the settlement test amounts). None: only testing calls settle.
    settlement_batch_seconds: float | None = Field(default=None, gt=0)
    # Where signed webhook notifications are POSTed; None sends nothing (and queues nothing).
    webhook_url: str | None = None
    webhook_max_attempts: int = Field(default=8, ge=1)
    webhook_backoff_seconds: float = Field(default=0.5, gt=0)
    webhook_backoff_max_seconds: float = Field(default=60.0, gt=0)
    webhook_timeout_seconds: float = Field(default=5.0, gt=0)


class SimulatorConfig(BaseSettings, FaultConfig):
    model_config = SettingsConfigDict(env_prefix="PAYSTREAM_SIM_", extra="ignore")

    public_key: str = "sim_public"
    private_key: str = "sim_private"
    merchant_accounts: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_MERCHANT_ACCOUNTS),
        description="merchant account id -> currency",
    )
    default_merchant_account: str = "sim_merchant_usd"
    persist_file: str | None = None
    seed: int | None = None

    def faults(self) -> FaultConfig:
        return FaultConfig.model_validate(self.model_dump(include=set(FaultConfig.model_fields)))

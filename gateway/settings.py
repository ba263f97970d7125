"""Gateway configuration from the environment (prefix `BRAINTREE_`).

Switching from the local simulator to the real sandbox is configuration only:
`BRAINTREE_ENVIRONMENT=sandbox` plus the merchant id, keys and merchant accounts.
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SIM_MERCHANT_ACCOUNTS: dict[str, str] = {
    "USD": "sim_merchant_usd",
    "EUR": "sim_merchant_eur",
    "GBP": "sim_merchant_gbp",
    "CAD": "sim_merchant_cad",
    "AUD": "sim_merchant_aud",
    "JPY": "sim_merchant_jpy",
}


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BRAINTREE_", extra="ignore")

    environment: Literal["simulator", "sandbox", "production"] = "simulator"
    simulator_url: str = "http://127.0.0.1:8093"
    merchant_id: str = "sim_merchant"
    public_key: str = "sim_public"
    private_key: SecretStr = SecretStr("sim_private")
    merchant_accounts: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_SIM_MERCHANT_ACCOUNTS),
        description="ISO currency -> Braintree merchant account id (JSON in the environment)",
    )
    timeout_seconds: float = Field(default=10.0, gt=0)
    max_workers: int = Field(default=64, ge=1, le=1024,
                             description="Concurrent gateway calls (connections or threads)")
    transport: Literal["asyncio", "threads"] = Field(
        default="asyncio",
        description="asyncio: the SDK's HTTP on the event loop (gateway/async_transport.py); "
                    "threads: the SDK's own requests transport on a thread pool")

    def simulator_host_port(self) -> tuple[str, str]:
        parts = urlsplit(self.simulator_url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError("simulator_url must be http://host:port")
        port = parts.port or 80
        if port == 443:
            # The SDK switches to TLS on port 443, which the simulator does not speak.
            raise ValueError("the simulator cannot listen on port 443")
        return parts.hostname, str(port)

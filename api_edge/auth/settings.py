"""Configuration of bearer-token verification at the HTTP edge."""

from __future__ import annotations

from typing import Final

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Asymmetric only: with a symmetric algorithm anyone who can read the JWKS (i.e. everyone)
# could forge tokens, and an allow-list closes the classic "alg" confusion attacks.
ALLOWED_ALGORITHMS: Final[tuple[str, ...]] = ("RS256", "ES256")


class AuthSettings(BaseSettings):
    """Settings read from `PAYSTREAM_AUTH_*` environment variables."""

    model_config = SettingsConfigDict(env_prefix="PAYSTREAM_AUTH_", extra="ignore", frozen=True)

    # No default: a verifier without an explicit issuer refuses to start (`paystream up`
    # and the tests set it), so a deployment never trusts a development issuer by accident.
    issuer: str = ""
    audience: str = "paystream-api"
    service_audience: str = "paystream-orchestrator"
    leeway_seconds: int = Field(default=30, ge=0, le=300)
    jwks_min_refresh_seconds: float = Field(default=10.0, ge=0)
    jwks_cache_seconds: float = Field(default=300.0, gt=0)
    http_timeout_seconds: float = Field(default=5.0, gt=0)
    realm_name: str = "paystream"
    max_token_bytes: int = Field(default=8192, gt=0)

    @property
    def algorithms(self) -> tuple[str, ...]:
        # Deliberately not configurable: widening this list is a security decision, not ops.
        return ALLOWED_ALGORITHMS

    def required_issuer(self) -> str:
        if not self.issuer:
            raise RuntimeError(
                f"{self.model_config.get('env_prefix', '')}ISSUER must be set: the issuer "
                "whose tokens to accept (e.g. https://sso.example/realms/paystream)")
        return self.issuer

    @field_validator("issuer")
    @classmethod
    def _issuer_without_trailing_slash(cls, value: str) -> str:
        # `iss` is compared byte for byte; Keycloak never emits a trailing slash.
        return value.rstrip("/")

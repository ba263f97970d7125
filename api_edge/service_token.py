"""The service credential Payments-A presents to Payments-B, and B to the worker views: an
OAuth 2.0 client-credentials token from the identity provider, cached until shortly before
it expires.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

import httpx
from pydantic import SecretStr

from api_edge.settings import EdgeSettings

# Renew this long before expiry so a token never expires between fetch and B's check
# (B allows only a small clock leeway).
RENEW_BEFORE_SECONDS = 30.0


class ServiceTokenError(Exception):
    """No service token can be obtained (issuer down, client misconfigured)."""


class ServiceTokenSource:
    def __init__(
        self,
        *,
        issuer: str,
        client_id: str,
        client_secret: SecretStr,
        token_endpoint: str | None = None,
        timeout_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.issuer = issuer.rstrip("/")
        self.client_id = client_id
        self._secret = client_secret
        self._token_endpoint = token_endpoint
        self._timeout = timeout_seconds
        self._clock = clock
        self._lock = asyncio.Lock()
        self._token: str | None = None
        self._renew_at = 0.0
        self.fetch_count = 0

    async def get(self) -> str:
        if self._token is not None and self._clock() < self._renew_at:
            return self._token
        async with self._lock:
            # Whoever held the lock before us may have fetched already.
            if self._token is None or self._clock() >= self._renew_at:
                await self._fetch()
            assert self._token is not None
            return self._token

    def invalidate(self) -> None:
        """Forget the token (B refused it: rotated keys, revoked client)."""
        self._token = None
        self._renew_at = 0.0

    async def _fetch(self) -> None:
        async with httpx.AsyncClient(timeout=self._timeout) as client:
            endpoint = self._token_endpoint or await self._discover(client)
            try:
                response = await client.post(
                    endpoint, data={"grant_type": "client_credentials"},
                    auth=(self.client_id, self._secret.get_secret_value()),
                )
            except httpx.HTTPError as exc:
                raise ServiceTokenError(
                    f"token endpoint unreachable ({type(exc).__name__})") from None
        if response.status_code != 200:
            error = ""
            with contextlib.suppress(ValueError, AttributeError):
                error = str(response.json().get("error", ""))
            raise ServiceTokenError(
                f"token endpoint refused the client credentials ({response.status_code} "
                f"{error})".strip())
        try:
            payload = response.json()
            token = payload["access_token"]
            expires_in = float(payload.get("expires_in", 60))
        except (ValueError, KeyError, TypeError):
            raise ServiceTokenError("token endpoint answered without an access_token") from None
        if not isinstance(token, str) or not token:
            raise ServiceTokenError("token endpoint answered without an access_token")
        self._token = token
        self._renew_at = self._clock() + max(expires_in - RENEW_BEFORE_SECONDS, expires_in / 2)
        self.fetch_count += 1

    async def _discover(self, client: httpx.AsyncClient) -> str:
        try:
            response = await client.get(f"{self.issuer}/.well-known/openid-configuration")
            endpoint = response.json().get("token_endpoint") if response.status_code == 200 \
                else None
        except (httpx.HTTPError, ValueError):
            endpoint = None
        if not isinstance(endpoint, str) or not endpoint:
            raise ServiceTokenError(f"the issuer {self.issuer} publishes no token_endpoint")
        self._token_endpoint = endpoint
        return endpoint


def service_token_source(settings: EdgeSettings) -> ServiceTokenSource:
    """The client-credentials source for A calling B and B reading the worker views."""
    secret = settings.service_client_secret
    if secret is None:
        # No development fallback: `paystream up` and the tests pass the dev secret
        # explicitly, so a deployment without one fails at start-up, not at first call.
        variable = f"{settings.model_config.get('env_prefix', '')}SERVICE_CLIENT_SECRET"
        raise RuntimeError(f"{variable} must be set: the edge needs it to call Payments-B "
                           "and the worker views")
    return ServiceTokenSource(
        issuer=settings.auth.issuer, client_id=settings.service_client_id,
        client_secret=secret, token_endpoint=settings.token_endpoint,
        timeout_seconds=settings.auth.http_timeout_seconds,
    )

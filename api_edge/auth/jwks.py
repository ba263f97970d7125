"""Signing keys of the token issuer, discovered through OpenID Connect and cached by kid."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx
from jwt import PyJWK
from jwt.exceptions import PyJWKError

from api_edge.auth.errors import IssuerUnavailableError
from api_edge.auth.settings import ALLOWED_ALGORITHMS, AuthSettings

log = logging.getLogger(__name__)

Clock = Callable[[], float]


class UnknownKeyError(LookupError):
    """No signing key with this kid, even after the (rate-limited) refresh."""


class JwksCache:
    """Caches the issuer's public signing keys by `kid`.

    The key set is refetched when it is older than `cache_seconds`, and when a token names a
    kid we do not know (the issuer rotated its keys) - but at most once per
    `min_refresh_seconds`, so a flood of tokens with made-up kids cannot turn this service
    into a traffic amplifier against the issuer. Failed fetches obey the same limit.
    If a refetch fails while the cached keys still hold the wanted kid, the stale key is used:
    keys rotate rarely, and an issuer outage should not take the payment API down with it.
    """

    def __init__(
        self,
        issuer: str,
        *,
        min_refresh_seconds: float = 10.0,
        cache_seconds: float = 300.0,
        timeout_seconds: float = 5.0,
        client: httpx.AsyncClient | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        self.issuer = issuer.rstrip("/")
        self.min_refresh_seconds = min_refresh_seconds
        self.cache_seconds = cache_seconds
        self.timeout_seconds = timeout_seconds
        self._client = client
        self._clock = clock
        self._lock = asyncio.Lock()
        self._keys: dict[str, PyJWK] = {}
        self._jwks_uri: str | None = None
        self._fetched_at: float | None = None
        self._last_attempt: float | None = None
        self._last_error: str | None = None
        self.fetch_count = 0

    @classmethod
    def from_settings(
        cls, settings: AuthSettings, *, client: httpx.AsyncClient | None = None
    ) -> JwksCache:
        return cls(
            settings.issuer,
            min_refresh_seconds=settings.jwks_min_refresh_seconds,
            cache_seconds=settings.jwks_cache_seconds,
            timeout_seconds=settings.http_timeout_seconds,
            client=client,
        )

    @property
    def kids(self) -> frozenset[str]:
        return frozenset(self._keys)

    async def get_key(self, kid: str) -> PyJWK:
        """The key for `kid`; raises UnknownKeyError or IssuerUnavailableError."""
        if self._fresh() and kid in self._keys:
            return self._keys[kid]
        async with self._lock:
            # Another request may have refreshed while we waited for the lock.
            if not self._fresh():
                await self._refresh_or_keep_stale(kid)
            if kid in self._keys:
                return self._keys[kid]
            if self._may_refresh():
                await self._refresh()
                if kid in self._keys:
                    return self._keys[kid]
            raise UnknownKeyError(kid)

    async def refresh(self) -> None:
        """Refetch now, ignoring the rate limit (start-up warm-up, admin actions)."""
        async with self._lock:
            await self._refresh()

    def _fresh(self) -> bool:
        return (
            self._fetched_at is not None
            and self._clock() - self._fetched_at < self.cache_seconds
        )

    def _may_refresh(self) -> bool:
        return (
            self._last_attempt is None
            or self._clock() - self._last_attempt >= self.min_refresh_seconds
        )

    async def _refresh_or_keep_stale(self, kid: str) -> None:
        if not self._may_refresh():
            if self._last_error is not None and kid not in self._keys:
                raise IssuerUnavailableError(self._last_error)
            return
        try:
            await self._refresh()
        except IssuerUnavailableError:
            if kid in self._keys:
                log.warning("token issuer unreachable; using cached signing keys")
                return
            raise

    async def _refresh(self) -> None:
        self._last_attempt = self._clock()
        try:
            if self._client is not None:
                keys = await self._fetch(self._client)
            else:
                # A short-lived client per refresh: refreshes are rare, and a pooled client
                # would be bound to whichever event loop happened to create it.
                async with httpx.AsyncClient(timeout=self.timeout_seconds) as client:
                    keys = await self._fetch(client)
        except IssuerUnavailableError as exc:
            self._last_error = exc.detail
            raise
        self._keys = keys
        self._fetched_at = self._clock()
        self._last_error = None
        self.fetch_count += 1
        log.info("fetched %d signing key(s) from %s", len(keys), self.issuer)

    async def _fetch(self, client: httpx.AsyncClient) -> dict[str, PyJWK]:
        if self._jwks_uri is None:
            config = await self._get_json(
                client, f"{self.issuer}/.well-known/openid-configuration"
            )
            # OpenID Connect Discovery 4.3: the document must name the issuer we asked.
            if config.get("issuer") != self.issuer:
                raise IssuerUnavailableError(
                    f"the discovery document at {self.issuer} names a different issuer"
                )
            jwks_uri = config.get("jwks_uri")
            if not isinstance(jwks_uri, str) or not jwks_uri_allowed(jwks_uri):
                raise IssuerUnavailableError(
                    f"the issuer {self.issuer} publishes no https jwks_uri")
            self._jwks_uri = jwks_uri
        return parse_jwks(await self._get_json(client, self._jwks_uri))

    async def _get_json(self, client: httpx.AsyncClient, url: str) -> dict[str, Any]:
        try:
            response = await client.get(
                url, timeout=self.timeout_seconds, headers={"Accept": "application/json"}
            )
        except httpx.HTTPError as exc:
            raise IssuerUnavailableError(
                f"the token issuer at {self.issuer} is unreachable ({type(exc).__name__})"
            ) from exc
        if response.status_code != 200:
            raise IssuerUnavailableError(
                f"the token issuer answered {response.status_code} for {url}"
            )
        try:
            body = response.json()
        except ValueError as exc:
            raise IssuerUnavailableError(f"the token issuer sent invalid JSON for {url}") from exc
        if not isinstance(body, dict):
            raise IssuerUnavailableError(f"the token issuer sent unexpected JSON for {url}")
        return body


def parse_jwks(document: Mapping[str, Any]) -> dict[str, PyJWK]:
    """Signature keys usable with the allowed algorithms, by kid; other entries are skipped.

    Keycloak also publishes an RSA-OAEP encryption key in the same set: `use: enc` keys must
    never verify signatures.
    """
    raw_keys = document.get("keys")
    if not isinstance(raw_keys, list):
        raise IssuerUnavailableError("the issuer's JWKS has no 'keys' list")
    keys: dict[str, PyJWK] = {}
    for raw in raw_keys:
        if not isinstance(raw, dict):
            continue
        kid = raw.get("kid")
        if not isinstance(kid, str) or not kid:
            continue
        if raw.get("use", "sig") != "sig" or raw.get("kty") not in ("RSA", "EC"):
            continue
        if "d" in raw:
            # A private key in a public key set is a misconfiguration; refuse to use it.
            log.warning("ignoring JWKS entry %s that contains private key material", kid)
            continue
        try:
            key = PyJWK(raw)
        except PyJWKError:
            log.warning("ignoring unusable JWKS entry %s", kid)
            continue
        if key.algorithm_name not in ALLOWED_ALGORITHMS:
            continue
        keys[kid] = key
    return keys


def jwks_uri_allowed(uri: str) -> bool:
    """Keys come over https; plain http only from this machine (the dev issuer, tests)."""
    parts = urlsplit(uri)
    if parts.scheme == "https":
        return bool(parts.hostname)
    return parts.scheme == "http" and is_loopback_host(parts.hostname)


def is_loopback_host(host: str | None) -> bool:
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False

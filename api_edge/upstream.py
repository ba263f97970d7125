"""The HTTP client the edge uses for its internal hops (A -> B, B -> worker views).

`KeepAliveUpstream`, on the lean keep-alive HTTP/1.1 client the worker's gateway calls
use (`streams.keepalive_http`: one write per request, httptools parsing, one timer per
call). Before it, aiohttp: at 300 checkouts/s its client was 38 % of Payments-B's CPU
and 22 % of Payments-A's. httpx was never an option here: an httpx.AsyncClient call
costs about 1.2 ms of CPU at low concurrency and over 5 ms with 300 requests in flight
(its connection pool scales badly with waiters). No internal hop goes through a proxy
(the aiohttp client never read the proxy environment either), so nothing here needs
aiohttp. `HttpxUpstream` exists for tests that drive B in-process through httpx's ASGI
transport.

What an error means, for the callers' choices (`orchestrator_client`, `worker_views`):
`UpstreamUnavailableError` alone is "never connected: nothing was sent" (another worker
may be asked, even for a write); `UpstreamTimeoutError` is "it may have been processed"
(a timeout, and also a connection that dropped or garbled its answer after the request
was written).
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx

from streams.keepalive_http import (
    IDEMPOTENT_METHODS,
    ConnectTimeoutError,
    KeepAliveHttp,
    MaybeProcessedError,
    NeverConnectedError,
    Origin,
)

# Idle connections older than this are not used again: below uvicorn's default idle
# close (5 s), so a request does not race the server closing the connection it picked.
IDLE_SECONDS = 4.0


class UpstreamUnavailableError(Exception):
    """Connection refused, unreachable, DNS failure: nothing was sent."""


class UpstreamTimeoutError(UpstreamUnavailableError):
    """No whole answer (in time, or before the connection dropped, or parseable): the
    request may or may not have been processed."""


@dataclass(frozen=True)
class UpstreamResponse:
    status: int
    headers: Mapping[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Upstream(Protocol):
    async def request(self, method: str, path: str, *, json_body: Any = None,
                      headers: Mapping[str, str] | None = None,
                      timeout: float | None = None) -> UpstreamResponse: ...

    async def aclose(self) -> None: ...


class KeepAliveUpstream:
    """A keep-alive connection pool to one base URL (http or https), made lazily inside
    the running loop that uses it (a new loop gets a new pool)."""

    def __init__(self, base_url: str, *, timeout_seconds: float, max_connections: int = 256
                 ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_seconds = timeout_seconds
        self.max_connections = max_connections
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) base URL: {base_url!r}")
        tls = ssl.create_default_context() if parts.scheme == "https" else None
        self._origin = Origin(parts.hostname, parts.port or (443 if tls else 80), tls)
        self._prefix = parts.path
        self._label = f"{parts.hostname}:{self._origin.port}"  # never the path: it holds ids
        self._pool: KeepAliveHttp | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _pool_for_loop(self) -> KeepAliveHttp:
        loop = asyncio.get_running_loop()
        if self._pool is None or self._loop is not loop:
            self._pool = KeepAliveHttp(
                self._origin, max_connections=self.max_connections,
                connect_timeout=min(self.timeout_seconds, 2.0),
                answer_timeout=self.timeout_seconds, idle_seconds=IDLE_SECONDS,
                retry_methods=IDEMPOTENT_METHODS)
            self._loop = loop
        return self._pool

    async def request(self, method: str, path: str, *, json_body: Any = None,
                      headers: Mapping[str, str] | None = None,
                      timeout: float | None = None) -> UpstreamResponse:
        send_headers = dict(headers) if headers else {}
        body = b""
        if json_body is not None:
            body = json.dumps(json_body, separators=(",", ":")).encode()
            send_headers["Content-Type"] = "application/json"
        try:
            answer = await self._pool_for_loop().request(
                method, self._prefix + path, send_headers, body,
                timeout=self.timeout_seconds if timeout is None else timeout)
        except NeverConnectedError as exc:
            raise UpstreamUnavailableError(f"{method} to {self._label}: {exc}") from None
        except ConnectTimeoutError as exc:
            # Nothing was sent, but reported as a timeout as the aiohttp client did (its
            # connect and pool waits were timeouts too): callers then never repeat it.
            raise UpstreamTimeoutError(f"{method} to {self._label}: {exc}") from None
        except MaybeProcessedError as exc:
            raise UpstreamTimeoutError(f"{method} to {self._label}: {exc}") from None
        return UpstreamResponse(answer.status, answer.headers, answer.body)

    async def aclose(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()
            self._pool = None
            # Lets the transports close before the loop goes away.
            await asyncio.sleep(0)


class HttpxUpstream:
    """For tests: an httpx client, e.g. over `httpx.ASGITransport(app)`."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def request(self, method: str, path: str, *, json_body: Any = None,
                      headers: Mapping[str, str] | None = None,
                      timeout: float | None = None) -> UpstreamResponse:
        try:
            response = await self.client.request(
                method, path, json=json_body, headers=dict(headers or {}),
                timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT)
        except httpx.TimeoutException:
            raise UpstreamTimeoutError(f"{method} timed out") from None
        except httpx.ConnectError as exc:
            raise UpstreamUnavailableError(type(exc).__name__) from None
        except httpx.HTTPError as exc:  # after the request was sent
            raise UpstreamTimeoutError(type(exc).__name__) from None
        return UpstreamResponse(response.status_code,
                                {k.lower(): v for k, v in response.headers.items()},
                                response.content)

    async def aclose(self) -> None:
        await self.client.aclose()

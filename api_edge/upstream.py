"""The HTTP client the edge uses for its internal hops (A -> B, B -> worker views).

aiohttp, not httpx: measured on the 2-core benchmark machine, an httpx.AsyncClient call
costs about 1.2 ms of CPU at low concurrency and over 5 ms with 300 requests in flight
(its connection pool scales badly with waiters); aiohttp costs about 0.1 ms. Each payment
makes three internal calls, so this decides whether the edge sustains hundreds of
requests per second. `HttpxUpstream` exists for tests that drive B in-process through
httpx's ASGI transport.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
import httpx


class UpstreamUnavailableError(Exception):
    """Connection refused or reset, DNS failure: nothing was answered."""


class UpstreamTimeoutError(UpstreamUnavailableError):
    """No answer in time: the request may or may not have been processed."""


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


class AiohttpUpstream:
    def __init__(self, base_url: str, *, timeout_seconds: float, max_connections: int = 256
                 ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_seconds = timeout_seconds
        self.max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    def _get_session(self) -> aiohttp.ClientSession:
        # Created lazily, inside the running loop that will use it.
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.max_connections),
                timeout=aiohttp.ClientTimeout(total=self.timeout_seconds,
                                              sock_connect=min(self.timeout_seconds, 2.0)),
                skip_auto_headers=("User-Agent",),
            )
        return self._session

    async def request(self, method: str, path: str, *, json_body: Any = None,
                      headers: Mapping[str, str] | None = None,
                      timeout: float | None = None) -> UpstreamResponse:
        data = None
        send_headers = dict(headers or {})
        if json_body is not None:
            data = json.dumps(json_body, separators=(",", ":")).encode()
            send_headers["Content-Type"] = "application/json"
        kwargs: dict[str, Any] = {}
        if timeout is not None:
            kwargs["timeout"] = aiohttp.ClientTimeout(total=timeout)
        try:
            async with self._get_session().request(
                method, self.base_url + path, data=data, headers=send_headers, **kwargs
            ) as response:
                body = await response.read()
                return UpstreamResponse(
                    response.status, {k.lower(): v for k, v in response.headers.items()}, body)
        except TimeoutError:
            raise UpstreamTimeoutError(f"{method} {path} timed out") from None
        except aiohttp.ClientError as exc:
            raise UpstreamUnavailableError(type(exc).__name__) from None

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            # Lets the connector's transports close before the loop goes away.
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
            raise UpstreamTimeoutError(f"{method} {path} timed out") from None
        except httpx.HTTPError as exc:
            raise UpstreamUnavailableError(type(exc).__name__) from None
        return UpstreamResponse(response.status_code,
                                {k.lower(): v for k, v in response.headers.items()},
                                response.content)

    async def aclose(self) -> None:
        await self.client.aclose()

"""The Braintree SDK's HTTP on the event loop, through the SDK's own `http_strategy` hook.

Why: the SDK is synchronous. Run on threads, C concurrent calls meant C threads contending
for the GIL with the worker's event loop: at 64 in flight we measured ~46 context switches
per payment and gateway calls taking ~35 % longer than the gateway itself, which capped
the executor well below Little's limit. Here each SDK call runs in a greenlet on the
loop's own thread; when the SDK asks for HTTP, the greenlet hands the request to the
loop's keep-alive client (`streams.keepalive_http`; aiohttp when a proxy is configured)
and the loop carries on until the answer arrives. The official SDK still builds every
request and parses every response; only the socket work is ours.

Errors come out as the SDK's own transport exceptions (connect/read timeout, connection
error), so the adapter classifies them exactly as it does the SDK's default transport.

Every request is bounded here, from the moment it holds a connection, and only from then:
waiting for a free connection sends nothing, so a call that never got one must never time
out as an unknown outcome (the adapter puts no whole-call bound around this transport).
"""

from __future__ import annotations

import asyncio
import ssl
import urllib.request
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

import aiohttp
import greenlet
from braintree import exceptions as bt_exc
from braintree.exceptions.http import connection_error as bt_conn
from braintree.exceptions.http import timeout_error as bt_timeout

from gateway import sdk_signatures, sdk_xml
from streams.keepalive_http import (
    AnswerTimeoutError,
    ConnectTimeoutError,
    KeepAliveHttp,
    MaybeProcessedError,
    NeverConnectedError,
    Origin,
)

T = TypeVar("T")


def call_budget(timeout: float) -> float:
    """The whole time a call gets once it holds a connection (or a thread), where the
    transport's own `timeout` applies per connect and per read (requests; aiohttp's
    sock_connect and sock_read): one of each, and a second of slack."""
    return timeout * 2 + 1


async def run_in_greenlet(fn: Callable[[], T]) -> T:
    """Run synchronous `fn` on this thread; every `await_in_greenlet` inside it is awaited
    here, in the calling task, so cancelling the task interrupts `fn` where it waits."""
    child = greenlet.greenlet(fn, parent=greenlet.getcurrent())
    request = child.switch()
    while not child.dead:
        try:
            answer = await request
        except BaseException as exc:  # includes CancelledError: raise it inside fn
            request = child.throw(exc)
        else:
            request = child.switch(answer)
    return cast(T, request)


def await_in_greenlet(awaitable: Awaitable[T]) -> T:
    """From synchronous code started by `run_in_greenlet`: wait for `awaitable`."""
    current = greenlet.getcurrent()
    if current.parent is None:
        raise RuntimeError("await_in_greenlet called outside run_in_greenlet")
    return cast(T, current.parent.switch(awaitable))


class AsyncioHttpStrategy:
    """A `braintree.Configuration(http_strategy=...)` transport backed by aiohttp.

    The SDK instantiates it as `strategy(config, environment)`; `max_connections` bounds
    concurrent HTTP calls like the thread pool's size did. A request's time counts from
    when it holds one of those connections: directly, the keep-alive pool bounds connecting
    and the answer (`SdkHttp`); through a proxy, `call_budget` bounds the whole exchange.
    """

    def __init__(self, config: Any, environment: Any, *, max_connections: int = 64) -> None:
        self.config = config
        self.environment = environment
        # Responses parsed on the C XML parser: the SDK's minidom parse was the largest
        # single cost of a payment in the worker's profile (see gateway.sdk_xml); the
        # SDK's per-call parameter check is remembered (gateway.sdk_signatures).
        sdk_xml.install_fast_parser()
        sdk_signatures.install_signature_memo()
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None
        self._proxy_slots: asyncio.Semaphore | None = None
        self._direct: SdkHttp | None = None
        # Each client belongs to the event loop it was made on; a new loop (a test's, a
        # restarted worker's) gets new ones.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._direct_loop: asyncio.AbstractEventLoop | None = None
        base = urlsplit(environment.base_url)
        self._ssl: ssl.SSLContext | None = None
        if base.scheme == "https":
            cafile = getattr(environment, "ssl_certificate", None)
            self._ssl = ssl.create_default_context(cafile=cafile)
        self._base_url = f"{base.scheme}://{base.netloc}"
        self._origin = Origin(base.hostname or "", base.port or (443 if self._ssl else 80),
                              self._ssl)
        # Proxies are read once: the SDK's default transport re-reads the environment on
        # every call, which cost ~8 % of the worker's CPU under load.
        proxies = urllib.request.getproxies()
        self._proxy = (None if urllib.request.proxy_bypass(base.hostname or "")
                       else proxies.get(base.scheme))

    # -- the SDK's strategy interface ------------------------------------------------------

    def http_do(self, http_verb: str, path: str, headers: dict[str, Any],
                request_body: Any) -> list[Any]:
        if isinstance(request_body, tuple):
            raise bt_exc.UnexpectedError("multipart uploads are not supported by this transport")
        return await_in_greenlet(self._request(http_verb, path, headers, request_body))

    def handle_exception(self, exception: BaseException) -> None:
        # http_do already raises the SDK's exception types.
        raise exception

    def close(self) -> None:
        """Synchronous close is not possible for an aiohttp session; see `aclose`."""

    async def aclose(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None
        self._proxy_slots = None
        if self._direct is not None:
            await self._direct.aclose()
        self._direct = None

    # -- internals -------------------------------------------------------------------------

    def _session_for_loop(self) -> tuple[aiohttp.ClientSession, asyncio.Semaphore]:
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._loop is not loop \
                or self._proxy_slots is None:
            timeout = aiohttp.ClientTimeout(total=None, sock_connect=self.config.timeout,
                                            sock_read=self.config.timeout)
            # No connector limit: `_proxy_slots` is the bound, taken before the call's
            # budget starts, so the connector never queues a call inside its budget.
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, ssl=self._ssl or False),
                timeout=timeout, trust_env=False, auto_decompress=True)
            self._proxy_slots = asyncio.Semaphore(self._max_connections)
            self._loop = loop
        return self._session, self._proxy_slots

    def _direct_for_loop(self) -> SdkHttp:
        loop = asyncio.get_running_loop()
        if self._direct is None or self._direct_loop is not loop:
            self._direct = SdkHttp(self._origin, max_connections=self._max_connections,
                                   connect_timeout=self.config.timeout,
                                   read_timeout=self.config.timeout)
            self._direct_loop = loop
        return self._direct

    async def _request(self, verb: str, url: str, headers: dict[str, Any],
                       body: Any) -> list[Any]:
        plain_headers = {k: v.decode("ascii") if isinstance(v, bytes) else str(v)
                         for k, v in headers.items()}
        data = body.encode("utf-8") if isinstance(body, str) and body else (body or None)
        if self._proxy is None and url.startswith(self._base_url):
            status, answer = await self._direct_for_loop().request(
                verb, url[len(self._base_url):] or "/", plain_headers, data or b"")
            try:
                return [status, answer.decode("utf-8")]
            except UnicodeDecodeError as exc:
                raise bt_exc.UnexpectedError(exc) from exc
        # Through a proxy: aiohttp speaks CONNECT and proxy authentication. Its sock_read
        # is per read, so a trickling answer needs the whole-exchange budget, which starts
        # once a slot is held: a call still waiting for one has sent nothing. The budget
        # running out while connecting counts as maybe sent, which is only conservative:
        # sock_connect ends a connect attempt well within it.
        session, slots = self._session_for_loop()
        try:
            async with slots:
                async with asyncio.timeout(call_budget(self.config.timeout)):
                    async with session.request(verb, url, headers=plain_headers, data=data,
                                               proxy=self._proxy) as response:
                        return [response.status, await response.text()]
        except aiohttp.ConnectionTimeoutError as exc:
            raise bt_timeout.ConnectTimeoutError(exc) from exc
        except (aiohttp.SocketTimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise bt_timeout.ReadTimeoutError(exc) from exc
        except aiohttp.ClientConnectorError as exc:
            # Never connected: nothing reached the gateway (see classify/_never_connected).
            raise bt_conn.ConnectionError(exc) from exc
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError,
                aiohttp.ClientPayloadError) as exc:
            raise bt_conn.ConnectionError(exc) from exc
        except TimeoutError as exc:
            raise bt_timeout.TimeoutError(exc) from exc
        except aiohttp.ClientError as exc:
            raise bt_exc.UnexpectedError(exc) from exc


class SdkHttp:
    """The keep-alive pool (`streams.keepalive_http`) to the gateway's origin, its errors
    raised as the SDK's transport exceptions, which `gateway.error_mapping` classifies:

    - never connected -> ConnectionError wrapping `NeverConnectedError` (nothing was sent,
      see `error_mapping._never_connected`); connect timeout -> ConnectTimeoutError;
    - no whole answer in time -> ReadTimeoutError; the connection dropped or the answer
      was malformed -> ConnectionError: the call may have been applied.

    A request waits for a free connection as long as it takes (nothing is sent meanwhile,
    and every holder's time is bounded, so the wait ends); holding one, connecting takes
    at most `connect_timeout` and the answer at most `read_timeout` from the write. Those
    two bound every request that may have been sent; no outer deadline is needed.
    """

    def __init__(self, origin: Origin, *, max_connections: int, connect_timeout: float,
                 read_timeout: float) -> None:
        self._pool = KeepAliveHttp(origin, max_connections=max_connections,
                                   connect_timeout=connect_timeout,
                                   answer_timeout=read_timeout)

    async def request(self, method: str, target: str, headers: dict[str, str],
                      body: bytes) -> tuple[int, bytes]:
        """Status and (decoded) body of one request; SDK transport errors on failure."""
        try:
            answer = await self._pool.request(method, target, headers, body)
        except NeverConnectedError as exc:
            raise bt_conn.ConnectionError(exc) from exc
        except ConnectTimeoutError as exc:
            raise bt_timeout.ConnectTimeoutError(exc) from exc
        except AnswerTimeoutError as exc:
            raise bt_timeout.ReadTimeoutError(exc) from exc
        except MaybeProcessedError as exc:  # dropped, malformed
            raise bt_conn.ConnectionError(exc) from exc
        return answer.status, answer.body

    async def aclose(self) -> None:
        await self._pool.aclose()

"""A keep-alive HTTP/1.1 client for one origin, on an asyncio protocol parsed by httptools.

Used for the worker's gateway calls (`gateway.async_transport`, which maps the errors below
to the Braintree SDK's transport exceptions) and for the edge's internal hops, A -> B and
B -> worker views (`api_edge.upstream`, which maps them to its Upstream errors). It lives
in `streams/` because that is the package every paystream process already shares for its
runtime plumbing (settings precedence, logs, GC tuning), and neither of its two users may
own it: the gateway is the Braintree port and the edge is Payments-A/B. It imports neither
braintree nor any web framework, and each user keeps its own error mapping.

Why not aiohttp: an internal call or a gateway call is one small request and one small
answer on a pooled connection, and aiohttp's general machinery (request and response
objects, header multidicts, URL objects, stream readers, timers) cost ~12 % of the
worker's CPU per payment in `paystream bench executor`'s profile, and 38 % of
Payments-B's and 22 % of Payments-A's at 300 checkouts/s. Here a request is one `write`
of bytes, the answer is parsed by httptools (C, the parser uvicorn uses) straight into a
status, lower-cased headers and a body, and each call arms one timer.

What a caller needs to classify a failure is kept exact:
- `NotSentError`: nothing was sent.
  - `NeverConnectedError`: the connection could not be made (refused, unreachable, name
    not resolved, TLS handshake failed);
  - `ConnectTimeoutError`: no connection within the time (connecting, or waiting for a
    free one when the pool is full).
- `MaybeProcessedError`: the request was written, so it may have been processed.
  - `AnswerTimeoutError`: no whole answer within the time;
  - `IncompleteAnswerError`: the connection closed before the whole answer;
  - `MalformedAnswerError`: bytes that are not HTTP, or a body that cannot be decoded.
A connection is reused only after a complete answer that allows keep-alive; one that timed
out, failed or was cancelled mid-call is closed, so a late answer can never be read as the
next call's. Only when the caller lists the method as safe to repeat (`retry_methods`) is a
call that found its *reused* connection closed before any answer byte sent once more on a
new connection (RFC 9112 section 9.3.1.1, as aiohttp does for idempotent methods).
HEAD is not supported (its answer's framing differs).
"""

from __future__ import annotations

import asyncio
import gzip
import ssl
import zlib
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import NamedTuple, cast

import httptools

# RFC 9110 section 9.2.2, as aiohttp lists them (HEAD left out: not supported here).
IDEMPOTENT_METHODS = frozenset({"GET", "OPTIONS", "TRACE", "PUT", "DELETE"})


class HttpClientError(Exception):
    """A call that got no usable answer."""


class NotSentError(HttpClientError):
    """Nothing was sent: the call cannot have had any effect."""


class NeverConnectedError(NotSentError):
    """The TCP (or TLS) connection was not established: the request was never sent."""


class ConnectTimeoutError(NotSentError):
    """No connection within the time (connect, or waiting for a free one)."""


class MaybeProcessedError(HttpClientError):
    """The request was written and no usable answer came: it may have been processed."""


class AnswerTimeoutError(MaybeProcessedError):
    """No whole answer within the time."""


class IncompleteAnswerError(MaybeProcessedError):
    """The connection closed before the whole answer arrived."""


class MalformedAnswerError(MaybeProcessedError):
    """The answer is not HTTP, or its body cannot be decoded."""


@dataclass(frozen=True)
class Origin:
    host: str
    port: int
    ssl: ssl.SSLContext | None

    @property
    def host_header(self) -> bytes:
        default = 443 if self.ssl is not None else 80
        host = self.host if self.port == default else f"{self.host}:{self.port}"
        return host.encode("idna")


class Answer(NamedTuple):
    status: int
    headers: dict[str, str]  # lower-case names; the last of a repeated header
    body: bytes


class _Connection(asyncio.Protocol):
    """One connection; at most one request on it at a time (no pipelining)."""

    def __init__(self, on_lost: Callable[[_Connection], None]) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self._on_lost = on_lost
        self._parser = httptools.HttpResponseParser(self)
        self._answer: asyncio.Future[Answer] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._received = False
        self._status = 0
        self._encoding = b""
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []
        self._keep_alive = False

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TCP transport is not an asyncio.Transport subclass, but is one.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self._answer is None or self._answer.done():
            # Bytes nobody asked for: the connection is out of step, never reuse it.
            self.close()
            return
        self._received = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(MalformedAnswerError(f"malformed answer: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(IncompleteAnswerError(
            f"connection closed before the whole answer arrived: {exc or 'EOF'}"))
        self._on_lost(self)

    # -- httptools callbacks ---------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self._answer is None or self._answer.done():
            # A second answer in the same bytes: out of step, never reuse the connection.
            self.close()

    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        self._headers[key] = value.decode("latin-1").strip()
        if key == "content-encoding":
            self._encoding = value.strip().lower()

    def on_headers_complete(self) -> None:
        self._status = self._parser.get_status_code()
        self._keep_alive = self._parser.should_keep_alive()

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._answer is not None and not self._answer.done():
            self._answer.set_result(Answer(self._status, self._headers, b"".join(self._body)))
        if not self._keep_alive:
            self.close()

    # -- use -------------------------------------------------------------------------------

    def send(self, request: bytes, timeout: float) -> asyncio.Future[Answer]:
        assert self.transport is not None
        loop = asyncio.get_running_loop()
        self._answer = loop.create_future()
        self._received = False
        self._status, self._encoding, self._headers, self._body = 0, b"", {}, []
        self._timer = loop.call_later(timeout, self._timed_out)
        self.transport.write(request)
        return self._answer

    @property
    def received_nothing(self) -> bool:
        """No byte of the last call's answer arrived."""
        return not self._received

    @property
    def encoding(self) -> bytes:
        return self._encoding

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def _timed_out(self) -> None:
        self._timer = None
        self._fail(AnswerTimeoutError("no whole answer within the timeout"))

    def _fail(self, exc: Exception) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._answer is not None and not self._answer.done():
            self._answer.set_exception(exc)
        self.close()


class KeepAliveHttp:
    """A bounded pool of keep-alive connections to one origin, for one event loop.

    `request(..., timeout=None)` waits for a free connection as long as it takes, then
    gives connecting `connect_timeout` and the answer `answer_timeout` from the write; with
    a `timeout`, that is the whole call's budget (waiting for a free connection,
    connecting, at most `connect_timeout` of it, and the answer). `idle_seconds` drops
    connections idle longer than that before use, so a server's own idle close (uvicorn:
    5 s by default) is not raced.
    """

    def __init__(self, origin: Origin, *, max_connections: int, connect_timeout: float,
                 answer_timeout: float, idle_seconds: float | None = None,
                 retry_methods: frozenset[str] = frozenset()) -> None:
        self.origin = origin
        self._slots = asyncio.Semaphore(max_connections)
        self._idle: deque[_Connection] = deque()
        self._open: set[_Connection] = set()
        self._connect_timeout = connect_timeout
        self._answer_timeout = answer_timeout
        self._idle_seconds = idle_seconds
        self._retry_methods = retry_methods
        self._host_line = b"\r\nHost: " + origin.host_header

    async def request(self, method: str, target: str, headers: Mapping[str, str],
                      body: bytes, *, timeout: float | None = None) -> Answer:
        """The answer to one request (body decoded); an `HttpClientError` on failure."""
        message = self._message(method, target, headers, body)
        if timeout is None:
            async with self._slots:
                return await self._exchange(method, message, None)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        if self._slots.locked():
            try:
                await asyncio.wait_for(self._slots.acquire(), timeout)
            except TimeoutError:
                raise ConnectTimeoutError(
                    f"no free connection within {timeout:g} s") from None
        else:
            await self._slots.acquire()
        try:
            return await self._exchange(method, message, deadline)
        finally:
            self._slots.release()

    async def aclose(self) -> None:
        """Closes every connection, idle or in use (a call in flight fails)."""
        self._idle.clear()
        for connection in list(self._open):
            connection.close()

    async def _exchange(self, method: str, message: bytes, deadline: float | None) -> Answer:
        loop = asyncio.get_running_loop()
        connection = self._idle_connection(loop.time())
        reused = connection is not None
        first_failure: IncompleteAnswerError | None = None
        while True:
            if connection is None:
                connect_left = self._connect_timeout if deadline is None else \
                    min(self._connect_timeout, deadline - loop.time())
                try:
                    connection = await self._connect(max(0.0, connect_left))
                except NotSentError:
                    if first_failure is not None:
                        raise first_failure from None  # the first send may have landed
                    raise
            left = self._answer_timeout if deadline is None else deadline - loop.time()
            if left <= 0.0:
                connection.idle_since = loop.time()
                self._idle.append(connection)
                if first_failure is not None:
                    raise first_failure from None
                raise ConnectTimeoutError("no time left to send the request")
            try:
                answer = await connection.send(message, left)
            except IncompleteAnswerError as exc:
                # A reused connection the server had closed (its idle close raced ours):
                # nothing of an answer came. Sent again only where repeating is safe.
                if reused and connection.received_nothing and method in self._retry_methods:
                    reused, connection, first_failure = False, None, exc
                    continue
                raise
            except BaseException:
                # Timed out, or cancelled mid-call: the answer may still come, on a
                # connection no one will read again.
                connection.close()
                raise
            break
        encoding = connection.encoding
        if not connection.closed:
            connection.idle_since = loop.time()
            self._idle.append(connection)
        if encoding not in (b"", b"identity"):
            return Answer(answer.status, answer.headers, _decoded(answer.body, encoding))
        return answer

    def _idle_connection(self, now: float) -> _Connection | None:
        while self._idle:
            connection = self._idle.pop()  # most recently used: least likely to be stale
            if connection.closed or connection.transport is None \
                    or connection.transport.is_closing():
                continue
            if self._idle_seconds is not None and now - connection.idle_since \
                    > self._idle_seconds:
                connection.close()
                continue
            return connection
        return None

    async def _connect(self, timeout: float) -> _Connection:
        loop = asyncio.get_running_loop()
        origin = self.origin
        try:
            _, connection = await asyncio.wait_for(
                loop.create_connection(lambda: _Connection(self._open.discard),
                                       origin.host, origin.port, ssl=origin.ssl), timeout)
        except TimeoutError:
            raise ConnectTimeoutError(f"no connection within {timeout:g} s") from None
        except OSError as exc:  # refused, unreachable, not resolved, TLS handshake
            raise NeverConnectedError(f"{type(exc).__name__}: {exc}") from exc
        self._open.add(connection)
        return connection

    def _message(self, method: str, target: str, headers: Mapping[str, str],
                 body: bytes) -> bytes:
        if method == "HEAD":
            raise ValueError("HEAD is not supported")
        if " " in target or "\r" in target or "\n" in target:
            raise ValueError("request target contains a space or a line break")
        lines = [method.encode("ascii"), b" ", target.encode("ascii"), b" HTTP/1.1",
                 self._host_line]
        for name, value in headers.items():
            if name.lower() in ("host", "content-length", "connection", "transfer-encoding"):
                continue
            if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
                raise ValueError(f"header {name!r} contains a line break")
            lines.append(f"\r\n{name}: {value}".encode("latin-1"))
        lines.append(b"\r\nContent-Length: %d\r\n\r\n" % len(body))
        lines.append(body)
        return b"".join(lines)


def _decoded(body: bytes, encoding: bytes) -> bytes:
    try:
        if encoding in (b"gzip", b"x-gzip"):
            return gzip.decompress(body)
        if encoding == b"deflate":
            return zlib.decompress(body)
    except (OSError, zlib.error, EOFError) as exc:
        raise MalformedAnswerError(f"bad {encoding!r} body: {exc}") from exc
    raise MalformedAnswerError(f"unsupported content-encoding {encoding!r}")

"""A keep-alive HTTP/1.1 client for the one gateway origin, on an asyncio protocol.

Why not aiohttp: a gateway call is one small request and one small answer on a pooled
connection, and aiohttp's general machinery (request and response objects, header
multidicts, URL objects, stream readers, timers) cost ~12 % of the worker's CPU per
payment in `paystream bench executor`'s profile. Here a request is one `write` of bytes
built from the SDK's headers, and the answer is parsed by httptools (C, the parser uvicorn
uses) straight into a status and a body.

What a caller needs to classify a failure is kept exact (see `gateway.error_mapping`):
- the connection could not be made (refused, unreachable, name not resolved) →
  `NeverConnectedError` inside the SDK's ConnectionError: nothing was sent;
- connect took longer than the timeout → the SDK's ConnectTimeoutError: nothing was sent;
- the request was written and no complete answer came within the timeout → the SDK's
  ReadTimeoutError; the connection dropped or the answer was malformed → the SDK's
  ConnectionError: the call may have been applied.
A connection is reused only after a complete answer that allows keep-alive; one that timed
out or failed is closed, so a late answer can never be read as the next call's.
"""

from __future__ import annotations

import asyncio
import gzip
import ssl
import zlib
from collections import deque
from dataclasses import dataclass
from typing import cast

import httptools
from braintree.exceptions.http import connection_error as bt_conn
from braintree.exceptions.http import timeout_error as bt_timeout


class NeverConnectedError(ConnectionError):
    """The TCP (or TLS) connection was not established: the request was never sent."""


class IncompleteAnswerError(ConnectionError):
    """The connection closed, or sent bytes that are not HTTP, before a whole answer."""


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


class _Connection(asyncio.Protocol):
    """One connection; at most one request on it at a time (no pipelining)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._parser = httptools.HttpResponseParser(self)
        self._answer: asyncio.Future[tuple[int, bytes]] | None = None
        self._status = 0
        self._encoding = b""
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
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(IncompleteAnswerError(f"malformed answer: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(IncompleteAnswerError(
            f"connection closed before the whole answer arrived: {exc or 'EOF'}"))

    # -- httptools callbacks ---------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"content-encoding":
            self._encoding = value.strip().lower()

    def on_headers_complete(self) -> None:
        self._status = self._parser.get_status_code()
        self._keep_alive = self._parser.should_keep_alive()

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        if self._answer is not None and not self._answer.done():
            self._answer.set_result((self._status, b"".join(self._body)))
        if not self._keep_alive:
            self.close()

    # -- use -------------------------------------------------------------------------------

    def send(self, request: bytes) -> asyncio.Future[tuple[int, bytes]]:
        assert self.transport is not None
        self._answer = asyncio.get_running_loop().create_future()
        self._status, self._encoding, self._body = 0, b"", []
        self.transport.write(request)
        return self._answer

    @property
    def encoding(self) -> bytes:
        return self._encoding

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def _fail(self, exc: Exception) -> None:
        if self._answer is not None and not self._answer.done():
            self._answer.set_exception(exc)
        self.close()


class KeepAliveHttp:
    """A bounded pool of keep-alive connections to one origin."""

    def __init__(self, origin: Origin, *, max_connections: int, connect_timeout: float,
                 read_timeout: float) -> None:
        self.origin = origin
        self._slots = asyncio.Semaphore(max_connections)
        self._idle: deque[_Connection] = deque()
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout

    async def request(self, method: str, target: str, headers: dict[str, str],
                      body: bytes) -> tuple[int, bytes]:
        """Status and (decoded) body of one request; SDK transport errors on failure."""
        message = self._message(method, target, headers, body)
        async with self._slots:
            connection = self._idle_connection() or await self._connect()
            try:
                status, raw = await asyncio.wait_for(connection.send(message),
                                                     self._read_timeout)
            except TimeoutError as exc:
                connection.close()
                raise bt_timeout.ReadTimeoutError(exc) from exc
            except IncompleteAnswerError as exc:
                raise bt_conn.ConnectionError(exc) from exc
            except BaseException:
                # Cancelled mid-call: the answer may still come, on a connection no one
                # will read again.
                connection.close()
                raise
            encoding = connection.encoding
            if not connection.closed:
                self._idle.append(connection)
        return status, _decoded(raw, encoding)

    async def aclose(self) -> None:
        while self._idle:
            self._idle.pop().close()

    def _idle_connection(self) -> _Connection | None:
        while self._idle:
            connection = self._idle.pop()  # most recently used: least likely to be stale
            if not connection.closed:
                return connection
        return None

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        origin = self.origin
        try:
            _, connection = await asyncio.wait_for(
                loop.create_connection(_Connection, origin.host, origin.port,
                                       ssl=origin.ssl), self._connect_timeout)
        except TimeoutError as exc:
            raise bt_timeout.ConnectTimeoutError(exc) from exc
        except OSError as exc:  # refused, unreachable, not resolved, TLS handshake
            raise bt_conn.ConnectionError(NeverConnectedError(str(exc))) from exc
        return connection

    def _message(self, method: str, target: str, headers: dict[str, str],
                 body: bytes) -> bytes:
        lines = [f"{method} {target} HTTP/1.1".encode("ascii"),
                 b"Host: " + self.origin.host_header]
        for name, value in headers.items():
            if name.lower() in ("host", "content-length", "connection"):
                continue
            if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
                raise ValueError(f"header {name!r} contains a line break")
            lines.append(f"{name}: {value}".encode("latin-1"))
        lines.append(b"Content-Length: %d" % len(body))
        return b"\r\n".join(lines) + b"\r\n\r\n" + body


def _decoded(body: bytes, encoding: bytes) -> bytes:
    if encoding in (b"", b"identity"):
        return body
    try:
        if encoding in (b"gzip", b"x-gzip"):
            return gzip.decompress(body)
        if encoding == b"deflate":
            return zlib.decompress(body)
    except (OSError, zlib.error, EOFError) as exc:
        raise bt_conn.ConnectionError(IncompleteAnswerError(f"bad {encoding!r} body: {exc}")) \
            from exc
    raise bt_conn.ConnectionError(IncompleteAnswerError(
        f"unsupported content-encoding {encoding!r}"))

"""A raw HTTP/1.1 server for the keep-alive client tests: each connection runs the test's
own handler on bare streams, so it can drop, stall or garble an answer on purpose.

A plain module at the top of tests/, importable from every test folder: pytest puts tests/
on sys.path for tests/conftest.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def read_request(reader: asyncio.StreamReader) -> bytes:
    """The next request on the connection, head and Content-Length body, as it arrived."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return head + await reader.readexactly(length)


def http_answer(body: bytes, *, content_type: bytes, extra: bytes = b"",
                status: bytes = b"200 OK") -> bytes:
    """A whole answer; `extra` is header lines, each ending in CRLF."""
    return (b"HTTP/1.1 " + status + b"\r\nContent-Type: " + content_type + b"\r\n" + extra
            + b"Content-Length: %d\r\n\r\n" % len(body) + body)


async def refused_port() -> int:
    """A port on 127.0.0.1 that nobody listens on (bound by a server, then closed), so a
    connection to it is refused: the one failure where nothing was sent."""
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port: int = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    return port


def counting_handler(answer: bytes, delay: float) -> tuple[Handler, list[int]]:
    """A handler that answers each request with `answer` after `delay`, and a one-item list
    holding the most requests it held at once: what a connection cap is tested by."""
    now, peak = [0], [0]

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await read_request(reader)
            now[0] += 1
            peak[0] = max(peak[0], now[0])
            await asyncio.sleep(delay)
            now[0] -= 1
            writer.write(answer)

    return handler, peak


@asynccontextmanager
async def raw_server(handler: Handler) -> AsyncIterator[tuple[int, list[int]]]:
    """Runs `handler` per connection on 127.0.0.1; yields the port and a list that gets one
    entry per connection."""
    connections: list[int] = []

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        try:
            await handler(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # how a looping handler ends: the client closed the connection
        finally:
            writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1], connections
    finally:
        server.close()
        await server.wait_closed()

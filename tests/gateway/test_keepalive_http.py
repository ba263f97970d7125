"""The gateway's keep-alive HTTP client (`streams.keepalive_http` with the SDK's errors,
`gateway.async_transport.SdkHttp`) against raw servers that misbehave on purpose.

What matters is the classification a failure gets (nothing sent vs. maybe applied) and
that an answer is never read by the wrong call; the happy path against the simulator is
covered by every adapter test.
"""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

import pytest
from braintree.exceptions.http import connection_error as bt_conn
from braintree.exceptions.http import timeout_error as bt_timeout
from raw_http_server import (
    Handler,
    counting_handler,
    http_answer,
    raw_server,
    read_request,
    refused_port,
)

from gateway.async_transport import SdkHttp
from gateway.error_mapping import classify
from gateway.errors import OutcomeUnknownError, TransientGatewayError
from streams.keepalive_http import Origin

_answer = partial(http_answer, content_type=b"application/xml")


@asynccontextmanager
async def serving(handler: Handler) -> AsyncIterator[tuple[SdkHttp, list[int]]]:
    """A client for a server running `handler` per connection; the list counts connections."""
    async with raw_server(handler) as (port, connections):
        client = SdkHttp(Origin("127.0.0.1", port, None), max_connections=4,
                         connect_timeout=1.0, read_timeout=0.3)
        try:
            yield client, connections
        finally:
            await client.aclose()


async def test_answers_and_reuses_one_connection() -> None:
    seen: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            request = await read_request(reader)
            seen.append(request)
            writer.write(_answer(b"<ok>" + request.split(b"\r\n\r\n", 1)[1] + b"</ok>"))

    async with serving(handler) as (client, connections):
        for i in range(3):
            status, body = await client.request("POST", "/merchants/m/transactions",
                                                {"Accept": "application/xml"}, b"<n>%d</n>" % i)
            assert (status, body) == (200, b"<ok><n>%d</n></ok>" % i)
    assert len(connections) == 1
    assert seen[0].startswith(b"POST /merchants/m/transactions HTTP/1.1\r\nHost: 127.0.0.1:")
    assert b"Content-Length: 8\r\n" in seen[0]


async def test_gzip_and_chunked_answers_are_decoded() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        packed = gzip.compress(b"<transaction/>")
        writer.write(b"HTTP/1.1 201 Created\r\nContent-Encoding: gzip\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n"
                     + b"%x\r\n" % 5 + packed[:5] + b"\r\n"
                     + b"%x\r\n" % (len(packed) - 5) + packed[5:] + b"\r\n0\r\n\r\n")
        await reader.read()

    async with serving(handler) as (client, _):
        assert await client.request("GET", "/t", {}, b"") == (201, b"<transaction/>")


async def test_a_close_after_the_answer_is_not_reused() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(_answer(b"<a/>", extra=b"Connection: close\r\n"))
        await writer.drain()

    async with serving(handler) as (client, connections):
        assert (await client.request("GET", "/a", {}, b""))[1] == b"<a/>"
        assert (await client.request("GET", "/a", {}, b""))[1] == b"<a/>"
    assert len(connections) == 2


@pytest.mark.parametrize(("reply", "then_close"), [
    # The connection drops halfway through the answer.
    (b"HTTP/1.1 201 Created\r\nContent-Length: 100\r\n\r\n<partial", True),
    # Something that is not HTTP comes back, and the connection stays open.
    (b"SMTP ready\r\n\r\n", False),
], ids=["dropped", "malformed"])
async def test_a_broken_answer_is_a_maybe_applied_connection_error(
        reply: bytes, then_close: bool) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(reply)
        await writer.drain()
        if not then_close:
            await reader.read()

    async with serving(handler) as (client, _):
        with pytest.raises(bt_conn.ConnectionError) as caught:
            await client.request("POST", "/t", {}, b"<sale/>")
    assert isinstance(classify(caught.value, "sale", mutating=True), OutcomeUnknownError)


async def test_a_late_answer_is_never_read_by_the_next_call() -> None:
    calls: list[int] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await read_request(reader)
            calls.append(1)
            if len(calls) == 1:
                await asyncio.sleep(0.5)  # past the client's read timeout
                writer.write(_answer(b"<late/>"))
            else:
                writer.write(_answer(b"<second/>"))

    async with serving(handler) as (client, connections):
        with pytest.raises(bt_timeout.ReadTimeoutError) as caught:
            await client.request("POST", "/t", {}, b"<first/>")
        assert isinstance(classify(caught.value, "sale", mutating=True), OutcomeUnknownError)
        assert await client.request("POST", "/t", {}, b"<second/>") == (200, b"<second/>")
    assert len(connections) == 2


async def test_a_refused_connection_is_transient_because_nothing_was_sent() -> None:
    port = await refused_port()
    client = SdkHttp(Origin("127.0.0.1", port, None), max_connections=1,
                     connect_timeout=1.0, read_timeout=1.0)
    with pytest.raises(bt_conn.ConnectionError) as caught:
        await client.request("POST", "/t", {}, b"<sale/>")
    error = classify(caught.value, "sale", mutating=True)
    assert isinstance(error, TransientGatewayError)
    assert not isinstance(error, OutcomeUnknownError)


async def test_header_values_cannot_inject_lines() -> None:
    client = SdkHttp(Origin("127.0.0.1", 9, None), max_connections=1,
                     connect_timeout=1.0, read_timeout=1.0)
    with pytest.raises(ValueError, match="line break"):
        await client.request("GET", "/t", {"X-Evil": "a\r\nHost: elsewhere"}, b"")


def test_works_on_uvloop_as_the_worker_runs_it() -> None:
    # The worker runs on uvloop, whose transports are not asyncio's classes.
    import uvloop

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await read_request(reader)
            writer.write(_answer(b"<ok/>"))

    async def scenario() -> list[tuple[int, bytes]]:
        async with serving(handler) as (client, _):
            return [await client.request("GET", "/t", {}, b"") for _ in range(2)]

    loop = uvloop.new_event_loop()
    try:
        assert loop.run_until_complete(scenario()) == [(200, b"<ok/>")] * 2
    finally:
        loop.close()


async def test_never_more_requests_at_once_than_connections() -> None:
    # The worker's in-flight cap C is this pool's size: the gateway never sees more.
    handler, peak = counting_handler(_answer(b"<ok/>"), 0.02)

    async with serving(handler) as (client, connections):  # max_connections=4
        answers = await asyncio.gather(*(client.request("GET", "/t", {}, b"")
                                         for _ in range(20)))
    assert answers == [(200, b"<ok/>")] * 20
    assert peak[0] == 4
    assert len(connections) == 4

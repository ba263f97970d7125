"""The edge's internal HTTP client (`KeepAliveUpstream`) against raw servers that drop,
stall and garble answers on purpose.

What matters is the error a failure becomes: `UpstreamUnavailableError` alone only when
nothing was sent (a view client may then ask another worker, even for a write), and
`UpstreamTimeoutError` whenever the request may have been processed; and that an answer is
never read by the wrong call.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

import pytest
from pydantic import SecretStr
from raw_http_server import (
    Handler,
    counting_handler,
    http_answer,
    raw_server,
    read_request,
    refused_port,
)

from api_edge import upstream as upstream_module
from api_edge.auth import AuthSettings
from api_edge.facade import FacadeDeps
from api_edge.orchestrator import OrchestratorDeps
from api_edge.settings import EdgeSettings
from api_edge.upstream import (
    KeepAliveUpstream,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
)
from api_edge.worker_views import WorkerViews

_answer = partial(http_answer, content_type=b"application/json")


@asynccontextmanager
async def serving(handler: Handler, *, timeout: float = 0.3, max_connections: int = 4,
                  path: str = "") -> AsyncIterator[tuple[KeepAliveUpstream, list[int]]]:
    """An upstream for a server running `handler` per connection (the list counts them)."""
    async with raw_server(handler) as (port, connections):
        client = KeepAliveUpstream(f"http://127.0.0.1:{port}{path}", timeout_seconds=timeout,
                                   max_connections=max_connections)
        try:
            yield client, connections
        finally:
            await client.aclose()


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while True:
        request = await read_request(reader)
        head, body = request.split(b"\r\n\r\n", 1)
        echoed = json.dumps({"head": head.decode(), "body": body.decode()}).encode()
        writer.write(_answer(echoed, extra=b"X-Request-Id: r1\r\nRetry-After: 2\r\n"))


async def test_json_in_json_out_on_one_reused_connection() -> None:
    async with serving(_echo, path="/base") as (client, connections):
        for i in range(3):
            response = await client.request(
                "POST", "/internal/v1/payments", json_body={"n": i},
                headers={"Authorization": "Bearer t", "Idempotency-Key": f"k{i}"})
            assert response.status == 200
            seen = response.json()
            head = seen["head"].split("\r\n")
            assert head[0] == "POST /base/internal/v1/payments HTTP/1.1"
            assert "Content-Type: application/json" in head
            assert f"Idempotency-Key: k{i}" in head
            assert seen["body"] == f'{{"n":{i}}}'
            # Header names lower-cased, as the callers look them up.
            assert response.headers["retry-after"] == "2"
            assert response.headers["content-type"] == "application/json"
        got = await client.request("GET", "/orders/o1")
        assert "Content-Length: 0" in got.json()["head"]
        assert got.json()["body"] == ""
    assert len(connections) == 1


async def test_a_refused_connection_is_unavailable_and_never_a_timeout() -> None:
    port = await refused_port()
    client = KeepAliveUpstream(f"http://127.0.0.1:{port}", timeout_seconds=1.0)
    with pytest.raises(UpstreamUnavailableError) as caught:
        await client.request("POST", "/wallets/c/methods", json_body={"nonce": "n"})
    assert not isinstance(caught.value, UpstreamTimeoutError)
    await client.aclose()


async def test_a_stalled_answer_times_out_within_the_request_timeout() -> None:
    async def stall(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await reader.read()  # never answers

    async with serving(stall, timeout=5.0) as (client, _):
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(UpstreamTimeoutError):
            await client.request("GET", "/orders/o1", timeout=0.2)
        assert loop.time() - started < 1.0


@pytest.mark.parametrize(("reply", "then_close"), [
    (b"", True),  # the request was read, then the connection dropped
    (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"partial", True),
    (b"SMTP ready\r\n\r\n", False),  # not HTTP, and the connection stays open
], ids=["dropped", "dropped-midway", "garbled"])
async def test_a_lost_or_garbled_answer_may_have_been_processed(
        reply: bytes, then_close: bool) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(reply)
        await writer.drain()
        if not then_close:
            await reader.read()

    async with serving(handler) as (client, connections):
        # A write on a new connection: never retried, never reported as "not sent".
        with pytest.raises(UpstreamTimeoutError) as caught:
            await client.request(
                "POST", "/wallets/cust-1/methods/tok_secret", json_body={"nonce": "n"})
        # Ids and tokens in the path never reach the message (it may be logged).
        assert "tok_secret" not in str(caught.value)
        assert len(connections) == 1


async def test_a_late_answer_is_never_read_by_the_next_call() -> None:
    calls: list[int] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await read_request(reader)
            calls.append(1)
            if len(calls) == 1:
                await asyncio.sleep(0.5)  # past the client's timeout
                writer.write(_answer(b'{"late":true}'))
            else:
                writer.write(_answer(b'{"second":true}'))

    async with serving(handler) as (client, connections):
        with pytest.raises(UpstreamTimeoutError):
            await client.request("GET", "/orders/o1")
        assert (await client.request("GET", "/orders/o1")).json() == {"second": True}
    assert len(connections) == 2


async def test_a_garbled_connection_is_not_reused() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        if len(seen) == 0:
            seen.append(1)
            # A whole answer, then bytes nobody asked for.
            writer.write(_answer(b"{}") + b"HTTP/1.1 200 OK\r\n")
        else:
            writer.write(_answer(b'{"fresh":true}'))
        await reader.read()

    seen: list[int] = []
    async with serving(handler) as (client, connections):
        assert (await client.request("GET", "/orders/o1")).json() == {}
        await asyncio.sleep(0.05)
        assert (await client.request("GET", "/orders/o1")).json() == {"fresh": True}
    assert len(connections) == 2


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_a_reused_connection_the_server_closed_is_retried_only_when_safe(
        method: str) -> None:
    # The server's idle close racing the next request: it reads the second request and
    # closes without a byte of answer. A GET is sent again on a new connection; a POST
    # may have been processed and is not.
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        number = len(connections)
        await read_request(reader)
        writer.write(_answer(b'{"n":%d}' % number))
        if number == 1:
            await read_request(reader)
            return  # closes
        while True:
            await read_request(reader)
            writer.write(_answer(b'{"n":%d}' % number))

    async with serving(handler) as (client, connections):
        assert (await client.request(method, "/x")).json() == {"n": 1}
        if method == "GET":
            assert (await client.request(method, "/x")).json() == {"n": 2}
        else:
            with pytest.raises(UpstreamTimeoutError):
                await client.request(method, "/x", json_body={})


async def test_connections_idle_too_long_are_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(upstream_module, "IDLE_SECONDS", 0.05)
    async with serving(_echo) as (client, connections):
        await client.request("GET", "/a")
        await client.request("GET", "/a")
        assert len(connections) == 1
        await asyncio.sleep(0.1)
        await client.request("GET", "/a")
    assert len(connections) == 2


async def test_never_more_requests_at_once_than_max_connections() -> None:
    handler, peak = counting_handler(_answer(b"{}"), 0.02)

    async with serving(handler, timeout=5.0, max_connections=3) as (client, connections):
        answers = await asyncio.gather(*(client.request("GET", "/t") for _ in range(20)))
    assert [a.status for a in answers] == [200] * 20
    assert peak[0] == 3
    assert len(connections) == 3


async def test_waiting_for_a_free_connection_counts_against_the_timeout() -> None:
    async def stall(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await reader.read()

    async with serving(stall, timeout=5.0, max_connections=1) as (client, connections):
        first = asyncio.ensure_future(client.request("GET", "/t", timeout=1.0))
        await asyncio.sleep(0.05)
        with pytest.raises(UpstreamTimeoutError):
            await client.request("POST", "/t", json_body={}, timeout=0.1)
        assert len(connections) == 1  # the second was never sent
        with pytest.raises(UpstreamTimeoutError):
            await first


async def test_aclose_closes_the_connections_and_a_later_call_reconnects() -> None:
    closed = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                await read_request(reader)
                writer.write(_answer(b"{}"))
        finally:
            closed.set()

    async with serving(handler) as (client, connections):
        await client.request("GET", "/t")
        await client.aclose()
        await asyncio.wait_for(closed.wait(), 1.0)
        await client.request("GET", "/t")
    assert len(connections) == 2


def test_made_lazily_in_each_loop_that_uses_it_asyncio_and_uvloop() -> None:
    # Edge processes run on uvloop, whose transports are not asyncio's classes; a client
    # made outside any loop (at start-up) serves whichever loop then uses it.
    import uvloop

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = KeepAliveUpstream(f"http://127.0.0.1:{port}", timeout_seconds=1.0)

    async def scenario() -> list[int]:
        async def quiet_echo(reader: asyncio.StreamReader,
                             writer: asyncio.StreamWriter) -> None:
            with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
                await _echo(reader, writer)
            writer.close()

        server = await asyncio.start_server(quiet_echo, "127.0.0.1", port,
                                            reuse_address=True)
        try:
            return [(await client.request("GET", "/t")).status for _ in range(2)]
        finally:
            await client.aclose()
            await asyncio.sleep(0.05)  # the server's side sees the close
            server.close()
            await server.wait_closed()

    for new_loop in (uvloop.new_event_loop, asyncio.new_event_loop):
        loop = new_loop()
        try:
            assert loop.run_until_complete(scenario()) == [200, 200]
        finally:
            loop.close()


def test_a_and_b_use_it_by_default() -> None:
    settings = EdgeSettings(worker_url="http://127.0.0.1:6066, http://127.0.0.1:6067",
                            orchestrator_url="http://127.0.0.1:8081",
                            service_client_secret=SecretStr("s"),
                            auth=AuthSettings(issuer="http://127.0.0.1:8180/realms/paystream"))
    assert isinstance(FacadeDeps.from_settings(settings).orchestrator, KeepAliveUpstream)
    views = OrchestratorDeps.from_settings(settings).views
    assert len(views._upstreams) == 2
    assert all(isinstance(u, KeepAliveUpstream) for u in views._upstreams)
    assert isinstance(WorkerViews("http://127.0.0.1:6066")._upstream, KeepAliveUpstream)


async def test_a_per_request_timeout_longer_than_the_default_is_honoured() -> None:
    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await asyncio.sleep(0.5)
        writer.write(_answer(b"{}"))
        await reader.read()

    async with serving(slow, timeout=0.3) as (client, _):
        assert (await client.request("GET", "/readyz", timeout=2.0)).status == 200


async def test_a_resend_that_cannot_connect_still_says_the_first_may_have_landed() -> None:
    # The reused connection drops after the request was written; the server is gone by
    # the time the GET is sent again: not "never sent", since the first one was.
    servers: list[asyncio.Server] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(_answer(b"{}"))
        await read_request(reader)
        servers[0].close()
        writer.close()

    servers.append(await asyncio.start_server(handler, "127.0.0.1", 0))
    port = servers[0].sockets[0].getsockname()[1]
    client = KeepAliveUpstream(f"http://127.0.0.1:{port}", timeout_seconds=1.0)
    try:
        assert (await client.request("GET", "/orders/o1")).status == 200
        with pytest.raises(UpstreamTimeoutError):
            await client.request("GET", "/orders/o1")
    finally:
        await client.aclose()
        await servers[0].wait_closed()

"""A gateway call's time budget starts once it holds a connection (or a thread).

Waiting for a free connection sends nothing, so a call that waited longer than the whole
call may take (`call_budget`) must still go through, never come out as an unknown
outcome; a call that was sent and got no whole answer stays unknown. Through the adapter
on the simulator for both transports, and through the SDK transport's two paths (direct
keep-alive pool, aiohttp through a proxy) against raw servers.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from types import SimpleNamespace
from typing import Any

import pytest
from braintree.exceptions.http import timeout_error as bt_timeout
from gw_helpers import new_key
from raw_http_server import counting_handler, http_answer, read_request

from gateway.async_transport import AsyncioHttpStrategy, call_budget, run_in_greenlet
from gateway.braintree_adapter import BraintreeGateway
from gateway.error_mapping import classify
from gateway.errors import OutcomeUnknownError
from gateway.port import Outcome, TransactionResult
from gateway.simulator.runner import SimulatorHandle
from schemas.money import Money

TIMEOUT = 0.5  # the SDK timeout: per connect and per read
LATENCY = 0.2  # each answer's delay: well within TIMEOUT
CALLS = 12  # one after another on one connection: the last waits past call_budget(TIMEOUT)

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def test_a_call_that_waited_for_the_connection_past_the_whole_call_bound_succeeds(
        sim: SimulatorHandle, transport: str) -> None:
    gw = BraintreeGateway(sim.gateway_settings(timeout_seconds=TIMEOUT, max_workers=1,
                                               transport=transport))
    sim.configure(latency_ms=LATENCY * 1000, latency_distribution="fixed")
    try:
        began = time.perf_counter()
        results = await asyncio.gather(*(
            gw.authorize(order_id=new_key(), amount=Money.of("1.00", "USD"),
                         idempotency_key=new_key(), payment_method_nonce="fake-valid-nonce")
            for _ in range(CALLS)), return_exceptions=True)
        elapsed = time.perf_counter() - began
    finally:
        await gw.aclose()
    assert [r for r in results if isinstance(r, BaseException)] == []
    assert all(isinstance(r, TransactionResult) and r.outcome is Outcome.APPROVED
               for r in results)
    # The calls took turns on the one connection (or thread), so the last one began after
    # a wait longer than the whole-call bound that used to include it.
    assert elapsed - LATENCY > call_budget(TIMEOUT)
    assert len(sim.ledger()["transactions"]) == CALLS


async def test_cancelling_a_call_waiting_for_the_connection_sends_nothing(
        sim: SimulatorHandle, transport: str) -> None:
    gw = BraintreeGateway(sim.gateway_settings(timeout_seconds=2.0, max_workers=1,
                                               transport=transport))
    sim.configure(latency_ms=400, latency_distribution="fixed")

    async def authorize(order_id: str) -> TransactionResult:
        return await gw.authorize(order_id=order_id, amount=Money.of("1.00", "USD"),
                                  idempotency_key=new_key(),
                                  payment_method_nonce="fake-valid-nonce")

    try:
        holding = asyncio.create_task(authorize("holds-the-connection"))
        await asyncio.sleep(0.1)
        waiting = asyncio.create_task(authorize("waits-for-it"))
        await asyncio.sleep(0.1)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert (await holding).outcome is Outcome.APPROVED
        await asyncio.sleep(0.6)  # time enough for the cancelled call, had it been sent
    finally:
        await gw.aclose()
    assert [t["order_id"] for t in sim.ledger()["transactions"]] == ["holds-the-connection"]


# -- the SDK transport's two paths against raw servers ----------------------------------

@asynccontextmanager
async def strategy_on(handler: Handler, path: str,
                      monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[
                          tuple[AsyncioHttpStrategy, str]]:
    """A one-connection transport and the URL to call: `direct` to the raw server, or
    `proxy`, where the raw server is the HTTP proxy that answers for the gateway."""
    handlers: list[asyncio.Task[Any]] = []

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.append(task)
        try:
            await handler(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    for name in ("no_proxy", "NO_PROXY", "http_proxy", "HTTP_PROXY"):
        monkeypatch.delenv(name, raising=False)
    if path == "proxy":
        monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{port}")
        base = "http://gateway.test"  # never resolved: only the proxy is connected to
    else:
        base = f"http://127.0.0.1:{port}"
    strategy = AsyncioHttpStrategy(SimpleNamespace(timeout=TIMEOUT),
                                   SimpleNamespace(base_url=base), max_connections=1)
    try:
        yield strategy, base + "/merchants/m/transactions"
    finally:
        await strategy.aclose()
        for task in handlers:
            task.cancel()
        server.close()
        await server.wait_closed()


async def sale(strategy: AsyncioHttpStrategy, url: str) -> list[Any]:
    return await run_in_greenlet(
        lambda: strategy.http_do("POST", url, {"Accept": "application/xml"}, "<sale/>"))


@pytest.fixture(params=["direct", "proxy"])
def path(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def test_a_request_waiting_for_the_connection_is_not_timed(
        path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    handler, peak = counting_handler(
        http_answer(b"<ok/>", content_type=b"application/xml"), LATENCY)

    async with strategy_on(handler, path, monkeypatch) as (strategy, url):
        began = time.perf_counter()
        answers = await asyncio.gather(*(sale(strategy, url) for _ in range(CALLS)))
        elapsed = time.perf_counter() - began
    assert answers == [[200, "<ok/>"]] * CALLS
    assert peak[0] == 1
    assert elapsed - LATENCY > call_budget(TIMEOUT)


async def test_a_sent_request_without_an_answer_is_unknown_and_the_one_waiting_is_not(
        path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await read_request(reader)
            if not seen.is_set():
                seen.set()
                await reader.read()  # the first request is never answered
                return
            writer.write(http_answer(b"<ok/>", content_type=b"application/xml"))

    async with strategy_on(handler, path, monkeypatch) as (strategy, url):
        first = asyncio.create_task(sale(strategy, url))
        await asyncio.wait_for(seen.wait(), 5)
        second = asyncio.create_task(sale(strategy, url))  # waits for the connection
        with pytest.raises(bt_timeout.TimeoutError) as caught:
            await first
        assert await second == [200, "<ok/>"]
    assert isinstance(classify(caught.value, "sale", mutating=True), OutcomeUnknownError)


async def test_a_trickling_answer_is_cut_off_as_unknown(
        path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Every byte within the per-read timeout, the whole answer far past the call's budget.
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
        for _ in range(100):
            await asyncio.sleep(TIMEOUT / 3)
            writer.write(b"x")
            await writer.drain()

    async with strategy_on(handler, path, monkeypatch) as (strategy, url):
        began = time.perf_counter()
        with pytest.raises(bt_timeout.TimeoutError) as caught:
            await sale(strategy, url)
        elapsed = time.perf_counter() - began
    assert isinstance(classify(caught.value, "sale", mutating=True), OutcomeUnknownError)
    assert elapsed < call_budget(TIMEOUT) + 1.0

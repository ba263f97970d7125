"""The greenlet bridge that runs the synchronous SDK on the event loop, and what it buys:
the loop keeps running while a gateway call waits for its answer."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import pytest

from gateway.async_transport import await_in_greenlet, run_in_greenlet
from gateway.braintree_adapter import BraintreeGateway
from gateway.port import Outcome
from gateway.simulator.runner import SimulatorHandle
from schemas.money import Money


async def test_sync_code_awaits_through_the_bridge() -> None:
    async def double(x: int) -> int:
        await asyncio.sleep(0)
        return 2 * x

    def sync_fn() -> list[int]:
        return [await_in_greenlet(double(i)) for i in range(3)]

    assert await run_in_greenlet(sync_fn) == [0, 2, 4]


async def test_an_awaited_error_is_raised_inside_the_sync_code() -> None:
    async def fails() -> None:
        raise ConnectionResetError("peer went away")

    def sync_fn() -> str:
        try:
            await_in_greenlet(fails())
        except ConnectionResetError as exc:
            return f"caught {exc}"
        return "not raised"

    assert await run_in_greenlet(sync_fn) == "caught peer went away"


async def test_an_error_in_the_sync_code_reaches_the_caller() -> None:
    def sync_fn() -> None:
        await_in_greenlet(asyncio.sleep(0))
        raise ValueError("bad params")

    with pytest.raises(ValueError, match="bad params"):
        await run_in_greenlet(sync_fn)


async def test_cancelling_the_caller_interrupts_the_sync_code_where_it_waits() -> None:
    cleaned_up = asyncio.Event()

    def sync_fn() -> None:
        try:
            await_in_greenlet(asyncio.sleep(30))
        finally:
            cleaned_up.set()

    task = asyncio.create_task(run_in_greenlet(sync_fn))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cleaned_up.is_set()


def test_await_outside_the_bridge_is_refused() -> None:
    coro = asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="outside run_in_greenlet"):
        await_in_greenlet(coro)
    coro.close()


async def test_the_event_loop_runs_while_a_gateway_call_waits(sim: SimulatorHandle) -> None:
    gw = BraintreeGateway(sim.gateway_settings(transport="asyncio", timeout_seconds=5))
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    sim.configure(latency_ms=300)
    ticking = asyncio.create_task(ticker())
    try:
        results = await asyncio.gather(*(
            gw.authorize(order_id=uuid.uuid4().hex, amount=Money.of("5.00", "USD"),
                         idempotency_key=uuid.uuid4().hex,
                         payment_method_nonce="fake-valid-nonce")
            for _ in range(8)))
    finally:
        ticking.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticking
        await gw.aclose()
    assert all(r.outcome is Outcome.APPROVED for r in results)
    # Eight calls of 300 ms each ran concurrently on the loop, which kept ticking meanwhile.
    assert ticks >= 10
    assert len(sim.ledger()["transactions"]) >= 8

"""The greenlet bridge that runs the synchronous SDK on the event loop. That the loop keeps
running during gateway calls is asserted for both transports in test_gateway_adapter.py."""

from __future__ import annotations

import asyncio

import pytest

from gateway.async_transport import await_in_greenlet, run_in_greenlet


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

"""OrderedDispatcher: parallel across orders, serial within one, acks in partition order."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable

from agents.ordered_dispatch import OrderedDispatcher


async def test_orders_run_concurrently_and_each_order_in_sequence() -> None:
    acked: list[int] = []
    ran: dict[str, list[int]] = {}
    running = 0
    peak = 0

    async def ack(item: int) -> None:
        acked.append(item)

    dispatcher: OrderedDispatcher[int] = OrderedDispatcher(limit=4, ack=ack)
    rng = random.Random(7)
    for i in range(40):
        order = f"o{i % 5}"

        async def work(order: str = order, i: int = i) -> None:
            nonlocal running, peak
            running += 1
            peak = max(peak, running)
            await asyncio.sleep(rng.random() / 200)
            ran.setdefault(order, []).append(i)
            running -= 1

        await dispatcher.submit(order, "p0", i, work)
    await dispatcher.drain()
    assert acked == list(range(40))  # one partition: acked strictly in offset order
    for order, items in ran.items():
        assert items == sorted(items), order
    assert 1 < peak <= 4


async def test_failed_record_is_never_acked_and_blocks_later_acks_of_its_partition() -> None:
    acked: list[str] = []

    async def ack(item: str) -> None:
        acked.append(item)

    dispatcher: OrderedDispatcher[str] = OrderedDispatcher(limit=2, ack=ack)

    async def ok() -> None:
        await asyncio.sleep(0)

    async def boom() -> None:
        raise RuntimeError("broker away")

    await dispatcher.submit("a", "p0", "a1", ok)
    await dispatcher.submit("b", "p0", "b1", boom)
    await dispatcher.submit("c", "p0", "c1", ok)
    await dispatcher.submit("d", "p1", "d1", ok)
    await dispatcher.drain()
    assert "b1" not in acked and "c1" not in acked
    assert set(acked) == {"a1", "d1"}
    assert len(dispatcher.failures) == 1


async def test_waiting_for_a_busy_order_holds_no_slot() -> None:
    release = asyncio.Event()
    done: list[str] = []

    async def ack(item: str) -> None:
        return None

    dispatcher: OrderedDispatcher[str] = OrderedDispatcher(limit=2, ack=ack, backlog=10)

    async def slow() -> None:
        await release.wait()
        done.append("a1")

    def fast(name: str) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            done.append(name)
        return run

    await dispatcher.submit("a", "p0", "a1", slow)
    for name in ("a2", "a3", "a4"):
        await dispatcher.submit("a", "p0", name, fast(name))
    await asyncio.wait_for(dispatcher.submit("b", "p1", "b1", fast("b1")), timeout=1)
    await asyncio.sleep(0.01)
    # Order b ran although order a has a request blocked and three queued behind it.
    assert done == ["b1"]
    release.set()
    await dispatcher.drain()
    assert done == ["b1", "a1", "a2", "a3", "a4"]

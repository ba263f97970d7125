"""A record whose step fails is tried again, never skipped, and acknowledged only after."""

import asyncio
import contextlib

from agents.ordered_dispatch import OrderedDispatcher
from agents.record_retry import until_done


async def _no_sleep(_: float) -> None:
    return None


async def test_a_failing_publish_is_retried_on_the_same_record_before_it_is_acked() -> None:
    acked: list[str] = []
    calls: list[str] = []

    async def ack(item: str) -> None:
        acked.append(item)

    async def handle(raw: str) -> None:
        calls.append(raw)
        if raw == "r1" and calls.count("r1") < 3:
            raise ConnectionError("broker away")  # the outcome publish failed

    dispatcher: OrderedDispatcher[str] = OrderedDispatcher(4, ack)
    for item, order in (("r1", "o1"), ("r2", "o1"), ("r3", "o2")):
        async def work(item: str = item) -> None:
            await until_done(lambda: handle(item), agent="test", order_id=None,
                             sleep=_no_sleep)
        await dispatcher.submit(order, 0, item, work)
    await dispatcher.drain()
    assert calls.count("r1") == 3 and dispatcher.failures == []
    # r2 (same order) ran only after r1 succeeded; every record acked once, in order.
    assert calls.index("r2") > max(i for i, c in enumerate(calls) if c == "r1")
    assert acked == ["r1", "r2", "r3"]


async def test_cancellation_is_not_swallowed() -> None:
    async def forever() -> None:
        await asyncio.sleep(3600)

    task = asyncio.create_task(until_done(forever, agent="test", order_id=None))
    await asyncio.sleep(0)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert task.cancelled()

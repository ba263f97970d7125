"""Concurrency across orders, strict order within an order, acknowledgements in order.

Faust agents at concurrency > 1 can commit an offset past a message still being
processed (faust-streaming #606), so the executor runs at concurrency 1 and gets its
parallelism here: each record becomes a task chained behind the previous task of the
same order, at most `limit` of them do work at once (a task waiting for its order's
previous request holds no slot, so one busy order cannot starve the others), at most
`backlog` are scheduled at all (backpressure on the stream), and a record is acknowledged
only when it and every earlier record of its partition are done, so a committed offset
never passes unfinished work.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class OrderedDispatcher(Generic[T]):
    def __init__(self, limit: int, ack: Callable[[T], Awaitable[object]],
                 backlog: int | None = None) -> None:
        if limit < 1:
            raise ValueError("limit must be >= 1")
        self._slots = asyncio.Semaphore(limit)
        self._backlog = asyncio.Semaphore(backlog or limit * 4)
        self._ack = ack
        self._tail: dict[Hashable, asyncio.Task[None]] = {}
        self._pending: dict[Hashable, deque[tuple[T, asyncio.Task[None]]]] = {}
        self._acking = asyncio.Lock()
        self._all: set[asyncio.Task[None]] = set()
        self.failures: list[BaseException] = []

    async def submit(self, key: Hashable, partition: Hashable, item: T,
                     work: Callable[[], Awaitable[None]]) -> None:
        """Schedule `work` for `item`; returns once the backlog has room."""
        await self._backlog.acquire()
        previous = self._tail.get(key)

        async def run() -> None:
            try:
                if previous is not None:
                    # The previous request of this order must finish first; its own
                    # failure is recorded by its task, not re-raised here.
                    await asyncio.wait([previous])
                async with self._slots:
                    await work()
            finally:
                self._backlog.release()

        task = asyncio.create_task(run())
        self._all.add(task)
        self._tail[key] = task
        self._pending.setdefault(partition, deque()).append((item, task))
        task.add_done_callback(lambda t: self._done(key, t))

    def _done(self, key: Hashable, task: asyncio.Task[None]) -> None:
        self._all.discard(task)
        if self._tail.get(key) is task:
            del self._tail[key]
        if not task.cancelled() and task.exception() is not None:
            self.failures.append(task.exception())  # type: ignore[arg-type]
        asyncio.get_running_loop().create_task(self._ack_ready())

    async def _ack_ready(self) -> None:
        async with self._acking:
            for queue in self._pending.values():
                # Only a done head may be acked; a failed one is never acked, which
                # blocks its partition until the worker restarts and redelivers it.
                while queue and queue[0][1].done() and not queue[0][1].cancelled() \
                        and queue[0][1].exception() is None:
                    item, _ = queue.popleft()
                    await self._ack(item)

    @property
    def in_flight(self) -> int:
        return len(self._all)

    async def drain(self) -> None:
        """Wait for every scheduled task and acknowledge what finished."""
        while self._all:
            await asyncio.wait(set(self._all))
        await self._ack_ready()

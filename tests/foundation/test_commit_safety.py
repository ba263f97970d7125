"""Faust flushes its producer before committing offsets; the flush must not return while a
changelog record is still on its way to the Kafka client (streams.commit_safety)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import faust
import pytest

from streams.commit_safety import install_complete_flush


class SlowChannel:
    """Stands for a topic whose send takes longer than faust's 0.1 s flush patience."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.sent: list[str] = []

    async def publish_message(self, fut: Any, wait: bool = False) -> None:
        await asyncio.sleep(self.delay)
        self.sent.append(fut.value)


@pytest.mark.parametrize("delay", [0.25, 0.6])
async def test_flush_waits_for_every_buffered_record_however_slow(delay: float) -> None:
    install_complete_flush()
    app = faust.App("commit-safety-test", broker="kafka://127.0.0.1:1")
    buffer = app.producer.buffer
    await buffer.start()
    try:
        channel = SlowChannel(delay)
        for name in ("a", "b", "c"):
            buffer.put(SimpleNamespace(message=SimpleNamespace(channel=channel), value=name))
        await asyncio.wait_for(buffer.flush(), timeout=10)
        # Faust's own flush returned after 0.1 s without a completed send, with records
        # still buffered: a commit would then have passed them.
        assert channel.sent == ["a", "b", "c"]
        assert buffer.size == 0
    finally:
        await buffer.stop()

"""What a commit may cover (streams.commit_safety): faust flushes its producer before
committing offsets, and the flush must not return while a changelog record is still on its
way to the Kafka client; and an ack faust gives a record it skipped during a rebalance must
not advance the committed offset."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import faust
import pytest
from faust.types import TP
from faust.types.tuples import Message

from streams.commit_safety import install_ack_guard, install_complete_flush


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


def _message(app: faust.App, offset: int, generation: int) -> Any:
    return Message(topic="payment-requests", partition=0, offset=offset, key=b"o", value=b"v",
                   timestamp=0.0, timestamp_type=0, headers=[], checksum=None,
                   generation_id=generation, tp=TP("payment-requests", 0))


async def test_acks_of_records_skipped_in_a_rebalance_are_not_committed() -> None:
    """Faust acks the records a stream skips while a rebalance is on (flow control
    suspended, or fetched in the previous generation); those offsets must not reach a
    commit, or the records are never read again."""
    install_ack_guard()
    app = faust.App("ack-guard-test", broker="kafka://127.0.0.1:1")
    app.topics._acking_topics.add("payment-requests")  # as an agent's subscription does
    consumer = app.consumer
    tp = _message(app, 0, 0).tp
    app.consumer_generation_id = 3
    app.flow_control.resume()

    assert consumer.ack(_message(app, 10, 3)) is True  # processed: counted
    app.flow_control.suspend()  # a rebalance begins
    skipped = _message(app, 11, 3)
    assert consumer.ack(skipped) is False and skipped.acked
    app.flow_control.resume()
    app.consumer_generation_id = 4  # the next generation
    stale = _message(app, 12, 3)
    assert consumer.ack(stale) is False and stale.acked
    assert list(consumer._acked[tp]) == [10]
    assert consumer.ack(_message(app, 11, 4)) is True  # read again, processed: counted

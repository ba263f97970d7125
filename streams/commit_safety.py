"""A source offset is committed only once the table writes made for it are in Kafka.

Faust flushes its producer before it commits consumer offsets, so that the changelog
records of the tables written while processing the committed records are stored first.
faust-streaming's buffer flush does not keep that promise: it gives up after 0.1 s
without a completed send, and it does not count a record already taken off the buffer
but not yet handed to the Kafka client. A commit can then pass changelog records that
exist only in the worker's memory. After a SIGKILL, whoever restores that partition from
the changelog (a standby taking over, or the worker itself replaying past a lagging local
checkpoint) lacks the write, while the committed offset says it was applied: the event is
never processed again and the order stays behind for good.

`install_complete_flush` makes the flush wait until every record buffered before it has
been handed to the client, whose own flush then waits for the broker's acks. It waits at
most `FLUSH_DEADLINE_S`, then raises: a commit that fails is redelivered, which our
idempotent agents tolerate; a commit that passes unsent writes loses them.

Faust also acknowledges records it never processed: during a rebalance a stream *skips*
the records still reaching it (flow control suspended, or fetched in the previous
consumer generation) and acks them "so that the lag does not grow". Those acks go into
the offsets the next commit writes, so a record that arrived just as a rebalance began
could be committed unprocessed and never be read again (an accepted deposit that never
reached the gateway, in a chaos run). `install_ack_guard` does not count an ack given
while flow control is suspended or for a record of an earlier generation: the record is
released (nothing waits for it) but its offset is not committed, so the partition's owner
after the rebalance reads it again from the committed offset. A record processed just
before the rebalance may thus be processed twice; every agent here is idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any, Final

from faust.transport.consumer import Consumer
from faust.transport.producer import ProducerBuffer

FLUSH_DEADLINE_S: Final = 60.0

_INSTALLED = "_paystream_complete_flush"
_GUARDED = "_paystream_ack_guard"
_SENDING = "_paystream_sending"


class FlushIncompleteError(RuntimeError):
    """The producer buffer did not drain in time; the commit must not go ahead."""


def install_complete_flush() -> None:
    """Patch faust's producer buffer (idempotent; before the worker starts)."""
    if getattr(ProducerBuffer, _INSTALLED, False):
        return
    send_one = ProducerBuffer._send_pending

    async def _send_pending(self: Any, fut: Any) -> None:
        setattr(self, _SENDING, getattr(self, _SENDING, 0) + 1)
        try:
            await send_one(self, fut)
        finally:
            setattr(self, _SENDING, getattr(self, _SENDING) - 1)

    async def flush(self: Any) -> None:
        deadline = time.monotonic() + FLUSH_DEADLINE_S
        while self.size or getattr(self, _SENDING, 0):
            if self.state != "running":
                raise FlushIncompleteError("cannot flush: the producer is not running")
            if time.monotonic() > deadline:
                raise FlushIncompleteError(
                    f"{self.size} buffered record(s) not sent within {FLUSH_DEADLINE_S:.0f} s")
            self.message_sent.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.message_sent.wait(), timeout=0.1)

    ProducerBuffer._send_pending = _send_pending  # type: ignore[method-assign]
    ProducerBuffer.flush = flush  # type: ignore[method-assign]
    setattr(ProducerBuffer, _INSTALLED, True)


def counts(app: Any, message: Any) -> bool:
    """Whether an ack of `message` may advance the committed offset now."""
    generation = getattr(message, "generation_id", None)
    current = app.consumer_generation_id
    if generation and current and generation != current:
        return False
    return bool(app.flow_control.is_active())


def install_ack_guard() -> None:
    """Patch faust's consumer acks (idempotent; before the worker starts)."""
    if getattr(Consumer, _GUARDED, False):
        return
    record_ack = Consumer.ack

    def ack(self: Any, message: Any) -> bool:
        if counts(self.app, message):
            return bool(record_ack(self, message))
        if not message.acked:
            message.acked = True
            self._unacked_messages.discard(message)
        return False

    Consumer.ack = ack  # type: ignore[method-assign]
    setattr(Consumer, _GUARDED, True)


def install_commit_safety() -> None:
    install_complete_flush()
    install_ack_guard()

"""Publishes wire models to their topics, keyed by order id, waiting for the broker's ack."""

from __future__ import annotations

from pydantic import BaseModel

from schemas.codec import json_bytes
from schemas.dead_letter import DeadLetter
from schemas.outcomes import OutcomeEvent
from schemas.pending import PaymentPending
from streams.topics import Topics


async def send_and_wait(topic: object, key: str | None, model: BaseModel,
                        headers: dict[str, bytes] | None = None) -> None:
    # topic.send returns once the record is buffered; awaiting the future it returns
    # waits for the broker's acknowledgement (acks=all), which is what makes it safe to
    # record the effect as done afterwards.
    fut = await topic.send(  # type: ignore[attr-defined]
        key=key.encode() if key is not None else None, value=json_bytes(model),
        headers=headers or {})
    await fut


class TopicPublisher:
    def __init__(self, topics: Topics) -> None:
        self.topics = topics

    async def outcome(self, event: OutcomeEvent) -> None:
        await send_and_wait(self.topics.outcome(event.event_type), event.order_id, event,
                            {"correlation_id": event.correlation_id.encode()})

    async def dead_letter(self, letter: DeadLetter, key: str | None) -> None:
        await send_and_wait(self.topics.dead_letters, key, letter)

    async def pending_operation(self, event: PaymentPending) -> None:
        await send_and_wait(self.topics.payment_pending, event.order_id, event,
                            {"correlation_id": event.correlation_id.encode()})

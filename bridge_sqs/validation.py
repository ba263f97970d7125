"""Pure checks of an SQS message before it may enter Kafka, and which topic it goes to."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ValidationError

from schemas.orders import OrderCreated
from schemas.payment_request import PaymentRequest
from schemas.validation import describe_validation_error
from streams.channels import ORDER_CREATED, PAYMENT_REQUESTS, QUEUED_TOPICS


@dataclass(frozen=True)
class Accepted:
    topic: str
    order_id: str
    correlation_id: str
    body: bytes


@dataclass(frozen=True)
class Rejected:
    reason: str


_MODELS: dict[str, tuple[type[BaseModel], str]] = {
    PAYMENT_REQUESTS: (PaymentRequest, "payment request"),
    ORDER_CREATED: (OrderCreated, "order registration"),
}
assert set(_MODELS) == set(QUEUED_TOPICS)


def validate_message(body: str, group_id: str | None,
                     topic: str | None = None) -> Accepted | Rejected:
    """Accept an order's registration or payment request whose FIFO group is its order id;
    say why otherwise. `topic` is the message's topic attribute (absent: a request)."""
    topic = topic or PAYMENT_REQUESTS
    if topic not in _MODELS:
        return Rejected(f"unknown topic {topic[:64]!r}: the queue carries {QUEUED_TOPICS}")
    model, what = _MODELS[topic]
    try:
        message = model.model_validate_json(body)
    except ValidationError as exc:
        return Rejected(f"invalid {what}: {describe_validation_error(exc)}")
    order_id: str = message.order_id  # type: ignore[attr-defined]
    if group_id is not None and group_id != order_id:
        # The group is what keeps one order's messages in order in SQS; a mismatch
        # means the producer broke that guarantee.
        return Rejected(f"MessageGroupId {group_id!r} does not match order_id {order_id!r}")
    return Accepted(topic=topic, order_id=order_id,
                    correlation_id=message.correlation_id,  # type: ignore[attr-defined]
                    body=body.encode("utf-8"))

"""Pure checks of an SQS message before it may enter Kafka."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError

from schemas.payment_request import PaymentRequest
from schemas.validation import describe_validation_error


@dataclass(frozen=True)
class Accepted:
    request: PaymentRequest
    body: bytes


@dataclass(frozen=True)
class Rejected:
    reason: str


def validate_message(body: str, group_id: str | None) -> Accepted | Rejected:
    """Accept a payment request whose FIFO group is its order id; say why otherwise."""
    try:
        request = PaymentRequest.model_validate_json(body)
    except ValidationError as exc:
        return Rejected(f"invalid payment request: {describe_validation_error(exc)}")
    if group_id is not None and group_id != request.order_id:
        # The group is what keeps one order's requests in order in SQS; a mismatch
        # means the producer broke that guarantee.
        return Rejected(
            f"MessageGroupId {group_id!r} does not match order_id {request.order_id!r}")
    return Accepted(request=request, body=body.encode("utf-8"))

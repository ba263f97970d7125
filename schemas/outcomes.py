"""Outcome events: what happened to one PaymentRequest, one topic per event type.

Every outcome carries the per-order `sequence` the executor assigned, so consumers
can restore per-order order even if topics interleave differently, and the running
totals after the operation, so a consumer that missed history still sees the truth.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from schemas.money import Money
from schemas.payment_request import PaymentKind, PaymentMethodType, PaymentRequest
from schemas.types import (
    IdempotencyKey,
    NonEmptyStr,
    OrderId,
    ReasonText,
    SchemaVersion,
    UtcDatetime,
    derived_event_id,
    new_event_id,
)

OutcomeType = Literal[
    "payment-approved",
    "payment-deposited",
    "payment-reversed",
    "payment-refunded",
    "payment-declined",
    "payment-failed",
]


class PaymentOutcome(BaseModel):
    """Fields common to every outcome; use a concrete subclass."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: SchemaVersion = 1
    event_id: NonEmptyStr = Field(default_factory=new_event_id)
    event_type: OutcomeType
    order_id: OrderId
    customer_id: NonEmptyStr
    payment_id: NonEmptyStr
    idempotency_key: IdempotencyKey
    request_kind: PaymentKind
    sequence: int = Field(ge=1, description="Per-order position assigned by the executor")
    transaction_id: str | None = None
    amount: Money | None = Field(default=None, description="Amount of this operation")
    authorized_amount: Money | None = Field(default=None, description="Total after this event")
    captured_amount: Money | None = Field(default=None, description="Total after this event")
    refunded_amount: Money | None = Field(default=None, description="Total after this event")
    payment_method_type: PaymentMethodType | None = None
    processor_response_code: str | None = None
    processor_response_text: str | None = None
    reason: ReasonText | None = None
    correlation_id: NonEmptyStr
    occurred_at: UtcDatetime


class PaymentApproved(PaymentOutcome):
    event_type: Literal["payment-approved"] = "payment-approved"


class PaymentDeposited(PaymentOutcome):
    event_type: Literal["payment-deposited"] = "payment-deposited"


class PaymentReversed(PaymentOutcome):
    event_type: Literal["payment-reversed"] = "payment-reversed"


class PaymentRefunded(PaymentOutcome):
    event_type: Literal["payment-refunded"] = "payment-refunded"


class PaymentDeclined(PaymentOutcome):
    """The gateway or the executor's own rules refused the request; `reason` says why."""

    event_type: Literal["payment-declined"] = "payment-declined"
    reason: ReasonText


class PaymentFailed(PaymentOutcome):
    """The request could not be carried out (gateway error, given up after retries)."""

    event_type: Literal["payment-failed"] = "payment-failed"
    reason: ReasonText


OutcomeEvent = Annotated[
    PaymentApproved
    | PaymentDeposited
    | PaymentReversed
    | PaymentRefunded
    | PaymentDeclined
    | PaymentFailed,
    Field(discriminator="event_type"),
]

OUTCOME_TYPES: Final[tuple[type[PaymentOutcome], ...]] = (
    PaymentApproved,
    PaymentDeposited,
    PaymentReversed,
    PaymentRefunded,
    PaymentDeclined,
    PaymentFailed,
)


def _event_type_of(model: type[PaymentOutcome]) -> str:
    default = model.model_fields["event_type"].default
    assert isinstance(default, str)
    return default


# Topic name == event_type, so a consumer of a merged stream can route by either.
TOPIC_FOR_EVENT: Final[dict[type[PaymentOutcome], str]] = {
    model: _event_type_of(model) for model in OUTCOME_TYPES
}
EVENT_FOR_TOPIC: Final[dict[str, type[PaymentOutcome]]] = {
    topic: model for model, topic in TOPIC_FOR_EVENT.items()
}
OUTCOME_TOPICS: Final[tuple[str, ...]] = tuple(TOPIC_FOR_EVENT.values())

# Which success event answers which request kind.
SUCCESS_EVENT_FOR_KIND: Final[dict[PaymentKind, type[PaymentOutcome]]] = {
    "approve": PaymentApproved,
    "deposit": PaymentDeposited,
    "reverse": PaymentReversed,
    "refund": PaymentRefunded,
}

outcome_adapter: TypeAdapter[OutcomeEvent] = TypeAdapter(OutcomeEvent)


def parse_outcome(data: bytes | str | dict[str, Any]) -> OutcomeEvent:
    """Validate any outcome event from JSON bytes/text or an already-decoded dict."""
    if isinstance(data, dict):
        return outcome_adapter.validate_python(data)
    return outcome_adapter.validate_json(data)


def topic_for(event: PaymentOutcome) -> str:
    return TOPIC_FOR_EVENT[type(event)]


def outcome_event_id(order_id: str, idempotency_key: str) -> str:
    """The id of the outcome of one request: the same request always yields the same id,
    so a replay after a crash is recognised downstream as a duplicate."""
    return derived_event_id("outcome", order_id, idempotency_key)


def outcome_for_request(
    model: type[PaymentOutcome], request: PaymentRequest, **fields: Any
) -> OutcomeEvent:
    """Build an outcome of type `model` copying the request's identifying fields.

    `fields` must include at least `sequence` and `occurred_at`; `event_id` defaults to
    the deterministic `outcome_event_id` of the request.
    """
    base: dict[str, Any] = {
        "event_id": outcome_event_id(request.order_id, request.idempotency_key),
        "event_type": _event_type_of(model),
        "order_id": request.order_id,
        "customer_id": request.customer_id,
        "payment_id": request.payment_id,
        "idempotency_key": request.idempotency_key,
        "request_kind": request.kind,
        "payment_method_type": request.payment_method_type,
        "correlation_id": request.correlation_id,
    }
    base.update(fields)
    # The adapter (not `model(...)`) so the static type is the union consumers match on.
    return outcome_adapter.validate_python(base)

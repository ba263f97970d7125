"""Faust codecs for the pydantic wire models.

Faust only understands its own Record models, so topics carrying these models use
`value_type=None` (or leave it unset) and `value_serializer=<codec name or instance>`;
the codec does all parsing, and a malformed message surfaces as faust's
ValueDecodeError instead of a half-built object.
"""

from __future__ import annotations

from typing import Any, Final

from faust.serializers import codecs
from faust.types.codecs import CodecT
from pydantic import BaseModel, TypeAdapter

from schemas.dead_letter import DeadLetter
from schemas.orders import FulfillmentRequested, OrderAnomaly, OrderCreated
from schemas.outcomes import OUTCOME_TOPICS, OutcomeEvent
from schemas.payment_request import PaymentRequest


def json_bytes(model: BaseModel) -> bytes:
    """The wire form of a model: compact JSON, UTF-8."""
    return model.model_dump_json().encode("utf-8")


class PydanticCodec(codecs.Codec):
    """Codec for one pydantic model or an (annotated, discriminated) union of models."""

    def __init__(
        self,
        model: Any = None,
        children: tuple[CodecT, ...] | None = None,
        **kwargs: Any,
    ) -> None:
        if model is None:
            raise TypeError("PydanticCodec needs the model (or union) it decodes to")
        # `model` goes through kwargs because Codec.clone() rebuilds codecs from them.
        super().__init__(children=children, model=model, **kwargs)
        self.model = model
        self._adapter: TypeAdapter[Any] = TypeAdapter(model)

    def _dumps(self, obj: Any) -> bytes:
        if isinstance(obj, BaseModel):
            return json_bytes(obj)
        # A plain dict is validated first so nothing unvalidated reaches a topic.
        return self._adapter.dump_json(self._adapter.validate_python(obj))

    def _loads(self, s: bytes) -> Any:
        return self._adapter.validate_json(s)


PAYMENT_REQUEST_CODEC: Final = "payment-request"
OUTCOME_CODEC: Final = "outcome"
ORDER_CREATED_CODEC: Final = "order-created"
ORDER_ANOMALY_CODEC: Final = "order-anomaly"
FULFILLMENT_REQUESTED_CODEC: Final = "fulfillment-requested"
DEAD_LETTER_CODEC: Final = "dead-letter"

CODEC_MODELS: Final[dict[str, Any]] = {
    PAYMENT_REQUEST_CODEC: PaymentRequest,
    OUTCOME_CODEC: OutcomeEvent,
    ORDER_CREATED_CODEC: OrderCreated,
    ORDER_ANOMALY_CODEC: OrderAnomaly,
    FULFILLMENT_REQUESTED_CODEC: FulfillmentRequested,
    DEAD_LETTER_CODEC: DeadLetter,
}

# Value codec name for every Kafka topic in docs/CONTRACTS.md.
CODEC_FOR_TOPIC: Final[dict[str, str]] = {
    "payment-requests": PAYMENT_REQUEST_CODEC,
    **{topic: OUTCOME_CODEC for topic in OUTCOME_TOPICS},
    "payment-requests-dlq": DEAD_LETTER_CODEC,
    "order-created": ORDER_CREATED_CODEC,
    "order-anomalies": ORDER_ANOMALY_CODEC,
    "fulfillment-requested": FULFILLMENT_REQUESTED_CODEC,
}


def register_codecs() -> dict[str, PydanticCodec]:
    """Register every codec in faust's global registry; safe to call more than once."""
    made = {name: PydanticCodec(model) for name, model in CODEC_MODELS.items()}
    for name, codec in made.items():
        codecs.register(name, codec)
    return made

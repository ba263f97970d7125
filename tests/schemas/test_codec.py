from datetime import UTC, datetime

import pytest
from faust.exceptions import ValueDecodeError
from faust.serializers import codecs
from faust.serializers.registry import Registry

from schemas.codec import CODEC_FOR_TOPIC, PydanticCodec, json_bytes, register_codecs
from schemas.money import Money
from schemas.outcomes import PaymentRefunded
from schemas.payment_request import PaymentRequest

AT = datetime(2024, 5, 1, tzinfo=UTC)

CONTRACT_TOPICS = {
    "payment-requests", "payment-approved", "payment-deposited", "payment-reversed",
    "payment-refunded", "payment-declined", "payment-failed", "payment-requests-dlq",
    "order-created", "order-anomalies", "fulfillment-requested",
}


def refund_event() -> PaymentRefunded:
    return PaymentRefunded(
        order_id="o-1", customer_id="c", payment_id="p", idempotency_key="k",
        request_kind="refund", sequence=3, amount=Money.of("1.50", "USD"),
        correlation_id="x", occurred_at=AT,
    )


def test_every_contract_topic_has_a_registered_codec() -> None:
    register_codecs()
    assert set(CODEC_FOR_TOPIC) == CONTRACT_TOPICS
    for name in CODEC_FOR_TOPIC.values():
        assert isinstance(codecs.get_codec(name), PydanticCodec)


def test_outcome_codec_round_trips_the_concrete_type() -> None:
    register_codecs()
    event = refund_event()
    wire = codecs.dumps("outcome", event)
    assert wire == json_bytes(event)
    assert codecs.loads("outcome", wire) == event
    assert type(codecs.loads("outcome", wire)) is PaymentRefunded


def test_codec_chains_and_clones() -> None:
    chained = PydanticCodec(PaymentRefunded) | codecs.get_codec("binary")
    event = refund_event()
    assert chained.loads(chained.dumps(event)) == event


def test_dicts_are_validated_before_they_reach_a_topic() -> None:
    codec = PydanticCodec(PaymentRequest)
    with pytest.raises(ValueError):
        codec.dumps({"kind": "approve"})


def test_faust_registry_uses_the_codec_for_untyped_values() -> None:
    register_codecs()
    registry = Registry(key_serializer="raw", value_serializer="outcome")
    event = refund_event()
    data = registry.dumps_value(None, event)
    assert data is not None
    assert registry.loads_value(None, data) == event
    with pytest.raises(ValueDecodeError):
        registry.loads_value(None, b'{"event_type": "payment-refunded"}')


def test_codec_needs_a_model() -> None:
    with pytest.raises(TypeError):
        PydanticCodec()

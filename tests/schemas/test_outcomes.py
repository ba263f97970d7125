import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from schemas.money import Money
from schemas.outcomes import (
    EVENT_FOR_TOPIC,
    OUTCOME_TOPICS,
    SUCCESS_EVENT_FOR_KIND,
    TOPIC_FOR_EVENT,
    PaymentApproved,
    PaymentDeclined,
    PaymentDeposited,
    PaymentFailed,
    PaymentRefunded,
    PaymentReversed,
    outcome_event_id,
    outcome_for_request,
    parse_outcome,
    topic_for,
)
from schemas.payment_request import PaymentRequest

CONTRACT_OUTCOME_TOPICS = {
    "payment-approved", "payment-deposited", "payment-reversed", "payment-refunded",
    "payment-declined", "payment-failed",
}


def fields(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "order_id": "order-1",
        "customer_id": "cust-1",
        "payment_id": "pay-1",
        "idempotency_key": "idem-1",
        "request_kind": "approve",
        "sequence": 1,
        "transaction_id": "tx1",
        "amount": Money.of("10", "USD"),
        "authorized_amount": Money.of("10", "USD"),
        "correlation_id": "corr-1",
        "occurred_at": datetime(2024, 5, 1, tzinfo=UTC),
    }
    data.update(overrides)
    return data


def test_topics_match_the_contract() -> None:
    assert set(OUTCOME_TOPICS) == CONTRACT_OUTCOME_TOPICS
    for model, topic in TOPIC_FOR_EVENT.items():
        assert EVENT_FOR_TOPIC[topic] is model
        assert model(**fields(reason="r")).event_type == topic
    assert set(SUCCESS_EVENT_FOR_KIND) == {"approve", "deposit", "reverse", "refund"}


@pytest.mark.parametrize(
    "model",
    [PaymentApproved, PaymentDeposited, PaymentReversed, PaymentRefunded, PaymentDeclined,
     PaymentFailed],
)
def test_round_trip_through_every_input_form(model: type[PaymentApproved]) -> None:
    event = model(**fields(reason="because"))
    wire = event.model_dump_json()
    for data in (wire, wire.encode(), json.loads(wire)):
        parsed = parse_outcome(data)
        assert type(parsed) is model
        assert parsed == event
    assert topic_for(event) == event.event_type


def test_unknown_event_type_is_refused() -> None:
    with pytest.raises(ValidationError, match="event_type"):
        parse_outcome({**json.loads(PaymentApproved(**fields()).model_dump_json()),
                       "event_type": "payment-teleported"})


def test_declined_and_failed_need_a_reason() -> None:
    for model in (PaymentDeclined, PaymentFailed):
        with pytest.raises(ValidationError) as info:
            model(**fields())
        assert info.value.errors()[0]["loc"] == ("reason",)


def test_sequence_starts_at_one() -> None:
    with pytest.raises(ValidationError) as info:
        PaymentApproved(**fields(sequence=0))
    assert info.value.errors()[0]["loc"] == ("sequence",)


def test_outcome_for_request_is_deterministic() -> None:
    request = PaymentRequest(
        payment_id="pay-1", idempotency_key="idem-1", order_id="order-1", customer_id="c",
        kind="deposit", correlation_id="corr", requested_at=datetime(2024, 5, 1, tzinfo=UTC),
    )
    at = datetime(2024, 5, 2, tzinfo=UTC)
    first = outcome_for_request(PaymentDeposited, request, sequence=2, occurred_at=at)
    again = outcome_for_request(PaymentDeposited, request, sequence=2, occurred_at=at)
    assert isinstance(first, PaymentDeposited)
    assert first == again
    assert first.event_id == outcome_event_id("order-1", "idem-1")
    assert first.request_kind == "deposit"
    assert outcome_event_id("order-1", "idem-2") != first.event_id

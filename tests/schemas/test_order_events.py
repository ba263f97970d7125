import json
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from schemas.dead_letter import MAX_PAYLOAD_BYTES, DeadLetter, redact, truncate_utf8
from schemas.money import Money
from schemas.orders import FulfillmentRequested, OrderAnomaly, OrderCreated

AT = datetime(2024, 5, 1, tzinfo=UTC)


def test_order_models_round_trip() -> None:
    for model in (
        OrderCreated(order_id="o-1", customer_id="c", amount=Money.of("5", "EUR"),
                     correlation_id="x", occurred_at=AT),
        OrderAnomaly(order_id="o-1", event_id="e", event_type="payment-refunded",
                     from_state="AUTHORIZED", reason="refunded while AUTHORIZED",
                     occurred_at=AT),
        FulfillmentRequested(order_id="o-1", customer_id="c",
                             captured_amount=Money.of("5", "EUR"), occurred_at=AT),
    ):
        assert type(model).model_validate_json(model.model_dump_json()) == model


def test_anomaly_state_must_be_a_known_state() -> None:
    with pytest.raises(ValidationError) as info:
        OrderAnomaly.model_validate({"order_id": "o", "event_id": "e", "event_type": "t",
                                     "from_state": "LIMBO", "reason": "r", "occurred_at": AT})
    assert info.value.errors()[0]["loc"] == ("from_state",)


def request_json(nonce: str = "fake-valid-nonce") -> str:
    return json.dumps({"order_id": "o-1", "payment_method_nonce": nonce,
                       "payment_method_token": "tok-123"})


def test_dead_letter_redacts_credentials() -> None:
    letter = DeadLetter(source="sqs", reason="bad", payload=request_json(), error_type="E",
                        first_seen_at=AT, attempts=3, order_id="o-1")
    assert "fake-valid-nonce" not in letter.payload
    assert "tok-123" not in letter.payload
    assert json.loads(letter.payload)["order_id"] == "o-1"
    # Embedded as a JSON string inside an envelope, too.
    envelope = json.dumps({"Body": request_json()})
    assert "fake-valid-nonce" not in redact(envelope)
    assert redact(redact(envelope)) == redact(envelope)


def test_dead_letter_truncates_to_64_kib_on_a_character_boundary() -> None:
    letter = DeadLetter(source="payment-requests", reason="r", payload="é" * MAX_PAYLOAD_BYTES,
                        error_type="E", first_seen_at=AT, attempts=1)
    assert len(letter.payload.encode()) <= MAX_PAYLOAD_BYTES
    assert set(letter.payload) == {"é"}
    assert truncate_utf8("short") == "short"


def test_dead_letter_accepts_bytes_and_round_trips() -> None:
    letter = DeadLetter.model_validate({
        "source": "sqs", "reason": "r", "payload": b"\xff{not json",
        "error_type": "JSONDecodeError", "first_seen_at": AT, "attempts": 0,
    })
    assert DeadLetter.model_validate_json(letter.model_dump_json()) == letter

from datetime import UTC, datetime

from schemas.codec import json_bytes
from schemas.money import Money
from schemas.outcomes import PaymentRefunded, parse_outcome

AT = datetime(2024, 5, 1, tzinfo=UTC)


def refund_event() -> PaymentRefunded:
    return PaymentRefunded(
        order_id="o-1", customer_id="c", payment_id="p", idempotency_key="k",
        request_kind="refund", sequence=3, amount=Money.of("1.50", "USD"),
        correlation_id="x", occurred_at=AT,
    )


def test_wire_form_is_compact_utf8_json_that_decodes_to_the_concrete_type() -> None:
    event = refund_event()
    wire = json_bytes(event)
    assert wire.decode("utf-8") == event.model_dump_json()
    assert b": " not in wire and b", " not in wire
    decoded = parse_outcome(wire)
    assert decoded == event and type(decoded) is PaymentRefunded

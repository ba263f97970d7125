from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError

from schemas.payment_request import PaymentRequest

NONCE = "fake-valid-visa-nonce-SECRET"
TOKEN = "vaulted-token-SECRET"


def approve(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "payment_id": "pay-1",
        "idempotency_key": "idem-1",
        "order_id": "order-1",
        "customer_id": "cust-1",
        "kind": "approve",
        "amount": {"amount": "25.00", "currency": "USD"},
        "payment_method_nonce": NONCE,
        "payment_method_type": "credit_card",
        "correlation_id": "corr-1",
        "requested_at": "2024-05-01T12:00:00Z",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def error_fields(exc: ValidationError) -> set[str]:
    return {".".join(str(p) for p in err["loc"]) for err in exc.errors()}


def test_json_round_trip() -> None:
    request = PaymentRequest.model_validate(approve())
    assert PaymentRequest.model_validate_json(request.model_dump_json()) == request


def test_credentials_never_in_repr_or_str() -> None:
    for data in (approve(), approve(payment_method_nonce=None, payment_method_token=TOKEN)):
        request = PaymentRequest.model_validate(data)
        assert "SECRET" not in repr(request)
        assert "SECRET" not in str(request)
        assert "SECRET" not in f"{request!r} {request}"
    assert PaymentRequest.model_validate(approve()).credential_kind == "nonce"


def test_credentials_never_echoed_by_validation_errors() -> None:
    with pytest.raises(ValidationError) as info:
        PaymentRequest.model_validate(approve(kind="deposit", amount=None))
    assert "SECRET" not in str(info.value)
    assert "payment_method_nonce" in error_fields(info.value)


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"amount": None}, "amount", "required for approve"),
        ({"payment_method_type": None}, "payment_method_type", "required for approve"),
        ({"payment_method_token": TOKEN}, "payment_method_nonce", "exactly one"),
        ({"payment_method_nonce": None}, "payment_method_nonce", "exactly one"),
        ({"kind": "reverse", "payment_method_nonce": None}, "amount", "omitted for reverse"),
        ({"kind": "deposit"}, "payment_method_nonce", "omitted for deposit"),
        ({"kind": "refund", "payment_method_nonce": None, "payment_method_token": TOKEN},
         "payment_method_token", "omitted for refund"),
        ({"amount": {"amount": "0", "currency": "USD"}}, "amount", "greater than zero"),
        ({"amount": {"amount": "1.001", "currency": "USD"}}, "amount", "decimal places"),
        ({"order_id": "has space"}, "order_id", "pattern"),
        ({"order_id": "x" * 37}, "order_id", "at most 36"),
        ({"idempotency_key": "k" * 65}, "idempotency_key", "at most 64"),
        ({"idempotency_key": "a/b"}, "idempotency_key", "pattern"),
        ({"kind": "capture"}, "kind", "approve"),
        ({"payment_method_type": "bitcoin"}, "payment_method_type", "credit_card"),
        ({"requested_at": "2024-05-01T12:00:00"}, "requested_at", "timezone"),
        ({"surprise": 1}, "surprise", "Extra inputs"),
    ],
)
def test_validation_errors_name_the_field(
    overrides: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(ValidationError) as info:
        PaymentRequest.model_validate(approve(**overrides))
    assert field in error_fields(info.value)
    assert message in str(info.value)


@pytest.mark.parametrize(
    "overrides",
    [
        {"kind": "deposit", "payment_method_nonce": None},
        {"kind": "deposit", "payment_method_nonce": None, "amount": None},
        {"kind": "refund", "payment_method_nonce": None, "amount": None,
         "payment_method_type": None},
        {"kind": "reverse", "payment_method_nonce": None, "amount": None},
        {"payment_method_nonce": None, "payment_method_token": TOKEN,
         "payment_method_type": "paypal"},
    ],
)
def test_valid_kinds(overrides: dict[str, Any]) -> None:
    PaymentRequest.model_validate(approve(**overrides))


def test_requested_at_is_normalised_to_utc() -> None:
    local = datetime(2024, 5, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    request = PaymentRequest.model_validate(approve(requested_at=local))
    assert request.requested_at == datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    assert request.requested_at.utcoffset() == timedelta(0)
    assert request.model_dump_json().count("2024-05-01T12:00:00Z") == 1


def test_frozen() -> None:
    request = PaymentRequest.model_validate(approve())
    with pytest.raises(ValidationError):
        request.order_id = "other"

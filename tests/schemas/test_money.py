from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from schemas.money import MAX_AMOUNT, Money, MoneyError, minor_units


def test_amount_is_quantized_to_minor_units() -> None:
    assert Money.of("10.5", "USD").to_gateway() == "10.50"
    assert Money.of(10, "JPY").to_gateway() == "10"
    assert Money.of("1.2", "KWD").to_gateway() == "1.200"


def test_trailing_zeros_beyond_minor_units_are_harmless() -> None:
    assert Money.of("10.500", "USD") == Money.of("10.5", "USD")


@pytest.mark.parametrize(
    ("amount", "currency"),
    [("10.001", "USD"), ("10.5", "JPY"), ("0.1", "JPY"), ("1.0001", "KWD")],
)
def test_too_many_decimals_refused(amount: str, currency: str) -> None:
    with pytest.raises(MoneyError, match="decimal places"):
        Money.of(amount, currency)
    with pytest.raises(ValidationError) as info:
        Money.model_validate({"amount": amount, "currency": currency})
    assert "decimal places" in str(info.value)


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_floats_are_always_refused(value: float) -> None:
    with pytest.raises(ValidationError, match="float"):
        Money.model_validate({"amount": value, "currency": "USD"})


def test_json_number_with_fraction_is_refused() -> None:
    with pytest.raises(ValidationError, match="float"):
        Money.model_validate_json('{"amount": 10.5, "currency": "USD"}')


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "abc", "", True, None, "1" * 50])
def test_garbage_refused(value: object) -> None:
    with pytest.raises(ValidationError):
        Money.model_validate({"amount": value, "currency": "USD"})


def test_unknown_or_malformed_currency_refused() -> None:
    with pytest.raises(MoneyError, match="unsupported currency"):
        Money.of("1", "XXX")
    with pytest.raises(ValidationError):
        Money.model_validate({"amount": "1", "currency": "usd"})


def test_negative_and_too_large_refused() -> None:
    with pytest.raises(MoneyError, match="negative"):
        Money.of("-1", "USD")
    with pytest.raises(MoneyError, match="exceed"):
        Money.of(MAX_AMOUNT + 1, "USD")


def test_arithmetic_stays_in_currency_and_never_goes_negative() -> None:
    ten, three = Money.of("10", "USD"), Money.of("3", "USD")
    assert ten - three == Money.of("7", "USD")
    assert ten + three == Money.of("13", "USD")
    assert three < ten and ten > three and ten >= ten and three <= three
    with pytest.raises(MoneyError, match="negative"):
        three - ten
    with pytest.raises(MoneyError, match="currency mismatch"):
        ten + Money.of("1", "EUR")
    with pytest.raises(MoneyError, match="currency mismatch"):
        _ = ten < Money.of("1", "EUR")


def test_wire_form_is_a_decimal_string() -> None:
    money = Money.of("12.3", "USD")
    assert money.model_dump_json() == '{"amount":"12.30","currency":"USD"}'
    assert Money.model_validate_json(money.model_dump_json()) == money
    assert str(money) == "12.30 USD"


def test_schema_publishes_amount_as_string() -> None:
    schema = Money.model_json_schema()
    assert schema["properties"]["amount"]["type"] == "string"
    assert schema["additionalProperties"] is False


currencies = st.sampled_from(["USD", "JPY", "KWD", "EUR"])


@given(currencies, st.integers(min_value=0, max_value=10**9))
def test_round_trip_any_valid_amount(currency: str, minor: int) -> None:
    amount = Decimal(minor).scaleb(-minor_units(currency))
    if amount > MAX_AMOUNT:
        return
    money = Money.of(amount, currency)
    assert money.amount == amount
    assert Money.model_validate_json(money.model_dump_json()) == money

"""Money: a Decimal amount with an ISO 4217 currency, validated to the currency's minor units.

Floats never enter: an amount given as float is refused, because binary fractions
cannot represent most cent values and a rounding error here moves real money.
On the wire an amount is a decimal string: {"amount": "10.00", "currency": "USD"}.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
    model_validator,
)

# Minor units per ISO 4217 for the currencies a retailer is likely to settle in.
# A currency missing here is rejected rather than guessed: guessing 2 for JPY
# would let a caller authorize 100x the intended amount.
MINOR_UNITS: dict[str, int] = {
    "USD": 2, "EUR": 2, "GBP": 2, "CAD": 2, "AUD": 2, "NZD": 2, "CHF": 2, "SEK": 2,
    "NOK": 2, "DKK": 2, "PLN": 2, "CZK": 2, "HUF": 2, "MXN": 2, "BRL": 2, "SGD": 2,
    "HKD": 2, "INR": 2, "ZAR": 2, "ILS": 2, "TRY": 2, "CNY": 2, "THB": 2, "MYR": 2,
    "PHP": 2, "RON": 2,
    "JPY": 0, "KRW": 0, "VND": 0, "ISK": 0, "CLP": 0,
    "KWD": 3, "BHD": 3, "JOD": 3, "OMR": 3, "TND": 3,
}

# Upper bound on a single amount; Braintree refuses amounts above this too.
MAX_AMOUNT = Decimal("99999999.99")

# Longer input than any valid amount needs: refusing it early keeps a hostile
# payload from making Decimal parse megabytes of digits.
_MAX_AMOUNT_TEXT = 40

AMOUNT_PATTERN = r"^[0-9]+(\.[0-9]+)?$"


class MoneyError(ValueError):
    """An amount or currency that cannot be used for a payment."""


def minor_units(currency: str) -> int:
    """Number of decimal places the currency allows; raises MoneyError if unknown."""
    try:
        return MINOR_UNITS[currency]
    except KeyError:
        raise MoneyError(f"unsupported currency {currency!r}") from None


def parse_amount(value: Any) -> Decimal:
    """Turn a str/int/Decimal into a Decimal; refuse float and non-finite values."""
    if isinstance(value, bool):
        raise MoneyError("amount must be a decimal string, not a boolean")
    if isinstance(value, float):
        raise MoneyError("amount must be a decimal string, not a float")
    if isinstance(value, Decimal):
        amount = value
    elif isinstance(value, int | str):
        text = str(value).strip()
        if len(text) > _MAX_AMOUNT_TEXT:
            raise MoneyError("amount has too many digits")
        try:
            amount = Decimal(text)
        except InvalidOperation:
            raise MoneyError(f"amount {value!r} is not a decimal number") from None
    else:
        raise MoneyError(f"amount must be a decimal string, got {type(value).__name__}")
    if not amount.is_finite():
        raise MoneyError("amount must be finite")
    return amount


def check_amount(amount: Decimal, currency: str, *, allow_zero: bool = False) -> Decimal:
    """Validate amount against the currency's minor units and sign; return it quantized."""
    places = minor_units(currency)
    if amount < 0:
        raise MoneyError("amount must not be negative")
    if amount == 0 and not allow_zero:
        raise MoneyError("amount must be greater than zero")
    if amount > MAX_AMOUNT:
        raise MoneyError(f"amount must not exceed {MAX_AMOUNT}")
    exponent = amount.as_tuple().exponent
    quantum = Decimal(1).scaleb(-places)
    # Trailing zeros beyond the minor units (e.g. "10.500" USD) are harmless;
    # any other digit there would be silently rounded away, so it is refused.
    if isinstance(exponent, int) and exponent < -places and amount != amount.quantize(quantum):
        raise MoneyError(f"{currency} allows {places} decimal places; {amount} has more")
    return amount.quantize(quantum)


CurrencyCode = Annotated[str, Field(pattern=r"^[A-Z]{3}$", examples=["USD"])]

# The published schema says "string" even though ints are accepted on input:
# producers should send strings, and a JSON number invites float encoders.
_AmountField = Annotated[
    Decimal,
    WithJsonSchema(
        {
            "type": "string",
            "pattern": AMOUNT_PATTERN,
            "description": "Decimal string, at most the currency's minor units",
            "examples": ["10.00"],
        }
    ),
]


class Money(BaseModel):
    """An amount in one currency. Serialized as {"amount": "10.00", "currency": "USD"}.

    Zero is a valid Money (running totals start there); whether a *request* may carry
    zero is the request model's business.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    amount: _AmountField
    currency: CurrencyCode

    @field_validator("amount", mode="before")
    @classmethod
    def _no_float(cls, value: Any) -> Decimal:
        return parse_amount(value)

    @model_validator(mode="after")
    def _minor_units(self) -> Money:
        object.__setattr__(self, "amount", check_amount(self.amount, self.currency,
                                                        allow_zero=True))
        return self

    @classmethod
    def of(cls, amount: str | int | Decimal, currency: str) -> Money:
        """Build Money, raising MoneyError (not a pydantic error) on bad input."""
        checked = check_amount(parse_amount(amount), currency, allow_zero=True)
        return cls(amount=checked, currency=currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls.of(Decimal(0), currency)

    def _same(self, other: Money) -> None:
        if not isinstance(other, Money):
            raise TypeError(f"cannot combine Money with {type(other).__name__}")
        if other.currency != self.currency:
            raise MoneyError(f"currency mismatch: {self.currency} vs {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money.of(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        """Difference; raises MoneyError when it would go below zero."""
        self._same(other)
        return Money.of(self.amount - other.amount, self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount < other.amount

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.amount <= other.amount

    def __gt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount > other.amount

    def __ge__(self, other: Money) -> bool:
        self._same(other)
        return self.amount >= other.amount

    @property
    def is_zero(self) -> bool:
        return self.amount == 0

    def to_gateway(self) -> str:
        """The amount as the decimal string Braintree expects ("10.00")."""
        return f"{self.amount:.{minor_units(self.currency)}f}"

    def __str__(self) -> str:
        return f"{self.to_gateway()} {self.currency}"

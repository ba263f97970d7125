"""Braintree sandbox test values: nonces, card numbers, amounts, processor responses.

Sources: https://developer.paypal.com/braintree/docs/reference/general/testing/python/
and the SDK's own `braintree/test/nonces.py` and `credit_card_numbers.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

Instrument = Literal["credit_card", "paypal_account", "apple_pay_card", "android_pay_card"]


@dataclass(frozen=True, slots=True)
class NonceSpec:
    instrument: Instrument
    card_type: str | None = None
    bin: str | None = None
    last_4: str | None = None
    expiration_month: str = "12"
    expiration_year: str = "2030"
    email: str | None = None
    # PayPal one-time nonces can be charged but not vaulted (Braintree 82902).
    vaultable: bool = True
    # Nonces that force an outcome regardless of amount.
    force: Literal["processor_declined", "failed", "gateway_rejected_fraud", "consumed",
                   "luhn_invalid"] | None = None
    force_code: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


def _card(card_type: str, bin_: str, last_4: str, **kw: object) -> NonceSpec:
    return NonceSpec("credit_card", card_type=card_type, bin=bin_, last_4=last_4, **kw)  # type: ignore[arg-type]


NONCES: dict[str, NonceSpec] = {
    "fake-valid-nonce": _card("Visa", "401288", "1881"),
    "fake-valid-visa-nonce": _card("Visa", "401288", "1881"),
    "fake-valid-amex-nonce": _card("American Express", "378282", "0005"),
    "fake-valid-mastercard-nonce": _card("MasterCard", "555555", "4444"),
    "fake-valid-discover-nonce": _card("Discover", "601111", "1117"),
    "fake-valid-jcb-nonce": _card("JCB", "356600", "0505"),
    "fake-valid-debit-nonce": _card("Visa", "411710", "1010"),
    "fake-valid-prepaid-nonce": _card("Visa", "411111", "1210"),
    "fake-processor-declined-visa-nonce": _card(
        "Visa", "400011", "0002", force="processor_declined", force_code="2000"),
    "fake-processor-declined-mastercard-nonce": _card(
        "MasterCard", "510510", "5100", force="processor_declined", force_code="2000"),
    "fake-processor-declined-amex-nonce": _card(
        "American Express", "378734", "1000", force="processor_declined", force_code="2000"),
    "fake-processor-declined-discover-nonce": _card(
        "Discover", "601100", "9424", force="processor_declined", force_code="2000"),
    "fake-processor-failure-jcb-nonce": _card(
        "JCB", "356600", "2018", force="failed", force_code="3000"),
    "fake-gateway-rejected-fraud-nonce": _card(
        "Visa", "401288", "1881", force="gateway_rejected_fraud"),
    "fake-consumed-nonce": _card("Visa", "401288", "1881", force="consumed"),
    "fake-luhn-invalid-nonce": _card("Visa", "411111", "1112", force="luhn_invalid"),
    "fake-paypal-one-time-nonce": NonceSpec(
        "paypal_account", email="jane.doe@paypal.com", vaultable=False,
        extra={"payer_id": "PAYER-ONE-TIME"}),
    "fake-paypal-billing-agreement-nonce": NonceSpec(
        "paypal_account", email="jane.doe@paypal.com",
        extra={"payer_id": "PAYER-BA", "billing_agreement_id": "B-SIMULATED"}),
    "fake-paypal-future-nonce": NonceSpec(
        "paypal_account", email="jane.doe@paypal.com", extra={"payer_id": "PAYER-FUTURE"}),
    "fake-apple-pay-visa-nonce": NonceSpec(
        "apple_pay_card", card_type="Apple Pay - Visa", bin="401288", last_4="1881"),
    "fake-apple-pay-mastercard-nonce": NonceSpec(
        "apple_pay_card", card_type="Apple Pay - MasterCard", bin="555555", last_4="4444"),
    "fake-apple-pay-amex-nonce": NonceSpec(
        "apple_pay_card", card_type="Apple Pay - American Express", bin="378282",
        last_4="0005"),
    "fake-android-pay-nonce": NonceSpec(
        "android_pay_card", card_type="Visa", bin="401288", last_4="1881",
        extra={"source_card_type": "Visa", "source_card_last_4": "1111"}),
    "fake-android-pay-visa-nonce": NonceSpec(
        "android_pay_card", card_type="Visa", bin="401288", last_4="1881",
        extra={"source_card_type": "Visa", "source_card_last_4": "1111"}),
    "fake-android-pay-mastercard-nonce": NonceSpec(
        "android_pay_card", card_type="MasterCard", bin="555555", last_4="4444",
        extra={"source_card_type": "MasterCard", "source_card_last_4": "4444"}),
    "fake-android-pay-amex-nonce": NonceSpec(
        "android_pay_card", card_type="American Express", bin="378282", last_4="0005",
        extra={"source_card_type": "American Express", "source_card_last_4": "0005"}),
    "fake-android-pay-discover-nonce": NonceSpec(
        "android_pay_card", card_type="Discover", bin="601111", last_4="1117",
        extra={"source_card_type": "Discover", "source_card_last_4": "1117"}),
}
# Nonces whose only difference is their BIN data (see cardinfo.for_nonce).
for _name in ("business", "commercial", "consumer", "corporate", "durbin-regulated",
              "healthcare", "payroll", "prepaid-reloadable", "purchase",
              "issuing-bank-network-only", "country-of-issuance-usa",
              "country-of-issuance-cad", "no-indicators"):
    NONCES.setdefault(f"fake-valid-{_name}-nonce", _card("Visa", "411111", "1111"))

# Sandbox cards that fail card verification (vaulting with verify_card) with 2000.
FAILS_VERIFICATION = frozenset(
    {"4000111111111115", "5105105105105100", "378734493671000", "6011000990139424"}
)

_CARD_PREFIXES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("34", "37"), "American Express"),
    (("4",), "Visa"),
    (("51", "52", "53", "54", "55", "22", "23", "24", "25", "26", "27"), "MasterCard"),
    (("6011", "65", "644", "645", "646", "647", "648", "649"), "Discover"),
    (("35",), "JCB"),
    (("5018", "5020", "5038", "6304", "6759"), "Maestro"),
)


def card_brand(number: str) -> str:
    for prefixes, brand in _CARD_PREFIXES:
        if number.startswith(prefixes):
            return brand
    return "Unknown"


def luhn_ok(number: str) -> bool:
    if not number.isdigit() or not 12 <= len(number) <= 19:
        return False
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


# Processor response texts for the sandbox decline codes; unlisted codes in 2000-2999
# get "Processor Declined". From Braintree's processor-responses reference.
PROCESSOR_RESPONSES: dict[str, tuple[str, str]] = {
    "1000": ("Approved", "approved"),
    "2000": ("Do Not Honor", "soft_declined"),
    "2001": ("Insufficient Funds", "soft_declined"),
    "2002": ("Limit Exceeded", "soft_declined"),
    "2003": ("Cardholder's Activity Limit Exceeded", "soft_declined"),
    "2004": ("Expired Card", "hard_declined"),
    "2005": ("Invalid Credit Card Number", "hard_declined"),
    "2006": ("Invalid Expiration Date", "hard_declined"),
    "2007": ("No Account", "hard_declined"),
    "2008": ("Card Account Length Error", "hard_declined"),
    "2009": ("No Such Issuer", "hard_declined"),
    "2010": ("Card Issuer Declined CVV", "hard_declined"),
    "2011": ("Voice Authorization Required", "hard_declined"),
    "2012": ("Processor Declined - Possible Lost Card", "hard_declined"),
    "2013": ("Processor Declined - Possible Stolen Card", "hard_declined"),
    "2014": ("Processor Declined - Fraud Suspected", "hard_declined"),
    "2015": ("Transaction Not Allowed", "hard_declined"),
    "2038": ("Processor Declined", "soft_declined"),
    "2046": ("Declined", "soft_declined"),
    "2057": ("Issuer or Cardholder has put a restriction on the card", "soft_declined"),
    "3000": ("Processor Network Unavailable - Try Again", "soft_declined"),
}


def processor_response(code: str) -> tuple[str, str]:
    """(text, type) for a processor response code."""
    if code in PROCESSOR_RESPONSES:
        return PROCESSOR_RESPONSES[code]
    return ("Processor Declined", "soft_declined")


AmountOutcome = Literal["authorized", "processor_declined", "failed", "gateway_rejected"]


def amount_outcome(amount: Decimal) -> tuple[AmountOutcome, str]:
    """The sandbox's authorization response for an amount, and the processor code."""
    if Decimal("2000") <= amount < Decimal("3000"):
        return "processor_declined", str(int(amount))
    if Decimal("3000") <= amount < Decimal("3001"):
        return "failed", "3000"
    if amount == Decimal("5001"):
        return "gateway_rejected", ""
    return "authorized", "1000"


# Dispute test data: a sale on this card is disputed once it settles.
DISPUTE_CHARGEBACK_CARD = "4023898493988028"
# Sandbox amounts that set the dispute's reason code (Visa/Discover fraud); else "83".
DISPUTE_REASON_CODES: dict[Decimal, tuple[str, str]] = {
    Decimal("83.00"): ("83", "Visa Fraud"),
    Decimal("10.40"): ("1040", "Visa Fraud"),
    Decimal("13.10"): ("1310", "Visa Fraud"),
    Decimal("70.30"): ("7030", "Discover Fraud"),
}
# Text evidence that decides a finalized sandbox dispute.
WINNING_EVIDENCE = "compelling_evidence"
LOSING_EVIDENCE = "losing_evidence"

# Settlement responses (Braintree's processor-responses reference, 4000 class).
SETTLEMENT_RESPONSES: dict[str, str] = {
    "4000": "Settled",
    "4001": "Settlement Declined",
    "4002": "Settlement Pending",
    "4003": "Already Captured",
    "4004": "Already Refunded",
    "4005": "PayPal Risk Rejected",
    "4006": "Capture Amount Exceeded Allowable Limit",
    "3000": "Processor Network Unavailable - Try Again",
}

SettlementStatus = Literal["settled", "settlement_declined", "settlement_pending"]


def settlement_outcome(amount: Decimal, instrument: Instrument) -> tuple[SettlementStatus, str]:
    """What the sandbox's settlement batch does with a submitted amount, and its code.

    4001.xx and 4003.00-5000.99 decline with the amount as code; 4002.xx stays pending on
    PayPal; 5001.02 fails with 3000 (processor unavailable); the rest settles with 4000.
    """
    if Decimal("4001") <= amount < Decimal("4002"):
        return "settlement_declined", "4001"
    if Decimal("4002") <= amount < Decimal("4003"):
        if instrument == "paypal_account":
            return "settlement_pending", "4002"
        return "settled", "4000"
    if Decimal("4003") <= amount < Decimal("5001"):
        return "settlement_declined", str(int(amount))
    if amount == Decimal("5001.02"):
        return "settlement_declined", "3000"
    return "settled", "4000"


def settlement_text(code: str) -> str:
    return SETTLEMENT_RESPONSES.get(code, "Settlement Declined")

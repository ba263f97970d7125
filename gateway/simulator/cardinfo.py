"""Card BIN data as Braintree returns it on every card-like type.

Braintree answers each indicator with "Yes", "No" or "Unknown"; the sandbox sets them from
its card-type-indicator test numbers and test nonces (the SDK's `test/credit_card_numbers.py`
`CardTypeIndicators`, `test/nonces.py` `Transactable*`, `test/credit_card_defaults.py`).
Anything else answers "Unknown", as sandbox cards without BIN data do.
"""

from __future__ import annotations

INDICATORS = ("prepaid", "prepaid_reloadable", "healthcare", "debit", "durbin_regulated",
              "commercial", "payroll", "business", "consumer", "corporate", "purchase")
LABELS = ("issuing_bank", "country_of_issuance", "product_id")
BIN_FIELDS = INDICATORS + LABELS

UNKNOWN = "Unknown"
ISSUING_BANK = "NETWORK ONLY"
COUNTRY_OF_ISSUANCE = "USA"

# Test card number -> the one indicator it sets to "Yes".
_YES_CARDS = {
    "4229989800000003": "business",
    "4111111111131010": "commercial",
    "4229989700000004": "consumer",
    "4229989100000000": "corporate",
    "4111161010101010": "durbin_regulated",
    "4117101010101010": "debit",
    "4111111510101010": "healthcare",
    "4111111114101010": "payroll",
    "4111111111111210": "prepaid",
    "4500600000000061": "prepaid",
    "4229989900000002": "prepaid_reloadable",
    "4229989500000006": "purchase",
}
_NO_CARD = "4111111111310101"
_ISSUING_BANK_CARD = "4111111141010101"
_COUNTRY_CARD = "4111111111121102"

# Test nonce -> (indicator set to "Yes" | label override).
_YES_NONCES = {
    "fake-valid-business-nonce": "business",
    "fake-valid-commercial-nonce": "commercial",
    "fake-valid-consumer-nonce": "consumer",
    "fake-valid-corporate-nonce": "corporate",
    "fake-valid-debit-nonce": "debit",
    "fake-valid-durbin-regulated-nonce": "durbin_regulated",
    "fake-valid-healthcare-nonce": "healthcare",
    "fake-valid-payroll-nonce": "payroll",
    "fake-valid-prepaid-nonce": "prepaid",
    "fake-valid-prepaid-reloadable-nonce": "prepaid_reloadable",
    "fake-valid-purchase-nonce": "purchase",
}


def _base() -> dict[str, str]:
    return {name: UNKNOWN for name in BIN_FIELDS}


def for_number(number: str) -> dict[str, str]:
    """BIN data for a raw card number (called before the number is dropped)."""
    out = _base()
    if number == _NO_CARD:
        out.update({name: "No" for name in INDICATORS})
    elif number in _YES_CARDS:
        out[_YES_CARDS[number]] = "Yes"
    elif number == _ISSUING_BANK_CARD:
        out["issuing_bank"] = ISSUING_BANK
    elif number == _COUNTRY_CARD:
        out["country_of_issuance"] = COUNTRY_OF_ISSUANCE
    return out


def for_nonce(nonce: str) -> dict[str, str]:
    out = _base()
    if nonce in _YES_NONCES:
        out[_YES_NONCES[nonce]] = "Yes"
    elif nonce == "fake-valid-issuing-bank-network-only-nonce":
        out["issuing_bank"] = ISSUING_BANK
    elif nonce == "fake-valid-country-of-issuance-usa-nonce":
        out["country_of_issuance"] = COUNTRY_OF_ISSUANCE
    elif nonce == "fake-valid-country-of-issuance-cad-nonce":
        out["country_of_issuance"] = "CAN"
    elif nonce == "fake-valid-no-indicators-nonce":
        out.update({name: "No" for name in INDICATORS})
    return out

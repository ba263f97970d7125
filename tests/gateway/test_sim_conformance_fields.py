"""Conformance: the real SDK reads every attribute Braintree returns, with realistic values.

One test per behaviour; the simulator runs as a subprocess (conftest `sim`)."""

from __future__ import annotations

import base64

import braintree
import pytest
from braintree.test.credit_card_numbers import CreditCardNumbers

from gateway.simulator.runner import SimulatorHandle

BIN_FIELDS = ("prepaid", "prepaid_reloadable", "commercial", "debit", "healthcare", "payroll",
              "durbin_regulated", "business", "consumer", "corporate", "purchase",
              "issuing_bank", "country_of_issuance", "product_id")


def _sale(bt: braintree.BraintreeGateway, nonce: str, amount: str = "10.00",
          **extra: object) -> braintree.Transaction:
    result = bt.transaction.sale({"amount": amount, "payment_method_nonce": nonce, **extra})
    assert result.is_success, result.message
    return result.transaction


def test_graphql_ids_encode_the_legacy_id(bt: braintree.BraintreeGateway) -> None:
    t = _sale(bt, "fake-valid-nonce")
    assert base64.b64decode(t.graphql_id).decode() == f"transaction_{t.id}"
    customer = bt.customer.create({"first_name": "Ada"}).customer
    assert base64.b64decode(customer.graphql_id).decode() == f"customer_{customer.id}"


def test_authorized_sale_carries_network_and_authorization_data(
        bt: braintree.BraintreeGateway) -> None:
    t = _sale(bt, "fake-valid-visa-nonce")
    assert len(t.network_transaction_id) == 15 and t.network_transaction_id.isdigit()
    assert len(t.processor_authorization_code) == 6
    assert t.processor_response_code == "1000" and t.processor_response_type == "approved"
    assert t.additional_processor_response is None
    assert t.processor_settlement_response_code == ""
    assert t.network_response_code == "00"
    assert t.partially_authorized is False
    assert t.disbursement_details.is_valid is False


@pytest.mark.parametrize(("amount", "rtype"), [("2001.00", "soft_declined"),
                                                ("2004.00", "hard_declined")])
def test_declines_carry_additional_processor_response(
        bt: braintree.BraintreeGateway, amount: str, rtype: str) -> None:
    result = bt.transaction.sale({"amount": amount, "payment_method_nonce": "fake-valid-nonce"})
    t = result.transaction
    assert not result.is_success
    assert t.processor_response_type == rtype
    assert t.additional_processor_response == f"{amount[:4]} : {t.processor_response_text}"
    assert t.network_transaction_id is None


def test_credit_card_bin_fields_default_to_unknown(bt: braintree.BraintreeGateway) -> None:
    card = _sale(bt, "fake-valid-nonce").credit_card_details
    for name in BIN_FIELDS:
        assert getattr(card, name) == "Unknown", name
    assert card.masked_number == "401288******1881"


@pytest.mark.parametrize(("number", "field", "value"), [
    (CreditCardNumbers.CardTypeIndicators.Prepaid, "prepaid", "Yes"),
    (CreditCardNumbers.CardTypeIndicators.Debit, "debit", "Yes"),
    (CreditCardNumbers.CardTypeIndicators.Commercial, "commercial", "Yes"),
    (CreditCardNumbers.CardTypeIndicators.Payroll, "payroll", "Yes"),
    (CreditCardNumbers.CardTypeIndicators.Healthcare, "healthcare", "Yes"),
    (CreditCardNumbers.CardTypeIndicators.Business, "business", "Yes"),
    (CreditCardNumbers.CardTypeIndicators.PrepaidReloadable, "prepaid_reloadable", "Yes"),
    (CreditCardNumbers.CardTypeIndicators.No, "prepaid", "No"),
    (CreditCardNumbers.CardTypeIndicators.IssuingBank, "issuing_bank", "NETWORK ONLY"),
    (CreditCardNumbers.CardTypeIndicators.CountryOfIssuance, "country_of_issuance", "USA"),
])
def test_card_type_indicator_test_numbers(bt: braintree.BraintreeGateway, number: str,
                                          field: str, value: str) -> None:
    result = bt.transaction.sale({"amount": "10.00", "credit_card": {
        "number": number, "expiration_date": "05/2030"}})
    assert result.is_success, result.message
    card = result.transaction.credit_card_details
    assert getattr(card, field) == value
    assert card.last_4 == number[-4:] and card.bin == number[:6]


@pytest.mark.parametrize(("nonce", "attr"), [
    ("fake-apple-pay-visa-nonce", "apple_pay_details"),
    ("fake-android-pay-visa-nonce", "android_pay_card_details"),
])
def test_wallet_cards_carry_bin_fields(bt: braintree.BraintreeGateway, nonce: str,
                                       attr: str) -> None:
    details = getattr(_sale(bt, nonce), attr)
    for name in BIN_FIELDS:
        assert getattr(details, name) == "Unknown", name
    assert details.bin == "401288" and details.last_4 == "1881"


def test_debit_nonce_sets_the_debit_indicator(bt: braintree.BraintreeGateway) -> None:
    card = _sale(bt, "fake-valid-debit-nonce").credit_card_details
    assert card.debit == "Yes" and card.prepaid == "Unknown"


def test_paypal_payer_and_capture_details(bt: braintree.BraintreeGateway) -> None:
    t = _sale(bt, "fake-paypal-one-time-nonce")
    p = t.paypal_details
    assert p.payer_email == "jane.doe@paypal.com" and p.payer_id
    assert p.payment_id.startswith("PAYID-") and p.authorization_id.startswith("AUTH-")
    assert p.capture_id is None
    captured = bt.transaction.submit_for_settlement(t.id).transaction.paypal_details
    assert captured.capture_id.startswith("CAPT-")
    assert captured.payer_first_name == "Jane" and captured.payer_status == "VERIFIED"


def test_refunded_transaction_lists_its_refunds(bt: braintree.BraintreeGateway,
                                                sim: SimulatorHandle) -> None:
    t = _sale(bt, "fake-valid-nonce", options={"submit_for_settlement": True})
    sim.settle(t.id)
    first = bt.transaction.refund(t.id, "3.00").transaction
    second = bt.transaction.refund(t.id, "2.00").transaction
    again = bt.transaction.find(t.id)
    assert again.refund_ids == [first.id, second.id]
    assert again.refund_id == first.id
    assert first.refunded_transaction_id == t.id and first.type == "credit"
    assert again.processor_settlement_response_code == "4000"
    assert again.processor_settlement_response_text == "Settled"
    assert again.settlement_batch_id


def test_vaulted_methods_carry_graphql_ids_and_bin_fields(
        bt: braintree.BraintreeGateway) -> None:
    customer = bt.customer.create({}).customer
    card = bt.payment_method.create({"customer_id": customer.id,
                                     "payment_method_nonce": "fake-valid-prepaid-nonce"})
    method = card.payment_method
    assert method.prepaid == "Yes" and method.debit == "Unknown"
    assert base64.b64decode(method.graphql_id).decode() == f"paymentmethod_{method.token}"
    found = bt.customer.find(customer.id)
    assert [m.token for m in found.payment_methods] == [method.token]
    assert found.credit_cards[0].prepaid == "Yes"

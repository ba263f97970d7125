"""Customers and payment-method vaulting through the SDK, for all four method types."""

from __future__ import annotations

from typing import Any

import braintree
import pytest
from gw_helpers import codes, new_key


@pytest.fixture
def customer_id(bt: braintree.BraintreeGateway) -> str:
    result = bt.customer.create({"id": "c" + new_key()[:20], "email": "jane@example.com"})
    assert result.is_success
    return str(result.customer.id)


@pytest.mark.parametrize(
    ("nonce", "cls", "root"),
    [("fake-valid-visa-nonce", braintree.CreditCard, "credit_card"),
     ("fake-paypal-billing-agreement-nonce", braintree.PayPalAccount, "paypal_account"),
     ("fake-apple-pay-visa-nonce", braintree.ApplePayCard, "apple_pay_card"),
     ("fake-android-pay-visa-nonce", braintree.AndroidPayCard, "android_pay_card")],
)
def test_vault_find_charge_update_delete(bt: braintree.BraintreeGateway, customer_id: str,
                                         nonce: str, cls: Any, root: str) -> None:
    created = bt.payment_method.create({"customer_id": customer_id, "payment_method_nonce": nonce})
    assert created.is_success
    pm: Any = created.payment_method
    assert isinstance(pm, cls)
    assert pm.customer_id == customer_id
    assert pm.default is True  # the first method of a customer becomes its default
    if cls is braintree.PayPalAccount:
        assert pm.email == "jane.doe@paypal.com"
    else:
        assert pm.last_4 == "1881"
        assert pm.expiration_month and pm.expiration_year
    found = bt.payment_method.find(pm.token)
    assert isinstance(found, cls) and found.token == pm.token

    sale = bt.transaction.sale({"amount": "12.00", "payment_method_token": pm.token})
    assert sale.is_success
    assert sale.transaction.payment_instrument_type == root
    by_customer = bt.transaction.sale({"amount": "12.00", "customer_id": customer_id})
    assert by_customer.is_success

    updated = bt.payment_method.update(pm.token, {"options": {"make_default": True}})
    assert updated.is_success and updated.payment_method.default
    assert len(bt.customer.find(customer_id).payment_methods) == 1

    bt.payment_method.delete(pm.token)
    with pytest.raises(braintree.exceptions.NotFoundError):
        bt.payment_method.find(pm.token)


def test_update_card_expiration_and_postal_code(bt: braintree.BraintreeGateway,
                                                customer_id: str) -> None:
    pm = bt.payment_method.create({"customer_id": customer_id,
                                   "payment_method_nonce": "fake-valid-nonce"}).payment_method
    result = bt.payment_method.update(pm.token, {
        "expiration_month": "07", "expiration_year": "2031",
        "billing_address": {"postal_code": "94107", "options": {"update_existing": True}}})
    card = result.payment_method
    assert (card.expiration_month, card.expiration_year) == ("07", "2031")
    assert card.billing_address.postal_code == "94107"


def test_make_default_moves_the_default(bt: braintree.BraintreeGateway, customer_id: str) -> None:
    first = bt.payment_method.create({"customer_id": customer_id,
                                      "payment_method_nonce": "fake-valid-nonce"}).payment_method
    second = bt.payment_method.create({
        "customer_id": customer_id, "payment_method_nonce": "fake-apple-pay-visa-nonce",
        "options": {"make_default": True}}).payment_method
    assert second.default
    assert not bt.payment_method.find(first.token).default


def test_vault_errors(bt: braintree.BraintreeGateway, customer_id: str) -> None:
    def create(**params: object) -> Any:
        return bt.payment_method.create(params)

    assert codes(create(customer_id=customer_id, payment_method_nonce="fake-nope")) == ["93108"]
    assert codes(create(customer_id="ghost", payment_method_nonce="fake-valid-nonce")) == ["93105"]
    assert codes(create(customer_id=customer_id)) == ["93103"]
    assert codes(create(customer_id=customer_id,
                        payment_method_nonce="fake-paypal-one-time-nonce")) == ["82902"]


def test_customer_id_in_use(bt: braintree.BraintreeGateway, customer_id: str) -> None:
    assert codes(bt.customer.create({"id": customer_id})) == ["91609"]


def test_vault_response_never_carries_a_pan(bt: braintree.BraintreeGateway,
                                            customer_id: str) -> None:
    pm = bt.payment_method.create({"customer_id": customer_id,
                                   "payment_method_nonce": "fake-valid-nonce"}).payment_method
    assert not hasattr(pm, "number") and not hasattr(pm, "cvv")
    assert pm.masked_number.endswith("1881") and "*" in pm.masked_number

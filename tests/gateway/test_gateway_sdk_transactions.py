"""The official SDK against the simulator: the transaction lifecycle for all four methods."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import braintree
import pytest
from gw_helpers import PAYMENT_METHODS, new_key


def sale(
    bt: braintree.BraintreeGateway, nonce: str, amount: str = "100.00", **extra: object
) -> Any:
    params = {"amount": amount, "payment_method_nonce": nonce, "order_id": new_key(),
              "api_request_key": new_key(), **extra}
    return bt.transaction.sale(params)


@pytest.mark.parametrize(("nonce", "instrument", "details"), PAYMENT_METHODS)
def test_authorize(bt: braintree.BraintreeGateway, nonce: str, instrument: str,
                   details: str) -> None:
    result = sale(bt, nonce, merchant_account_id="sim_merchant_eur")
    assert result.is_success
    t = result.transaction
    assert t.status == braintree.Transaction.Status.Authorized
    assert t.type == "sale"
    assert t.amount == Decimal("100.00")
    assert t.currency_iso_code == "EUR"
    assert t.payment_instrument_type == instrument
    assert hasattr(t, details)
    assert t.processor_response_code == "1000"
    assert t.status_history[0].status == "authorized"
    assert bt.transaction.find(t.id).status == "authorized"


@pytest.mark.parametrize(("nonce", "instrument", "details"), PAYMENT_METHODS)
def test_capture_full_then_settle_then_refund_full(
    bt: braintree.BraintreeGateway, nonce: str, instrument: str, details: str
) -> None:
    t = sale(bt, nonce).transaction
    captured = bt.transaction.submit_for_settlement(t.id, None, {"api_request_key": new_key()})
    assert captured.is_success
    assert captured.transaction.status == "submitted_for_settlement"
    assert captured.transaction.amount == Decimal("100.00")
    assert bt.testing.settle_transaction(t.id).transaction.status == "settled"
    refund = bt.transaction.refund(t.id, {"api_request_key": new_key()})
    assert refund.is_success
    credit = refund.transaction
    assert credit.type == "credit"
    assert credit.refunded_transaction_id == t.id
    assert credit.amount == Decimal("100.00")
    assert credit.payment_instrument_type == instrument
    assert bt.transaction.find(t.id).refund_ids == [credit.id]


@pytest.mark.parametrize(("nonce", "instrument", "details"), PAYMENT_METHODS)
def test_capture_partial_and_repeated_partial_refunds(
    bt: braintree.BraintreeGateway, nonce: str, instrument: str, details: str
) -> None:
    t = sale(bt, nonce).transaction
    captured = bt.transaction.submit_for_settlement(t.id, "60.00", {"api_request_key": new_key()})
    assert captured.is_success
    assert captured.transaction.amount == Decimal("60.00")
    bt.testing.settle_transaction(t.id)
    first = bt.transaction.refund(t.id, {"amount": "25.00", "api_request_key": new_key()})
    second = bt.transaction.refund(t.id, {"amount": "35.00", "api_request_key": new_key()})
    assert first.is_success and second.is_success
    third = bt.transaction.refund(t.id, {"amount": "0.01", "api_request_key": new_key()})
    assert not third.is_success
    assert [e.code for e in third.errors.deep_errors] == ["91512"]
    assert bt.transaction.find(t.id).refund_ids == [first.transaction.id, second.transaction.id]


@pytest.mark.parametrize(("nonce", "instrument", "details"), PAYMENT_METHODS)
def test_void_authorized_and_submitted(
    bt: braintree.BraintreeGateway, nonce: str, instrument: str, details: str
) -> None:
    authorized = sale(bt, nonce).transaction
    voided = bt.transaction.void(authorized.id, {"api_request_key": new_key()})
    assert voided.is_success and voided.transaction.status == "voided"
    submitted = sale(bt, nonce, options={"submit_for_settlement": True}).transaction
    assert submitted.status == "submitted_for_settlement"
    assert bt.transaction.void(submitted.id).transaction.status == "voided"


def test_refund_allowed_while_settling(bt: braintree.BraintreeGateway) -> None:
    t = sale(bt, "fake-valid-nonce", options={"submit_for_settlement": True}).transaction
    # The sandbox has no "move to settling" endpoint; settlement_pending -> settle covers
    # the pending path, and the ledger treats settling like settled for refunds.
    assert bt.testing.settlement_pending_transaction(t.id).transaction.status == \
        "settlement_pending"
    assert bt.testing.settle_transaction(t.id).transaction.status == "settled"
    assert bt.transaction.refund(t.id, "1.00").is_success


@pytest.mark.parametrize(
    ("endpoint", "status"),
    [("settle_transaction", "settled"),
     ("settlement_confirm_transaction", "settlement_confirmed"),
     ("settlement_decline_transaction", "settlement_declined"),
     ("settlement_pending_transaction", "settlement_pending")],
)
def test_sandbox_settlement_endpoints(bt: braintree.BraintreeGateway, endpoint: str,
                                      status: str) -> None:
    t = sale(bt, "fake-valid-nonce", options={"submit_for_settlement": True}).transaction
    result = getattr(bt.testing, endpoint)(t.id)
    assert result.transaction.status == status


def test_settlement_endpoint_refuses_authorized(bt: braintree.BraintreeGateway) -> None:
    t = sale(bt, "fake-valid-nonce").transaction
    result = bt.testing.settle_transaction(t.id)
    assert not result.is_success
    assert [e.code for e in result.errors.deep_errors] == ["91575"]


def test_search_by_order_id(bt: braintree.BraintreeGateway) -> None:
    order = new_key()
    ids = {sale(bt, "fake-valid-nonce", order_id=order).transaction.id for _ in range(3)}
    sale(bt, "fake-valid-nonce")  # another order
    found = bt.transaction.search(braintree.TransactionSearch.order_id == order)
    assert {t.id for t in found.items} == ids
    none = bt.transaction.search(braintree.TransactionSearch.order_id == "no-such-order")
    assert list(none.items) == []


def test_raw_sandbox_card_number(bt: braintree.BraintreeGateway) -> None:
    result = bt.transaction.sale({"amount": "10.00", "credit_card": {
        "number": "4111111111111111", "expiration_date": "12/2030", "cvv": "123"}})
    assert result.is_success
    details = result.transaction.credit_card_details
    assert (details.card_type, details.last_4, details.bin) == ("Visa", "1111", "411111")


def test_jpy_amounts_have_no_minor_units(bt: braintree.BraintreeGateway) -> None:
    ok = sale(bt, "fake-valid-nonce", amount="1500", merchant_account_id="sim_merchant_jpy")
    assert ok.is_success and ok.transaction.amount == Decimal("1500")
    bad = sale(bt, "fake-valid-nonce", amount="15.50", merchant_account_id="sim_merchant_jpy")
    assert [e.code for e in bad.errors.deep_errors] == ["81503"]

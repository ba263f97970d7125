"""Conformance: standalone credit, settlement batches and the sandbox's settlement amounts,
validation errors' echoed params — driven through the real SDK."""

from __future__ import annotations

import time
from decimal import Decimal

import braintree
import pytest
from gw_helpers import codes

from gateway.simulator.runner import SimulatorHandle


def _captured(bt: braintree.BraintreeGateway, amount: str,
              nonce: str = "fake-valid-nonce") -> braintree.Transaction:
    result = bt.transaction.sale({"amount": amount, "payment_method_nonce": nonce,
                                  "options": {"submit_for_settlement": True}})
    assert result.is_success, result.message
    return result.transaction


def test_standalone_credit(bt: braintree.BraintreeGateway) -> None:
    result = bt.transaction.credit({"amount": "12.34",
                                    "payment_method_nonce": "fake-valid-visa-nonce"})
    assert result.is_success, result.message
    t = result.transaction
    assert (t.type, t.status, t.amount) == ("credit", "submitted_for_settlement",
                                            Decimal("12.34"))
    assert t.refunded_transaction_id is None
    assert codes(bt.transaction.refund(t.id)) == ["91505"]


def test_standalone_credit_to_a_vaulted_card(bt: braintree.BraintreeGateway) -> None:
    customer = bt.customer.create({}).customer
    token = bt.payment_method.create({"customer_id": customer.id,
                                      "payment_method_nonce": "fake-valid-nonce"}
                                     ).payment_method.token
    t = bt.transaction.credit({"amount": "5.00", "payment_method_token": token}).transaction
    assert t.customer_details.id == customer.id and t.credit_card_details.token == token


def test_settlement_batch_settles_everything_submitted(
        bt: braintree.BraintreeGateway, sim: SimulatorHandle) -> None:
    sale = _captured(bt, "10.00")
    credit = bt.transaction.credit({"amount": "1.00",
                                    "payment_method_nonce": "fake-valid-nonce"}).transaction
    authorized = bt.transaction.sale({"amount": "3.00",
                                      "payment_method_nonce": "fake-valid-nonce"}).transaction
    moved = sim.run_settlement_batch()
    assert set(moved) == {sale.id, credit.id}
    after = bt.transaction.find(sale.id)
    assert after.status == "settled" and after.settlement_batch_id
    assert after.disbursement_details.is_valid
    assert bt.transaction.find(credit.id).status == "settled"
    assert bt.transaction.find(authorized.id).status == "authorized"


def test_settlement_batch_interval(bt: braintree.BraintreeGateway, sim: SimulatorHandle) -> None:
    sim.configure(settlement_batch_seconds=0.2)
    sale = _captured(bt, "10.00")
    deadline = time.monotonic() + 5
    while bt.transaction.find(sale.id).status != "settled":
        assert time.monotonic() < deadline, "no batch ran"
        time.sleep(0.1)


def test_settlement_declined_amount(bt: braintree.BraintreeGateway, sim: SimulatorHandle) -> None:
    sale = _captured(bt, "4001.25")
    sim.run_settlement_batch()
    t = bt.transaction.find(sale.id)
    assert t.status == "settlement_declined"
    assert t.processor_settlement_response_code == "4001"
    assert t.processor_settlement_response_text == "Settlement Declined"
    assert codes(bt.transaction.refund(sale.id)) == ["91506"]


@pytest.mark.parametrize(("amount", "code", "text"), [
    ("4003.00", "4003", "Already Captured"), ("4004.50", "4004", "Already Refunded"),
    ("5001.02", "3000", "Processor Network Unavailable - Try Again")])
def test_other_settlement_decline_amounts(bt: braintree.BraintreeGateway, sim: SimulatorHandle,
                                          amount: str, code: str, text: str) -> None:
    sale = _captured(bt, amount)
    sim.run_settlement_batch()
    t = bt.transaction.find(sale.id)
    assert (t.status, t.processor_settlement_response_code,
            t.processor_settlement_response_text) == ("settlement_declined", code, text)


def test_settlement_pending_amount_on_paypal(bt: braintree.BraintreeGateway,
                                             sim: SimulatorHandle) -> None:
    paypal = _captured(bt, "4002.00", "fake-paypal-one-time-nonce")
    card = _captured(bt, "4002.00")
    sim.run_settlement_batch()
    p = bt.transaction.find(paypal.id)
    assert (p.status, p.processor_settlement_response_code) == ("settlement_pending", "4002")
    assert bt.transaction.find(card.id).status == "settled"
    # Braintree lets PayPal void a pending settlement.
    assert bt.transaction.void(paypal.id).transaction.status == "voided"


def test_testing_settlement_decline_sets_the_settlement_code(
        bt: braintree.BraintreeGateway) -> None:
    sale = _captured(bt, "10.00")
    t = bt.testing.settlement_decline_transaction(sale.id).transaction
    assert (t.status, t.processor_settlement_response_code) == ("settlement_declined", "4001")


def test_validation_errors_echo_params_without_card_data(
        bt: braintree.BraintreeGateway) -> None:
    result = bt.transaction.sale({"amount": "abc", "order_id": "o-1", "credit_card": {
        "number": "4111111111111111", "cvv": "123", "expiration_date": "05/2030"}})
    assert not result.is_success
    assert codes(result) == ["81503"]
    echoed = result.params["transaction"]
    assert echoed["amount"] == "abc" and echoed["order_id"] == "o-1"
    assert echoed["type"] == "sale"
    assert echoed["credit_card"] == {"expiration_date": "05/2030"}


def test_split_capture_in_parts(bt: braintree.BraintreeGateway, sim: SimulatorHandle) -> None:
    auth = bt.transaction.sale({"amount": "100.00", "order_id": "split-1",
                                "payment_method_nonce": "fake-valid-nonce"}).transaction
    first = bt.transaction.submit_for_partial_settlement(auth.id, "30.00")
    assert first.is_success, first.message
    child = first.transaction
    assert (child.status, child.amount, child.authorized_transaction_id) == (
        "submitted_for_settlement", Decimal("30.00"), auth.id)
    second = bt.transaction.submit_for_partial_settlement(
        auth.id, "50.00", {"order_id": "split-1-b"}).transaction
    parent = bt.transaction.find(auth.id)
    assert parent.status == "settlement_pending"
    assert parent.partial_settlement_transaction_ids == [child.id, second.id]
    assert codes(bt.transaction.submit_for_partial_settlement(auth.id, "20.01")) == ["91522"]
    sim.run_settlement_batch()
    assert bt.transaction.find(child.id).status == "settled"
    assert bt.transaction.find(auth.id).status == "settlement_pending"
    refund = bt.transaction.refund(child.id, "10.00")
    assert refund.is_success and refund.transaction.refunded_transaction_id == child.id
    assert codes(bt.transaction.refund(auth.id)) == ["91506"]


def test_final_capture_releases_the_rest(bt: braintree.BraintreeGateway) -> None:
    auth = bt.transaction.sale({"amount": "100.00",
                                "payment_method_nonce": "fake-valid-nonce"}).transaction
    assert bt.transaction.submit_for_partial_settlement(
        auth.id, "40.00", {"final_capture": True}).is_success
    assert codes(bt.transaction.submit_for_partial_settlement(auth.id, "10.00")) == ["91507"]


def test_partial_capture_is_idempotent_by_key(bt: braintree.BraintreeGateway) -> None:
    auth = bt.transaction.sale({"amount": "100.00",
                                "payment_method_nonce": "fake-valid-nonce"}).transaction
    first = bt.transaction.submit_for_partial_settlement(
        auth.id, "25.00", {"api_request_key": "ship-1"}).transaction
    again = bt.transaction.submit_for_partial_settlement(
        auth.id, "25.00", {"api_request_key": "ship-1"}).transaction
    assert again.id == first.id
    assert bt.transaction.find(auth.id).partial_settlement_transaction_ids == [first.id]

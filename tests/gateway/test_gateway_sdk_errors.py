"""Each documented Braintree error case, and api_request_key semantics, through the SDK."""

from __future__ import annotations

import threading
import time
from typing import Any

import braintree
import pytest
from gw_helpers import codes, new_key

from gateway.simulator.runner import SimulatorHandle


def authorize(bt: braintree.BraintreeGateway, amount: str = "50.00", **extra: object) -> Any:
    return bt.transaction.sale({"amount": amount, "payment_method_nonce": "fake-valid-nonce",
                                "order_id": new_key(), **extra})


def settled(bt: braintree.BraintreeGateway, amount: str = "50.00") -> Any:
    t = authorize(bt, amount, options={"submit_for_settlement": True}).transaction
    return bt.testing.settle_transaction(t.id).transaction


@pytest.mark.parametrize(
    ("amount", "code", "text"),
    [("2000.00", "2000", "Do Not Honor"), ("2001.00", "2001", "Insufficient Funds"),
     ("2046.00", "2046", "Declined"), ("2999.99", "2999", "Processor Declined")],
)
def test_processor_declined_amounts(bt: braintree.BraintreeGateway, amount: str, code: str,
                                    text: str) -> None:
    result = authorize(bt, amount)
    assert not result.is_success
    assert result.transaction.status == "processor_declined"
    assert result.transaction.processor_response_code == code
    assert result.transaction.processor_response_text == text
    assert result.message == text
    assert codes(result) == []


def test_failed_amount(bt: braintree.BraintreeGateway) -> None:
    result = authorize(bt, "3000.00")
    assert result.transaction.status == "failed"
    assert result.transaction.processor_response_code == "3000"


def test_gateway_rejected_amount(bt: braintree.BraintreeGateway) -> None:
    result = authorize(bt, "5001.00")
    assert result.transaction.status == "gateway_rejected"
    assert result.transaction.gateway_rejection_reason == "application_incomplete"


def test_decline_nonces(bt: braintree.BraintreeGateway) -> None:
    declined = bt.transaction.sale({"amount": "10.00",
                                    "payment_method_nonce": "fake-processor-declined-visa-nonce"})
    assert declined.transaction.status == "processor_declined"
    fraud = bt.transaction.sale({"amount": "10.00",
                                 "payment_method_nonce": "fake-gateway-rejected-fraud-nonce"})
    assert fraud.transaction.gateway_rejection_reason == "fraud"
    paypal = bt.transaction.sale({"amount": "5001.01",
                                  "payment_method_nonce": "fake-paypal-one-time-nonce"})
    assert paypal.transaction.processor_response_code == "2038"


def test_void_only_from_authorized_or_submitted_91504(bt: braintree.BraintreeGateway) -> None:
    t = settled(bt)
    assert codes(bt.transaction.void(t.id)) == ["91504"]


def test_refund_unless_settled_91506(bt: braintree.BraintreeGateway) -> None:
    t = authorize(bt).transaction
    assert codes(bt.transaction.refund(t.id)) == ["91506"]


def test_refund_of_credit_91505(bt: braintree.BraintreeGateway) -> None:
    credit = bt.transaction.refund(settled(bt).id).transaction
    assert codes(bt.transaction.refund(credit.id)) == ["91505"]


def test_capture_only_from_authorized_91507(bt: braintree.BraintreeGateway) -> None:
    t = authorize(bt).transaction
    bt.transaction.void(t.id)
    assert codes(bt.transaction.submit_for_settlement(t.id)) == ["91507"]


def test_capture_above_authorized_91522(bt: braintree.BraintreeGateway) -> None:
    t = authorize(bt, "50.00").transaction
    assert codes(bt.transaction.submit_for_settlement(t.id, "50.01")) == ["91522"]


def test_refund_too_large_91521_and_fully_refunded_91512(
    bt: braintree.BraintreeGateway,
) -> None:
    t = settled(bt, "50.00")
    assert codes(bt.transaction.refund(t.id, "50.01")) == ["91521"]
    assert bt.transaction.refund(t.id, "50.00").is_success
    assert codes(bt.transaction.refund(t.id, "1.00")) == ["91512"]


@pytest.mark.parametrize(("amount", "code"),
                         [("", "81502"), ("ten", "81503"), ("1.001", "81503"), ("0", "81531"),
                          ("-5", "81531")])
def test_amount_validation(bt: braintree.BraintreeGateway, amount: str, code: str) -> None:
    assert codes(authorize(bt, amount)) == [code]


def test_payment_method_errors(bt: braintree.BraintreeGateway) -> None:
    def sale(**pm: object) -> Any:
        return bt.transaction.sale({"amount": "1.00", **pm})

    assert codes(sale(payment_method_nonce="fake-not-a-nonce")) == ["91565"]
    assert codes(sale(payment_method_nonce="fake-consumed-nonce")) == ["91564"]
    assert codes(sale(payment_method_token="nope")) == ["91518"]
    assert codes(sale()) == ["91508"]
    assert codes(sale(customer_id="no-such-customer")) == ["91510"]
    assert codes(sale(payment_method_nonce="fake-valid-nonce",
                      merchant_account_id="no_such_account")) == ["91513"]
    luhn = sale(credit_card={"number": "4111111111111112", "expiration_date": "12/2030"})
    assert luhn.errors.for_object("transaction").for_object("credit_card").on("number")[0] \
        .code == "81715"


def test_errors_are_nested_like_braintree(bt: braintree.BraintreeGateway) -> None:
    t = settled(bt)
    result = bt.transaction.void(t.id)
    error = result.errors.for_object("transaction").on("base")[0]
    assert error.code == braintree.ErrorCodes.Transaction.CannotBeVoided
    assert "voided" in error.message


def test_not_found_raises(bt: braintree.BraintreeGateway) -> None:
    with pytest.raises(braintree.exceptions.NotFoundError):
        bt.transaction.find("doesnotexist")
    with pytest.raises(braintree.exceptions.NotFoundError):
        bt.transaction.void("doesnotexist")


def test_wrong_keys_get_401(sim: SimulatorHandle) -> None:
    with pytest.raises(braintree.exceptions.AuthenticationError):
        sim.sdk(private_key="wrong").transaction.find("anything")


def test_any_merchant_id_is_accepted(sim: SimulatorHandle) -> None:
    assert authorize(sim.sdk(merchant_id="another_merchant")).is_success


# -- api_request_key ----------------------------------------------------------------------

@pytest.mark.parametrize("amount", ["10.00", "2001.00"])
def test_same_key_same_request_returns_the_original(
    bt: braintree.BraintreeGateway, sim: SimulatorHandle, amount: str
) -> None:
    params = {"amount": amount, "payment_method_nonce": "fake-valid-nonce",
              "order_id": new_key(), "api_request_key": new_key()}
    first = bt.transaction.sale(dict(params))
    again = bt.transaction.sale(dict(params))
    assert again.transaction.id == first.transaction.id
    assert again.is_success == first.is_success
    assert len([t for t in sim.ledger()["transactions"]
                if t["order_id"] == params["order_id"]]) == 1


def test_replay_returns_current_state(bt: braintree.BraintreeGateway) -> None:
    key = new_key()
    params = {"amount": "10.00", "payment_method_nonce": "fake-valid-nonce", "api_request_key": key}
    t = bt.transaction.sale(dict(params)).transaction
    bt.transaction.void(t.id)
    assert bt.transaction.sale(dict(params)).transaction.status == "voided"


def test_same_key_different_request_915232(bt: braintree.BraintreeGateway) -> None:
    key = new_key()
    assert authorize(bt, "10.00", api_request_key=key).is_success
    assert codes(authorize(bt, "11.00", api_request_key=key)) == ["915232"]


def test_key_is_per_operation(bt: braintree.BraintreeGateway) -> None:
    key = new_key()
    t = authorize(bt, api_request_key=key).transaction
    assert codes(bt.transaction.void(t.id, {"api_request_key": key})) == ["915232"]


@pytest.mark.parametrize("op", ["capture", "void", "refund"])
def test_idempotent_capture_void_refund(bt: braintree.BraintreeGateway, sim: SimulatorHandle,
                                        op: str) -> None:
    key = new_key()
    if op == "refund":
        t = settled(bt)
        a = bt.transaction.refund(t.id, {"amount": "5.00", "api_request_key": key})
        b = bt.transaction.refund(t.id, {"amount": "5.00", "api_request_key": key})
        assert a.transaction.id == b.transaction.id
        assert len(sim.ledger()["refunds"]) == 1
        return
    t = authorize(bt).transaction
    if op == "capture":
        a = bt.transaction.submit_for_settlement(t.id, "20.00", {"api_request_key": key})
        b = bt.transaction.submit_for_settlement(t.id, "20.00", {"api_request_key": key})
    else:
        a = bt.transaction.void(t.id, {"api_request_key": key})
        b = bt.transaction.void(t.id, {"api_request_key": key})
    assert a.is_success and b.is_success
    assert b.transaction.status == a.transaction.status


def test_validation_error_does_not_consume_the_key(bt: braintree.BraintreeGateway) -> None:
    key = new_key()
    t = authorize(bt).transaction
    assert codes(bt.transaction.refund(t.id, {"api_request_key": key})) == ["91506"]
    bt.transaction.submit_for_settlement(t.id)
    bt.testing.settle_transaction(t.id)
    assert bt.transaction.refund(t.id, {"api_request_key": key}).is_success


def test_same_key_in_flight_915233(bt: braintree.BraintreeGateway, sim: SimulatorHandle) -> None:
    sim.configure(latency_ms=600)
    key = new_key()
    params = {"amount": "10.00", "payment_method_nonce": "fake-valid-nonce", "api_request_key": key}
    results: list[object] = []
    slow = threading.Thread(target=lambda: results.append(bt.transaction.sale(dict(params))))
    slow.start()
    time.sleep(0.2)
    second = sim.sdk().transaction.sale(dict(params))
    slow.join()
    assert codes(second) == ["915233"]
    assert results[0].is_success  # type: ignore[attr-defined]

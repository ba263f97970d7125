"""Conformance: client tokens from the SDK, and the client API turning raw card details
into a single-use nonce the server SDK can charge or vault, as Braintree's client SDKs do."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from typing import Any

import braintree
import pytest
from gw_helpers import codes

from gateway.simulator.runner import SimulatorHandle


def _token(bt: braintree.BraintreeGateway, **params: Any) -> dict[str, Any]:
    raw = bt.client_token.generate(params or None)
    return dict(json.loads(base64.b64decode(raw)))


def _tokenize(token: dict[str, Any], card: dict[str, str],
              fingerprint: str | None = None) -> tuple[int, dict[str, Any]]:
    body = json.dumps({"authorization_fingerprint":
                       fingerprint or token["authorizationFingerprint"],
                       "credit_card": card}).encode()
    req = urllib.request.Request(token["clientApiUrl"] + "/v1/payment_methods/credit_cards",
                                 data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, dict(json.load(resp))
    except urllib.error.HTTPError as exc:
        return exc.code, dict(json.load(exc))


CARD = {"number": "4111111111111111", "expiration_date": "12/2030", "cvv": "123"}


def test_client_token_is_a_v2_token(bt: braintree.BraintreeGateway, sim: SimulatorHandle) -> None:
    token = _token(bt)
    assert token["version"] == 2 and token["merchantId"] == "sim_merchant"
    assert token["clientApiUrl"] == f"{sim.url}/merchants/sim_merchant/client_api"
    assert "|" in token["authorizationFingerprint"]


def test_client_token_for_unknown_customer_is_refused(bt: braintree.BraintreeGateway) -> None:
    with pytest.raises(ValueError, match="Customer specified by customer_id does not exist"):
        bt.client_token.generate({"customer_id": "nobody"})


def test_tokenized_card_can_be_charged_once(bt: braintree.BraintreeGateway) -> None:
    status, body = _tokenize(_token(bt), CARD)
    assert status == 201
    card = body["creditCards"][0]
    assert card["details"]["lastFour"] == "1111" and card["details"]["cardType"] == "Visa"
    assert card["binData"]["prepaid"] == "Unknown"
    sale = bt.transaction.sale({"amount": "10.00", "payment_method_nonce": card["nonce"]})
    assert sale.is_success, sale.message
    details = sale.transaction.credit_card_details
    assert (details.bin, details.last_4, details.expiration_date) == ("411111", "1111",
                                                                      "12/2030")
    again = bt.transaction.sale({"amount": "10.00", "payment_method_nonce": card["nonce"]})
    assert codes(again) == ["91564"]


def test_tokenized_card_can_be_vaulted(bt: braintree.BraintreeGateway) -> None:
    customer = bt.customer.create({}).customer
    _, body = _tokenize(_token(bt, customer_id=customer.id),
                        {**CARD, "number": "4111111111111210"})
    vaulted = bt.payment_method.create({"customer_id": customer.id,
                                        "payment_method_nonce": body["creditCards"][0]["nonce"]})
    assert vaulted.is_success and vaulted.payment_method.prepaid == "Yes"


def test_invalid_card_number_is_refused_by_the_client_api(
        bt: braintree.BraintreeGateway) -> None:
    status, body = _tokenize(_token(bt), {**CARD, "number": "4111111111111112"})
    assert status == 422
    assert body["fieldErrors"][0]["fieldErrors"][0]["code"] == "81715"


def test_forged_fingerprint_is_refused(bt: braintree.BraintreeGateway) -> None:
    token = _token(bt)
    _sig, _, data = token["authorizationFingerprint"].partition("|")
    status, _ = _tokenize(token, CARD, fingerprint="0" * 64 + "|" + data)
    assert status == 401


def test_card_number_never_reaches_the_ledger(bt: braintree.BraintreeGateway,
                                              sim: SimulatorHandle) -> None:
    _, body = _tokenize(_token(bt), CARD)
    bt.transaction.sale({"amount": "10.00", "payment_method_nonce":
                         body["creditCards"][0]["nonce"]})
    dumped = json.dumps(sim.ledger())
    assert CARD["number"] not in dumped and body["creditCards"][0]["nonce"] not in dumped

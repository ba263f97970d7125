"""The memoized parameter check answers as the SDK's own does."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from braintree.resource import Resource
from braintree.transaction import Transaction

from gateway import sdk_signatures


@pytest.fixture
def installed() -> Iterator[None]:
    original = Resource.__dict__["verify_keys"]
    sdk_signatures.install_signature_memo()
    try:
        yield
    finally:
        Resource.verify_keys = original


VALID = {"amount": "10.00", "order_id": "o-1", "payment_method_nonce": "n",
         "options": {"submit_for_settlement": False}, "custom_fields": {"anything": "x"}}
INVALID = {**VALID, "bogus": 1, "options": {"nope": True}}


def _sdk_message(params: dict[str, object]) -> str | None:
    try:
        sdk_signatures._sdk_verify_keys(params, Transaction.create_signature())
    except KeyError as exc:
        return str(exc.args[0])
    return None


@pytest.mark.parametrize("params", [VALID, INVALID])
def test_same_verdict_as_the_sdk_first_and_remembered(installed: None,
                                                      params: dict[str, object]) -> None:
    expected = _sdk_message(params)
    for _ in range(2):  # computed, then from memory
        if expected is None:
            Resource.verify_keys(params, Transaction.create_signature())
        else:
            with pytest.raises(KeyError) as err:
                Resource.verify_keys(params, Transaction.create_signature())
            assert err.value.args[0] == expected
    assert expected is None or "bogus" in expected


def test_a_different_signature_is_a_different_verdict(installed: None) -> None:
    Resource.verify_keys({"amount": "1"}, Transaction.refund_signature())
    with pytest.raises(KeyError):
        Resource.verify_keys({"amount": "1"}, ["api_request_key"])

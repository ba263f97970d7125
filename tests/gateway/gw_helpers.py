"""Shared helpers for the gateway tests (a plain module: conftest is not importable)."""

from __future__ import annotations

import uuid

import pytest

# (nonce, payment_instrument_type, SDK detail attribute) for the four supported methods.
PAYMENT_METHODS = [
    pytest.param("fake-valid-visa-nonce", "credit_card", "credit_card_details", id="card"),
    pytest.param("fake-paypal-billing-agreement-nonce", "paypal_account", "paypal_details",
                 id="paypal"),
    pytest.param("fake-apple-pay-visa-nonce", "apple_pay_card", "apple_pay_details",
                 id="apple_pay"),
    pytest.param("fake-android-pay-visa-nonce", "android_pay_card", "android_pay_card_details",
                 id="google_pay"),
]


def new_key() -> str:
    return uuid.uuid4().hex


def codes(result: object) -> list[str]:
    return [e.code for e in result.errors.deep_errors]  # type: ignore[attr-defined]

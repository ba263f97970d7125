"""Shared helpers for the gateway tests (a plain module: conftest is not importable)."""

from __future__ import annotations

import asyncio
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


async def read_request(reader: asyncio.StreamReader) -> bytes:
    """One HTTP/1.1 request off a raw server's stream (a body by Content-Length only)."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return head + await reader.readexactly(length)


def http_answer(body: bytes, *, extra: bytes = b"", status: bytes = b"200 OK") -> bytes:
    return (b"HTTP/1.1 " + status + b"\r\nContent-Type: application/xml\r\n" + extra
            + b"Content-Length: %d\r\n\r\n" % len(body) + body)

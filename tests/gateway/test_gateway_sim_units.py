"""Pure parts of the simulator: transition rules, amounts, XML codec against the SDK's own."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import braintree
import pytest
from braintree.util.generator import Generator
from braintree.util.parser import Parser
from hypothesis import given
from hypothesis import strategies as st

from gateway.simulator import cardinfo, rules
from gateway.simulator.testvalues import amount_outcome, luhn_ok, settlement_outcome
from gateway.simulator.webhooks import backoff, notification_payload, signature
from gateway.simulator.xmlcodec import Collection, Tagged, decode, encode

ALL_STATUSES = ["authorized", "submitted_for_settlement", "settling", "settled", "voided",
                "processor_declined", "gateway_rejected", "failed", "settlement_pending",
                "settlement_declined", "settlement_confirmed", "authorization_expired"]


@pytest.mark.parametrize("status", ALL_STATUSES)
def test_void_rule(status: str) -> None:
    allowed = status in ("authorized", "submitted_for_settlement")
    assert (rules.check_void(status, "credit_card") is None) is allowed
    paypal_allowed = allowed or status == "settlement_pending"
    assert (rules.check_void(status, "paypal_account") is None) is paypal_allowed


@pytest.mark.parametrize("status", ALL_STATUSES)
def test_capture_rule(status: str) -> None:
    violation = rules.check_capture(status, Decimal("10"), None)
    assert (violation is None) is (status == "authorized")
    if status == "authorized":
        assert rules.check_capture(status, Decimal("10"), Decimal("10.01")) == \
            rules.SETTLEMENT_TOO_LARGE
        assert rules.check_capture(status, Decimal("10"), Decimal("10")) is None


@pytest.mark.parametrize("status", ALL_STATUSES)
def test_refund_rule(status: str) -> None:
    violation = rules.check_refund("sale", status, Decimal("10"), None)
    assert (violation is None) is (status in ("settled", "settling"))


@given(st.lists(st.integers(min_value=1, max_value=5000), max_size=12),
       st.integers(min_value=1, max_value=10000))
def test_refunds_never_exceed_the_settled_amount(requests: list[int], settled: int) -> None:
    amount = Decimal(settled) / 100
    refunds: list[tuple[Decimal, str]] = []
    for cents in requests:
        want = Decimal(cents) / 100
        balance = rules.refundable_balance(amount, refunds)
        if rules.check_refund("sale", "settled", balance, want) is None:
            refunds.append((want, "submitted_for_settlement"))
    assert sum(a for a, _ in refunds) <= amount


def test_voided_refunds_free_the_balance() -> None:
    assert rules.refundable_balance(Decimal("10"), [(Decimal("4"), "voided"),
                                                    (Decimal("3"), "settled")]) == Decimal("7")


@pytest.mark.parametrize(("amount", "outcome", "code"), [
    ("0.01", "authorized", "1000"), ("1999.99", "authorized", "1000"),
    ("2000.00", "processor_declined", "2000"), ("2999.99", "processor_declined", "2999"),
    ("3000.00", "failed", "3000"), ("3000.99", "failed", "3000"),
    ("3001.00", "authorized", "1000"), ("5001.00", "gateway_rejected", ""),
    ("5001.02", "authorized", "1000"),
])
def test_sandbox_amounts(amount: str, outcome: str, code: str) -> None:
    assert amount_outcome(Decimal(amount)) == (outcome, code)


@pytest.mark.parametrize(("raw", "places", "expected"), [
    ("10", 2, Decimal("10.00")), ("10.5", 2, Decimal("10.50")), ("100", 0, Decimal("100")),
    ("10.001", 2, rules.AMOUNT_INVALID), ("1.5", 0, rules.AMOUNT_INVALID),
    ("abc", 2, rules.AMOUNT_INVALID), ("0", 2, rules.AMOUNT_NOT_POSITIVE),
    (None, 2, rules.AMOUNT_REQUIRED), ("100000000", 2, rules.AMOUNT_TOO_LARGE),
])
def test_parse_amount(raw: str | None, places: int, expected: object) -> None:
    assert rules.parse_gateway_amount(raw, places) == expected


def test_luhn() -> None:
    assert luhn_ok("4111111111111111") and luhn_ok("378282246310005")
    assert not luhn_ok("4111111111111112") and not luhn_ok("41111")


def test_decode_reads_what_the_sdk_generates() -> None:
    params = {"transaction": {"amount": Decimal("10.00"), "order_id": "o&<1>",
                              "options": {"submit_for_settlement": True},
                              "count": 3, "ids": ["a", "b"], "none": None}}
    decoded = decode(Generator(params).generate())
    assert decoded == {"transaction": {"amount": "10.00", "order_id": "o&<1>",
                                       "options": {"submit_for_settlement": True},
                                       "count": 3, "ids": ["a", "b"], "none": ""}}


def test_encode_is_read_back_by_the_sdk_parser() -> None:
    doc = encode("transaction", {
        "id": "abc", "amount": Decimal("1.50"), "flag": False, "n": 7, "nothing": None,
        "refund_ids": [], "history": [Tagged("status_event", {"status": "authorized"})],
        "nested_thing": {"a_b": "x & y"},
    })
    parsed = Parser(doc).parse()
    assert parsed == {"transaction": {
        "id": "abc", "amount": "1.50", "flag": False, "n": 7, "nothing": None,
        "refund_ids": [], "history": [{"status": "authorized"}],
        "nested_thing": {"a_b": "x & y"},
    }}
    coll = Parser(encode("txns", Collection("transaction", [{"id": "1"}, {"id": "2"}]))).parse()
    assert coll == {"txns": {"transaction": [{"id": "1"}, {"id": "2"}]}}


# -- settlement, disputes, webhooks, BIN data: the pure rules -------------------------------

@pytest.mark.parametrize(("amount", "instrument", "expected"), [
    ("10.00", "credit_card", ("settled", "4000")),
    ("4001.00", "credit_card", ("settlement_declined", "4001")),
    ("4001.99", "paypal_account", ("settlement_declined", "4001")),
    ("4002.50", "paypal_account", ("settlement_pending", "4002")),
    ("4002.50", "credit_card", ("settled", "4000")),
    ("4003.00", "credit_card", ("settlement_declined", "4003")),
    ("5000.99", "credit_card", ("settlement_declined", "5000")),
    ("5001.00", "credit_card", ("settled", "4000")),
    ("5001.02", "credit_card", ("settlement_declined", "3000")),
])
def test_settlement_outcome(amount: str, instrument: str, expected: tuple[str, str]) -> None:
    assert settlement_outcome(Decimal(amount), instrument) == expected  # type: ignore[arg-type]


def test_finalized_dispute_status() -> None:
    assert rules.finalized_status(["x", "compelling_evidence"], "compelling_evidence",
                                  "losing_evidence") == "won"
    assert rules.finalized_status(["losing_evidence"], "compelling_evidence",
                                  "losing_evidence") == "lost"
    assert rules.finalized_status(["x"], "compelling_evidence", "losing_evidence") == "disputed"


@pytest.mark.parametrize("status", ["open", "accepted", "disputed", "won", "lost", "expired"])
def test_only_open_disputes_can_be_answered(status: str) -> None:
    refusal = rules.check_dispute_open(status, rules.DISPUTE_ACCEPT_NOT_OPEN)
    assert (refusal is None) is (status == "open")


def test_dispute_testing_moves() -> None:
    assert rules.check_dispute_move("open", "expired")
    assert not rules.check_dispute_move("disputed", "expired")
    assert rules.check_dispute_move("disputed", "won")
    assert not rules.check_dispute_move("won", "lost")


def test_backoff_doubles_and_is_capped() -> None:
    assert [backoff(n, 0.5, 4.0) for n in range(1, 6)] == [0.5, 1.0, 2.0, 4.0, 4.0]


def test_webhook_signature_matches_the_sdk() -> None:
    gateway = braintree.BraintreeGateway(braintree.Configuration(
        braintree.Environment.Sandbox, "m", "pub", "priv"))
    payload = notification_payload("check", datetime.now(UTC), "check", {"value": True})
    sig = signature("pub", "priv", payload)
    assert gateway.webhook_notification.parse(sig, payload.decode()).kind == "check"
    sample = gateway.webhook_testing.sample_notification("check", "x")
    assert signature("pub", "priv", sample["bt_payload"]) == sample["bt_signature"]


def test_bin_data_for_numbers() -> None:
    assert cardinfo.for_number("4111111111111111")["prepaid"] == "Unknown"
    assert cardinfo.for_number("4111111111310101")["debit"] == "No"
    assert cardinfo.for_number("4117101010101010")["debit"] == "Yes"


@given(st.lists(st.integers(min_value=1, max_value=6000), max_size=10),
       st.integers(min_value=1, max_value=10000))
def test_partial_captures_never_exceed_the_authorization(parts: list[int], auth: int) -> None:
    authorized = Decimal(auth) / 100
    captured = Decimal(0)
    status = "authorized"
    for cents in parts:
        amount = Decimal(cents) / 100
        if rules.check_partial_capture("sale", status, captured > 0, False, authorized,
                                       captured, amount) is None:
            captured += amount
            status = "settlement_pending"
    assert captured <= authorized


def test_partial_capture_refusals() -> None:
    ten = Decimal("10")
    assert rules.check_partial_capture("sale", "authorized", False, False, ten, Decimal(0),
                                       ten) is None
    assert rules.check_partial_capture("credit", "authorized", False, False, ten, Decimal(0),
                                       ten) == rules.CANNOT_SUBMIT
    assert rules.check_partial_capture("sale", "settlement_pending", False, False, ten,
                                       Decimal(0), ten) == rules.CANNOT_SUBMIT
    assert rules.check_partial_capture("sale", "settlement_pending", True, True, ten,
                                       Decimal(1), Decimal(1)) == rules.CANNOT_SUBMIT
    assert rules.check_partial_capture("sale", "authorized", False, False, ten, Decimal(0),
                                       Decimal("10.01")) == rules.SETTLEMENT_TOO_LARGE

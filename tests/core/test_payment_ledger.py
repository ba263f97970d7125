import pytest
from core_factories import T0, request, usd

from schemas.money import Money
from schemas.outcomes import PaymentApproved, PaymentDeclined, PaymentDeposited, PaymentRefunded
from schemas.payment_request import PaymentRequest
from tables.order_state import OrderState
from tables.payment_ledger import (
    GatewayResult,
    InFlightRecord,
    PaymentLedgerEntry,
    call_in_flight,
    conclude,
    record_result,
    with_call_in_flight,
    with_deferred_refund,
    with_status,
    without_call,
)
from tables.payment_plan import (
    AlreadyProcessed,
    Authorize,
    Capture,
    Decline,
    Refund,
    Void,
    ledger_state,
    needs_status_refresh,
    plan_request,
)


def ok(**kw: object) -> GatewayResult:
    return GatewayResult(result="succeeded", **kw)  # type: ignore[arg-type]


def authorized(amount: str = "100") -> PaymentLedgerEntry:
    entry, _ = conclude(None, request("approve", usd(amount), key="a1"),
                        ok(transaction_id="tx-auth"), occurred_at=T0)
    return entry


def captured(amount: str = "100", capture: str | None = None, *,
             settled: bool = True) -> PaymentLedgerEntry:
    entry, _ = conclude(authorized(amount),
                        request("deposit", usd(capture) if capture else None, key="d1"),
                        ok(transaction_id="tx-auth"), occurred_at=T0)
    return with_status(entry, "settled") if settled else entry


def refund(entry: PaymentLedgerEntry, amount: str | None, key: str) -> PaymentLedgerEntry:
    after, _ = conclude(entry, request("refund", usd(amount) if amount else None, key=key),
                        ok(transaction_id=f"tx-{key}"), occurred_at=T0)
    return after


def test_approve_of_a_new_order_authorizes_without_leaking_the_nonce() -> None:
    decision = plan_request(None, request("approve", usd("10")))
    assert isinstance(decision, Authorize)
    assert decision.amount == usd("10") and decision.payment_method_nonce == "fake-valid-nonce"
    assert decision.idempotency_key == "idem-approve"
    assert "fake-valid-nonce" not in repr(decision)


def test_second_approve_is_declined() -> None:
    decision = plan_request(authorized(), request("approve", usd("10"), key="a2"))
    assert decision == Decline("approve requested but the order already has an authorization")


def test_redelivered_request_is_already_processed() -> None:
    entry = authorized()
    decision = plan_request(entry, request("approve", usd("100"), key="a1"))
    assert decision == AlreadyProcessed(entry.processed["a1"])


@pytest.mark.parametrize(
    ("entry", "req", "expected"),
    [
        (None, request("deposit"), "deposit requested but the order has no authorization"),
        (None, request("reverse"), "reverse requested but the order has no authorization"),
        (None, request("refund"), "refund requested but the order was never paid"),
        (authorized(), request("refund", key="r"), "refund requested but the order was never"),
        (captured(), request("deposit", key="d2"), "already captured"),
        (captured(), request("reverse", key="v"), "already settled; refund it instead"),
        (authorized(), request("deposit", usd("100.01"), key="d"), "exceeds the authorized"),
        (authorized(), request("deposit", Money.of("1", "EUR"), key="d"), "EUR"),
        (captured(), request("refund", usd("100.01"), key="r"), "exceeds the refundable"),
        (refund(captured(), None, "r1"), request("refund", key="r2"), "already fully refunded"),
    ],
)
def test_declines(entry: PaymentLedgerEntry | None, req: PaymentRequest, expected: str) -> None:
    decision = plan_request(entry, req)
    assert isinstance(decision, Decline) and expected in decision.reason


def test_full_and_partial_capture() -> None:
    assert plan_request(authorized(), request("deposit", key="d")) == Capture(
        "tx-auth", usd("100"), "d")
    # Less than authorized: one shipment of a split capture, the rest stays authorized;
    # as the final capture it is Braintree's plain capture of less, releasing the rest.
    assert plan_request(authorized(), request("deposit", usd("40"), key="d")) == Capture(
        "tx-auth", usd("40"), "d", partial=True, final=False, order_id="order-1")
    assert plan_request(authorized(), request("deposit", usd("40"), key="d",
                                              final_capture=True)) == Capture(
        "tx-auth", usd("40"), "d")
    entry = captured(capture="40", settled=False)
    assert entry.captured == usd("40") and entry.status == "submitted_for_settlement"


def test_reverse_voids_an_authorization_or_an_unsettled_capture() -> None:
    assert plan_request(authorized(), request("reverse", key="v")) == Void("tx-auth", "v")
    unsettled = captured(settled=False)
    assert plan_request(unsettled, request("reverse", key="v")) == Void("tx-auth", "v")
    entry, event = conclude(authorized(), request("reverse", key="v"), ok(), occurred_at=T0)
    assert entry.status == "voided" and event.event_type == "payment-reversed"
    again = plan_request(entry, request("approve", usd("1"), key="a9"))
    assert isinstance(again, Decline) and "reversed" in again.reason


def test_repeated_partial_refunds_up_to_the_capture() -> None:
    entry = captured(capture="60")
    assert plan_request(entry, request("refund", usd("20"), key="r1")) == Refund(
        "tx-auth", usd("20"), "r1")
    entry = refund(entry, "20", "r1")
    entry = refund(entry, "15", "r2")
    assert entry.refunded == usd("35") and entry.refund_transaction_ids == ("tx-r1", "tx-r2")
    assert plan_request(entry, request("refund", key="r3")) == Refund("tx-auth", usd("25"), "r3")
    entry = refund(entry, None, "r3")
    assert entry.refunded == entry.captured == usd("60")
    assert entry.status == "settled"


def test_status_refresh_is_wanted_only_while_settling() -> None:
    unsettled = captured(settled=False)
    assert needs_status_refresh(unsettled, request("refund", key="r"))
    assert not needs_status_refresh(unsettled, request("deposit", key="d2"))
    assert not needs_status_refresh(captured(), request("refund", key="r"))
    assert not needs_status_refresh(None, request("refund", key="r"))
    assert isinstance(plan_request(with_status(unsettled, "settling"), request("refund", key="r")),
                      Refund)


def test_gateway_decline_of_an_approve_allows_a_retry() -> None:
    req = request("approve", usd("2001"), key="a1")
    entry, event = conclude(None, req, GatewayResult(
        result="declined", transaction_id="tx-d", status="processor_declined",
        processor_response_code="2001", processor_response_text="Insufficient Funds",
    ), occurred_at=T0)
    assert isinstance(event, PaymentDeclined)
    assert event.reason == "Insufficient Funds" and event.processor_response_code == "2001"
    assert entry.status == "processor_declined" and not entry.has_live_authorization
    assert isinstance(plan_request(entry, request("approve", usd("20"), key="a2")), Authorize)


def test_outcomes_carry_sequence_running_totals_and_stable_ids() -> None:
    entry, approved = conclude(None, request("approve", usd("50"), key="a"),
                               ok(transaction_id="tx"), occurred_at=T0)
    entry, deposited = conclude(entry, request("deposit", key="d"), ok(), occurred_at=T0)
    entry = with_status(entry, "settled")
    refusal = plan_request(entry, request("deposit", key="d2"))
    assert isinstance(refusal, Decline)
    entry, declined = conclude(entry, request("deposit", key="d2"),
                               GatewayResult.declined_by_rule(refusal.reason), occurred_at=T0)
    entry, refunded = conclude(entry, request("refund", usd("5"), key="r"),
                               ok(transaction_id="tx-r"), occurred_at=T0)
    assert isinstance(approved, PaymentApproved) and isinstance(deposited, PaymentDeposited)
    assert isinstance(refunded, PaymentRefunded)
    assert [e.sequence for e in (approved, deposited, declined, refunded)] == [1, 2, 3, 4]
    assert deposited.amount == usd("50") and deposited.captured_amount == usd("50")
    assert declined.reason == refusal.reason and declined.captured_amount == usd("50")
    assert refunded.amount == usd("5") and refunded.refunded_amount == usd("5")
    assert refunded.transaction_id == "tx-r"
    assert entry.next_sequence == 5
    replay, _ = conclude(None, request("approve", usd("50"), key="a"),
                         ok(transaction_id="tx"), occurred_at=T0)
    assert replay.processed["a"] == approved.event_id


def test_record_result_of_a_refused_capture_keeps_the_authorization() -> None:
    entry = record_result(authorized(), request("deposit", key="d"),
                          GatewayResult(result="failed", reason="timeout"))
    assert entry.status == "authorized" and entry.transaction_id == "tx-auth"
    assert entry.next_sequence == 3


def test_ledger_json_round_trip() -> None:
    entry = refund(captured(capture="60"), "20", "r1")
    assert PaymentLedgerEntry.model_validate_json(entry.model_dump_json()) == entry


def test_ledger_state_names_the_order_state_the_plan_gates_on() -> None:
    assert ledger_state(None) == OrderState.CREATED
    assert ledger_state(authorized()) == OrderState.AUTHORIZED
    assert ledger_state(with_status(authorized(), "voided")) == OrderState.REVERSED
    # An expired authorization leaves the order payable again, as the plan treats it.
    expired = with_status(authorized(), "authorization_expired")
    assert ledger_state(expired) == OrderState.CREATED
    assert isinstance(plan_request(expired, request("approve", usd("5"), key="a2")), Authorize)
    assert plan_request(expired, request("deposit", key="d")) == Decline(
        "deposit requested but the authorization expired")
    paid = captured()
    assert ledger_state(paid) == OrderState.PAID
    part, _ = conclude(paid, request("refund", usd("30"), key="r1"), ok(), occurred_at=T0)
    assert ledger_state(part) == OrderState.PARTIALLY_REFUNDED
    full, _ = conclude(part, request("refund", key="r2"), ok(), occurred_at=T0)
    assert ledger_state(full) == OrderState.REFUNDED
    assert plan_request(full, request("refund", key="r3")) == Decline(
        "refund requested but the order is already fully refunded")



def _call(kind: str = "approve") -> InFlightRecord:
    return InFlightRecord(order_id="order-1", kind=kind, started_at=T0, attempts=1)


@pytest.mark.parametrize("result", [ok(transaction_id="tx-auth"),
                                    GatewayResult(result="declined", status="processor_declined",
                                                  transaction_id="tx-d"),
                                    GatewayResult.declined_by_rule("no")])
def test_a_first_call_in_flight_opens_the_entry_and_its_outcome_ends_it(
        result: GatewayResult) -> None:
    approve = request("approve", usd("10"), key="a1")
    held = with_call_in_flight(None, approve, _call())
    assert call_in_flight(held, "a1") == _call() and held.processed == {}
    assert ledger_state(held) == ledger_state(None)
    assert plan_request(held, approve) == plan_request(None, approve)
    # Concluding the opened entry is concluding an unseen order, minus nothing.
    assert record_result(held, approve, result) == record_result(None, approve, result)
    assert call_in_flight(record_result(held, approve, result), "a1") is None


def test_a_parked_call_leaves_an_unseen_order_unseen_and_a_known_order_as_it_was() -> None:
    approve = request("approve", usd("10"), key="a1")
    assert without_call(with_call_in_flight(None, approve, _call()), "a1") is None
    known = authorized()
    deposit = request("deposit", None, key="d1")
    assert without_call(with_call_in_flight(known, deposit, _call("deposit")), "d1") == known


def test_a_held_refund_clears_the_call_an_earlier_attempt_left() -> None:
    entry = captured(settled=False)
    refund_request = request("refund", usd("10"), key="r1")
    held = with_deferred_refund(with_call_in_flight(entry, refund_request, _call("refund")),
                                refund_request, usd("10"), "tx-auth", T0)
    assert held.calls_in_flight == {} and len(held.deferred_refunds) == 1
    # A redelivery of the held refund changes nothing.
    assert with_deferred_refund(held, refund_request, usd("10"), "tx-auth", T0) is held

"""The pure rules of split captures and settlement-aware refunds (tables.settlement)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.money import Money
from tables.settlement import (
    CaptureLeg,
    CaptureStep,
    DeferredRefund,
    DeferRefund,
    RefundLeg,
    RefuseRefund,
    VoidLeg,
    captured_total,
    decide_refund,
    plan_capture,
    still_authorized,
)

AUTH = "tx-auth"


def usd(value: str | int | Decimal) -> Money:
    return Money.of(value, "USD")


def leg(txn: str, amount: str, status: str = "settled", refunded: str | None = None,
        **kw: object) -> CaptureLeg:
    return CaptureLeg(transaction_id=txn, amount=usd(amount), status=status,  # type: ignore[arg-type]
                      idempotency_key=f"k-{txn}", refunded=usd(refunded) if refunded else None,
                      **kw)  # type: ignore[arg-type]


# ------------------------------------------------------------------ split captures


def test_first_capture_of_everything_is_a_plain_final_capture() -> None:
    assert plan_capture(usd("100"), (), False, None, None) == CaptureStep(usd("100"), False, True)


def test_a_smaller_capture_keeps_the_rest_authorized_unless_final() -> None:
    assert plan_capture(usd("100"), (), False, usd("30"), None) == CaptureStep(
        usd("30"), partial=True, final=False)
    # Final on the first capture: Braintree's capture of less, which releases the rest.
    assert plan_capture(usd("100"), (), False, usd("30"), True) == CaptureStep(
        usd("30"), partial=False, final=True)


def test_later_captures_are_partial_and_the_one_taking_the_rest_is_final() -> None:
    legs = (leg("c1", "30", "submitted_for_settlement", partial=True),)
    assert plan_capture(usd("100"), legs, False, usd("70"), None) == CaptureStep(
        usd("70"), partial=True, final=True)
    assert plan_capture(usd("100"), legs, False, None, None) == CaptureStep(
        usd("70"), partial=True, final=True)
    assert plan_capture(usd("100"), legs, False, usd("20"), True) == CaptureStep(
        usd("20"), partial=True, final=True)


def test_never_above_the_authorization() -> None:
    legs = (leg("c1", "60", partial=True),)
    assert plan_capture(usd("100"), legs, False, usd("40.01"), None) == (
        "deposit of 40.01 USD exceeds the 40.00 USD still authorized")
    assert "exceeds the authorized" in str(plan_capture(usd("100"), (), False, usd("101"), None))


def test_a_final_capture_releases_the_rest() -> None:
    legs = (leg("c1", "30", partial=True, final=True),)
    assert plan_capture(usd("100"), legs, True, usd("10"), None) == (
        "deposit requested but the order is already captured")
    assert still_authorized(usd("100"), legs, True) == usd("0")
    assert still_authorized(usd("100"), legs, False) == usd("70")


@settings(max_examples=300)
@given(st.integers(1, 10_000), st.lists(st.tuples(st.integers(1, 5_000), st.booleans()),
                                        max_size=8))
def test_captures_never_exceed_the_authorization(auth: int, asks: list[tuple[int, bool]]) -> None:
    authorized = usd(Decimal(auth).scaleb(-2))
    legs: tuple[CaptureLeg, ...] = ()
    closed = False
    for i, (cents, final) in enumerate(asks):
        step = plan_capture(authorized, legs, closed, usd(Decimal(cents).scaleb(-2)),
                            final or None)
        if isinstance(step, str):
            continue
        assert not closed
        legs = (*legs, leg(f"c{i}", str(step.amount.amount), "submitted_for_settlement",
                           partial=step.partial, final=step.final))
        closed = step.final
        assert captured_total(legs, "USD") <= authorized
    if closed:
        assert isinstance(plan_capture(authorized, legs, closed, None, None), str)


# ---------------------------------------------------------------------- refunds


def test_full_refund_of_an_unsettled_single_capture_is_a_void_of_the_authorization() -> None:
    legs = (leg(AUTH, "100", "submitted_for_settlement"),)
    assert decide_refund(legs, None, AUTH) == VoidLeg(AUTH, usd("100"), whole_authorization=True)
    assert decide_refund(legs, usd("100"), AUTH) == VoidLeg(AUTH, usd("100"), True)


def test_partial_refund_of_an_unsettled_capture_waits_for_settlement() -> None:
    legs = (leg(AUTH, "100", "submitted_for_settlement"),)
    assert decide_refund(legs, usd("40"), AUTH) == DeferRefund(AUTH, usd("40"))


def test_settled_captures_are_refunded_and_preferred() -> None:
    legs = (leg("c1", "30", "settled", partial=True),
            leg("c2", "70", "submitted_for_settlement", partial=True))
    assert decide_refund(legs, usd("20"), AUTH) == RefundLeg("c1", usd("20"))
    # Only the unsettled capture can hold 50: it waits; all of it is a void of that child.
    assert decide_refund(legs, usd("50"), AUTH) == DeferRefund("c2", usd("50"))
    assert decide_refund(legs, usd("70"), AUTH) == VoidLeg("c2", usd("70"), False)


def test_waiting_refunds_count_against_what_is_refundable() -> None:
    legs = (leg(AUTH, "100", "submitted_for_settlement"),)
    waiting = (DeferredRefund(idempotency_key="r1", amount=usd("80"), transaction_id=AUTH,
                              since=datetime(2024, 1, 1, tzinfo=UTC), request="{}"),)
    assert decide_refund(legs, usd("30"), AUTH, waiting) == RefuseRefund(
        "refund of 30.00 USD exceeds the refundable 20.00 USD")


def test_refusals_say_why() -> None:
    assert isinstance(decide_refund((), None, AUTH), RefuseRefund)
    declined = (leg(AUTH, "100", "settlement_declined"),)
    refusal = decide_refund(declined, None, AUTH)
    assert isinstance(refusal, RefuseRefund) and "settlement was declined" in refusal.reason
    spread = (leg("c1", "30", partial=True), leg("c2", "30", partial=True))
    refusal = decide_refund(spread, usd("50"), AUTH)
    assert isinstance(refusal, RefuseRefund) and "refund per capture" in refusal.reason
    done = (leg(AUTH, "100", refunded="100"),)
    assert decide_refund(done, None, AUTH) == RefuseRefund(
        "refund requested but the order is already fully refunded")


statuses = st.sampled_from(["submitted_for_settlement", "settled", "settlement_declined",
                            "voided", "settlement_pending"])
legs_strategy = st.lists(st.tuples(st.integers(1, 10_000), statuses, st.integers(0, 10_000)),
                         min_size=0, max_size=4)


@settings(max_examples=500)
@given(legs_strategy, st.one_of(st.none(), st.integers(1, 20_000)))
def test_never_more_back_than_captured_never_less_than_asked_unless_refused(
    raw: list[tuple[int, str, int]], ask: int | None,
) -> None:
    legs = tuple(
        leg(f"c{i}", str(Decimal(cents).scaleb(-2)), status,
            refunded=str(Decimal(min(done, cents)).scaleb(-2)) if status == "settled" else None,
            partial=True)
        for i, (cents, status, done) in enumerate(raw))
    amount = usd(Decimal(ask).scaleb(-2)) if ask is not None else None
    decision = decide_refund(legs, amount, AUTH)
    if isinstance(decision, RefuseRefund):
        assert decision.reason
        return
    target = next(x for x in legs if x.transaction_id == decision.transaction_id)
    # Never more than the capture still holds, and never from a capture that moved nothing.
    assert decision.amount <= target.refundable
    assert target.status not in ("voided", "settlement_declined")
    # Never less than asked: an explicit amount is returned exactly.
    if amount is not None:
        assert decision.amount == amount
    if isinstance(decision, RefundLeg):
        assert target.status == "settled"
    elif isinstance(decision, VoidLeg):
        assert target.status != "settled" and decision.amount == target.amount
    else:
        assert isinstance(decision, DeferRefund) and target.status != "settled"

from typing import get_args

import pytest
from core_factories import T0, created, event, fold, usd

from schemas.money import Money
from schemas.orders import OrderStateName
from schemas.outcomes import OutcomeEvent
from schemas.payment_request import PaymentKind
from tables.order_lifecycle import anomaly_events, apply_order_created, apply_outcome, skip_gap
from tables.order_record import MAX_PENDING, Order
from tables.order_state import ALLOWED_KINDS, OrderState, allows, check_request


def test_wire_state_names_match_the_enum() -> None:
    assert set(get_args(OrderStateName)) == {s.value for s in OrderState}


def test_happy_path_created_authorized_paid_refunded() -> None:
    order = apply_order_created(None, created(usd("100")))
    assert order.state == OrderState.CREATED and order.expected_amount == usd("100")
    order = apply_outcome(order, event("approved", 1, usd("100"))).order
    assert order.state == OrderState.AUTHORIZED
    assert order.authorized_amount == usd("100")
    assert order.authorization_transaction_id == "tx1"
    order = apply_outcome(order, event("deposited", 2, usd("80"))).order
    assert order.state == OrderState.PAID and order.captured_amount == usd("80")
    order = apply_outcome(order, event("refunded", 3, usd("30"))).order
    assert order.state == OrderState.PARTIALLY_REFUNDED and order.refunded_amount == usd("30")
    order = apply_outcome(order, event("refunded", 4, usd("50"))).order
    assert order.state == OrderState.REFUNDED and order.refunded_amount == usd("80")
    assert order.refund_transaction_ids == ("tx3", "tx4")
    assert [h.to_state for h in order.history] == [
        OrderState.AUTHORIZED, OrderState.PAID, OrderState.PARTIALLY_REFUNDED,
        OrderState.REFUNDED,
    ]
    assert order.anomalies == ()


def test_full_refund_without_amount_refunds_the_capture() -> None:
    order = fold(None, [event("approved", 1, usd("10")), event("deposited", 2),
                             event("refunded", 3)])
    assert order.state == OrderState.REFUNDED
    assert order.captured_amount == order.refunded_amount == usd("10")


@pytest.mark.parametrize("paid", [False, True])
def test_reversal_from_authorized_or_paid(paid: bool) -> None:
    events = [event("approved", 1, usd("10"))]
    if paid:
        events.append(event("deposited", 2, usd("10")))
    events.append(event("reversed", len(events) + 1))
    assert fold(None, events).state == OrderState.REVERSED


def test_outcomes_before_order_created_create_the_order_implicitly() -> None:
    result = apply_outcome(None, event("approved", 1, usd("10")))
    assert result.order.state == OrderState.AUTHORIZED
    assert not result.order.announced and result.order.currency == "USD"
    order = apply_order_created(result.order, created(usd("10"), at=T0))
    assert order.state == OrderState.AUTHORIZED
    assert order.announced and order.expected_amount == usd("10") and order.created_at == T0


def test_declined_approve_declines_the_order_and_a_retry_can_authorize() -> None:
    order = fold(None, [event("declined", 1, usd("10"), processor_response_code="2001")])
    assert order.state == OrderState.DECLINED
    order = apply_outcome(order, event("approved", 2, usd("10"))).order
    assert order.state == OrderState.AUTHORIZED


def test_failed_approve_fails_the_order() -> None:
    assert fold(None, [event("failed", 1, usd("10"))]).state == OrderState.FAILED


@pytest.mark.parametrize("name", ["declined", "failed"])
def test_refused_later_operations_leave_the_state_but_are_recorded(name: str) -> None:
    order = fold(None, [
        event("approved", 1, usd("10")),
        event(name, 2, request_kind="refund", reason="refund requested before settlement"),
    ])
    assert order.state == OrderState.AUTHORIZED
    last = order.history[-1]
    assert last.from_state == last.to_state == OrderState.AUTHORIZED
    assert last.reason == "refund requested before settlement"
    assert order.anomalies == ()


@pytest.mark.parametrize(
    ("events", "reason"),
    [
        ([event("refunded", 1, usd("1"))], "refunded while CREATED"),
        ([event("approved", 1, usd("10")), event("refunded", 2, usd("1"))],
         "refunded while AUTHORIZED"),
        ([event("approved", 1, usd("10")), event("deposited", 2),
          event("approved", 3, usd("10"))], "approved while PAID"),
        ([event("deposited", 1, usd("10"))], "deposited while CREATED"),
        ([event("approved", 1, usd("10")), event("deposited", 2, usd("11"))],
         "exceeds authorized"),
        ([event("approved", 1, usd("10")), event("deposited", 2),
          event("refunded", 3, usd("11"))], "exceeds captured"),
        ([event("approved", 1, usd("10")), event("reversed", 2), event("reversed", 3)],
         "reversed while REVERSED"),
        # Totals only grow: a later partial capture cannot report less than was refunded,
        # nor an authorized total below the captured one.
        ([event("approved", 1, usd("10")),
          event("deposited", 2, usd("5"), captured_amount=usd("5")),
          event("refunded", 3, usd("3")),
          event("deposited", 4, usd("1"), captured_amount=usd("1"))],
         "refunded 3.00 USD exceeds captured 1.00 USD"),
        ([event("approved", 1, usd("10")),
          event("deposited", 2, usd("5"), captured_amount=usd("5"), authorized_amount=usd("4"))],
         "captured 5.00 USD exceeds authorized 4.00 USD"),
    ],
)
def test_impossible_transitions_are_anomalies_not_errors(
    events: list[OutcomeEvent], reason: str
) -> None:
    *before, last = events
    order = fold(None, before) if before else None
    result = apply_outcome(order, last)
    assert not result.duplicate and not result.held
    assert len(result.anomalies) == 1 and reason in result.anomalies[0].reason
    assert result.order.anomalies[-1] == result.anomalies[0]
    expected_state = order.state if order is not None else OrderState.CREATED
    assert result.order.state == expected_state
    # The slot is consumed so later events are not held behind it forever.
    assert result.order.last_sequence == last.sequence
    [wire] = anomaly_events(result.order, result.anomalies)
    assert wire.event_id == last.event_id and wire.from_state == expected_state.value


def test_duplicates_are_ignored() -> None:
    first = apply_outcome(None, event("approved", 1, usd("10")))
    again = apply_outcome(first.order, event("approved", 1, usd("10")))
    assert again.duplicate and again.order == first.order and again.applied == []


def test_early_events_are_held_and_drained_in_order() -> None:
    r3 = apply_outcome(None, event("refunded", 3, usd("4")))
    assert r3.held and r3.order.state == OrderState.CREATED and 3 in r3.order.pending
    r2 = apply_outcome(r3.order, event("deposited", 2, usd("10")))
    assert r2.held
    assert apply_outcome(r2.order, event("refunded", 3, usd("4"))).duplicate
    r1 = apply_outcome(r2.order, event("approved", 1, usd("10")))
    assert [e.sequence for e in r1.applied] == [1, 2, 3]
    assert r1.order.state == OrderState.PARTIALLY_REFUNDED
    assert r1.order.pending == {} and r1.order.last_sequence == 3


def test_conflicting_event_for_a_taken_slot_is_an_anomaly() -> None:
    order = apply_outcome(None, event("approved", 1, usd("10"))).order
    result = apply_outcome(order, event("declined", 1, usd("10"), event_id="other"))
    assert result.duplicate and result.order.state == OrderState.AUTHORIZED
    assert "already taken" in result.anomalies[0].reason


def test_a_gap_that_never_fills_is_skipped_with_an_anomaly() -> None:
    order: Order | None = apply_outcome(None, event("approved", 1, usd("10"))).order
    result = apply_outcome(order, event("deposited", 3, usd("10")))
    assert result.held
    skipped = skip_gap(result.order)
    assert skipped.order.state == OrderState.PAID
    assert "never arrived" in skipped.anomalies[0].reason
    # The guard does the same on its own once too much is held.
    for seq in range(3, 3 + MAX_PENDING + 1):
        order = apply_outcome(order, event("declined", seq, request_kind="deposit")).order
    assert order is not None and order.pending == {}
    assert any("never arrived" in a.reason for a in order.anomalies)


def test_order_created_twice_with_another_amount_is_an_anomaly() -> None:
    order = apply_order_created(None, created(usd("10")))
    assert apply_order_created(order, created(usd("10"))) == order
    changed = apply_order_created(order, created(usd("12"), event_id="created-2"))
    assert changed.expected_amount == usd("10")
    assert "different amount" in changed.anomalies[-1].reason


def test_order_json_round_trip_with_pending_events() -> None:
    order = fold(None, [created(usd("10")), event("approved", 1, usd("10")),
                             event("refunded", 4, usd("1"))])
    assert 4 in order.pending
    assert Order.model_validate_json(order.model_dump_json()) == order


@pytest.mark.parametrize(
    ("state", "kinds"),
    [
        (OrderState.CREATED, {"approve"}),
        (OrderState.DECLINED, {"approve"}),
        (OrderState.AUTHORIZED, {"deposit", "reverse"}),
        (OrderState.PAID, {"refund", "reverse", "deposit"}),
        (OrderState.PARTIALLY_REFUNDED, {"refund", "deposit"}),
        (OrderState.REFUNDED, set()),
        (OrderState.REVERSED, set()),
    ],
)
def test_allowed_kinds(state: OrderState, kinds: set[PaymentKind]) -> None:
    assert ALLOWED_KINDS[state] == kinds
    assert {k for k in ("approve", "deposit", "reverse", "refund") if allows(state, k)} == kinds


def paid(amount: str = "10") -> Order:
    return fold(None, [event("approved", 1, usd(amount)), event("deposited", 2)])


@pytest.mark.parametrize(
    ("order", "kind", "amount", "reason"),
    [
        (None, "approve", usd("1"), None),
        (None, "refund", None, "refund requested but the order was never paid"),
        (None, "deposit", None, "deposit requested but the order has no authorization"),
        (None, "reverse", None, "reverse requested but the order has no authorization"),
        (fold(None, [event("approved", 1, usd("10"))]), "refund", None,
         "refund requested but the order was never paid"),
        (fold(None, [event("approved", 1, usd("10"))]), "deposit", usd("10"), None),
        (fold(None, [event("approved", 1, usd("10"))]), "deposit", usd("11"),
         "exceeds the authorized"),
        (paid(), "approve", usd("1"), "approve requested but the order is already paid"),
        (paid(), "refund", usd("10"), None),
        (paid(), "refund", usd("10.01"), "exceeds the refundable"),
        (paid(), "refund", None, None),
        (paid(), "deposit", None, "deposit requested but the order is already paid"),
        (paid(), "reverse", None, None),
        (fold(None, [event("approved", 1, usd("10")), event("reversed", 2)]), "refund",
         None, "refund requested but the order is already reversed"),
    ],
)
def test_check_request(order: Order | None, kind: PaymentKind, amount: Money | None,
                       reason: str | None) -> None:
    got = check_request(order, kind, amount)
    if reason is None:
        assert got is None
    else:
        assert got is not None and reason in got


def test_check_request_refuses_another_currency() -> None:
    got = check_request(paid(), "refund", Money.of("1", "EUR"))
    assert got is not None and "EUR" in got

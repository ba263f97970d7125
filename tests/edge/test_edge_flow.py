"""The pure rules of who may move money: admission at the edge, the executor's plan,
the durable request keys, and the orchestrator's idempotency store."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from api_edge.flow import Actor, Verdict, admit, visible_to
from api_edge.idempotency import (
    IdempotencyInProgressError,
    IdempotencyMismatchError,
    IdempotencyStore,
    Reservation,
    StoredResponse,
    downstream_key,
)
from schemas.money import Money
from schemas.payment_request import PaymentRequest
from tables.order_record import Order
from tables.order_state import OrderState
from tables.payment_ledger import PaymentLedgerEntry
from tables.payment_plan import Capture, Decline, Void, plan_request
from tables.request_keys import KEY_TTL, MAX_REQUEST_KEYS, RequestKey, record_request, replay_of

AT = datetime(2025, 1, 1, tzinfo=UTC)
ALICE = Actor("customer", "alice")
SHOP = Actor("merchant", "shop-backoffice")


def order(state: OrderState, customer: str = "alice", merchant: str = "shop-backoffice",
          expected_amount: str = "10.00", **amounts: str) -> Order:
    money = {name: Money.of(value, "USD") for name, value in amounts.items()}
    return Order(order_id="o-1", customer_id=customer, state=state, currency="USD",
                 merchant_id=merchant, expected_amount=Money.of(expected_amount, "USD"),
                 created_at=AT, updated_at=AT, **money)


def usd(value: str) -> Money:
    return Money.of(value, "USD")


def test_checkout_of_a_registered_order_at_its_price_proceeds() -> None:
    assert admit(ALICE, "approve", order(OrderState.CREATED), usd("10.00")).proceeds
    # A declined authorization leaves the order payable again.
    assert admit(ALICE, "approve", order(OrderState.DECLINED), usd("10.00")).proceeds


def test_checkout_at_another_price_is_a_price_mismatch() -> None:
    for amount in (usd("0.01"), usd("10.01"), Money.of("10.00", "EUR")):
        admission = admit(ALICE, "approve", order(OrderState.CREATED), amount)
        assert admission.verdict is Verdict.PRICE_MISMATCH


@pytest.mark.parametrize(("state", "kind", "amount", "reason"), [
    (OrderState.CREATED, "refund", None, "never paid"),
    (OrderState.AUTHORIZED, "refund", None, "never paid"),
    (OrderState.CREATED, "deposit", None, "no authorization"),
    (OrderState.REFUNDED, "reverse", None, "already fully refunded"),
    (OrderState.REVERSED, "deposit", None, "already reversed"),
])
def test_what_cannot_succeed_is_refused(state: OrderState, kind: str, amount: str | None,
                                        reason: str) -> None:
    current = order(state, authorized_amount="10.00")
    admission = admit(SHOP, kind, current, usd(amount) if amount else None)  # type: ignore[arg-type]
    assert admission.verdict is Verdict.CONFLICT
    assert reason in (admission.reason or "")
    assert admit(ALICE, "approve", order(OrderState.AUTHORIZED), usd("10.00")).verdict \
        is Verdict.CONFLICT


def test_amount_limits_come_from_the_order() -> None:
    paid = order(OrderState.PAID, authorized_amount="10.00", captured_amount="10.00")
    assert admit(SHOP, "refund", paid, usd("10.00")).proceeds
    too_much = admit(SHOP, "refund", paid, usd("10.01"))
    assert too_much.verdict is Verdict.CONFLICT and "exceeds" in (too_much.reason or "")
    authorized = order(OrderState.AUTHORIZED, authorized_amount="10.00")
    assert admit(SHOP, "deposit", authorized, usd("4.00")).proceeds
    assert admit(SHOP, "deposit", authorized, Money.of("4.00", "EUR")).verdict \
        is Verdict.CONFLICT


def test_capture_refund_and_late_reverse_are_merchant_operations() -> None:
    authorized = order(OrderState.AUTHORIZED, authorized_amount="10.00")
    paid = order(OrderState.PAID, authorized_amount="10.00", captured_amount="10.00")
    assert admit(ALICE, "deposit", authorized, None).verdict is Verdict.FORBIDDEN
    assert admit(ALICE, "refund", paid, None).verdict is Verdict.FORBIDDEN
    assert admit(ALICE, "reverse", paid, None).verdict is Verdict.FORBIDDEN
    # Cancelling before capture is the shopper's own right.
    assert admit(ALICE, "reverse", authorized, None).proceeds
    assert admit(SHOP, "reverse", paid, None).proceeds
    assert admit(SHOP, "approve", order(OrderState.CREATED), usd("10.00")).verdict \
        is Verdict.FORBIDDEN


def test_foreign_missing_and_unregistered_orders_look_the_same() -> None:
    theirs = order(OrderState.PAID, customer="bob", captured_amount="10.00")
    implicit = order(OrderState.CREATED).model_copy(update={"expected_amount": None})
    other_shop = Actor("merchant", "another-shop")
    for actor, current in ((ALICE, theirs), (ALICE, None), (ALICE, implicit),
                           (other_shop, order(OrderState.CREATED))):
        assert admit(actor, "reverse", current, None).verdict is Verdict.NOT_FOUND
        assert not visible_to(actor, current)
    assert visible_to(ALICE, order(OrderState.CREATED))
    assert visible_to(SHOP, order(OrderState.CREATED))


def test_executor_refuses_foreign_customers_and_shopper_merchant_operations() -> None:
    entry = PaymentLedgerEntry(order_id="o-1", customer_id="alice", transaction_id="tx",
                               status="authorized", currency="USD", authorized=usd("10.00"))
    captured = entry.model_copy(update={"status": "submitted_for_settlement",
                                        "captured": usd("10.00")})

    def request(kind: str, customer: str = "alice", by: str = "customer") -> PaymentRequest:
        return PaymentRequest(payment_id=f"p-{kind}", idempotency_key=f"k-{kind}-{by}",
                              order_id="o-1", customer_id=customer, kind=kind,  # type: ignore[arg-type]
                              correlation_id="c", requested_at=AT,
                              requested_by=by)  # type: ignore[arg-type]

    foreign = plan_request(entry, request("reverse", customer="mallory"))
    assert isinstance(foreign, Decline) and "not the order's owner" in foreign.reason
    assert isinstance(plan_request(entry, request("deposit")), Decline)
    assert isinstance(plan_request(entry, request("deposit", by="merchant")), Capture)
    assert isinstance(plan_request(entry, request("reverse")), Void)
    late = plan_request(captured, request("reverse"))
    assert isinstance(late, Decline) and "only the merchant" in late.reason
    assert isinstance(plan_request(captured, request("reverse", by="merchant")), Void)


def test_request_keys_replay_refuse_and_stay_bounded() -> None:
    base = order(OrderState.CREATED)

    def request(key: str, fp: str, at: datetime = AT) -> PaymentRequest:
        return PaymentRequest(
            payment_id=f"pay_{key}", idempotency_key=key, order_id="o-1", customer_id="alice",
            kind="approve", amount=usd("10.00"), payment_method_nonce="fake-valid-nonce",
            payment_method_type="credit_card", correlation_id="c", requested_at=at,
            request_fingerprint=fp * 64)

    recorded = record_request(base, request("k1", "a"))
    hit = replay_of(recorded.request_keys, "k1", "a" * 64, AT)
    assert isinstance(hit, RequestKey) and hit.payment_id == "pay_k1"
    assert replay_of(recorded.request_keys, "k1", "b" * 64, AT) is False
    assert replay_of(recorded.request_keys, "k2", "a" * 64, AT) is None
    # First use wins; expired keys stop answering and are dropped on the next record.
    assert record_request(recorded, request("k1", "b")) is recorded
    later = AT + KEY_TTL + timedelta(seconds=1)
    assert replay_of(recorded.request_keys, "k1", "a" * 64, later) is None
    assert "k1" not in record_request(recorded, request("k2", "a", later)).request_keys
    many = base
    for i in range(MAX_REQUEST_KEYS + 10):
        many = record_request(many, request(f"k{i}", "a", AT + timedelta(seconds=i)))
    assert len(many.request_keys) == MAX_REQUEST_KEYS
    assert f"k{MAX_REQUEST_KEYS + 9}" in many.request_keys and "k0" not in many.request_keys


def test_downstream_keys_are_per_shopper_and_fit_the_wire() -> None:
    a, b = downstream_key("alice", "k"), downstream_key("bob", "k")
    assert a != b and len(a) <= 64 and a.replace("-", "").replace("_", "").isalnum()


async def test_store_replays_refuses_mismatch_and_releases_failures() -> None:
    store = IdempotencyStore()
    claim = await store.reserve("alice", "k", "fp1")
    assert isinstance(claim, Reservation)
    store.complete(claim, StoredResponse(202, b"{}", "application/json"))
    assert await store.reserve("alice", "k", "fp1") == StoredResponse(202, b"{}",
                                                                        "application/json")
    with pytest.raises(IdempotencyMismatchError):
        await store.reserve("alice", "k", "fp2")
    assert isinstance(await store.reserve("bob", "k", "fp2"), Reservation)

    refused = await store.reserve("alice", "k2", "fp1")
    assert isinstance(refused, Reservation)
    store.complete(refused, StoredResponse(409, b"{}", "application/problem+json"))
    assert isinstance(await store.reserve("alice", "k2", "fp1"), Reservation)


async def test_concurrent_duplicate_waits_for_the_first() -> None:
    store = IdempotencyStore(wait_seconds=2)
    claim = await store.reserve("alice", "k", "fp")
    assert isinstance(claim, Reservation)
    waiter = asyncio.create_task(store.reserve("alice", "k", "fp"))
    await asyncio.sleep(0.01)
    assert not waiter.done()
    store.complete(claim, StoredResponse(202, b"x", None))
    assert await waiter == StoredResponse(202, b"x", None)

    slow = IdempotencyStore(wait_seconds=0.05)
    assert isinstance(await slow.reserve("alice", "k", "fp"), Reservation)
    with pytest.raises(IdempotencyInProgressError):
        await slow.reserve("alice", "k", "fp")


async def test_store_is_bounded_in_time_and_size() -> None:
    now = [0.0]
    store = IdempotencyStore(ttl_seconds=10, max_entries=3, clock=lambda: now[0])
    for i in range(5):
        claim = await store.reserve("alice", f"k{i}", "fp")
        assert isinstance(claim, Reservation)
        store.complete(claim, StoredResponse(200, b"", None))
    assert len(store) == 3
    now[0] = 11
    assert isinstance(await store.reserve("alice", "k4", "other"), Reservation)
    assert len(store) == 1

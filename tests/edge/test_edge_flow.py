"""The orchestrator's pure flow admission and the idempotency store."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from api_edge.flow import Verdict, admit, can_view
from api_edge.idempotency import (
    IdempotencyInProgressError,
    IdempotencyMismatchError,
    IdempotencyStore,
    Reservation,
    StoredResponse,
    downstream_key,
)
from schemas.money import Money
from tables.order_lifecycle import Order
from tables.order_state import OrderState

AT = datetime(2025, 1, 1, tzinfo=UTC)


def order(state: OrderState, customer: str = "alice", **amounts: str) -> Order:
    money = {name: Money.of(value, "USD") for name, value in amounts.items()}
    return Order(order_id="o-1", customer_id=customer, state=state, currency="USD",
                 created_at=AT, updated_at=AT, **money)


def usd(value: str) -> Money:
    return Money.of(value, "USD")


def test_new_order_checkout_creates_it() -> None:
    admission = admit("alice", "approve", None, usd("10.00"))
    assert admission.proceeds and admission.creates_order


def test_retry_after_decline_does_not_recreate_the_order() -> None:
    declined = order(OrderState.DECLINED, expected_amount="10.00")
    admission = admit("alice", "approve", declined, usd("10.00"))
    assert admission.proceeds and not admission.creates_order


@pytest.mark.parametrize(("state", "kind", "amount", "reason"), [
    (OrderState.CREATED, "refund", None, "never paid"),
    (OrderState.AUTHORIZED, "refund", None, "never paid"),
    (OrderState.CREATED, "deposit", None, "no authorization"),
    (OrderState.AUTHORIZED, "approve", "10.00", "already authorized"),
    (OrderState.REFUNDED, "reverse", None, "already fully refunded"),
    (OrderState.REVERSED, "deposit", None, "already reversed"),
])
def test_what_cannot_succeed_is_refused(state: OrderState, kind: str, amount: str | None,
                                        reason: str) -> None:
    current = order(state, authorized_amount="10.00")
    admission = admit("alice", kind, current, usd(amount) if amount else None)  # type: ignore[arg-type]
    assert admission.verdict is Verdict.CONFLICT
    assert reason in (admission.reason or "")


def test_amount_limits_come_from_the_order() -> None:
    paid = order(OrderState.PAID, authorized_amount="10.00", captured_amount="10.00")
    assert admit("alice", "refund", paid, usd("10.00")).proceeds
    too_much = admit("alice", "refund", paid, usd("10.01"))
    assert too_much.verdict is Verdict.CONFLICT and "exceeds" in (too_much.reason or "")
    authorized = order(OrderState.AUTHORIZED, authorized_amount="10.00")
    assert admit("alice", "deposit", authorized, usd("4.00")).proceeds
    assert admit("alice", "deposit", authorized, Money.of("4.00", "EUR")).verdict \
        is Verdict.CONFLICT


def test_foreign_and_missing_orders_are_forbidden_alike() -> None:
    theirs = order(OrderState.PAID, customer="bob", captured_amount="10.00")
    assert admit("alice", "refund", theirs, None).verdict is Verdict.FORBIDDEN
    assert admit("alice", "refund", None, None).verdict is Verdict.FORBIDDEN
    assert admit("alice", "approve", theirs, usd("1.00")).verdict is Verdict.FORBIDDEN
    assert can_view("alice", theirs, False) is Verdict.FORBIDDEN
    assert can_view("alice", None, False) is Verdict.FORBIDDEN
    # Only the shopper who just checked the order out learns it is on its way.
    assert can_view("alice", None, True) is Verdict.NOT_YET_VISIBLE
    lagging = admit("alice", "deposit", None, None, accepted_here=True)
    assert lagging.verdict is Verdict.CONFLICT and "not been recorded" in (lagging.reason or "")


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

"""Every fault mode, through the real SDK and through the adapter."""

from __future__ import annotations

import time

import braintree
import pytest
import requests
from gw_helpers import new_key

from gateway.braintree_adapter import BraintreeGateway
from gateway.errors import (
    IdempotencyKeyInFlightError,
    OutcomeUnknownError,
    TransientGatewayError,
)
from gateway.port import Outcome
from gateway.simulator.runner import SimulatorHandle
from schemas.money import Money


def sale_params(order_id: str | None = None, key: str | None = None) -> dict[str, object]:
    return {"amount": "42.00", "payment_method_nonce": "fake-valid-nonce",
            "order_id": order_id or new_key(), "api_request_key": key or new_key()}


def test_fixed_latency(bt: braintree.BraintreeGateway, sim: SimulatorHandle) -> None:
    sim.configure(latency_ms=150, latency_distribution="fixed")
    start = time.perf_counter()
    assert bt.transaction.sale(sale_params()).is_success
    assert time.perf_counter() - start >= 0.15


@pytest.mark.parametrize("distribution", ["uniform", "exponential"])
def test_latency_distributions_are_bounded(bt: braintree.BraintreeGateway, sim: SimulatorHandle,
                                           distribution: str) -> None:
    sim.configure(latency_ms=20, latency_distribution=distribution, latency_max_ms=60)
    start = time.perf_counter()
    for _ in range(5):
        assert bt.transaction.sale(sale_params()).is_success
    assert time.perf_counter() - start < 5 * 0.06 + 1.0


def test_5xx_is_not_applied(bt: braintree.BraintreeGateway, sim: SimulatorHandle) -> None:
    sim.configure(error_5xx_fraction=1.0)
    with pytest.raises(braintree.exceptions.ServiceUnavailableError):
        bt.transaction.sale(sale_params())
    sim.configure(error_5xx_fraction=1.0, error_5xx_status=500)
    with pytest.raises(braintree.exceptions.ServerError):
        bt.transaction.sale(sale_params())
    assert sim.ledger()["transactions"] == []


def test_throttle_429(bt: braintree.BraintreeGateway, sim: SimulatorHandle) -> None:
    sim.configure(throttle_fraction=1.0)
    with pytest.raises(braintree.exceptions.TooManyRequestsError):
        bt.transaction.sale(sale_params())


def test_timeout_is_applied_after_the_caller_gave_up(sim: SimulatorHandle) -> None:
    sim.configure(timeout_fraction=1.0, timeout_hold_seconds=0.8)
    params = sale_params()
    with pytest.raises(requests.exceptions.ReadTimeout):
        sim.sdk(timeout=0.3).transaction.sale(dict(params))
    sim.configure(timeout_fraction=0.0)
    # Still held: a retry with the same key is told the first is in flight.
    still = sim.sdk().transaction.sale(dict(params))
    assert [e.code for e in still.errors.deep_errors] == ["915233"]
    time.sleep(0.8)
    done = sim.sdk().transaction.sale(dict(params))
    assert done.is_success
    assert len(sim.ledger()["transactions"]) == 1


def test_fractions_are_shares_of_traffic(bt: braintree.BraintreeGateway,
                                         sim: SimulatorHandle) -> None:
    sim.configure(error_5xx_fraction=0.5)
    failures = 0
    for _ in range(60):
        try:
            bt.transaction.sale(sale_params())
        except braintree.exceptions.ServiceUnavailableError:
            failures += 1
    assert 12 <= failures <= 48


def test_drop_after_apply_then_retry_leaves_one_transaction(
    bt: braintree.BraintreeGateway, sim: SimulatorHandle
) -> None:
    """The must-show case: charged, the caller never heard, the retry is safe."""
    order_id, key = new_key(), new_key()
    sim.configure(drop_after_apply_fraction=1.0)
    with pytest.raises(requests.exceptions.ConnectionError):
        bt.transaction.sale(sale_params(order_id, key))
    sim.configure(drop_after_apply_fraction=0.0)
    retried = bt.transaction.sale(sale_params(order_id, key))
    assert retried.is_success
    ledger = sim.ledger()
    mine = [t for t in ledger["transactions"] if t["order_id"] == order_id]
    assert len(mine) == 1
    assert mine[0]["id"] == retried.transaction.id
    assert [k["transaction_id"] for k in ledger["idempotency_keys"] if k["key"] == key] == \
        [retried.transaction.id]


# -- the adapter's classification of the same faults ------------------------------------

async def test_adapter_drop_is_outcome_unknown_and_retry_is_safe(
    adapter: BraintreeGateway, sim: SimulatorHandle
) -> None:
    order_id, key = new_key(), new_key()
    amount = Money.of("42.00", "USD")
    sim.configure(drop_after_apply_fraction=1.0)
    with pytest.raises(OutcomeUnknownError):
        await adapter.authorize(order_id=order_id, amount=amount, idempotency_key=key,
                                payment_method_nonce="fake-valid-nonce")
    sim.configure(drop_after_apply_fraction=0.0)
    result = await adapter.authorize(order_id=order_id, amount=amount, idempotency_key=key,
                                     payment_method_nonce="fake-valid-nonce")
    assert result.outcome is Outcome.APPROVED
    assert len(await adapter.find_transactions_by_order(order_id)) == 1


async def test_adapter_read_timeout_is_outcome_unknown_then_in_flight(
    sim: SimulatorHandle, transport: str,
) -> None:
    gw = BraintreeGateway(sim.gateway_settings(timeout_seconds=0.3, transport=transport))
    try:
        sim.configure(timeout_fraction=1.0, timeout_hold_seconds=1.0)
        kwargs = dict(order_id=new_key(), amount=Money.of("5.00", "USD"),
                      idempotency_key=new_key(), payment_method_nonce="fake-valid-nonce")
        with pytest.raises(OutcomeUnknownError):
            await gw.authorize(**kwargs)  # type: ignore[arg-type]
        sim.configure(timeout_fraction=0.0)
        with pytest.raises(IdempotencyKeyInFlightError) as info:
            await gw.authorize(**kwargs)  # type: ignore[arg-type]
        assert info.value.retryable
    finally:
        await gw.aclose()


@pytest.mark.parametrize(("fault", "status"),
                         [("error_5xx_fraction", 503), ("throttle_fraction", 429)])
async def test_adapter_5xx_and_429_are_transient(adapter: BraintreeGateway, sim: SimulatorHandle,
                                                 fault: str, status: int) -> None:
    sim.configure(**{fault: 1.0})
    with pytest.raises(TransientGatewayError) as info:
        await adapter.authorize(order_id=new_key(), amount=Money.of("5.00", "USD"),
                                idempotency_key=new_key(), payment_method_nonce="fake-valid-nonce")
    assert not isinstance(info.value, OutcomeUnknownError)
    assert info.value.status == status


async def test_adapter_find_during_drop_is_plain_transient(adapter: BraintreeGateway,
                                                           sim: SimulatorHandle) -> None:
    result = await adapter.authorize(order_id=new_key(), amount=Money.of("5.00", "USD"),
                                     idempotency_key=new_key(),
                                     payment_method_nonce="fake-valid-nonce")
    assert result.transaction is not None
    sim.configure(drop_after_apply_fraction=1.0)
    with pytest.raises(TransientGatewayError) as info:
        await adapter.find_transaction(result.transaction.id)
    assert not isinstance(info.value, OutcomeUnknownError)


async def test_adapter_connection_refused_is_transient_not_unknown(transport: str) -> None:
    from devstack.ports import free_port
    from gateway.settings import GatewaySettings

    gw = BraintreeGateway(GatewaySettings(simulator_url=f"http://127.0.0.1:{free_port()}",
                                          timeout_seconds=1, transport=transport))
    try:
        with pytest.raises(TransientGatewayError) as info:
            await gw.authorize(order_id="o", amount=Money.of("1.00", "USD"),
                               idempotency_key=new_key(), payment_method_nonce="fake-valid-nonce")
        assert not isinstance(info.value, OutcomeUnknownError)
    finally:
        await gw.aclose()

"""`BraintreeGateway` (the port's production adapter) driven against the simulator."""

from __future__ import annotations

import asyncio
import time

import pytest
from gw_helpers import new_key

from gateway.braintree_adapter import BraintreeGateway, build_environment
from gateway.errors import (
    GatewayConfigurationError,
    NotFoundGatewayError,
    PermanentGatewayError,
)
from gateway.factory import build_gateway
from gateway.port import Outcome, PaymentGateway, TransactionResult
from gateway.settings import GatewaySettings
from gateway.simulator.runner import SimulatorHandle
from gateway.statuses import CAPTURED_STATUSES
from schemas.money import Money
from schemas.payment_request import PaymentMethodType

USD = "USD"


async def authorize(
    gw: BraintreeGateway, amount: str = "80.00", currency: str = USD,
    nonce: str = "fake-valid-nonce", order_id: str | None = None,
) -> TransactionResult:
    return await gw.authorize(order_id=order_id or new_key(), amount=Money.of(amount, currency),
                              idempotency_key=new_key(), payment_method_nonce=nonce)


def test_adapter_satisfies_the_port(adapter: BraintreeGateway) -> None:
    assert isinstance(adapter, PaymentGateway)
    assert isinstance(build_gateway(GatewaySettings()), BraintreeGateway)


@pytest.mark.parametrize(("nonce", "kind"), [
    ("fake-valid-visa-nonce", "credit_card"),
    ("fake-paypal-one-time-nonce", "paypal"),
    ("fake-apple-pay-visa-nonce", "apple_pay"),
    ("fake-android-pay-visa-nonce", "google_pay"),
])
async def test_lifecycle(adapter: BraintreeGateway, bt: object, nonce: str,
                         kind: PaymentMethodType) -> None:
    order_id = new_key()
    auth = await authorize(adapter, "80.00", "EUR", nonce, order_id)
    assert auth.outcome is Outcome.APPROVED
    t = auth.transaction
    assert t is not None
    assert t.status == "authorized" and t.amount == Money.of("80.00", "EUR")
    assert t.payment_method_type == kind and t.order_id == order_id
    assert t.authorized_at is not None

    cap = await adapter.capture(transaction_id=t.id, idempotency_key=new_key(),
                                amount=Money.of("70.00", "EUR"))
    assert cap.transaction is not None and cap.transaction.status == "submitted_for_settlement"
    assert cap.transaction.amount == Money.of("70.00", "EUR")
    assert cap.transaction.status in CAPTURED_STATUSES
    bt.testing.settle_transaction(t.id)  # type: ignore[attr-defined]

    r1 = await adapter.refund(transaction_id=t.id, idempotency_key=new_key(),
                              amount=Money.of("30.00", "EUR"))
    r2 = await adapter.refund(transaction_id=t.id, idempotency_key=new_key())
    assert r1.transaction is not None and r2.transaction is not None
    assert r1.transaction.type == "credit" and r1.transaction.refunded_transaction_id == t.id
    assert r2.transaction.amount == Money.of("40.00", "EUR")  # the remaining balance

    found = await adapter.find_transaction(t.id)
    assert found is not None and found.status == "settled" and found.settled_at is not None
    assert found.refund_ids == [r1.transaction.id, r2.transaction.id]
    by_order = await adapter.find_transactions_by_order(order_id)
    assert {x.id for x in by_order} == {t.id, r1.transaction.id, r2.transaction.id}


async def test_void(adapter: BraintreeGateway) -> None:
    t = (await authorize(adapter)).transaction
    assert t is not None
    voided = await adapter.void(transaction_id=t.id, idempotency_key=new_key())
    assert voided.outcome is Outcome.APPROVED
    assert voided.transaction is not None and voided.transaction.status == "voided"


@pytest.mark.parametrize(("amount", "outcome", "code"), [
    ("2001.00", Outcome.PROCESSOR_DECLINED, "2001"),
    ("3000.00", Outcome.FAILED, "3000"),
    ("5001.00", Outcome.GATEWAY_REJECTED, None),
])
async def test_declines_are_outcomes(adapter: BraintreeGateway, amount: str, outcome: Outcome,
                                     code: str | None) -> None:
    result = await authorize(adapter, amount)
    assert result.outcome is outcome
    assert result.processor_response_code == code
    assert result.transaction is not None and result.transaction.id
    if outcome is Outcome.GATEWAY_REJECTED:
        assert result.gateway_rejection_reason == "application_incomplete"
    else:
        assert result.processor_response_text


async def test_validation_errors_are_permanent_with_codes(adapter: BraintreeGateway) -> None:
    t = (await authorize(adapter, "10.00")).transaction
    assert t is not None
    with pytest.raises(PermanentGatewayError) as info:
        await adapter.capture(transaction_id=t.id, idempotency_key=new_key(),
                              amount=Money.of("10.01", USD))
    assert info.value.codes == ["91522"]
    assert not info.value.retryable
    with pytest.raises(PermanentGatewayError) as info:
        await adapter.refund(transaction_id=t.id, idempotency_key=new_key())
    assert info.value.codes == ["91506"]


async def test_reused_key_with_another_request_is_permanent(adapter: BraintreeGateway) -> None:
    key = new_key()
    await adapter.authorize(order_id="o-1", amount=Money.of("1.00", USD), idempotency_key=key,
                            payment_method_nonce="fake-valid-nonce")
    with pytest.raises(PermanentGatewayError) as info:
        await adapter.authorize(order_id="o-1", amount=Money.of("2.00", USD),
                                idempotency_key=key, payment_method_nonce="fake-valid-nonce")
    assert info.value.codes == ["915232"]


async def test_unknown_transaction(adapter: BraintreeGateway) -> None:
    assert await adapter.find_transaction("nope") is None
    assert await adapter.find_transactions_by_order("no-such-order") == []
    with pytest.raises(NotFoundGatewayError):
        await adapter.void(transaction_id="nope", idempotency_key=new_key())


async def test_currency_without_merchant_account(adapter: BraintreeGateway) -> None:
    # Our configuration, not the shopper's payment: parked for an operator, never declined.
    with pytest.raises(GatewayConfigurationError) as info:
        await authorize(adapter, "10.00", "CHF")
    assert info.value.codes == ["currency_not_configured"]


async def test_wrong_keys_are_an_authentication_error(sim: SimulatorHandle) -> None:
    from gateway.errors import AuthenticationGatewayError

    gw = BraintreeGateway(sim.gateway_settings(private_key="wrong"))
    try:
        with pytest.raises(AuthenticationGatewayError):
            await gw.find_transaction("x")
    finally:
        await gw.aclose()


@pytest.mark.parametrize(("nonce", "kind"), [
    ("fake-valid-visa-nonce", "credit_card"),
    ("fake-paypal-billing-agreement-nonce", "paypal"),
    ("fake-apple-pay-visa-nonce", "apple_pay"),
    ("fake-android-pay-visa-nonce", "google_pay"),
])
async def test_vault(adapter: BraintreeGateway, nonce: str, kind: PaymentMethodType) -> None:
    customer_id = "c" + new_key()[:16]
    assert await adapter.create_customer(customer_id=customer_id, email="a@example.com") == \
        customer_id
    # Creating the same customer again is the success of a retry, not an error.
    assert await adapter.create_customer(customer_id=customer_id) == customer_id
    pm = await adapter.vault_payment_method(customer_id=customer_id, nonce=nonce,
                                            make_default=True)
    assert pm.type == kind and pm.customer_id == customer_id and pm.is_default
    if kind == "paypal":
        assert pm.email and pm.last_4 is None
    else:
        assert pm.last_4 == "1881" and pm.card_brand
    assert await adapter.find_payment_method(pm.token) == pm

    charge = await adapter.authorize(order_id=new_key(), amount=Money.of("9.99", USD),
                                     idempotency_key=new_key(), payment_method_token=pm.token)
    assert charge.outcome is Outcome.APPROVED
    assert charge.transaction is not None and charge.transaction.payment_method_type == kind

    updated = await adapter.update_payment_method(pm.token, make_default=True,
                                                  expiration_month="01", expiration_year="2032",
                                                  billing_postal_code="10001")
    if kind == "credit_card":
        assert (updated.expiration_month, updated.expiration_year) == ("01", "2032")
    await adapter.delete_payment_method(pm.token)
    assert await adapter.find_payment_method(pm.token) is None


async def test_vault_errors_are_permanent(adapter: BraintreeGateway) -> None:
    customer_id = await adapter.create_customer(customer_id="c" + new_key()[:16])
    with pytest.raises(PermanentGatewayError) as info:
        await adapter.vault_payment_method(customer_id=customer_id,
                                           nonce="fake-paypal-one-time-nonce")
    assert info.value.codes == ["82902"]


async def test_calls_do_not_block_the_event_loop(adapter: BraintreeGateway,
                                                 sim: SimulatorHandle) -> None:
    sim.configure(latency_ms=300)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.create_task(ticker())
    start = time.perf_counter()
    results = await asyncio.gather(*(authorize(adapter, "1.00") for _ in range(12)))
    elapsed = time.perf_counter() - start
    task.cancel()
    assert all(r.outcome is Outcome.APPROVED for r in results)
    # Concurrent, not one after another (12 x 300 ms = 3.6 s), with room for a slow machine.
    assert elapsed < 12 * 0.3
    assert ticks >= 15  # the loop kept turning meanwhile


def test_environment_switch_is_configuration_only(monkeypatch: pytest.MonkeyPatch) -> None:
    import braintree

    monkeypatch.setenv("BRAINTREE_ENVIRONMENT", "sandbox")
    monkeypatch.setenv("BRAINTREE_MERCHANT_ACCOUNTS", '{"USD": "acme_usd"}')
    monkeypatch.setenv("BRAINTREE_PRIVATE_KEY", "s3cret")
    settings = GatewaySettings()
    assert build_environment(settings) is braintree.Environment.Sandbox
    assert settings.merchant_accounts == {"USD": "acme_usd"}
    assert "s3cret" not in repr(settings)
    sim_env = build_environment(GatewaySettings(environment="simulator",
                                                simulator_url="http://127.0.0.1:9999"))
    assert sim_env.base_url == "http://127.0.0.1:9999"
    with pytest.raises(ValueError):
        GatewaySettings(simulator_url="http://127.0.0.1:443").simulator_host_port()


def test_an_unclassified_failure_of_a_mutating_call_is_an_unknown_outcome() -> None:
    from xml.parsers.expat import ExpatError

    from gateway.error_mapping import classify
    from gateway.errors import OutcomeUnknownError, TransientGatewayError

    malformed = ExpatError("not well-formed (invalid token): line 1, column 0")
    assert isinstance(classify(malformed, "sale", mutating=True), OutcomeUnknownError)
    looked_up = classify(malformed, "find", mutating=False)
    assert isinstance(looked_up, TransientGatewayError)
    assert not isinstance(looked_up, OutcomeUnknownError)


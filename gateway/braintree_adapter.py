"""`BraintreeGateway`: the payment gateway port on the official `braintree` SDK.

The SDK is synchronous. By default its HTTP goes through the SDK's `http_strategy` hook to
aiohttp on the event loop (`gateway.async_transport`), so the loop never blocks on a
socket and no thread contends for the GIL; `transport="threads"` keeps the SDK's own
requests transport on a bounded thread pool instead. Every money-moving call carries
`api_request_key`, Braintree's idempotency key, so retrying after an unknown outcome
returns the original transaction.

A call's time budget starts only once it holds a connection (or a thread): waiting for one
sends nothing, so a call that never got one is never an unknown outcome.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, TypeVar

import braintree

from gateway.async_transport import AsyncioHttpStrategy, call_budget, run_in_greenlet
from gateway.error_mapping import classify
from gateway.errors import (
    GatewayConfigurationError,
    GatewayValidationError,
    NotFoundGatewayError,
    PermanentGatewayError,
)
from gateway.port import (
    Transaction,
    TransactionResult,
    VaultedPaymentMethod,
)
from gateway.sdk_results import (
    CUSTOMER_ID_IN_USE,
    raise_for_errors,
    to_payment_method,
    to_result,
    to_transaction,
    validation_errors,
)
from gateway.settings import GatewaySettings
from schemas.money import Money

log = logging.getLogger("gateway.braintree")

T = TypeVar("T")


def build_environment(settings: GatewaySettings) -> braintree.Environment:
    if settings.environment == "sandbox":
        return braintree.Environment.Sandbox
    if settings.environment == "production":
        return braintree.Environment.Production
    host, port = settings.simulator_host_port()
    # Any port but "443" makes the SDK speak plain HTTP, which the simulator serves.
    return braintree.Environment("simulator", host, port, "", False, None)


class BraintreeGateway:
    """The production adapter. Also drives the simulator; only the settings differ."""

    def __init__(self, settings: GatewaySettings | None = None) -> None:
        self.settings = settings or GatewaySettings()
        self._config = braintree.Configuration(
            environment=build_environment(self.settings),
            merchant_id=self.settings.merchant_id,
            public_key=self.settings.public_key,
            private_key=self.settings.private_key.get_secret_value(),
            timeout=self.settings.timeout_seconds,
            **({"http_strategy": functools.partial(
                AsyncioHttpStrategy, max_connections=self.settings.max_workers)}
               if self.settings.transport == "asyncio" else {}),
        )
        self._sdk = braintree.BraintreeGateway(self._config)
        self._pool: ThreadPoolExecutor | None = None
        if self.settings.transport == "threads":
            self._pool = ThreadPoolExecutor(max_workers=self.settings.max_workers,
                                            thread_name_prefix="braintree")
        # requests applies its timeout per connect and per read; this bounds the whole call
        # on a thread (the asyncio transport bounds each request itself).
        self._call_timeout = call_budget(self.settings.timeout_seconds)
        self._closed = False

    async def _call(self, operation: str, fn: Callable[[], T], *, mutating: bool) -> T:
        if self._closed:
            raise PermanentGatewayError("gateway is closed", operation=operation)
        try:
            if self._pool is None:
                # No deadline around the call: it would also run while the request waits
                # for a free connection, and a call cut off there, never sent, would come
                # out as an unknown outcome. Once a request holds a connection, the
                # transport bounds connecting and the answer (`AsyncioHttpStrategy`).
                return await run_in_greenlet(fn)
            return await self._on_thread(self._pool, fn)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            err = classify(exc, operation, mutating=mutating)
            log.warning("braintree %s failed: %s (%s)", operation, type(err).__name__,
                        err.message)
            raise err from exc

    async def _on_thread(self, pool: ThreadPoolExecutor, fn: Callable[[], T]) -> T:
        """`fn` on the pool, its budget counted from when a thread starts it: a call still
        queued behind busy threads has sent nothing, so the queue is not part of it."""
        loop = asyncio.get_running_loop()
        started: asyncio.Future[None] = loop.create_future()

        def run() -> T:
            loop.call_soon_threadsafe(_resolve, started)
            return fn()

        future = loop.run_in_executor(pool, run)
        waiting: set[asyncio.Future[Any]] = {started, future}
        try:
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            future.cancel()  # still queued, it never runs; once running, it finishes
            raise
        return await asyncio.wait_for(future, self._call_timeout)

    def _merchant_account(self, currency: str) -> str:
        try:
            return self.settings.merchant_accounts[currency]
        except KeyError:
            raise GatewayConfigurationError(
                f"no merchant account configured for {currency}",
                errors=[GatewayValidationError("currency_not_configured",
                                               f"no merchant account for {currency}",
                                               "merchant_account_id")],
                operation="authorize") from None

    # -- transactions ------------------------------------------------------------------

    async def authorize(
        self,
        *,
        order_id: str,
        amount: Money,
        idempotency_key: str,
        payment_method_token: str | None = None,
        payment_method_nonce: str | None = None,
        customer_id: str | None = None,
    ) -> TransactionResult:
        params: dict[str, Any] = {
            "amount": amount.to_gateway(),
            "order_id": order_id,
            "api_request_key": idempotency_key,
            "merchant_account_id": self._merchant_account(amount.currency),
            "options": {"submit_for_settlement": False},
        }
        if payment_method_nonce:
            params["payment_method_nonce"] = payment_method_nonce
        if payment_method_token:
            params["payment_method_token"] = payment_method_token
        if customer_id:
            params["customer_id"] = customer_id
        result = await self._call("authorize", functools.partial(
            self._sdk.transaction.sale, params), mutating=True)
        return self._log(to_result(result, "authorize"), "authorize", order_id)

    async def capture(
        self, *, transaction_id: str, idempotency_key: str, amount: Money | None = None
    ) -> TransactionResult:
        result = await self._call("capture", functools.partial(
            self._sdk.transaction.submit_for_settlement, transaction_id,
            amount.to_gateway() if amount is not None else None,
            {"api_request_key": idempotency_key}), mutating=True)
        return self._log(to_result(result, "capture"), "capture", None)

    async def capture_partial(
        self, *, transaction_id: str, idempotency_key: str, amount: Money, final: bool,
        order_id: str | None = None,
    ) -> TransactionResult:
        params: dict[str, Any] = {"api_request_key": idempotency_key, "final_capture": final}
        if order_id:
            params["order_id"] = order_id
        result = await self._call("capture_partial", functools.partial(
            self._sdk.transaction.submit_for_partial_settlement, transaction_id,
            amount.to_gateway(), params), mutating=True)
        return self._log(to_result(result, "capture_partial"), "capture_partial", order_id)

    async def void(self, *, transaction_id: str, idempotency_key: str) -> TransactionResult:
        result = await self._call("void", functools.partial(
            self._sdk.transaction.void, transaction_id, {"api_request_key": idempotency_key}),
            mutating=True)
        return self._log(to_result(result, "void"), "void", None)

    async def refund(
        self, *, transaction_id: str, idempotency_key: str, amount: Money | None = None
    ) -> TransactionResult:
        options: dict[str, Any] = {"api_request_key": idempotency_key}
        if amount is not None:
            options["amount"] = amount.to_gateway()
        result = await self._call("refund", functools.partial(
            self._sdk.transaction.refund, transaction_id, options), mutating=True)
        return self._log(to_result(result, "refund"), "refund", None)

    async def find_transaction(self, transaction_id: str) -> Transaction | None:
        try:
            t = await self._call("find_transaction", functools.partial(
                self._sdk.transaction.find, transaction_id), mutating=False)
        except NotFoundGatewayError:
            return None
        return to_transaction(t)

    async def find_transactions_by_order(self, order_id: str) -> list[Transaction]:
        def search() -> list[Any]:
            # The collection pages lazily over HTTP: drain it inside the worker thread.
            found = self._sdk.transaction.search(braintree.TransactionSearch.order_id == order_id)
            return list(found.items)

        txns = await self._call("find_transactions_by_order", search, mutating=False)
        return sorted((to_transaction(t) for t in txns),
                      key=lambda t: (t.created_at or datetime.min.replace(tzinfo=UTC), t.id))

    # -- customers and vault -----------------------------------------------------------

    async def create_customer(self, *, customer_id: str, email: str | None = None) -> str:
        params: dict[str, Any] = {"id": customer_id}
        if email:
            params["email"] = email
        result = await self._call("create_customer", functools.partial(
            self._sdk.customer.create, params), mutating=True)
        if result.is_success:
            return str(result.customer.id)
        errors = validation_errors(result)
        if [e.code for e in errors] == [CUSTOMER_ID_IN_USE]:
            # Our customer ids are ours: "already exists" is the success of a retry.
            return customer_id
        raise PermanentGatewayError(result.message, errors=errors, operation="create_customer")

    async def vault_payment_method(
        self, *, customer_id: str, nonce: str, make_default: bool = False
    ) -> VaultedPaymentMethod:
        params: dict[str, Any] = {"customer_id": customer_id, "payment_method_nonce": nonce}
        if make_default:
            params["options"] = {"make_default": True}
        result = await self._call("vault_payment_method", functools.partial(
            self._sdk.payment_method.create, params), mutating=True)
        if not result.is_success:
            raise_for_errors(result, "vault_payment_method")
        return to_payment_method(result.payment_method)

    async def find_payment_method(self, token: str) -> VaultedPaymentMethod | None:
        try:
            pm = await self._call("find_payment_method", functools.partial(
                self._sdk.payment_method.find, token), mutating=False)
        except NotFoundGatewayError:
            return None
        return to_payment_method(pm)

    async def update_payment_method(
        self,
        token: str,
        *,
        make_default: bool | None = None,
        expiration_month: str | None = None,
        expiration_year: str | None = None,
        billing_postal_code: str | None = None,
    ) -> VaultedPaymentMethod:
        params: dict[str, Any] = {}
        if make_default is not None:
            params["options"] = {"make_default": make_default}
        if expiration_month is not None:
            params["expiration_month"] = expiration_month
        if expiration_year is not None:
            params["expiration_year"] = expiration_year
        if billing_postal_code is not None:
            params["billing_address"] = {"postal_code": billing_postal_code,
                                         "options": {"update_existing": True}}
        result = await self._call("update_payment_method", functools.partial(
            self._sdk.payment_method.update, token, params), mutating=True)
        if not result.is_success:
            raise_for_errors(result, "update_payment_method")
        return to_payment_method(result.payment_method)

    async def delete_payment_method(self, token: str) -> None:
        await self._call("delete_payment_method", functools.partial(
            self._sdk.payment_method.delete, token), mutating=True)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        strategy = self._config.http_strategy()
        if isinstance(strategy, AsyncioHttpStrategy):
            await strategy.aclose()
        if self._pool is not None:
            await asyncio.get_running_loop().run_in_executor(
                None, functools.partial(self._pool.shutdown, wait=True))

    @staticmethod
    def _log(result: TransactionResult, operation: str, order_id: str | None) -> TransactionResult:
        # Debug only: the executor logs every outcome once, with the transaction id; a
        # second info line per call cost ~6 % of the worker's CPU through stdlib logging.
        t = result.transaction
        log.debug("braintree %s order=%s txn=%s outcome=%s status=%s", operation, order_id,
                  t.id if t else None, result.outcome.value, t.status if t else None)
        return result


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)

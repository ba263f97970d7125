"""Faust web views over the order, wallet and analytics tables.

Served by every worker on faust's own web server. Reads are routed with
`app.table_route` to the worker that owns the key's partition (that worker answers
from its local RocksDB state). Wallet writes are commands to the wallet agent, which
Kafka delivers to the owner by the command's key; the accepting worker waits for the
reply (`agents.wallets.WalletClient`), so any worker can accept them. The orchestrator
depends on these paths and shapes; keep them stable.

    GET    /orders/{order_id}
        200 the order: {"order_id", "customer_id", "state", "currency",
            "expected_amount", "authorized_amount", "captured_amount", "refunded_amount"
            (each null or {"amount": "10.00", "currency": "USD"}),
            "authorization_transaction_id", "refund_transaction_ids", "payment_method_type",
            "last_sequence", "pending" (held sequence numbers), "history" [{"event_id",
            "event_type", "sequence", "from_state", "to_state", "at", "correlation_id",
            "reason"}], "anomalies" [{"event_id", "event_type", "from_state", "reason",
            "at", "correlation_id"}], "announced", "created_at", "updated_at"}
    GET    /wallets/{customer_id}
        200 {"customer_id", "methods": [method...], "created_at", "updated_at"}
    GET    /wallets/{customer_id}/methods/{token}
        200 method: {"token", "type" (credit_card|paypal|apple_pay|google_pay),
            "is_default", "card_brand", "last_4", "expiration_month", "expiration_year",
            "email", "created_at", "updated_at"}
    POST   /wallets/{customer_id}/methods      {"nonce": "...", "make_default": false}
        201 method (vaulted through the gateway)
    PATCH  /wallets/{customer_id}/methods/{token}
           {"make_default"?, "expiration_month"? "MM", "expiration_year"? "YYYY",
            "billing_postal_code"?}
        200 method
    DELETE /wallets/{customer_id}/methods/{token}
        204 (removed from the vault and the wallet)
    GET    /analytics/windows/{window}          window = "YYYY-MM-DDTHH:MMZ" (UTC minute)
        200 {"window", "window_start", "window_end", "groups": [{"event_type",
            "payment_method_type", "currency", "count", "amount"}],
            "authorizations": {"approved", "declined", "decline_rate"}}
    GET    /analytics/recent?minutes=N          (1..60, default 5)
        200 {"windows": [window...]} newest first, minutes without events left out

Writes accept an optional `Idempotency-Key` header (`schemas.types.IdempotencyKey`): a retried
command with the same key is answered with the first result, not executed twice.

Every view needs the orchestrator's service token (`streams.view_auth`): 401 without a
valid one, 403 without the view's scope (`orders:read` for orders and analytics,
`wallet:admin` for wallets). Forwarded requests keep the Authorization header.

Every error is JSON: {"error": {"status", "title", "detail"}}; 404 for unknown keys,
400 for malformed input, 422 when the vault refuses, 503 when the vault is unavailable_response
(retry), 504 when the wallet agent did not answer in time.

While this worker's tables are recovering (start, restart, rebalance), or the owner of
the key is unknown or unreachable, every view answers 503 with Retry-After as
problem+json {"type", "title", "status", "detail", "retry_after"}
(`streams.view_availability`): a 404 only ever comes from a fully recovered table.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import aiohttp
import faust
from faust.web import Request, Response, View
from faust.web.exceptions import ServiceUnavailable
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from agents.wallets import WalletClient, error_body
from api_edge.auth.scopes import ORDERS_READ, WALLET_ADMIN
from schemas.types import IdempotencyKey
from streams.logs import get_logger
from streams.view_auth import ViewGuard
from streams.view_availability import keep_retryable, recovery_refusal, unavailable_response
from tables.analytics import AnalyticsWindow, parse_window_key, window_key
from tables.model_table import ModelTable
from tables.order_lifecycle import order_view
from tables.order_record import Order
from tables.wallet_state import (
    AddMethod,
    DeleteMethod,
    ExpirationMonth,
    ExpirationYear,
    PostalCode,
    UpdateMethod,
    Wallet,
    WalletCommand,
)

log = get_logger("paystream.views")

ASK_TIMEOUT_S: Final = 30.0
_IDEMPOTENCY_KEY: TypeAdapter[str] = TypeAdapter(IdempotencyKey)

Handler = Callable[..., Awaitable[Response]]


def _error(view: View, status: int, title: str, detail: str, **extra: Any) -> Response:
    return view.json(error_body(status, title, detail, **extra), status=status)


def guarded(guard: ViewGuard, scope: str) -> Callable[[Handler], Handler]:
    """Refuse the request unless it carries a service token with `scope`."""

    def decorator(fun: Handler) -> Handler:
        async def handler(view: View, request: Request, **kwargs: Any) -> Response:
            refusal = await guard.refusal(view, request, scope)
            if refusal is not None:
                return refusal
            # A worker that is not recovered answers nothing, not even by forwarding: its
            # picture of who owns which partition is stale until the rebalance ends.
            recovering = recovery_refusal(view.app, view)
            if recovering is not None:
                return recovering
            return await fun(view, request, **kwargs)

        handler.__name__ = fun.__name__
        handler.__doc__ = fun.__doc__
        return handler

    return decorator


def _routed(app: faust.App, store: ModelTable[Any], match_info: str,
            guard: ViewGuard, scope: str) -> Callable[[Handler], Handler]:
    """The token check, then `app.table_route` (which forwards the request, headers
    included, to the key's owner) plus JSON errors while ownership is unknown or the owner
    is away (between a worker's death and the rebalance that moves its partitions)."""

    def decorator(fun: Handler) -> Handler:
        async def local(view: View, request: Request, **kwargs: Any) -> Response:
            # Checked again where the record is read: the routing decision and the read
            # are apart by an await, and a rebalance may start in between.
            recovering = recovery_refusal(app, view)
            if recovering is not None:
                return recovering
            return await fun(view, request, **kwargs)

        routed = app.table_route(table=store.table, match_info=match_info)(local)

        @guarded(guard, scope)
        async def handler(view: View, request: Request, **kwargs: Any) -> Response:
            try:
                return keep_retryable(await routed(view, request, **kwargs))
            except ServiceUnavailable:
                return unavailable_response(view, "Partition owner unknown",
                                   "the workers are rebalancing; retry shortly")
            except (TimeoutError, aiohttp.ClientError):
                return unavailable_response(view, "Partition owner unreachable",
                                   "the worker owning this key did not answer; retry shortly")
            except TypeError:
                # faust routes by the producer's partition count for the changelog topic;
                # until the producer has fetched that topic's metadata (a fresh worker
                # that has not written the table yet) its lookup fails with a TypeError.
                # Ask for the metadata and let the caller retry.
                _learn_topic(app, store.table.changelog_topic.get_topic_name())
                return unavailable_response(view, "Partition owner unknown",
                                   "the worker is still learning the table's partitions; "
                                   "retry shortly")

        handler.__name__ = fun.__name__
        handler.__doc__ = fun.__doc__
        return handler

    return decorator


def _learn_topic(app: faust.App, topic: str) -> None:
    client: Any = getattr(app.producer, "_ensure_producer", lambda: None)()
    if client is not None:
        client.client.add_topic(topic)
        client.client.force_metadata_update()


# ------------------------------------------------------------------------------ orders


def register_order_views(app: faust.App, orders: ModelTable[Order], guard: ViewGuard) -> None:
    @app.page("/orders/{order_id}")
    class OrderView(View):
        @_routed(app, orders, "order_id", guard, ORDERS_READ)
        async def get(self, request: Request, order_id: str) -> Response:
            order = orders.get(order_id)
            if order is None:
                return _error(self, 404, "Order not found", f"no order {order_id}")
            return self.json(order_view(order))


# ----------------------------------------------------------------------------- wallets


class _AddBody(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)
    nonce: str
    make_default: bool = False


class _PatchBody(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)
    make_default: bool | None = None
    expiration_month: ExpirationMonth | None = None
    expiration_year: ExpirationYear | None = None
    billing_postal_code: PostalCode | None = None


def _validation_detail(exc: ValidationError) -> list[dict[str, Any]]:
    # Input values are left out on purpose: the body may hold a nonce.
    return [{"loc": ".".join(str(p) for p in e["loc"]), "msg": e["msg"]}
            for e in exc.errors(include_input=False, include_url=False)]


async def _json_body(request: Request) -> dict[str, Any] | None:
    try:
        body = await request.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def register_wallet_views(app: faust.App, wallets: ModelTable[Wallet],
                          client: WalletClient, guard: ViewGuard) -> None:
    load = wallets.get

    def command_id(view: View, request: Request) -> str | Response:
        key = request.headers.get("Idempotency-Key")
        if key is None:
            return uuid.uuid4().hex
        try:
            _IDEMPOTENCY_KEY.validate_python(key)
        except ValidationError:
            return _error(view, 400, "Invalid Idempotency-Key",
                          "use 1 to 64 characters from A-Z a-z 0-9 _ -")
        return key

    async def command_input(view: View, request: Request) -> tuple[dict[str, Any], str] | Response:
        """A write's JSON body and command id, or the 400 that refuses it."""
        data = await _json_body(request)
        if data is None:
            return _error(view, 400, "Invalid body", "expected a JSON object")
        cid = command_id(view, request)
        return cid if not isinstance(cid, str) else (data, cid)

    async def ask(view: View, command: WalletCommand) -> Response:
        try:
            answer = await client.execute(command, ASK_TIMEOUT_S)
        except TimeoutError:
            return _error(view, 504, "Wallet command timed out",
                          "the wallet agent did not answer in time; retry with the same "
                          "Idempotency-Key to learn the outcome")
        status = int(answer["status"])
        if status == 204:
            return view.bytes(b"", status=204)
        return view.json(answer["body"], status=status)

    def wallet_answer(view: View, customer_id: str, part: str | None) -> Response:
        wallet = load(customer_id)
        if wallet is None:
            return _error(view, 404, "Wallet not found", f"customer {customer_id} has no wallet")
        body = wallet.view()
        return view.json(body if part is None else {part: body[part]})

    @app.page("/wallets/{customer_id}")
    class WalletView(View):
        @_routed(app, wallets, "customer_id", guard, WALLET_ADMIN)
        async def get(self, request: Request, customer_id: str) -> Response:
            return wallet_answer(self, customer_id, None)

    @app.page("/wallets/{customer_id}/methods")
    class MethodsView(View):
        @_routed(app, wallets, "customer_id", guard, WALLET_ADMIN)
        async def get(self, request: Request, customer_id: str) -> Response:
            return wallet_answer(self, customer_id, "methods")

        @guarded(guard, WALLET_ADMIN)
        async def post(self, request: Request, customer_id: str) -> Response:
            given = await command_input(self, request)
            if not isinstance(given, tuple):
                return given
            data, cid = given
            try:
                body = _AddBody.model_validate(data)
                command = AddMethod(command_id=cid, customer_id=customer_id,
                                    nonce=body.nonce, make_default=body.make_default)
            except ValidationError as exc:
                return _error(self, 400, "Invalid payment method", "the body is invalid",
                              errors=_validation_detail(exc))
            return await ask(self, command)

    @app.page("/wallets/{customer_id}/methods/{token}")
    class MethodView(View):
        @_routed(app, wallets, "customer_id", guard, WALLET_ADMIN)
        async def get(self, request: Request, customer_id: str, token: str) -> Response:
            wallet = load(customer_id)
            method = wallet.method(token) if wallet is not None else None
            if method is None:
                return _error(self, 404, "Payment method not found",
                              f"customer {customer_id} has no payment method with this token")
            return self.json(method.model_dump(mode="json"))

        @guarded(guard, WALLET_ADMIN)
        async def patch(self, request: Request, customer_id: str, token: str) -> Response:
            given = await command_input(self, request)
            if not isinstance(given, tuple):
                return given
            data, cid = given
            try:
                body = _PatchBody.model_validate(data)
                command = UpdateMethod(command_id=cid, customer_id=customer_id, token=token,
                                       **body.model_dump(exclude_none=True))
            except ValidationError as exc:
                return _error(self, 400, "Invalid update", "the body is invalid",
                              errors=_validation_detail(exc))
            if command.is_empty:
                return _error(self, 400, "Invalid update", "nothing to update")
            return await ask(self, command)

        @guarded(guard, WALLET_ADMIN)
        async def delete(self, request: Request, customer_id: str, token: str) -> Response:
            cid = command_id(self, request)
            if not isinstance(cid, str):
                return cid
            command = DeleteMethod(command_id=cid, customer_id=customer_id, token=token)
            return await ask(self, command)


# --------------------------------------------------------------------------- analytics

MAX_RECENT_MINUTES: Final = 60


def register_analytics_views(app: faust.App, store: ModelTable[AnalyticsWindow],
                             guard: ViewGuard) -> None:
    def local_window(key: str) -> dict[str, Any] | None:
        window = store.get(key)
        return None if window is None else window.view()

    @app.page("/analytics/windows/{window}")
    class WindowView(View):
        @_routed(app, store, "window", guard, ORDERS_READ)
        async def get(self, request: Request, window: str) -> Response:
            try:
                parse_window_key(window)
            except ValueError:
                return _error(self, 400, "Invalid window",
                              "expected a UTC minute like 2025-01-31T12:34Z")
            body = local_window(window)
            if body is None:
                return _error(self, 404, "Window not found", f"no events in {window}")
            return self.json(body)

    async def fetch(key: str, authorization: str | None) -> dict[str, Any] | None:
        # Each minute lives on the worker owning its key; ask that one.
        try:
            owner = app.router.key_store(store.name, key)
        except KeyError:
            raise ServiceUnavailable() from None
        if (owner.host, owner.port) == (app.conf.canonical_url.host,
                                        app.conf.canonical_url.port):
            return local_window(key)
        url = owner.with_path(f"/analytics/windows/{key}")
        # The caller's token goes along: the owner checks it like any request.
        headers = {"Authorization": authorization} if authorization else {}
        async with app.http_client.get(url, timeout=aiohttp.ClientTimeout(total=5),
                                       headers=headers) as resp:
            if resp.status == 404:
                return None
            if resp.status != 200:
                # A recovering owner: leaving its minute out would be a wrong answer.
                raise aiohttp.ClientResponseError(resp.request_info, resp.history,
                                                  status=resp.status)
            data: dict[str, Any] = await resp.json()
            return data

    @app.page("/analytics/recent")
    class RecentView(View):
        @guarded(guard, ORDERS_READ)
        async def get(self, request: Request) -> Response:
            try:
                minutes = int(request.query.get("minutes", "5"))
            except ValueError:
                minutes = 0
            if not 1 <= minutes <= MAX_RECENT_MINUTES:
                return _error(self, 400, "Invalid minutes",
                              f"minutes must be 1..{MAX_RECENT_MINUTES}")
            now = datetime.now(UTC)
            keys = [window_key(now - timedelta(minutes=i)) for i in range(minutes)]
            try:
                authorization = request.headers.get("Authorization")
                found = await asyncio.gather(*(fetch(k, authorization) for k in keys))
            except (TimeoutError, aiohttp.ClientError, ServiceUnavailable):
                return unavailable_response(self, "Analytics partially unavailable",
                                   "a worker owning a window did not answer; retry shortly")
            return self.json({"windows": [w for w in found if w is not None]})

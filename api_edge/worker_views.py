"""Client of the worker's Faust web views (order table and wallet snapshots).

The one place that knows the views' URLs and shapes:

    GET    {worker}/orders/{order_id}                       -> Order JSON | 404
    GET    {worker}/wallets/{customer_id}                   -> {"customer_id", "methods"} | 404
    GET    {worker}/wallets/{customer_id}/methods/{token}   -> method | 404
    POST   {worker}/wallets/{customer_id}/methods           {"nonce", "make_default"}
    PATCH  {worker}/wallets/{customer_id}/methods/{token}   {"make_default"?, ...}
    DELETE {worker}/wallets/{customer_id}/methods/{token}

Every path segment is percent-encoded: ids come from tokens and URLs, never trusted
to be path-safe. Every call carries the orchestrator's service token (the views verify it:
audience `paystream-worker`, scopes `orders:read` / `wallet:admin`), and wallet writes the
caller's (downstream) Idempotency-Key, so a retried "save card" vaults once.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from pydantic import ValidationError

from api_edge.api_models import OrderView, PaymentMethodView
from api_edge.known_methods import KnownMethods
from api_edge.service_token import ServiceTokenError, ServiceTokenSource
from api_edge.upstream import (
    KeepAliveUpstream,
    Upstream,
    UpstreamResponse,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
)
from tables.order_record import Order


class WorkerUnavailableError(Exception):
    """The views cannot be reached, time out, or answer 5xx or garbage."""


class WorkerRequestError(Exception):
    """The views refused the request (4xx other than a plain not-found)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail


def _seg(value: str) -> str:
    return quote(value, safe="")


class WorkerViews:
    """`base_url` is one worker's URL or several, comma-separated: every worker serves
    every key (it forwards to the key's owner), so when one is down or recovering the
    next one is asked, and the one that answered is asked first next time."""

    def __init__(self, base_url: str, *, timeout_seconds: float = 2.0,
                 upstream: Upstream | None = None,
                 tokens: ServiceTokenSource | None = None) -> None:
        self.base_urls = [u.strip().rstrip("/") for u in base_url.split(",") if u.strip()]
        self.base_url = self.base_urls[0]
        self.tokens = tokens
        self._upstreams: list[Upstream] = (
            [upstream] if upstream is not None else
            [KeepAliveUpstream(u, timeout_seconds=timeout_seconds) for u in self.base_urls])
        self._preferred = 0
        # Every method a wallet answer showed, for checkouts while the wallet is away.
        self.known = KnownMethods()

    @property
    def _upstream(self) -> Upstream:
        return self._upstreams[0]

    async def aclose(self) -> None:
        for upstream in self._upstreams:
            await upstream.aclose()

    # ------------------------------------------------------------------ orders

    async def get_order(self, order_id: str) -> OrderView | None:
        body = await self._json("GET", f"/orders/{_seg(order_id)}")
        if body is None:
            return None
        if isinstance(body, dict):
            body.setdefault("order_id", order_id)
        try:
            return OrderView.model_validate(body)
        except ValidationError:
            raise WorkerUnavailableError("order view has an unexpected shape") from None

    # ------------------------------------------------------------------ wallet

    async def list_methods(self, customer_id: str) -> list[PaymentMethodView]:
        body = await self._json("GET", f"/wallets/{_seg(customer_id)}")
        if body is None:
            return []  # No wallet yet is an empty wallet.
        methods = self._methods(body.get("methods", []) if isinstance(body, dict) else None)
        for method in methods:
            self.known.remember(customer_id, method.token, method.type)
        return methods

    async def get_method(self, customer_id: str, token: str) -> PaymentMethodView | None:
        body = await self._json("GET", f"/wallets/{_seg(customer_id)}/methods/{_seg(token)}")
        if body is None:
            self.known.forget(customer_id, token)
            return None
        return self._seen(customer_id, self._method(body))

    async def add_method(self, customer_id: str, nonce: str, make_default: bool, *,
                         key: str | None = None) -> PaymentMethodView:
        body = await self._json("POST", f"/wallets/{_seg(customer_id)}/methods",
                                {"nonce": nonce, "make_default": make_default},
                                not_found_is_none=False, key=key)
        return self._seen(customer_id, self._method(body))

    async def update_method(self, customer_id: str, token: str, changes: dict[str, Any], *,
                            key: str | None = None) -> PaymentMethodView | None:
        body = await self._json("PATCH", f"/wallets/{_seg(customer_id)}/methods/{_seg(token)}",
                                changes, key=key)
        return None if body is None else self._seen(customer_id, self._method(body))

    def _seen(self, customer_id: str, method: PaymentMethodView) -> PaymentMethodView:
        self.known.remember(customer_id, method.token, method.type)
        return method

    async def delete_method(self, customer_id: str, token: str, *,
                            key: str | None = None) -> bool:
        """True if deleted, False if there was no such method."""
        # Forgotten before the call: once it may have been deleted, it is not known to exist.
        self.known.forget(customer_id, token)
        response = await self._send("DELETE",
                                    f"/wallets/{_seg(customer_id)}/methods/{_seg(token)}",
                                    key=key)
        if response.status == 404:
            return False
        self._raise_for_status(response)
        return True

    # ---------------------------------------------------------------- plumbing

    async def ping(self) -> None:
        response = await self._send("GET", "/orders/readiness-probe")
        if response.status >= 500:
            raise WorkerUnavailableError(f"worker answered {response.status}")

    async def _send(self, method: str, path: str, body: dict[str, Any] | None = None, *,
                    key: str | None = None) -> UpstreamResponse:
        response = await self._send_once(method, path, body, key)
        if response.status == 401 and self.tokens is not None:
            # The views refused the token (keys rotated, token revoked): fetch a new one.
            self.tokens.invalidate()
            response = await self._send_once(method, path, body, key)
        return response

    async def _send_once(self, method: str, path: str, body: dict[str, Any] | None,
                         key: str | None) -> UpstreamResponse:
        headers: dict[str, str] = {}
        if key is not None:
            headers["Idempotency-Key"] = key
        try:
            if self.tokens is not None:
                headers["Authorization"] = f"Bearer {await self.tokens.get()}"
        except ServiceTokenError as exc:
            raise WorkerUnavailableError(f"no service token for the views ({exc})") from None
        count = len(self._upstreams)
        failure: WorkerUnavailableError | None = None
        refused: UpstreamResponse | None = None
        for step in range(count):
            index = (self._preferred + step) % count
            try:
                response = await self._upstreams[index].request(
                    method, path, json_body=body, headers=headers)
            except UpstreamTimeoutError as exc:
                if method != "GET":
                    # It may have been executed: not sent again to another worker.
                    raise WorkerUnavailableError(f"worker views timed out ({exc})") from None
                failure = WorkerUnavailableError(f"worker views timed out ({exc})")
                continue
            except UpstreamUnavailableError as exc:
                failure = WorkerUnavailableError(f"worker views unreachable ({exc})")
                continue
            if response.status == 503 and (method == "GET" or key is not None):
                # Recovering, or the key's owner is away: another worker may see the new
                # owner already. A write goes again only under its Idempotency-Key.
                refused = response
                continue
            self._preferred = index
            return response
        if refused is not None:
            return refused
        assert failure is not None
        raise failure

    async def _json(self, method: str, path: str, body: dict[str, Any] | None = None, *,
                    not_found_is_none: bool = True, key: str | None = None) -> Any:
        response = await self._send(method, path, body, key=key)
        if response.status == 404 and not_found_is_none:
            return None
        self._raise_for_status(response)
        try:
            return response.json()
        except ValueError:
            raise WorkerUnavailableError("worker views answered with invalid JSON") from None

    @staticmethod
    def _raise_for_status(response: UpstreamResponse) -> None:
        if response.status >= 500:
            # A 503 (tables recovering, owner unknown) is retryable and stays so: never
            # read as "not found".
            raise WorkerUnavailableError(f"worker views answered {response.status}")
        if response.status >= 400:
            raise WorkerRequestError(response.status, _error_detail(response))

    def _methods(self, items: Any) -> list[PaymentMethodView]:
        if not isinstance(items, list):
            raise WorkerUnavailableError("wallet view has an unexpected shape")
        return [self._method(item) for item in items]

    @staticmethod
    def _method(item: Any) -> PaymentMethodView:
        try:
            return PaymentMethodView.model_validate(item)
        except ValidationError:
            raise WorkerUnavailableError("wallet view has an unexpected shape") from None


def _error_detail(response: UpstreamResponse) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"status {response.status}"
    if isinstance(body, dict):
        for name in ("detail", "error", "message", "reason"):
            if isinstance(body.get(name), str):
                return str(body[name])[:300]
    return f"status {response.status}"


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_order(view: OrderView) -> Order:
    """The lifecycle core's Order from a view, for `check_request`.

    Only the fields the request checks read are carried over; history stays in the view.
    """
    return Order(
        order_id=view.order_id, customer_id=view.customer_id, state=view.state,
        currency=view.currency, expected_amount=view.expected_amount,
        authorized_amount=view.authorized_amount, captured_amount=view.captured_amount,
        refunded_amount=view.refunded_amount, merchant_id=view.merchant_id,
        merchant_reference=view.merchant_reference, created_at=_EPOCH, updated_at=_EPOCH,
    )

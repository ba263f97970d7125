"""Payments-A, the public facade: OAuth 2.0 bearer auth, limits, validation, then Payments-B.

A holds no payment logic. It refuses oversized bodies before anything reads them, then
authenticates the caller, counts it against the rate limits, validates the body, requires
an Idempotency-Key on every write, and calls B with its own service credential, naming the
caller: a shopper (the user token's subject) in `X-Shopper-Subject`, or a merchant back
office (the client-credentials token's client id, scope `merchant:payments`) in
`X-Merchant-Client`; never anything from the body. Shoppers check out, read and cancel
(before capture) their own orders; merchants register orders and capture, refund and
reverse them. How B's answers come back is `api_edge.orchestrator_client`'s concern.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Annotated, Any, Final

from fastapi import Body, Depends, FastAPI, Path, Request, Response
from fastapi.responses import JSONResponse

from api_edge.api_models import (
    AddPaymentMethodRequest,
    CheckoutRequest,
    DepositRequest,
    Health,
    MethodToken,
    OrderRegistered,
    OrderView,
    PaymentAccepted,
    PaymentCommand,
    PaymentMethodView,
    PublicReadiness,
    Readiness,
    RefundRequest,
    RegisterOrderRequest,
    ReverseRequest,
    UpdatePaymentMethodRequest,
    WalletView,
)
from api_edge.auth import (
    MERCHANT_PAYMENTS,
    PAYMENTS_READ,
    PAYMENTS_WRITE,
    WALLET_READ,
    WALLET_WRITE,
    AuthError,
    BearerAuth,
    Principal,
    TokenVerifier,
    install_auth,
    require_scopes,
)
from api_edge.disputes import BODY_ALLOWANCES, install_disputes
from api_edge.flow import Actor
from api_edge.http_common import (
    INTERNAL,
    CachedReadiness,
    IdempotencyKeyHeader,
    check,
    check_idempotency_key,
    idempotency_key,
    issuer_reachable,
)
from api_edge.observability import (
    FASTAPI_TELEMETRY,
    EdgeMetrics,
    install_metrics_route,
    install_observability,
    readiness_body,
)
from api_edge.orchestrator_client import OrchestratorClient
from api_edge.problems import install_problem_handlers, problem_responses
from api_edge.request_limits import BodyLimitMiddleware, RateLimits
from api_edge.service_token import ServiceTokenSource, service_token_source
from api_edge.settings import EdgeSettings
from api_edge.token_cache import CachingTokenVerifier
from api_edge.upstream import KeepAliveUpstream, Upstream
from api_edge.webhooks import install_webhooks
from gateway.disputes import DisputePort
from schemas.types import OrderId

log = logging.getLogger(__name__)


@dataclass
class FacadeDeps:
    verifier: TokenVerifier
    tokens: ServiceTokenSource
    orchestrator: Upstream
    limits: RateLimits = field(default_factory=RateLimits)
    # Braintree's dispute API; None: the one `GatewaySettings` configures.
    disputes: DisputePort | None = None

    @classmethod
    def from_settings(cls, settings: EdgeSettings) -> FacadeDeps:
        return cls(
            verifier=CachingTokenVerifier(settings.auth,
                                          cache_seconds=settings.token_cache_seconds),
            tokens=service_token_source(settings),
            orchestrator=KeepAliveUpstream(
                settings.resolved_orchestrator_url,
                timeout_seconds=settings.orchestrator_timeout_seconds),
            limits=RateLimits(settings.rate_limit_per_subject, settings.rate_limit_per_client),
        )


async def _deps(request: Request) -> FacadeDeps:
    deps: FacadeDeps = request.app.state.deps
    return deps


# One order the merchant registered at 25.00 (`POST /v1/orders` issues the id).
EXAMPLE_ORDER_ID: Final = "ord_Xb3kQ9vT2mLpR7wZ1cYhN5dF"
CHECKOUT_EXAMPLES: Final[dict[str, Any]] = {
    "saved_method": {
        "summary": "Pay with a method saved in your wallet",
        "value": {"order_id": EXAMPLE_ORDER_ID,
                  "amount": {"amount": "25.00", "currency": "USD"},
                  "payment_method_token": "pm_abc123"},
    },
    "nonce": {
        "summary": "Guest-style: pay with a one-time nonce",
        "value": {"order_id": EXAMPLE_ORDER_ID,
                  "amount": {"amount": "25.00", "currency": "USD"},
                  "payment_method_nonce": "fake-valid-nonce",
                  "payment_method_type": "credit_card"},
    },
}

OrderIdPath = Annotated[OrderId, Path(description="The order id paystream issued.")]


@dataclass(frozen=True)
class Caller:
    """Payments-B for this request; on writes, with the request's Idempotency-Key."""

    client: OrchestratorClient
    key: str | None = None

    async def call(self, method: str, path: str, body: Any = None) -> Response:
        return await self.client.call(method, path, key=self.key, body=body)

    async def pay(self, command: PaymentCommand) -> Response:
        return await self.call("POST", f"{INTERNAL}/payments",
                               body=command.model_dump(mode="json"))


def role_of(principal: Principal, shopper_scope: str | None, merchant: bool,
            realm: str) -> Actor:
    """The role this token may act in here: a shopper's user token carrying `shopper_scope`,
    or (when `merchant`) a client-credentials token carrying `merchant:payments`."""
    if merchant and principal.is_service and MERCHANT_PAYMENTS in principal.scopes \
            and principal.client_id:
        return Actor("merchant", principal.client_id)
    if shopper_scope is not None and not principal.is_service \
            and shopper_scope in principal.scopes:
        return Actor("customer", principal.subject)
    wanted = {shopper_scope} if shopper_scope is not None else {MERCHANT_PAYMENTS}
    raise AuthError.insufficient_scope(frozenset(wanted), realm=realm)


def admitted(request: Request, principal: Principal, deps: FacadeDeps,
             shopper_scope: str | None, merchant: bool) -> Caller:
    """The caller with a verified token, once its role is allowed here and its request
    counted against the rate limits."""
    actor = role_of(principal, shopper_scope, merchant, deps.verifier.realm)
    deps.limits.check(principal)
    return Caller(OrchestratorClient(request, deps.tokens, deps.orchestrator, actor))


def reader(shopper_scope: str | None, *,
           merchant: bool = False) -> Callable[..., Awaitable[Caller]]:
    """A dependency: the `admitted` caller."""
    async def dependency(request: Request,
                         principal: Principal = Depends(require_scopes()),
                         deps: FacadeDeps = Depends(_deps)) -> Caller:
        return admitted(request, principal, deps, shopper_scope, merchant)
    return dependency


def writer(shopper_scope: str | None, *,
           merchant: bool = False) -> Callable[..., Awaitable[Caller]]:
    """As `reader`, then the Idempotency-Key every write needs."""
    async def dependency(caller: Caller = Depends(reader(shopper_scope, merchant=merchant)),
                         key: str = Depends(idempotency_key)) -> Caller:
        return replace(caller, key=key)
    return dependency


class AdmittedWriter(BearerAuth):
    """`writer` as one dependency, for the hot routes: the token, role, rate limit and
    Idempotency-Key checks in the same order, with the same answers and the same OpenAPI
    (bearerAuth, the Idempotency-Key header), but one dependency for FastAPI to solve per
    request instead of a tree of eight, and no app-state lookups."""

    def __init__(self, deps: FacadeDeps, shopper_scope: str | None, *,
                 merchant: bool = False) -> None:
        super().__init__(deps.verifier)
        self.deps = deps
        self.shopper_scope = shopper_scope
        self.merchant = merchant

    async def __call__(self, request: Request, key: IdempotencyKeyHeader = None) -> Caller:
        caller = admitted(request, await self.authenticate(request), self.deps,
                          self.shopper_scope, self.merchant)
        return replace(caller, key=check_idempotency_key(key))


# ---------------------------------------------------------------------------- app


def create_ops_app(metrics: EdgeMetrics, readiness: CachedReadiness) -> FastAPI:
    """Payments-A's internal port: Prometheus metrics and readiness with each dependency's
    state (`PAYSTREAM_EDGE_OPS_HOST`/`_PORT`, loopback by default)."""
    ops = FastAPI(title="paystream Payments-A operations (internal)", docs_url=None,
                  redoc_url=None, openapi_url=None, telemetry=FASTAPI_TELEMETRY)
    install_metrics_route(ops, metrics)

    @ops.get("/readyz", response_model=Readiness)
    async def readyz() -> JSONResponse:
        status, body = readiness_body(await readiness.checks())
        return JSONResponse(body, status_code=status)

    return ops


def create_facade_app(settings: EdgeSettings | None = None, *,
                      deps: FacadeDeps | None = None) -> FastAPI:
    settings = settings or EdgeSettings()
    deps = deps or FacadeDeps.from_settings(settings)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await deps.orchestrator.aclose()

    app = FastAPI(
        title="paystream Payments API",
        version="1.0.0",
        description=(
            "Checkout, capture, reversal and refund of your orders, and your wallet of saved "
            "payment methods. Authenticate with an OAuth 2.0 bearer token from the paystream "
            "identity provider. Every write needs an `Idempotency-Key` header. Payment "
            "operations are asynchronous: they answer 202 with a `status_url` to poll. "
            "Errors are RFC 7807 `application/problem+json`."
        ),
        lifespan=lifespan,
        telemetry=FASTAPI_TELEMETRY,
    )
    app.state.deps = deps
    install_auth(app, deps.verifier)
    install_problem_handlers(app)
    # One limit for every route, but the dispute evidence route's (documents up to 4 MB).
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes,
                       allowances=BODY_ALLOWANCES)
    install_webhooks(app, settings)
    install_disputes(app, reader(None, merchant=True), writer(None, merchant=True),
                     deps.disputes)
    metrics = install_observability(app, "facade", metrics_route=False)

    async def readiness_probe() -> dict[str, str]:
        async def orchestrator_ready() -> None:
            response = await deps.orchestrator.request("GET", "/readyz", timeout=2.0)
            if response.status != 200:
                checks = response.json().get("checks", {})
                failing = ", ".join(f"{k}: {v}" for k, v in checks.items() if v != "ok")
                raise RuntimeError(failing or f"status {response.status}")

        results = await asyncio.gather(
            check("identity_provider", issuer_reachable(settings.auth.issuer)),
            check("orchestrator", orchestrator_ready(), timeout=3.0),
        )
        return dict(results)

    readiness = CachedReadiness(readiness_probe)
    write = problem_responses(400, 401, 403, 404, 409, 413, 422, 429, 503, 504)
    read = problem_responses(401, 403, 404, 422, 429, 503, 504)

    @app.get("/healthz", response_model=Health, tags=["ops"], summary="Liveness")
    async def healthz() -> Health:
        return Health()

    @app.get("/readyz", response_model=PublicReadiness, tags=["ops"], summary="Readiness",
             responses={503: {"model": PublicReadiness, "description": "Not ready"}})
    async def readyz() -> JSONResponse:
        # Up or down only: which dependency fails, and why, is for operators (ops port).
        status, body = readiness_body(await readiness.checks())
        return JSONResponse({"status": body["status"]}, status_code=status)

    app.state.ops = create_ops_app(metrics, readiness)

    # ------------------------------------------------------------- payments

    @app.post("/v1/orders", status_code=201, response_model=OrderRegistered,
              responses=write, tags=["merchant"],
              summary="Register an order and its price (merchant back office)")
    async def register_order(body: RegisterOrderRequest = Body(...),
                             b: Caller = Depends(writer(None, merchant=True))) -> Response:
        return await b.call("POST", f"{INTERNAL}/orders", body=body.model_dump(mode="json"))

    @app.post("/v1/checkouts", status_code=202, response_model=PaymentAccepted,
              responses=write, tags=["payments"],
              summary="Check out (authorize) a registered order at its price")
    async def checkout(
        body: CheckoutRequest = Body(openapi_examples=CHECKOUT_EXAMPLES),
        b: Caller = Depends(AdmittedWriter(deps, PAYMENTS_WRITE)),
    ) -> Response:
        return await b.pay(PaymentCommand(
            kind="approve", order_id=body.order_id, amount=body.amount,
            payment_method_token=body.payment_method_token,
            payment_method_nonce=body.payment_method_nonce,
            payment_method_type=body.payment_method_type))

    @app.post("/v1/orders/{order_id}/deposits", status_code=202, response_model=PaymentAccepted,
              responses=write, tags=["merchant"],
              summary="Capture (deposit) an authorized order (merchant back office)")
    async def deposit(order_id: OrderIdPath, body: DepositRequest | None = Body(None),
                      b: Caller = Depends(writer(None, merchant=True))) -> Response:
        return await b.pay(PaymentCommand(kind="deposit", order_id=order_id,
                                          amount=body.amount if body else None,
                                          final_capture=body.final_capture if body else None))

    @app.post("/v1/orders/{order_id}/reversals", status_code=202,
              response_model=PaymentAccepted, responses=write, tags=["payments"],
              summary="Reverse (void): the shopper before capture, the merchant any time")
    async def reverse(order_id: OrderIdPath, body: ReverseRequest | None = Body(None),
                      b: Caller = Depends(writer(PAYMENTS_WRITE, merchant=True))) -> Response:
        return await b.pay(PaymentCommand(kind="reverse", order_id=order_id))

    @app.post("/v1/orders/{order_id}/refunds", status_code=202, response_model=PaymentAccepted,
              responses=write, tags=["merchant"],
              summary="Refund a paid order (merchant back office)")
    async def refund(order_id: OrderIdPath, body: RefundRequest | None = Body(None),
                     b: Caller = Depends(writer(None, merchant=True))) -> Response:
        return await b.pay(PaymentCommand(kind="refund", order_id=order_id,
                                          amount=body.amount if body else None))

    @app.get("/v1/orders/{order_id}", response_model=OrderView, responses=read,
             tags=["orders"], summary="Order status and history (its shopper or merchant)")
    async def order_status(order_id: OrderIdPath,
                           b: Caller = Depends(reader(PAYMENTS_READ, merchant=True))) -> Response:
        return await b.call("GET", f"{INTERNAL}/orders/{order_id}")

    # --------------------------------------------------------------- wallet

    @app.get("/v1/wallet/methods", response_model=WalletView, responses=read,
             tags=["wallet"], summary="Your saved payment methods")
    async def list_methods(b: Caller = Depends(reader(WALLET_READ))) -> Response:
        return await b.call("GET", f"{INTERNAL}/wallet/methods")

    @app.post("/v1/wallet/methods", status_code=201, response_model=PaymentMethodView,
              responses=write, tags=["wallet"], summary="Save a payment method from a nonce")
    async def add_method(
        body: AddPaymentMethodRequest = Body(openapi_examples={
            "card": {"summary": "Save a card from a client-SDK nonce",
                     "value": {"nonce": "fake-valid-visa-nonce", "make_default": True}}}),
        b: Caller = Depends(writer(WALLET_WRITE)),
    ) -> Response:
        return await b.call("POST", f"{INTERNAL}/wallet/methods",
                            body={"nonce": body.nonce, "make_default": body.make_default})

    @app.get("/v1/wallet/methods/{token}", response_model=PaymentMethodView,
             responses=read, tags=["wallet"], summary="One saved payment method")
    async def get_method(token: MethodToken,
                         b: Caller = Depends(reader(WALLET_READ))) -> Response:
        return await b.call("GET", f"{INTERNAL}/wallet/methods/{token}")

    @app.patch("/v1/wallet/methods/{token}", response_model=PaymentMethodView,
               responses={**write, **problem_responses(404)}, tags=["wallet"],
               summary="Update a saved payment method")
    async def update_method(token: MethodToken, body: UpdatePaymentMethodRequest = Body(...),
                            b: Caller = Depends(writer(WALLET_WRITE))) -> Response:
        return await b.call("PATCH", f"{INTERNAL}/wallet/methods/{token}",
                            body=body.model_dump(mode="json", exclude_none=True))

    @app.delete("/v1/wallet/methods/{token}", status_code=204,
                responses={**write, **problem_responses(404)}, tags=["wallet"],
                summary="Delete a saved payment method")
    async def delete_method(token: MethodToken,
                            b: Caller = Depends(writer(WALLET_WRITE))) -> Response:
        return await b.call("DELETE", f"{INTERNAL}/wallet/methods/{token}")

    return app

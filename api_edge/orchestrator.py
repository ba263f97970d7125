"""Payments-B, the orchestrator's routes: payments, order status and the wallet.

Only Payments-A calls it, with a client-credentials token (`require_service`); who A acts
for arrives in `X-Shopper-Subject` (a shopper) or `X-Merchant-Client` (a merchant back
office), trusted only because the caller is authenticated as the service. The use cases
live in `api_edge.checkout`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Body, Depends, FastAPI, Path, Request, Response
from fastapi.responses import JSONResponse

from api_edge.api_models import (
    AddPaymentMethodRequest,
    Health,
    MethodToken,
    OrderRegistered,
    OrderView,
    PaymentAccepted,
    PaymentCommand,
    PaymentMethodView,
    Readiness,
    RegisterOrderRequest,
    UpdatePaymentMethodRequest,
    WalletView,
)
from api_edge.auth import BearerAuth, TokenVerifier, authenticate_service, install_auth
from api_edge.checkout import (
    CheckoutDeps,
    accept_payment,
    actor_scope,
    order_for,
    register_order,
    unavailable,
)
from api_edge.enqueue import PaymentQueue
from api_edge.errors import (
    EdgeError,
    NothingToUpdateError,
    OperationForbiddenError,
    PaymentMethodNotFoundError,
    WalletRefusedError,
)
from api_edge.flow import Actor
from api_edge.http_common import (
    INTERNAL,
    CachedReadiness,
    IdempotencyKeyHeader,
    MerchantHeader,
    ShopperHeader,
    actor_named,
    caller_actor,
    check,
    check_idempotency_key,
    idempotency_key,
    issuer_reachable,
    json_response,
)
from api_edge.idempotency import (
    IdempotencyStore,
    downstream_key,
    request_fingerprint,
    run_idempotent,
)
from api_edge.observability import FASTAPI_TELEMETRY, install_observability, readiness_body
from api_edge.problems import (
    correlation_id,
    install_problem_handlers,
    problem_for,
    problem_responses,
)
from api_edge.service_token import service_token_source
from api_edge.settings import EdgeSettings
from api_edge.token_cache import CachingTokenVerifier
from api_edge.worker_views import WorkerRequestError, WorkerUnavailableError, WorkerViews
from schemas.types import OrderId


@dataclass(kw_only=True)
class OrchestratorDeps(CheckoutDeps):
    verifier: TokenVerifier
    idempotency: IdempotencyStore

    @classmethod
    def from_settings(cls, settings: EdgeSettings) -> OrchestratorDeps:
        return cls(
            views=WorkerViews(settings.worker_url, timeout_seconds=settings.worker_timeout_seconds,
                              tokens=service_token_source(settings)),
            queue=PaymentQueue(settings.sqs_endpoint_url, settings.sqs_queue_name,
                               region=settings.aws_region,
                               timeout_seconds=settings.sqs_timeout_seconds,
                               senders=settings.sqs_senders,
                               linger_seconds=settings.sqs_batch_linger_ms / 1000),
            verifier=CachingTokenVerifier(settings.auth,
                                          cache_seconds=settings.token_cache_seconds),
            idempotency=IdempotencyStore(ttl_seconds=settings.idempotency_ttl_seconds,
                                         max_entries=settings.idempotency_max_entries),
        )


async def _deps(request: Request) -> OrchestratorDeps:
    deps: OrchestratorDeps = request.app.state.deps
    return deps


@dataclass(frozen=True)
class Write:
    """A write B runs for a shopper or a merchant, at most once per Idempotency-Key."""

    request: Request
    deps: OrchestratorDeps
    actor: Actor
    key: str

    @property
    def customer_id(self) -> str:
        return self.actor.id

    @property
    def wallet_key(self) -> str:
        """The key the wallet agent de-duplicates this write by (unique per shopper)."""
        return downstream_key(actor_scope(self.actor), self.key)

    async def once(self, body: Any, handler: Callable[[], Awaitable[Response]], *,
                   fp: str | None = None) -> Response:
        return await run_idempotent(self.request, self.deps.idempotency,
                                    actor_scope(self.actor), self.key, body, handler, fp=fp)


async def any_write(
    request: Request,
    actor: Actor = Depends(caller_actor),
    key: str = Depends(idempotency_key),
    deps: OrchestratorDeps = Depends(_deps),
) -> Write:
    return Write(request, deps, actor, key)


class AnyWrite(BearerAuth):
    """`any_write` as one dependency, for the payment route: the service token, the caller
    headers and the Idempotency-Key checked in the same order, with the same answers and
    the same OpenAPI, but one dependency for FastAPI to solve per request instead of a tree
    of seven, and no app-state lookups."""

    def __init__(self, deps: OrchestratorDeps) -> None:
        super().__init__(deps.verifier)
        self.deps = deps

    async def __call__(self, request: Request, subject: ShopperHeader = None,
                       merchant: MerchantHeader = None,
                       key: IdempotencyKeyHeader = None) -> Write:
        await authenticate_service(await self.credentials(request), self.verifier)
        actor = actor_named(subject, merchant)
        return Write(request, self.deps, actor, check_idempotency_key(key))


async def shopper_write(w: Write = Depends(any_write)) -> Write:
    if w.actor.is_merchant:
        raise OperationForbiddenError("the wallet belongs to the shopper")
    return w


async def merchant_write(w: Write = Depends(any_write)) -> Write:
    if not w.actor.is_merchant:
        raise OperationForbiddenError("registering orders is a merchant operation")
    return w


async def acting_shopper(actor: Actor = Depends(caller_actor)) -> str:
    if actor.is_merchant:
        raise OperationForbiddenError("the wallet belongs to the shopper")
    return actor.id


@contextlib.contextmanager
def wallet_errors() -> Iterator[None]:
    """The wallet's failures as refusals: unreachable, or refused with the views' reason."""
    try:
        yield
    except WorkerUnavailableError as exc:
        raise unavailable("wallet", exc) from None
    except WorkerRequestError as exc:
        raise WalletRefusedError(exc.detail, conflict=exc.status == 409,
                                 not_found=exc.status == 404) from None


# ---------------------------------------------------------------------------- app


def create_orchestrator_app(settings: EdgeSettings | None = None, *,
                            deps: OrchestratorDeps | None = None) -> FastAPI:
    settings = settings or EdgeSettings()
    deps = deps or OrchestratorDeps.from_settings(settings)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await deps.queue.start()
        try:
            yield
        finally:
            await deps.queue.stop()
            await deps.views.aclose()

    app = FastAPI(
        title="paystream Payments-B (orchestrator, internal)",
        version="1.0.0",
        description="Internal API; callable only with the orchestrator service credential.",
        lifespan=lifespan,
        telemetry=FASTAPI_TELEMETRY,
    )
    app.state.deps = deps
    install_auth(app, deps.verifier)
    install_problem_handlers(app)
    metrics = install_observability(app, "orchestrator")
    readiness = CachedReadiness(lambda: _probe(settings, deps))

    errors = problem_responses(400, 401, 403, 404, 409, 422, 503)

    @app.get("/healthz", response_model=Health, tags=["ops"])
    async def healthz() -> Health:
        return Health()

    @app.get("/readyz", response_model=Readiness, tags=["ops"],
             responses={503: {"model": Readiness}})
    async def readyz() -> JSONResponse:
        status, body = readiness_body(await readiness.checks())
        return JSONResponse(body, status_code=status)

    @app.post(f"{INTERNAL}/orders", status_code=201, response_model=OrderRegistered,
              responses=errors, tags=["orders"])
    async def register(body: RegisterOrderRequest = Body(...),
                       w: Write = Depends(merchant_write)) -> Response:
        cid = correlation_id(w.request)

        async def handle() -> Response:
            registered = await register_order(w.deps, w.actor, w.key, body, cid)
            return json_response(registered, status=201,
                                 headers={"Location": registered.status_url})

        return await w.once(body.model_dump(mode="json"), handle)

    @app.post(f"{INTERNAL}/payments", status_code=202, response_model=PaymentAccepted,
              responses=errors, tags=["payments"])
    async def payment(command: PaymentCommand = Body(...),
                      w: Write = Depends(AnyWrite(deps))) -> Response:
        cid = correlation_id(w.request)
        body = command.model_dump(mode="json")
        fp = request_fingerprint(w.request, body)

        async def handle() -> Response:
            try:
                accepted = await accept_payment(w.deps, w.actor, w.key, fp, command, cid)
            except EdgeError as exc:
                metrics.payment(command.kind, f"refused-{problem_for(exc).status}")
                raise
            metrics.payment(command.kind, "accepted")
            return json_response(accepted, status=202, headers={"Location": accepted.status_url})

        return await w.once(body, handle, fp=fp)

    @app.get(f"{INTERNAL}/orders/{{order_id}}", response_model=OrderView, responses=errors,
             tags=["orders"])
    async def order_status(
        order_id: Annotated[OrderId, Path()],
        actor: Actor = Depends(caller_actor),
        deps: OrchestratorDeps = Depends(_deps),
    ) -> JSONResponse:
        return json_response(await order_for(deps, actor, order_id))

    @app.get(f"{INTERNAL}/wallet/methods", response_model=WalletView, responses=errors,
             tags=["wallet"])
    async def list_methods(customer_id: str = Depends(acting_shopper),
                           deps: OrchestratorDeps = Depends(_deps)) -> JSONResponse:
        with wallet_errors():
            methods = await deps.views.list_methods(customer_id)
        return json_response(WalletView(methods=methods))

    @app.post(f"{INTERNAL}/wallet/methods", status_code=201, response_model=PaymentMethodView,
              responses=errors, tags=["wallet"])
    async def add_method(body: AddPaymentMethodRequest = Body(...),
                         w: Write = Depends(shopper_write)) -> Response:
        async def handle() -> Response:
            with wallet_errors():
                method = await w.deps.views.add_method(w.customer_id, body.nonce,
                                                       body.make_default, key=w.wallet_key)
            return json_response(method, status=201)

        return await w.once(body.model_dump(mode="json"), handle)

    @app.get(f"{INTERNAL}/wallet/methods/{{token}}", response_model=PaymentMethodView,
             responses=errors, tags=["wallet"])
    async def get_method(token: MethodToken, customer_id: str = Depends(acting_shopper),
                         deps: OrchestratorDeps = Depends(_deps)) -> JSONResponse:
        with wallet_errors():
            method = await deps.views.get_method(customer_id, token)
        if method is None:
            raise PaymentMethodNotFoundError(token)
        return json_response(method)

    @app.patch(f"{INTERNAL}/wallet/methods/{{token}}", response_model=PaymentMethodView,
               responses=errors, tags=["wallet"])
    async def update_method(token: MethodToken, body: UpdatePaymentMethodRequest = Body(...),
                            w: Write = Depends(shopper_write)) -> Response:
        changes = body.changes()
        if not changes:
            raise NothingToUpdateError(token)

        async def handle() -> Response:
            with wallet_errors():
                method = await w.deps.views.update_method(w.customer_id, token, changes,
                                                          key=w.wallet_key)
            if method is None:
                raise PaymentMethodNotFoundError(token)
            return json_response(method)

        return await w.once(changes, handle)

    @app.delete(f"{INTERNAL}/wallet/methods/{{token}}", status_code=204, responses=errors,
                tags=["wallet"])
    async def delete_method(token: MethodToken,
                            w: Write = Depends(shopper_write)) -> Response:
        async def handle() -> Response:
            with wallet_errors():
                deleted = await w.deps.views.delete_method(w.customer_id, token,
                                                           key=w.wallet_key)
            if not deleted:
                raise PaymentMethodNotFoundError(token)
            return Response(status_code=204)

        return await w.once({}, handle)

    return app


async def _probe(settings: EdgeSettings, deps: OrchestratorDeps) -> dict[str, str]:
    results = await asyncio.gather(
        check("sqs", deps.queue.check()),
        check("identity_provider", issuer_reachable(settings.auth.issuer)),
        check("worker_views", deps.views.ping()),
    )
    return dict(results)


__all__ = ["OrchestratorDeps", "create_orchestrator_app"]

"""Payments-B, the orchestrator: wallet lookup, flow decision, order-created, SQS enqueue.

Only Payments-A calls it, with a client-credentials token (`require_service`); the
shopper's identity arrives in `X-Shopper-Subject`, trusted only because the caller is
authenticated as the service.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import httpx
from fastapi import Body, Depends, FastAPI, Header, Path, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api_edge.api_models import (
    AddPaymentMethodRequest,
    Health,
    MethodToken,
    OrderView,
    PaymentAccepted,
    PaymentCommand,
    PaymentMethodView,
    Readiness,
    UpdatePaymentMethodRequest,
    WalletView,
)
from api_edge.auth import AuthError, Principal, TokenVerifier, install_auth, require_service
from api_edge.enqueue import EnqueueError, PaymentQueue
from api_edge.flow import Verdict, can_view, decide
from api_edge.idempotency import (
    IDEMPOTENCY_KEY_PATTERN,
    IdempotencyInProgressError,
    IdempotencyMismatchError,
    IdempotencyStore,
    StoredResponse,
    downstream_key,
    fingerprint,
)
from api_edge.observability import FASTAPI_TELEMETRY, install_observability, readiness_body
from api_edge.order_events import OrderEventPublisher, PublishError
from api_edge.problems import (
    CORRELATION_HEADER,
    FieldError,
    ProblemException,
    correlation_id,
    install_problem_handlers,
    problem_responses,
    problem_type,
)
from api_edge.settings import EdgeSettings
from api_edge.token_cache import CachingTokenVerifier
from api_edge.worker_views import WorkerRequestError, WorkerUnavailableError, WorkerViews, to_order
from schemas.orders import OrderCreated
from schemas.payment_request import PaymentRequest
from schemas.types import derived_event_id
from streams.logs import get_logger

log = get_logger(__name__)

SHOPPER_HEADER: Final = "X-Shopper-Subject"
IDEMPOTENCY_HEADER: Final = "Idempotency-Key"
REPLAYED_HEADER: Final = "Idempotent-Replayed"
INTERNAL: Final = "/internal/v1"
_SAFE_SUBJECT = re.compile(r"^[\x21-\x7e]{1,256}$")
_IDEMPOTENCY_KEY = re.compile(IDEMPOTENCY_KEY_PATTERN)

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class RecentCheckouts:
    """Orders this orchestrator accepted a checkout for, until the order table shows them.

    Lets the owner's status poll right after a checkout say "not recorded yet" (404)
    instead of the 403 that a probe of someone else's order id gets.
    """

    def __init__(self, max_entries: int = 50_000, ttl_seconds: float = 3600.0) -> None:
        self.max_entries = max_entries
        self.ttl_seconds = ttl_seconds
        self._orders: OrderedDict[str, tuple[str, float]] = OrderedDict()

    def add(self, order_id: str, customer_id: str) -> None:
        self._orders[order_id] = (customer_id, time.monotonic())
        self._orders.move_to_end(order_id)
        while len(self._orders) > self.max_entries:
            self._orders.popitem(last=False)

    def accepted_for(self, order_id: str, customer_id: str) -> bool:
        entry = self._orders.get(order_id)
        return (entry is not None and entry[0] == customer_id
                and time.monotonic() - entry[1] < self.ttl_seconds)


@dataclass
class OrchestratorDeps:
    views: WorkerViews
    queue: PaymentQueue
    events: OrderEventPublisher
    verifier: TokenVerifier
    idempotency: IdempotencyStore
    recent: RecentCheckouts = field(default_factory=RecentCheckouts)
    clock: Clock = utc_now

    @classmethod
    def from_settings(cls, settings: EdgeSettings) -> OrchestratorDeps:
        return cls(
            views=WorkerViews(settings.worker_url, timeout_seconds=settings.worker_timeout_seconds),
            queue=PaymentQueue(settings.sqs_endpoint_url, settings.sqs_queue_name,
                               region=settings.aws_region,
                               timeout_seconds=settings.sqs_timeout_seconds,
                               senders=settings.sqs_senders,
                               linger_seconds=settings.sqs_batch_linger_ms / 1000),
            events=OrderEventPublisher(settings.kafka_bootstrap_servers,
                                       timeout_seconds=settings.kafka_timeout_seconds),
            verifier=CachingTokenVerifier(settings.auth,
                                          cache_seconds=settings.token_cache_seconds),
            idempotency=IdempotencyStore(ttl_seconds=settings.idempotency_ttl_seconds,
                                         max_entries=settings.idempotency_max_entries),
        )


# --------------------------------------------------------------------- dependencies


async def shopper_subject(
    _service: Principal = Depends(require_service()),
    subject: str | None = Header(None, alias=SHOPPER_HEADER,
                                 description="The shopper (token subject) A acts for."),
) -> str:
    if subject is None or not _SAFE_SUBJECT.match(subject):
        raise ProblemException(400, "Missing shopper identity",
                               f"The {SHOPPER_HEADER} header must name the shopper.",
                               type=problem_type("missing-shopper"))
    return subject


async def idempotency_key(
    key: str | None = Header(None, alias=IDEMPOTENCY_HEADER,
                             description="Required on every write; replays return the "
                                         "original response."),
) -> str:
    return check_idempotency_key(key)


def check_idempotency_key(key: str | None) -> str:
    if key is None or not key.strip():
        raise ProblemException(
            400, "Idempotency-Key required",
            "Every write needs an Idempotency-Key header (e.g. a UUID you generate per "
            "operation and reuse when retrying it).",
            type=problem_type("idempotency-key-missing"),
            errors=[FieldError(field="header.Idempotency-Key", message="Field required")])
    if not _IDEMPOTENCY_KEY.match(key):
        raise ProblemException(
            400, "Invalid Idempotency-Key",
            "The Idempotency-Key header must be 1-128 characters of letters, digits and "
            "'_', '-', '.', ':'.",
            type=problem_type("idempotency-key-invalid"),
            errors=[FieldError(field="header.Idempotency-Key",
                               message="must match " + IDEMPOTENCY_KEY_PATTERN)])
    return key


async def _deps(request: Request) -> OrchestratorDeps:
    deps: OrchestratorDeps = request.app.state.deps
    return deps


# ------------------------------------------------------------------------- helpers


def _json(model: BaseModel, status: int = 200, headers: dict[str, str] | None = None
          ) -> JSONResponse:
    return JSONResponse(model.model_dump(mode="json"), status_code=status, headers=headers)


async def run_idempotent(
    request: Request, deps: OrchestratorDeps, customer_id: str, key: str, body: Any,
    handler: Callable[[], Awaitable[Response]],
) -> Response:
    route = getattr(request.scope.get("route"), "path", request.url.path)
    # The path's ids are part of the request: the same key on another order is another
    # request, even with an identical body.
    fp = fingerprint(request.method, f"{route}|{request.url.path}", body)
    try:
        claim = await deps.idempotency.reserve(customer_id, key, fp)
    except IdempotencyMismatchError:
        raise ProblemException(
            422, "Idempotency-Key reused",
            "This Idempotency-Key was already used for a different request; use a new key "
            "for a new operation.", type=problem_type("idempotency-key-reused")) from None
    except IdempotencyInProgressError:
        raise ProblemException(
            409, "Request in progress",
            "A request with this Idempotency-Key is still being processed; retry shortly.",
            type=problem_type("idempotency-in-progress"), headers={"Retry-After": "1"}
        ) from None
    if isinstance(claim, StoredResponse):
        return Response(claim.body, status_code=claim.status, media_type=claim.media_type,
                        headers={REPLAYED_HEADER: "true"})
    try:
        response = await handler()
    except BaseException:
        deps.idempotency.release(claim)
        raise
    deps.idempotency.complete(claim, StoredResponse(
        response.status_code, bytes(response.body),
        response.media_type))
    return response


def _unavailable(what: str, exc: Exception) -> ProblemException:
    log.warning("dependency unavailable", dependency=what, error=str(exc))
    return ProblemException(
        503, "Service temporarily unavailable",
        f"The {what} cannot be reached right now; retry with the same Idempotency-Key.",
        type=problem_type("dependency-unavailable"), headers={"Retry-After": "1"})


def _forbidden() -> AuthError:
    return AuthError.forbidden("You are not allowed to access this order.")


async def _order_or_503(deps: OrchestratorDeps, order_id: str) -> OrderView | None:
    try:
        return await deps.views.get_order(order_id)
    except WorkerUnavailableError as exc:
        raise _unavailable("order table", exc) from None


def _wallet_error(exc: WorkerRequestError) -> ProblemException:
    status = exc.status if exc.status in (400, 404, 409, 422) else 422
    if status == 400:
        status = 422
    return ProblemException(status, "Wallet request refused",
                            f"The wallet refused the request: {exc.detail}",
                            type=problem_type("wallet-refused"))


# ------------------------------------------------------------------------ payments


async def process_payment(
    deps: OrchestratorDeps, customer_id: str, key: str, command: PaymentCommand, cid: str,
) -> JSONResponse:
    method_lookup = None
    if command.kind == "approve" and command.payment_method_token is not None:
        # Looked up while the order is: both are needed before deciding, neither depends
        # on the other.
        method_lookup = asyncio.ensure_future(_wallet_method_type(deps, customer_id, command))
    try:
        view = await _order_or_503(deps, command.order_id)
    except BaseException:
        if method_lookup is not None:
            method_lookup.cancel()
        raise
    order = to_order(view) if view is not None else None
    decision = decide(customer_id, command.kind, order, command.amount,
                      accepted_here=deps.recent.accepted_for(command.order_id, customer_id))
    if not decision.proceeds and method_lookup is not None:
        method_lookup.cancel()
        with contextlib.suppress(BaseException):
            await method_lookup
    if decision.verdict is Verdict.FORBIDDEN:
        raise _forbidden()
    if decision.verdict is Verdict.CONFLICT:
        raise ProblemException(409, "Order state conflict", f"{decision.reason}.",
                               type=problem_type("order-state-conflict"))

    method_type = command.payment_method_type
    if method_lookup is not None:
        method_type = await method_lookup

    downstream = downstream_key(customer_id, key)
    payment_id = f"pay_{downstream[:26]}"
    now = deps.clock()
    payment = PaymentRequest(
        payment_id=payment_id, idempotency_key=downstream, order_id=command.order_id,
        customer_id=customer_id, kind=command.kind, amount=command.amount,
        payment_method_token=command.payment_method_token,
        payment_method_nonce=command.payment_method_nonce,
        payment_method_type=method_type, correlation_id=cid, requested_at=now,
    )
    # order-created and the payment request travel to different topics (the request via
    # SQS and the bridge), so the order agent must cope with either arriving first anyway;
    # sending both at once saves a round trip. If either fails, the client retries with
    # the same key: SQS drops the duplicate request and the order table the duplicate event.
    sends: list[Awaitable[Any]] = [deps.queue.send(payment, dedup_id=downstream)]
    if decision.creates_order:
        assert command.amount is not None
        sends.append(deps.events.publish_created(OrderCreated(
            event_id=derived_event_id("order-created", downstream),
            order_id=command.order_id, customer_id=customer_id, amount=command.amount,
            correlation_id=cid, occurred_at=now,
        )))
    results = await asyncio.gather(*sends, return_exceptions=True)
    for result in results:
        if isinstance(result, EnqueueError):
            raise _unavailable("payment queue", result)
        if isinstance(result, PublishError):
            raise _unavailable("order event stream", result)
        if isinstance(result, BaseException):
            raise result
    if command.kind == "approve":
        deps.recent.add(command.order_id, customer_id)
    log.info("payment request accepted", payment_id=payment_id, order_id=command.order_id,
             kind=command.kind, correlation_id=cid)
    status_url = f"/v1/orders/{command.order_id}"
    return _json(PaymentAccepted(payment_id=payment_id, order_id=command.order_id,
                                 kind=command.kind, status_url=status_url),
                 status=202, headers={"Location": status_url})


async def _wallet_method_type(deps: OrchestratorDeps, customer_id: str,
                              command: PaymentCommand) -> Any:
    assert command.payment_method_token is not None
    try:
        method = await deps.views.get_method(customer_id, command.payment_method_token)
    except WorkerUnavailableError as exc:
        raise _unavailable("wallet", exc) from None
    except WorkerRequestError:
        method = None
    if method is None:
        # Unknown and foreign tokens look the same: the lookup is scoped to this wallet.
        raise ProblemException(
            422, "Unknown payment method",
            "payment_method_token is not a payment method in your wallet; list yours at "
            "GET /v1/wallet/methods or pay with a one-time nonce.",
            type=problem_type("unknown-payment-method"),
            errors=[FieldError(field="payment_method_token",
                               message="not a payment method in your wallet")])
    if command.payment_method_type is not None and command.payment_method_type != method.type:
        raise ProblemException(
            422, "Payment method type mismatch",
            f"The saved method is a {method.type}, not a {command.payment_method_type}; "
            "omit payment_method_type for saved methods.",
            type=problem_type("payment-method-type-mismatch"),
            errors=[FieldError(field="payment_method_type",
                               message=f"the saved method is a {method.type}")])
    return method.type


# ----------------------------------------------------------------------- readiness


class CachedReadiness:
    """Caches dependency checks briefly so frequent probes do not load the dependencies."""

    def __init__(self, probe: Callable[[], Awaitable[dict[str, str]]], ttl: float = 2.0) -> None:
        self.probe = probe
        self.ttl = ttl
        self._at = -1e9
        self._result: dict[str, str] = {}
        self._lock = asyncio.Lock()

    async def checks(self) -> dict[str, str]:
        async with self._lock:
            if time.monotonic() - self._at > self.ttl:
                self._result = await self.probe()
                self._at = time.monotonic()
            return dict(self._result)


async def check(name: str, probe: Awaitable[Any], timeout: float = 2.0) -> tuple[str, str]:
    try:
        await asyncio.wait_for(probe, timeout)
    except Exception as exc:  # a probe reports, it never raises
        return name, f"unavailable ({type(exc).__name__}: {str(exc)[:120]})"
    return name, "ok"


async def issuer_reachable(issuer: str, timeout: float = 2.0) -> None:
    async with httpx.AsyncClient(timeout=timeout) as client:
        response = await client.get(f"{issuer.rstrip('/')}/.well-known/openid-configuration")
        response.raise_for_status()


# ---------------------------------------------------------------------------- app


def create_orchestrator_app(settings: EdgeSettings | None = None, *,
                            deps: OrchestratorDeps | None = None) -> FastAPI:
    settings = settings or EdgeSettings()
    deps = deps or OrchestratorDeps.from_settings(settings)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await deps.queue.start()
        await deps.events.start()
        try:
            yield
        finally:
            await deps.events.stop()
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

    @app.post(f"{INTERNAL}/payments", status_code=202, response_model=PaymentAccepted,
              responses=errors, tags=["payments"])
    async def payment(
        request: Request,
        command: PaymentCommand = Body(...),
        customer_id: str = Depends(shopper_subject),
        key: str = Depends(idempotency_key),
        deps: OrchestratorDeps = Depends(_deps),
    ) -> Response:
        cid = correlation_id(request)

        async def handle() -> Response:
            try:
                response = await process_payment(deps, customer_id, key, command, cid)
            except ProblemException as exc:
                metrics.payment(command.kind, f"refused-{exc.status}")
                raise
            except AuthError:
                metrics.payment(command.kind, "forbidden")
                raise
            metrics.payment(command.kind, "accepted")
            return response

        return await run_idempotent(request, deps, customer_id, key,
                                    command.model_dump(mode="json"), handle)

    @app.get(f"{INTERNAL}/orders/{{order_id}}", response_model=OrderView, responses=errors,
             tags=["orders"])
    async def order_status(
        order_id: str = Path(max_length=64),
        customer_id: str = Depends(shopper_subject),
        deps: OrchestratorDeps = Depends(_deps),
    ) -> JSONResponse:
        view = await _order_or_503(deps, order_id)
        verdict = can_view(customer_id, to_order(view) if view else None,
                           deps.recent.accepted_for(order_id, customer_id))
        if verdict is Verdict.FORBIDDEN:
            raise _forbidden()
        if verdict is Verdict.NOT_YET_VISIBLE or view is None:
            raise ProblemException(
                404, "Order not recorded yet",
                "Your checkout was accepted but the order table has not recorded it yet; "
                "retry shortly.", type=problem_type("order-not-yet-recorded"),
                headers={"Retry-After": "1"})
        return _json(view)

    @app.get(f"{INTERNAL}/wallet/methods", response_model=WalletView, responses=errors,
             tags=["wallet"])
    async def list_methods(customer_id: str = Depends(shopper_subject),
                           deps: OrchestratorDeps = Depends(_deps)) -> JSONResponse:
        try:
            methods = await deps.views.list_methods(customer_id)
        except WorkerUnavailableError as exc:
            raise _unavailable("wallet", exc) from None
        return _json(WalletView(methods=methods))

    @app.post(f"{INTERNAL}/wallet/methods", status_code=201, response_model=PaymentMethodView,
              responses=errors, tags=["wallet"])
    async def add_method(
        request: Request,
        body: AddPaymentMethodRequest = Body(...),
        customer_id: str = Depends(shopper_subject),
        key: str = Depends(idempotency_key),
        deps: OrchestratorDeps = Depends(_deps),
    ) -> Response:
        async def handle() -> Response:
            try:
                method = await deps.views.add_method(customer_id, body.nonce, body.make_default)
            except WorkerUnavailableError as exc:
                raise _unavailable("wallet", exc) from None
            except WorkerRequestError as exc:
                raise _wallet_error(exc) from None
            return _json(method, status=201)

        return await run_idempotent(request, deps, customer_id, key,
                                    body.model_dump(mode="json"), handle)

    @app.get(f"{INTERNAL}/wallet/methods/{{token}}", response_model=PaymentMethodView,
             responses=errors, tags=["wallet"])
    async def get_method(token: MethodToken, customer_id: str = Depends(shopper_subject),
                         deps: OrchestratorDeps = Depends(_deps)) -> JSONResponse:
        try:
            method = await deps.views.get_method(customer_id, token)
        except WorkerUnavailableError as exc:
            raise _unavailable("wallet", exc) from None
        except WorkerRequestError as exc:
            raise _wallet_error(exc) from None
        if method is None:
            raise _no_method()
        return _json(method)

    @app.patch(f"{INTERNAL}/wallet/methods/{{token}}", response_model=PaymentMethodView,
               responses=errors, tags=["wallet"])
    async def update_method(
        request: Request,
        token: MethodToken,
        body: UpdatePaymentMethodRequest = Body(...),
        customer_id: str = Depends(shopper_subject),
        key: str = Depends(idempotency_key),
        deps: OrchestratorDeps = Depends(_deps),
    ) -> Response:
        changes = body.changes()
        if not changes:
            raise ProblemException(422, "Nothing to update",
                                   "Give at least one of make_default, expiration_month, "
                                   "expiration_year, billing_postal_code.",
                                   type=problem_type("validation-error"))

        async def handle() -> Response:
            try:
                method = await deps.views.update_method(customer_id, token, changes)
            except WorkerUnavailableError as exc:
                raise _unavailable("wallet", exc) from None
            except WorkerRequestError as exc:
                raise _wallet_error(exc) from None
            if method is None:
                raise _no_method()
            return _json(method)

        return await run_idempotent(request, deps, customer_id, key, changes, handle)

    @app.delete(f"{INTERNAL}/wallet/methods/{{token}}", status_code=204, responses=errors,
                tags=["wallet"])
    async def delete_method(
        request: Request,
        token: MethodToken,
        customer_id: str = Depends(shopper_subject),
        key: str = Depends(idempotency_key),
        deps: OrchestratorDeps = Depends(_deps),
    ) -> Response:
        async def handle() -> Response:
            try:
                deleted = await deps.views.delete_method(customer_id, token)
            except WorkerUnavailableError as exc:
                raise _unavailable("wallet", exc) from None
            except WorkerRequestError as exc:
                raise _wallet_error(exc) from None
            if not deleted:
                raise _no_method()
            return Response(status_code=204)

        return await run_idempotent(request, deps, customer_id, key, {}, handle)

    return app


def _no_method() -> ProblemException:
    return ProblemException(404, "Payment method not found",
                            "There is no payment method with this token in your wallet.",
                            type=problem_type("payment-method-not-found"))


async def _probe(settings: EdgeSettings, deps: OrchestratorDeps) -> dict[str, str]:
    results = await asyncio.gather(
        check("sqs", deps.queue.check()),
        check("kafka", deps.events.check()),
        check("identity_provider", issuer_reachable(settings.auth.issuer)),
        check("worker_views", deps.views.ping()),
    )
    return dict(results)


__all__ = ["CORRELATION_HEADER", "OrchestratorDeps", "create_orchestrator_app"]

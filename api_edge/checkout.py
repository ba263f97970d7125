"""The orchestrator's use cases: register an order, accept a payment request, show an order.

Refusals are `api_edge.errors` (no HTTP here); `api_edge.problems` maps them. The price
always comes from the order the merchant registered, never from the shopper's request,
and every request names the order's owner as its customer, whoever asked.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from api_edge.api_models import (
    OrderRegistered,
    OrderView,
    PaymentAccepted,
    PaymentCommand,
    PaymentMethodView,
    RegisterOrderRequest,
)
from api_edge.enqueue import EnqueueError, PaymentQueue
from api_edge.errors import (
    DependencyUnavailableError,
    OperationForbiddenError,
    OrderNotFoundError,
    OrderStateConflictError,
    PaymentMethodTypeMismatchError,
    PriceMismatchError,
    UnknownPaymentMethodError,
)
from api_edge.flow import Actor, Verdict, admit, visible_to
from api_edge.idempotency import IdempotencyMismatchError, downstream_key, fingerprint
from api_edge.recent_orders import RecentOrders
from api_edge.worker_views import WorkerRequestError, WorkerUnavailableError, WorkerViews, to_order
from schemas.orders import OrderCreated
from schemas.payment_request import PaymentRequest
from schemas.types import derived_event_id
from streams.logs import get_logger
from tables.order_state import OrderState
from tables.request_keys import RequestKey, replay_of

log = get_logger(__name__)

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(kw_only=True)
class CheckoutDeps:
    views: WorkerViews
    queue: PaymentQueue
    recent: RecentOrders = field(default_factory=RecentOrders)
    clock: Clock = utc_now


def unavailable(dependency: str, exc: Exception) -> DependencyUnavailableError:
    log.warning("dependency unavailable", dependency=dependency, error=str(exc))
    return DependencyUnavailableError(dependency)


def actor_scope(actor: Actor) -> str:
    """Whose Idempotency-Keys these are: a shopper's, or a merchant back office's."""
    return actor.id if not actor.is_merchant else f"merchant:{actor.id}"


def status_url(order_id: str) -> str:
    return f"/v1/orders/{order_id}"


async def find_order(deps: CheckoutDeps, order_id: str) -> OrderView | None:
    """The order as the table shows it (or as registered here, until the table does)."""
    try:
        view = await deps.views.get_order(order_id)
    except WorkerUnavailableError as exc:
        raise unavailable("order table", exc) from None
    if view is None:
        return deps.recent.get(order_id)
    deps.recent.add(view)
    return view


@dataclass(frozen=True)
class OrderLookup:
    view: OrderView | None
    # False: the table did not answer and `view` is the copy this orchestrator last knew
    # (`api_edge.recent_orders`), fit to admit a request but not to refuse one.
    current: bool = True


async def lookup_order(deps: CheckoutDeps, order_id: str) -> OrderLookup:
    try:
        return OrderLookup(await find_order(deps, order_id))
    except DependencyUnavailableError:
        known = deps.recent.get(order_id)
        if known is None:
            raise
        log.info("order table away: admitting from the last known order", order_id=order_id)
        return OrderLookup(known, current=False)


async def order_for(deps: CheckoutDeps, actor: Actor, order_id: str) -> OrderView:
    """The order if `actor` may see it; missing and foreign orders are both 404."""
    view = await find_order(deps, order_id)
    if view is None or not visible_to(actor, to_order(view)):
        raise OrderNotFoundError(order_id)
    return view


# ------------------------------------------------------------------------ registration


async def register_order(deps: CheckoutDeps, merchant: Actor, key: str,
                         body: RegisterOrderRequest, cid: str) -> OrderRegistered:
    """Issue the order id and queue `order-created` with the merchant's price.

    The id derives from (merchant, Idempotency-Key): a retry names the same order and
    publishes the same event id, and nobody can choose (squat) an id.
    """
    downstream = downstream_key(actor_scope(merchant), key)
    order_id = f"ord_{downstream[:24]}"
    registered = OrderRegistered(order_id=order_id, customer_id=body.customer_id,
                                 amount=body.amount, merchant_reference=body.merchant_reference,
                                 status_url=status_url(order_id))
    try:
        existing = await find_order(deps, order_id)
    except DependencyUnavailableError:
        # Registration does not need the table (a fresh worker cannot even route a key
        # before its first order is written). A same-key retry with another body while
        # the table is away publishes an order-created of another event id, which the
        # order agent records as an anomaly and ignores: the first registration stands.
        existing = None
    if existing is not None:
        same = (existing.merchant_id, existing.customer_id, existing.expected_amount,
                existing.merchant_reference) == (merchant.id, body.customer_id, body.amount,
                                                 body.merchant_reference)
        if not same:
            raise IdempotencyMismatchError(key)
        return registered
    now = deps.clock()
    try:
        await deps.queue.send_order_created(OrderCreated(
            event_id=derived_event_id("order-created", downstream, fingerprint(
                "POST", "orders", body.model_dump(mode="json"))), order_id=order_id,
            customer_id=body.customer_id, amount=body.amount, merchant_id=merchant.id,
            merchant_reference=body.merchant_reference, correlation_id=cid, occurred_at=now))
    except EnqueueError as exc:
        # Nothing was accepted yet: the merchant retries with the same key and gets the
        # same order id.
        raise unavailable("payment queue", exc) from None
    deps.recent.add(OrderView(
        order_id=order_id, customer_id=body.customer_id, state=OrderState.CREATED,
        currency=body.amount.currency, expected_amount=body.amount, merchant_id=merchant.id,
        merchant_reference=body.merchant_reference))
    log.info("order registered", order_id=order_id, merchant_id=merchant.id, correlation_id=cid)
    return registered


# ---------------------------------------------------------------------------- payments


async def accept_payment(deps: CheckoutDeps, actor: Actor, key: str, fingerprint: str,
                         command: PaymentCommand, cid: str) -> PaymentAccepted:
    """Admit the request and hand it to the queue; a known key replays its first answer."""
    method_lookup = None
    if command.kind == "approve" and command.payment_method_token is not None:
        # Looked up while the order is: both are needed before admitting, neither depends
        # on the other.
        method_lookup = asyncio.ensure_future(_wallet_method_type(deps, actor.id, command))
    try:
        accepted = await _admit(deps, actor, key, fingerprint, command)
    except BaseException:
        if method_lookup is not None:
            method_lookup.cancel()
            with contextlib.suppress(BaseException):
                await method_lookup
        raise
    if isinstance(accepted, PaymentAccepted):
        if method_lookup is not None:
            method_lookup.cancel()
        return accepted
    view, downstream = accepted
    method_type = command.payment_method_type
    if method_lookup is not None:
        method_type = await method_lookup

    payment_id = f"pay_{downstream[:26]}"
    # The registered price, not the request's (which admission checked against it).
    amount = view.expected_amount if command.kind == "approve" else command.amount
    payment = PaymentRequest(
        payment_id=payment_id, idempotency_key=downstream, order_id=command.order_id,
        customer_id=view.customer_id, kind=command.kind, amount=amount,
        payment_method_token=command.payment_method_token,
        payment_method_nonce=command.payment_method_nonce,
        payment_method_type=method_type, correlation_id=cid, requested_at=deps.clock(),
        requested_by=actor.kind, request_fingerprint=fingerprint,
        final_capture=command.final_capture,
    )
    # The only send on this path: once SQS has the request, it will run, and the answer
    # is 202. Nothing after it may turn that into an error.
    try:
        await deps.queue.send(payment, dedup_id=downstream)
    except EnqueueError as exc:
        raise unavailable("payment queue", exc) from None
    log.info("payment request accepted", payment_id=payment_id, order_id=command.order_id,
             kind=command.kind, requested_by=actor.kind, correlation_id=cid)
    return PaymentAccepted(payment_id=payment_id, order_id=command.order_id,
                           kind=command.kind, status_url=status_url(command.order_id))


async def _admit(deps: CheckoutDeps, actor: Actor, key: str, fingerprint: str,
                 command: PaymentCommand) -> PaymentAccepted | tuple[OrderView, str]:
    """The replayed answer for a known key, or the order view and downstream key to go on."""
    lookup = await lookup_order(deps, command.order_id)
    view = lookup.view
    order = to_order(view) if view is not None else None
    downstream = downstream_key(actor_scope(actor), key)
    if view is not None and order is not None and visible_to(actor, order):
        replay = replay_of(view.request_keys, downstream, fingerprint, deps.clock())
        if replay is False:
            raise IdempotencyMismatchError(key)
        if isinstance(replay, RequestKey):
            return PaymentAccepted(payment_id=replay.payment_id, order_id=command.order_id,
                                   kind=replay.kind, status_url=status_url(command.order_id))
    admission = admit(actor, command.kind, order, command.amount)
    reason = admission.reason or "the order does not allow this now"
    if not lookup.current:
        # The copy may be behind the order's state (and its request keys): only the
        # registered price and owner in it are certain. A state conflict is only the
        # edge's advice anyway: the executor judges the state when the request runs, in
        # the order's sequence (a deposit queued behind its approve succeeds; one the
        # order does not allow is declined by rule, moving nothing). What the copy cannot
        # prove (who may see the order, what a role may do in its state) waits for the
        # table.
        if admission.verdict is Verdict.CONFLICT and view is not None:
            return view, downstream
        if admission.verdict not in (Verdict.PROCEED, Verdict.PRICE_MISMATCH):
            raise DependencyUnavailableError("order table")
    match admission.verdict:
        case Verdict.NOT_FOUND:
            raise OrderNotFoundError(command.order_id)
        case Verdict.FORBIDDEN:
            raise OperationForbiddenError(reason)
        case Verdict.PRICE_MISMATCH:
            raise PriceMismatchError(reason)
        case Verdict.CONFLICT:
            raise OrderStateConflictError(reason)
    assert view is not None
    return view, downstream


async def _wallet_method_type(deps: CheckoutDeps, customer_id: str,
                              command: PaymentCommand) -> Any:
    assert command.payment_method_token is not None
    try:
        method = await deps.views.get_method(customer_id, command.payment_method_token)
    except WorkerUnavailableError as exc:
        known = deps.views.known.type_of(customer_id, command.payment_method_token)
        if known is None:
            raise unavailable("wallet", exc) from None
        # The wallet is away: a method this orchestrator saw is charged by its token, and
        # the gateway refuses it if it is gone.
        method = PaymentMethodView(token=command.payment_method_token, type=known)
    except WorkerRequestError:
        method = None
    if method is None:
        raise UnknownPaymentMethodError(command.payment_method_token)
    if command.payment_method_type is not None and command.payment_method_type != method.type:
        raise PaymentMethodTypeMismatchError(method.type, command.payment_method_type)
    return method.type

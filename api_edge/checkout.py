"""The orchestrator's use cases: accept a payment request, show an order to its owner.

Refusals are `api_edge.errors` (no HTTP here); `api_edge.problems` maps them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from api_edge.api_models import OrderView, PaymentAccepted, PaymentCommand
from api_edge.enqueue import EnqueueError, PaymentQueue
from api_edge.errors import (
    DependencyUnavailableError,
    OrderForbiddenError,
    OrderNotYetRecordedError,
    OrderStateConflictError,
    PaymentMethodTypeMismatchError,
    UnknownPaymentMethodError,
)
from api_edge.flow import Verdict, admit, can_view
from api_edge.idempotency import downstream_key
from api_edge.order_events import OrderEventPublisher, PublishError
from api_edge.recent_checkouts import RecentCheckouts
from api_edge.worker_views import WorkerRequestError, WorkerUnavailableError, WorkerViews, to_order
from schemas.orders import OrderCreated
from schemas.payment_request import PaymentRequest
from schemas.types import derived_event_id
from streams.logs import get_logger

log = get_logger(__name__)

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(kw_only=True)
class CheckoutDeps:
    views: WorkerViews
    queue: PaymentQueue
    events: OrderEventPublisher
    recent: RecentCheckouts = field(default_factory=RecentCheckouts)
    clock: Clock = utc_now


def unavailable(dependency: str, exc: Exception) -> DependencyUnavailableError:
    log.warning("dependency unavailable", dependency=dependency, error=str(exc))
    return DependencyUnavailableError(dependency)


async def find_order(deps: CheckoutDeps, order_id: str) -> OrderView | None:
    try:
        return await deps.views.get_order(order_id)
    except WorkerUnavailableError as exc:
        raise unavailable("order table", exc) from None


async def order_for_owner(deps: CheckoutDeps, customer_id: str, order_id: str) -> OrderView:
    view = await find_order(deps, order_id)
    verdict = can_view(customer_id, to_order(view) if view else None,
                       deps.recent.accepted_for(order_id, customer_id))
    if verdict is Verdict.FORBIDDEN:
        raise OrderForbiddenError(order_id)
    if verdict is Verdict.NOT_YET_VISIBLE or view is None:
        raise OrderNotYetRecordedError(order_id)
    return view


async def accept_payment(
    deps: CheckoutDeps, customer_id: str, key: str, command: PaymentCommand, cid: str,
) -> PaymentAccepted:
    """Admit the request and hand it to the queue (and order-created to its topic)."""
    method_lookup = None
    if command.kind == "approve" and command.payment_method_token is not None:
        # Looked up while the order is: both are needed before admitting, neither depends
        # on the other.
        method_lookup = asyncio.ensure_future(_wallet_method_type(deps, customer_id, command))
    try:
        view = await find_order(deps, command.order_id)
    except BaseException:
        if method_lookup is not None:
            method_lookup.cancel()
        raise
    order = to_order(view) if view is not None else None
    admission = admit(customer_id, command.kind, order, command.amount,
                      accepted_here=deps.recent.accepted_for(command.order_id, customer_id))
    if not admission.proceeds and method_lookup is not None:
        method_lookup.cancel()
        with contextlib.suppress(BaseException):
            await method_lookup
    if admission.verdict is Verdict.FORBIDDEN:
        raise OrderForbiddenError(command.order_id)
    if admission.verdict is Verdict.CONFLICT:
        raise OrderStateConflictError(admission.reason or "the order does not allow this now")

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
    if admission.creates_order:
        assert command.amount is not None
        sends.append(deps.events.publish_created(OrderCreated(
            event_id=derived_event_id("order-created", downstream),
            order_id=command.order_id, customer_id=customer_id, amount=command.amount,
            correlation_id=cid, occurred_at=now,
        )))
    results = await asyncio.gather(*sends, return_exceptions=True)
    for result in results:
        if isinstance(result, EnqueueError):
            raise unavailable("payment queue", result)
        if isinstance(result, PublishError):
            raise unavailable("order event stream", result)
        if isinstance(result, BaseException):
            raise result
    if command.kind == "approve":
        deps.recent.add(command.order_id, customer_id)
    log.info("payment request accepted", payment_id=payment_id, order_id=command.order_id,
             kind=command.kind, correlation_id=cid)
    return PaymentAccepted(payment_id=payment_id, order_id=command.order_id,
                           kind=command.kind, status_url=f"/v1/orders/{command.order_id}")


async def _wallet_method_type(deps: CheckoutDeps, customer_id: str,
                              command: PaymentCommand) -> Any:
    assert command.payment_method_token is not None
    try:
        method = await deps.views.get_method(customer_id, command.payment_method_token)
    except WorkerUnavailableError as exc:
        raise unavailable("wallet", exc) from None
    except WorkerRequestError:
        method = None
    if method is None:
        raise UnknownPaymentMethodError(command.payment_method_token)
    if command.payment_method_type is not None and command.payment_method_type != method.type:
        raise PaymentMethodTypeMismatchError(method.type, command.payment_method_type)
    return method.type

"""Idempotency-Keys an order has seen: durable, shared by every instance of Payments-B.

The order agent records each payment request's (downstream) idempotency key with the
fingerprint of the public request it came from, in the order's changelogged record. A
Payments-B instance that does not remember a key (it restarted, or another instance took
the first request) finds it in the order view: the same fingerprint replays the original
202 (rebuilt from the record: the payment id derives from the key), another one is refused
(422). Bounded: at most MAX_REQUEST_KEYS per order, none older than KEY_TTL. Pure, no I/O.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Final

from pydantic import BaseModel, ConfigDict

from schemas.payment_request import PaymentKind, PaymentRequest

if TYPE_CHECKING:
    from tables.order_record import Order

# Keys are promised for 24 hours; an order sees a handful of requests in that time, so
# a few dozen is generous and keeps the record small (Kafka's message limit is 1 MB).
KEY_TTL: Final = timedelta(hours=24)
MAX_REQUEST_KEYS: Final = 64


class RequestKey(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    fingerprint: str
    kind: PaymentKind
    payment_id: str
    at: datetime


def record_request(order: Order, request: PaymentRequest) -> Order:
    """The order with the request's key remembered (first use wins), expired ones dropped."""
    if request.request_fingerprint is None or request.idempotency_key in order.request_keys:
        return order
    horizon = request.requested_at - KEY_TTL
    keys = {key: record for key, record in order.request_keys.items() if record.at > horizon}
    keys[request.idempotency_key] = RequestKey(
        fingerprint=request.request_fingerprint, kind=request.kind,
        payment_id=request.payment_id, at=request.requested_at)
    if len(keys) > MAX_REQUEST_KEYS:
        keep = sorted(keys.items(), key=lambda item: item[1].at)[-MAX_REQUEST_KEYS:]
        keys = dict(keep)
    return order.model_copy(update={"request_keys": keys})


def replay_of(keys: dict[str, RequestKey], key: str, fingerprint: str,
              now: datetime) -> RequestKey | bool | None:
    """The remembered request for `key` if it is this one; False if the key was used for
    another request; None if the key is unknown (or expired)."""
    record = keys.get(key)
    if record is None or record.at <= now - KEY_TTL:
        return None
    return record if record.fingerprint == fingerprint else False

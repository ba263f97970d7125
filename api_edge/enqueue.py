"""Enqueue what the edge accepts for an order on the SQS FIFO queue `payment-requests.fifo`:
its registration (`order-created`) and its payment requests.

MessageGroupId is the order id (SQS delivers one order's messages in order, so a
registration always reaches Kafka before the order's payments) and MessageDeduplicationId
the registration's event id or the request's downstream idempotency key (a retried send
within SQS's 5-minute window is dropped by SQS itself). The message's topic attribute
tells the bridge where it goes. The edge needs no Kafka to accept anything: while the
broker restarts, SQS holds the messages and the bridge forwards them afterwards.

Concurrent sends are gathered into SendMessageBatch calls of up to 10: a sender takes the
first waiting message, lingers a few milliseconds for more, and sends them together
through the non-blocking `SqsJsonClient`. Each caller still learns the fate of its own
message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from bridge_sqs.sqs_client import SqsError, SqsJsonClient
from schemas.codec import json_bytes
from schemas.orders import OrderCreated
from schemas.payment_request import PaymentRequest
from streams.channels import ORDER_CREATED, PAYMENT_REQUESTS, QUEUE_TOPIC_ATTRIBUTE

log = logging.getLogger(__name__)

MAX_BATCH = 10  # SQS limit for SendMessageBatch


class EnqueueError(Exception):
    """The queue did not accept the message."""


@dataclass
class _Pending:
    entry: dict[str, Any]
    future: asyncio.Future[str]


class PaymentQueue:
    def __init__(self, endpoint_url: str | None, queue_name: str, *, region: str = "us-east-1",
                 timeout_seconds: float = 5.0, senders: int = 2, linger_seconds: float = 0.0,
                 client: SqsJsonClient | None = None) -> None:
        self.queue_name = queue_name
        self.timeout_seconds = timeout_seconds
        self._client = client or SqsJsonClient(endpoint_url, region,
                                               timeout_seconds=timeout_seconds,
                                               max_connections=max(4, senders * 2))
        self._queue_url: str | None = None
        self._senders = senders
        self._linger_seconds = linger_seconds
        self._pending: asyncio.Queue[_Pending] | None = None
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self._pending = asyncio.Queue()
        self._tasks = [asyncio.create_task(self._sender(), name=f"sqs-sender-{i}")
                       for i in range(self._senders)]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        await self._client.aclose()

    async def queue_url(self) -> str:
        if self._queue_url is None:
            self._queue_url = await self._client.get_queue_url(self.queue_name)
        return self._queue_url

    async def check(self) -> None:
        """Readiness: the queue exists and answers."""
        await self._client.get_queue_attributes(await self.queue_url(), ["FifoQueue"])

    async def send(self, request: PaymentRequest, dedup_id: str) -> str:
        """Enqueue a payment request; returns the SQS message id. Raises EnqueueError."""
        return await self._enqueue(_entry(
            request, PAYMENT_REQUESTS, order_id=request.order_id, dedup_id=dedup_id,
            correlation_id=request.correlation_id,
            kind=request.kind, payment_id=request.payment_id))

    async def send_order_created(self, event: OrderCreated) -> str:
        """Enqueue an order's registration; returns the SQS message id."""
        return await self._enqueue(_entry(
            event, ORDER_CREATED, order_id=event.order_id, dedup_id=event.event_id,
            correlation_id=event.correlation_id))

    async def _enqueue(self, entry: dict[str, Any]) -> str:
        if self._pending is None:
            raise EnqueueError("the payment queue sender is not running")
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._pending.put_nowait(_Pending(entry, future))
        try:
            return await asyncio.wait_for(asyncio.shield(future), self.timeout_seconds + 1)
        except TimeoutError:
            raise EnqueueError("the payment queue did not answer in time") from None

    async def _next_batch(self) -> list[_Pending]:
        assert self._pending is not None
        batch = [await self._pending.get()]
        if self._linger_seconds:
            await asyncio.sleep(self._linger_seconds)
        while len(batch) < MAX_BATCH and not self._pending.empty():
            batch.append(self._pending.get_nowait())
        return batch

    async def _sender(self) -> None:
        while True:
            batch = await self._next_batch()
            try:
                url = await self.queue_url()
                result = await self._client.send_message_batch(
                    url, [{**item.entry, "Id": str(i)} for i, item in enumerate(batch)])
            except asyncio.CancelledError:
                for item in batch:
                    if not item.future.done():
                        item.future.set_exception(EnqueueError("the payment queue stopped"))
                raise
            except SqsError as exc:  # this batch fails; the next one may well succeed
                log.warning("SQS send failed: %s (maybe applied: %s)", exc.code,
                            exc.maybe_applied)
                # Either way the caller answers "unavailable" and its retry, with the same
                # key and so the same MessageDeduplicationId, is dropped by SQS if the
                # first one landed; the wording only must not claim nothing was enqueued.
                reason = (f"the payment queue gave no usable answer ({exc.code}); the batch "
                          "may have been enqueued" if exc.maybe_applied
                          else f"the payment queue refused the batch ({exc.code})")
                for item in batch:
                    if not item.future.done():
                        item.future.set_exception(EnqueueError(reason))
                continue
            for ok in result.get("Successful", []):
                item = batch[int(ok["Id"])]
                if not item.future.done():
                    item.future.set_result(str(ok["MessageId"]))
            for failed in result.get("Failed", []):
                item = batch[int(failed["Id"])]
                log.warning("SQS refused a message: %s", failed.get("Code"))
                if not item.future.done():
                    item.future.set_exception(
                        EnqueueError(f"the payment queue refused the message "
                                     f"({failed.get('Code', 'unknown')})"))
            for item in batch:
                if not item.future.done():
                    # An answer that names neither outcome: its caller should not wait
                    # out the timeout for a result that will never come.
                    item.future.set_exception(EnqueueError(
                        "the payment queue's answer did not mention the message; it may "
                        "have been enqueued"))


def _entry(message: BaseModel, topic: str, *, order_id: str, dedup_id: str,
           correlation_id: str, **attributes: str) -> dict[str, Any]:
    return {
        "MessageBody": json_bytes(message).decode("utf-8"),
        "MessageGroupId": order_id,
        "MessageDeduplicationId": dedup_id,
        "MessageAttributes": {
            name: {"DataType": "String", "StringValue": value}
            for name, value in {QUEUE_TOPIC_ATTRIBUTE: topic, "correlation_id": correlation_id,
                                **attributes}.items()
        },
    }

"""Enqueue payment requests on the SQS FIFO queue `payment-requests.fifo`.

MessageGroupId is the order id (SQS delivers one order's requests in order) and
MessageDeduplicationId the request's downstream idempotency key (a retried send within
SQS's 5-minute window is dropped by SQS itself).

boto3 is synchronous and costs about a millisecond of CPU per call, so concurrent sends
are gathered into SendMessageBatch calls of up to 10 (without waiting for a batch to fill:
whatever is queued when a sender is free goes out) and run on a small thread pool.
Each caller still learns the fate of its own message.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from schemas.codec import json_bytes
from schemas.payment_request import PaymentRequest

log = logging.getLogger(__name__)

MAX_BATCH = 10  # SQS limit for SendMessageBatch


class EnqueueError(Exception):
    """The queue did not accept the message."""


@dataclass
class _Pending:
    request: PaymentRequest
    dedup_id: str
    future: asyncio.Future[str]


class PaymentQueue:
    def __init__(self, endpoint_url: str | None, queue_name: str, *, region: str = "us-east-1",
                 timeout_seconds: float = 5.0, senders: int = 4,
                 client: Any | None = None) -> None:
        self.queue_name = queue_name
        self.timeout_seconds = timeout_seconds
        self._client = client if client is not None else _client(endpoint_url, region,
                                                                 timeout_seconds)
        self._queue_url: str | None = None
        self._senders = senders
        self._pool = ThreadPoolExecutor(max_workers=senders, thread_name_prefix="sqs-send")
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
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def queue_url(self) -> str:
        if self._queue_url is None:
            url = await asyncio.get_running_loop().run_in_executor(
                self._pool, lambda: self._client.get_queue_url(QueueName=self.queue_name))
            self._queue_url = str(url["QueueUrl"])
        return self._queue_url

    async def check(self) -> None:
        """Readiness: the queue exists and answers."""
        url = await self.queue_url()
        await asyncio.wait_for(asyncio.get_running_loop().run_in_executor(
            self._pool, lambda: self._client.get_queue_attributes(
                QueueUrl=url, AttributeNames=["FifoQueue"])), self.timeout_seconds)

    async def send(self, request: PaymentRequest, dedup_id: str) -> str:
        """Enqueue; returns the SQS message id. Raises EnqueueError."""
        if self._pending is None:
            raise EnqueueError("the payment queue sender is not running")
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._pending.put_nowait(_Pending(request, dedup_id, future))
        try:
            return await asyncio.wait_for(asyncio.shield(future), self.timeout_seconds + 1)
        except TimeoutError:
            raise EnqueueError("the payment queue did not answer in time") from None

    async def _sender(self) -> None:
        assert self._pending is not None
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._pending.get()]
            while len(batch) < MAX_BATCH and not self._pending.empty():
                batch.append(self._pending.get_nowait())
            try:
                url = await self.queue_url()
                entries = [_entry(str(i), item) for i, item in enumerate(batch)]
                result = await loop.run_in_executor(
                    self._pool, functools.partial(
                        self._client.send_message_batch, QueueUrl=url, Entries=entries))
            except asyncio.CancelledError:
                for item in batch:
                    if not item.future.done():
                        item.future.set_exception(EnqueueError("the payment queue stopped"))
                raise
            except Exception as exc:  # any client/transport failure fails this batch only
                log.warning("SQS send failed: %s", type(exc).__name__)
                for item in batch:
                    if not item.future.done():
                        item.future.set_exception(
                            EnqueueError(f"the payment queue refused the batch "
                                         f"({type(exc).__name__})"))
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


def _entry(entry_id: str, item: _Pending) -> dict[str, Any]:
    request = item.request
    return {
        "Id": entry_id,
        "MessageBody": json_bytes(request).decode("utf-8"),
        "MessageGroupId": request.order_id,
        "MessageDeduplicationId": item.dedup_id,
        "MessageAttributes": {
            "correlation_id": {"DataType": "String", "StringValue": request.correlation_id},
            "kind": {"DataType": "String", "StringValue": request.kind},
            "payment_id": {"DataType": "String", "StringValue": request.payment_id},
        },
    }


def _client(endpoint_url: str | None, region: str, timeout_seconds: float) -> Any:
    import boto3
    from botocore.config import Config

    # Bounded calls: boto3's defaults (60 s reads, several retries) would hold a shopper's
    # request far longer than the edge's own timeout.
    config = Config(connect_timeout=min(timeout_seconds, 2.0), read_timeout=timeout_seconds,
                    retries={"max_attempts": 2, "mode": "standard"}, max_pool_connections=16)
    if endpoint_url:
        # Local SQS servers accept any credentials.
        return boto3.client("sqs", endpoint_url=endpoint_url, region_name=region,
                            aws_access_key_id="local", aws_secret_access_key="local",
                            config=config)
    # Production: credentials and endpoint from the AWS environment.
    return boto3.client("sqs", region_name=region, config=config)

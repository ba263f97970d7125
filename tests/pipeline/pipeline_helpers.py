"""Helpers for the pipeline tests: build requests, enqueue them, collect outcomes."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer

from devstack.sqs import sqs_client
from schemas.outcomes import parse_outcome
from streams.channels import OUTCOME_TOPICS, PAYMENT_PENDING, PAYMENT_QUEUE, PAYMENT_REQUESTS_DLQ

NONCES = {
    "credit_card": "fake-valid-visa-nonce",
    "paypal": "fake-paypal-one-time-nonce",
    "apple_pay": "fake-apple-pay-visa-nonce",
    "google_pay": "fake-android-pay-visa-nonce",
}


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def request(kind: str, order_id: str, *, amount: str | None = None, currency: str = "USD",
            method: str = "credit_card", key: str | None = None,
            nonce: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "payment_id": new_id("pay"), "idempotency_key": key or new_id("idem"),
        "order_id": order_id, "customer_id": "cust-1", "kind": kind,
        "correlation_id": new_id("corr"), "requested_at": datetime.now(UTC).isoformat(),
    }
    if amount is not None:
        body["amount"] = {"amount": amount, "currency": currency}
    if kind == "approve":
        body["payment_method_nonce"] = nonce or NONCES[method]
        body["payment_method_type"] = method
    else:
        body["requested_by"] = "merchant"  # capture, refund and reverse are the merchant's
    return body


class Enqueuer:
    def __init__(self, endpoint: str) -> None:
        self.sqs = sqs_client(endpoint)
        self.url = self.sqs.get_queue_url(QueueName=PAYMENT_QUEUE)["QueueUrl"]

    def send(self, body: dict[str, Any] | str, *, group: str | None = None,
             dedup: str | None = None) -> None:
        text = body if isinstance(body, str) else json.dumps(body)
        if isinstance(body, dict):
            group = group or body["order_id"]
            dedup = dedup or body["idempotency_key"]
        self.sqs.send_message(QueueUrl=self.url, MessageBody=text,
                              MessageGroupId=group or "g", MessageDeduplicationId=dedup or
                              uuid.uuid4().hex)


class OutcomeCollector:
    """Reads every outcome topic (and the dead-letter topic) from the beginning."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.events: list[Any] = []
        self.dead_letters: list[dict[str, Any]] = []
        self.pending: list[dict[str, Any]] = []
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._consumer = AIOKafkaConsumer(
            *OUTCOME_TOPICS, PAYMENT_REQUESTS_DLQ, PAYMENT_PENDING,
            bootstrap_servers=self.bootstrap,
            auto_offset_reset="earliest", enable_auto_commit=False, group_id=None,
            metadata_max_age_ms=1000)
        await self._consumer.start()
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        assert self._consumer is not None
        async for record in self._consumer:
            try:
                if record.topic == PAYMENT_REQUESTS_DLQ:
                    self.dead_letters.append(json.loads(record.value))  # type: ignore[arg-type]
                elif record.topic == PAYMENT_PENDING:
                    self.pending.append(json.loads(record.value))  # type: ignore[arg-type]
                else:
                    self.events.append(parse_outcome(record.value))  # type: ignore[arg-type]
            except ValueError:
                continue  # a poison record a test put there on purpose

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
        if self._consumer:
            await self._consumer.stop()

    def for_order(self, order_id: str) -> list[Any]:
        return sorted((e for e in self.events if e.order_id == order_id),
                      key=lambda e: e.sequence)

    async def wait_for(self, order_id: str, count: int, timeout: float = 60) -> list[Any]:
        async with asyncio.timeout(timeout):
            while len(self.for_order(order_id)) < count:
                await asyncio.sleep(0.1)
        return self.for_order(order_id)

    async def wait_dead_letter(self, predicate: Any, timeout: float = 60) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            while True:
                for letter in self.dead_letters:
                    if predicate(letter):
                        return letter
                await asyncio.sleep(0.1)

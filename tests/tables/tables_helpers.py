"""Builders and HTTP/Kafka helpers for the table and view tests against real workers."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from pydantic import BaseModel

from devstack.services import WorkerProcess
from schemas.codec import json_bytes
from schemas.money import Money
from schemas.orders import OrderCreated
from schemas.outcomes import OutcomeEvent, outcome_adapter

T = TypeVar("T")

KIND_OF = {"approved": "approve", "deposited": "deposit", "reversed": "reverse",
           "refunded": "refund"}


def usd(amount: str) -> Money:
    return Money.of(amount, "USD")


def created(order_id: str, amount: str = "100.00", customer: str = "cust-t") -> OrderCreated:
    return OrderCreated(event_id=f"created-{order_id}", order_id=order_id, customer_id=customer,
                        amount=usd(amount), correlation_id=f"corr-{order_id}",
                        occurred_at=datetime.now(UTC))


def outcome(name: str, order_id: str, sequence: int, *, pmt: str = "credit_card",
            kind: str | None = None, **fields: Any) -> OutcomeEvent:
    data: dict[str, Any] = {
        "event_id": f"ev-{order_id}-{sequence}", "event_type": f"payment-{name}",
        "order_id": order_id, "customer_id": "cust-t", "payment_id": f"pay-{sequence}",
        "idempotency_key": f"k-{order_id}-{sequence}",
        "request_kind": kind or KIND_OF.get(name, "approve"), "sequence": sequence,
        "transaction_id": f"tx-{order_id}", "payment_method_type": pmt,
        "correlation_id": f"corr-{order_id}", "occurred_at": datetime.now(UTC),
        "reason": "refused" if name in ("declined", "failed") else None,
    }
    if name == "deposited":
        # The executor's deposit names the authorization it captured against.
        fields.setdefault("authorized_amount", fields.get("captured_amount", fields.get("amount")))
    for key, value in fields.items():
        data[key] = usd(value) if key.endswith("amount") and isinstance(value, str) else value
    return outcome_adapter.validate_python(data)


async def publish(producer: AIOKafkaProducer, *events: BaseModel) -> None:
    for event in events:
        topic = event.event_type  # type: ignore[attr-defined]
        order_id: str = event.order_id  # type: ignore[attr-defined]
        await producer.send_and_wait(topic, json_bytes(event), key=order_id.encode())


async def eventually(check: Callable[[], Awaitable[T | None]], timeout: float = 45,
                     what: str = "condition") -> T:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = await check()
        except (httpx.HTTPError, AssertionError) as exc:
            last = exc
        else:
            if last is not None and last is not False:
                return last
        await asyncio.sleep(0.3)
    raise AssertionError(f"{what} not reached in {timeout}s; last: {last!r}")


async def get(worker: WorkerProcess, path: str) -> tuple[int, Any]:
    async with httpx.AsyncClient(timeout=15) as client:
        resp = await client.get(worker.url + path)
    return resp.status_code, (resp.json() if resp.content else None)


async def call(worker: WorkerProcess, method: str, path: str, body: Any = None,
               headers: dict[str, str] | None = None) -> tuple[int, Any]:
    async with httpx.AsyncClient(timeout=40) as client:
        resp = await client.request(method, worker.url + path, json=body, headers=headers)
    return resp.status_code, (resp.json() if resp.content else None)


async def order_in_state(worker: WorkerProcess, order_id: str, state: str,
                         history: int | None = None) -> Any:
    async def check() -> Any:
        status, body = await get(worker, f"/orders/{order_id}")
        if status == 200 and body["state"] == state and (
                history is None or len(body["history"]) == history):
            return body
        return None
    return await eventually(check, what=f"{order_id} {state} on {worker.url}")


def wait_all_ready(workers: list[WorkerProcess], stable_polls: int = 4,
                   timeout: float = 90) -> None:
    """Every worker ready several polls in a row: the group has settled its rebalance."""
    deadline = time.monotonic() + timeout
    streak = 0
    while time.monotonic() < deadline:
        ok = all(w.get_json("/health/ready", timeout=3)[0] == 200 for w in workers)
        streak = streak + 1 if ok else 0
        if streak >= stable_polls:
            return
        time.sleep(0.5)
    raise AssertionError("workers did not settle: " + "\n".join(w.log_tail(2000)
                                                               for w in workers))


class TopicReader:
    """Collects the JSON records of some topics from the beginning, in the background."""

    def __init__(self, bootstrap: str, *topics: str) -> None:
        self.consumer = AIOKafkaConsumer(*topics, bootstrap_servers=bootstrap,
                                         auto_offset_reset="earliest", group_id=None,
                                         enable_auto_commit=False, metadata_max_age_ms=1000)
        self.records: list[tuple[str, dict[str, Any]]] = []
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.consumer.start()
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async for record in self.consumer:
            try:
                self.records.append((record.topic, json.loads(record.value or b"null")))
            except ValueError:
                continue

    def of(self, topic: str, order_id: str) -> list[dict[str, Any]]:
        return [r for t, r in self.records if t == topic and r.get("order_id") == order_id]

    async def stop(self) -> None:
        if self.task:
            self.task.cancel()
        await self.consumer.stop()

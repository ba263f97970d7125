"""Helpers for the edge tests: the running A+B pair, SQS/Kafka readers, a pipeline stand-in."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi import FastAPI

from api_edge.cli import build_servers
from api_edge.orchestrator import OrchestratorDeps
from api_edge.settings import EdgeSettings
from api_edge.upstream import KeepAliveUpstream
from devstack.bench.fake_views import FakeWorkerViews
from devstack.dev_issuer import DevIssuer
from devstack.dev_realm import MERCHANT_CLIENT_ID
from devstack.ports import free_port
from devstack.sqs import sqs_client
from schemas.money import Money
from schemas.orders import OrderCreated
from schemas.outcomes import SUCCESS_EVENT_FOR_KIND
from schemas.payment_request import PaymentRequest
from streams.channels import ORDER_CREATED, QUEUE_TOPIC_ATTRIBUTE
from tables.order_lifecycle import apply_order_created, apply_outcome
from tables.order_record import Order

PROBLEM_JSON = "application/problem+json"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def new_key() -> str:
    return uuid.uuid4().hex


def new_order_id() -> str:
    return f"ord-{uuid.uuid4().hex[:12]}"


def usd(amount: str) -> dict[str, str]:
    return {"amount": amount, "currency": "USD"}


def payment_request(order_id: str) -> PaymentRequest:
    """An approve request for `order_id`, as the SQS client tests enqueue it."""
    return PaymentRequest.model_validate({
        "payment_id": uuid.uuid4().hex, "idempotency_key": uuid.uuid4().hex,
        "order_id": order_id, "customer_id": "cust-sqs", "kind": "approve",
        "correlation_id": uuid.uuid4().hex, "requested_at": datetime.now(UTC).isoformat(),
        "amount": {"amount": "12.50", "currency": "USD"},
        "payment_method_token": "pm_sqs", "payment_method_type": "credit_card",
    })


@dataclass
class SqsMessage:
    body: dict[str, Any]
    group_id: str
    dedup_id: str
    attributes: dict[str, str]

    @property
    def request(self) -> PaymentRequest:
        return PaymentRequest.model_validate(self.body)


@dataclass
class QueueReader:
    """Receives (and deletes) from the test's own FIFO queue, stashing by order id: the
    payment requests in `stash`, the order registrations in `created`."""

    endpoint: str
    queue_url: str
    stash: dict[str, list[SqsMessage]] = field(default_factory=dict)
    created: dict[str, list[SqsMessage]] = field(default_factory=dict)

    def _receive_once(self) -> int:
        client = sqs_client(self.endpoint)
        resp = client.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
            AttributeNames=["All"], MessageAttributeNames=["All"])
        messages = resp.get("Messages", [])
        for msg in messages:
            parsed = SqsMessage(
                body=json.loads(msg["Body"]),
                group_id=msg["Attributes"]["MessageGroupId"],
                dedup_id=msg["Attributes"]["MessageDeduplicationId"],
                attributes={k: v["StringValue"] for k, v in msg["MessageAttributes"].items()},
            )
            into = (self.created if parsed.attributes.get(QUEUE_TOPIC_ATTRIBUTE) == ORDER_CREATED
                    else self.stash)
            into.setdefault(parsed.group_id, []).append(parsed)
            client.delete_message(QueueUrl=self.queue_url, ReceiptHandle=msg["ReceiptHandle"])
        return len(messages)

    async def for_order(self, order_id: str, count: int = 1,
                        timeout: float = 15.0) -> list[SqsMessage]:
        deadline = time.monotonic() + timeout
        while len(self.stash.get(order_id, [])) < count:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"expected {count} message(s) for {order_id}, got "
                    f"{len(self.stash.get(order_id, []))}")
            await asyncio.to_thread(self._receive_once)
        return self.stash[order_id]

    async def registrations(self, order_id: str, timeout: float = 15.0) -> list[OrderCreated]:
        """The order's `order-created` messages (after waiting for at least one)."""
        deadline = time.monotonic() + timeout
        while not self.created.get(order_id) and time.monotonic() < deadline:
            await asyncio.to_thread(self._receive_once)
        await self.drain(0.5)  # and any duplicate right behind it
        return [OrderCreated.model_validate(m.body) for m in self.created.get(order_id, [])]

    async def drain(self, seconds: float = 1.5) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            await asyncio.to_thread(self._receive_once)


@dataclass
class Edge:
    public: httpx.AsyncClient
    internal: httpx.AsyncClient
    issuer: DevIssuer
    fake: FakeWorkerViews
    queue: QueueReader
    kafka_bootstrap: str
    b_deps: OrchestratorDeps
    public_app: FastAPI

    def shopper(self, username: str = "shopper1") -> dict[str, str]:
        return bearer(self.issuer.mint_for_user(username))

    def service(self) -> dict[str, str]:
        return bearer(self.issuer.mint_for_service())

    def merchant(self) -> dict[str, str]:
        return bearer(self.issuer.mint_for_service(MERCHANT_CLIENT_ID))

    async def register(self, customer: str = "cust-shopper1", amount: str = "25.00", *,
                       recorded: bool = True) -> str:
        """The merchant registers an order; `recorded`: the order agent has applied its
        order-created (the fake order table shows it)."""
        resp = await self.public.post(
            "/v1/orders", json={"customer_id": customer, "amount": usd(amount)},
            headers={**self.merchant(), "Idempotency-Key": new_key()})
        assert resp.status_code == 201, resp.text
        order_id = str(resp.json()["order_id"])
        if recorded:
            self.fake.put_order(apply_order_created(None, OrderCreated(
                order_id=order_id, customer_id=customer, amount=Money.of(amount, "USD"),
                merchant_id=MERCHANT_CLIENT_ID, correlation_id="test",
                occurred_at=datetime.now(UTC))))
        return order_id


@contextmanager
def views_away(edge: Edge) -> Iterator[None]:
    """The worker views unreachable from B while inside (B's client asks a dead port)."""
    views = edge.b_deps.views
    real = views._upstreams[0]
    assert isinstance(real, KeepAliveUpstream)
    # Nothing listens on the discard port.
    views._upstreams[0] = KeepAliveUpstream("http://127.0.0.1:9", timeout_seconds=2.0)
    try:
        yield
    finally:
        views._upstreams[0] = real


def complete_in_order_table(fake: FakeWorkerViews, request: PaymentRequest,
                            expected: Money | None = None) -> Order:
    """Stand in for bridge + executor + order agent: apply the request's success outcome.

    The real pipeline is tested in tests/pipeline; here only the edge is under test, and
    the order table must move on for the next request's flow decision.
    """
    order = fake.orders.get(request.order_id)
    if order is None and expected is not None:
        order = apply_order_created(None, OrderCreated(
            order_id=request.order_id, customer_id=request.customer_id, amount=expected,
            correlation_id=request.correlation_id, occurred_at=datetime.now(UTC)))
    sequence = (order.last_sequence if order else 0) + 1
    totals: dict[str, Any] = {}
    amount = request.amount
    if request.kind == "approve":
        totals["authorized_amount"] = amount
    elif request.kind == "deposit":
        assert order is not None
        amount = amount or order.authorized_amount
        totals["captured_amount"] = amount
    elif request.kind == "refund":
        assert order is not None and order.captured_amount is not None
        amount = amount or order.remaining_refundable
        assert amount is not None
        totals["refunded_amount"] = (order.refunded_amount or Money.zero(amount.currency)) \
            + amount
    event = SUCCESS_EVENT_FOR_KIND[request.kind](
        order_id=request.order_id, customer_id=request.customer_id,
        payment_id=request.payment_id, idempotency_key=request.idempotency_key,
        request_kind=request.kind, sequence=sequence, transaction_id=f"tx{sequence}",
        amount=amount, payment_method_type=request.payment_method_type,
        correlation_id=request.correlation_id, occurred_at=datetime.now(UTC), **totals)
    updated = apply_outcome(order, event).order  # type: ignore[arg-type]
    fake.put_order(updated)
    return updated


@contextmanager
def serve_edge(settings: EdgeSettings) -> Iterator[tuple[str, str]]:
    """A and B as real uvicorn servers on their own event loop in a thread.

    Yields (facade URL, orchestrator URL).
    """
    a_port, b_port = free_port(), free_port()
    settings = settings.model_copy(update={
        "public_port": a_port, "orchestrator_port": b_port, "orchestrator_url": None})
    servers = build_servers(settings, log_level="warning")
    loop = asyncio.new_event_loop()

    async def serve_all() -> None:
        await asyncio.gather(*(server.serve() for server in servers))

    thread = threading.Thread(target=loop.run_until_complete, args=(serve_all(),),
                              name="edge-servers", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not all(server.started for server in servers):
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("edge servers did not start")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{a_port}", f"http://127.0.0.1:{b_port}"
    finally:
        for server in servers:
            server.should_exit = True
        thread.join(timeout=20)

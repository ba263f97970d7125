"""The bridge keeps each order's requests in order when Kafka acknowledges only part of a
batch: after a failed message, nothing later of its group is forwarded or deleted; other
groups are unaffected. The grouping rule itself is pure and tested directly."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from bridge_sqs.bridge import SqsKafkaBridge
from bridge_sqs.ordering import in_group_order
from bridge_sqs.settings import BridgeSettings
from bridge_sqs.sqs_client import SqsJsonClient
from bridge_sqs.validation import Accepted, Rejected, validate_message
from devstack.sqs import sqs_client
from schemas.money import Money
from schemas.orders import OrderCreated
from schemas.payment_request import PaymentRequest
from streams.channels import ORDER_CREATED, PAYMENT_REQUESTS, QUEUE_TOPIC_ATTRIBUTE


def _msg(group: str | None, n: int) -> dict[str, Any]:
    attributes = {"MessageGroupId": group} if group is not None else {}
    return {"MessageId": f"{group}-{n}", "Attributes": attributes}


def test_messages_are_split_per_group_keeping_receive_order() -> None:
    messages = [_msg("a", 0), _msg("b", 0), _msg("a", 1), _msg("c", 0), _msg("b", 1)]
    groups = in_group_order(messages)
    assert [[m["MessageId"] for m in g] for g in groups] == [
        ["a-0", "a-1"], ["b-0", "b-1"], ["c-0"]]
    assert in_group_order([]) == []


def _body(order_id: str, kind: str) -> str:
    fields: dict[str, Any] = {
        "payment_id": uuid.uuid4().hex, "idempotency_key": uuid.uuid4().hex,
        "order_id": order_id, "customer_id": "cust-order", "kind": kind,
        "correlation_id": uuid.uuid4().hex, "requested_at": datetime.now(UTC).isoformat(),
        "amount": {"amount": "5.00", "currency": "USD"},
    }
    if kind == "approve":
        fields |= {"payment_method_token": "pm_order", "payment_method_type": "credit_card"}
    return PaymentRequest.model_validate(fields).model_dump_json()


class FailingProducer:
    """Acknowledges every send except the bodies it was told to refuse."""

    def __init__(self, refuse: set[bytes]) -> None:
        self.refuse = refuse
        self.sent: list[bytes] = []

    async def send(self, topic: str, value: bytes, key: bytes,
                   headers: list[tuple[str, bytes]]) -> asyncio.Future[None]:
        self.sent.append(value)
        ack: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if value in self.refuse:
            ack.set_exception(RuntimeError("not acknowledged"))
        else:
            ack.set_result(None)
        return ack


@pytest.fixture
async def queue(sqs_endpoint: str) -> AsyncIterator[tuple[SqsJsonClient, str]]:
    name = f"bridge-order-{uuid.uuid4().hex[:8]}.fifo"
    url = str(sqs_client(sqs_endpoint).create_queue(QueueName=name, Attributes={
        "FifoQueue": "true", "ContentBasedDeduplication": "false",
        "VisibilityTimeout": "1"})["QueueUrl"])
    client = SqsJsonClient(sqs_endpoint, "us-east-1")
    try:
        yield client, url
    finally:
        await client.aclose()


async def test_a_failed_message_holds_back_the_rest_of_its_group_only(
    queue: tuple[SqsJsonClient, str],
) -> None:
    client, url = queue
    bodies = {(order, kind): _body(order, kind)
              for order in ("order-a", "order-b")
              for kind in ("approve", "deposit", "refund")}
    for (order, _kind), body in bodies.items():
        await client.send_message(url, body, group_id=order, dedup_id=uuid.uuid4().hex)
    failing = bodies[("order-a", "deposit")].encode()
    producer = FailingProducer(refuse={failing})
    bridge = SqsKafkaBridge(BridgeSettings(queue_name=url.rsplit("/", 1)[-1]))
    bridge._sqs, bridge.queue_url = client, url
    bridge._producer = producer

    assert await bridge.run_once() == 6

    # order-a: its approve went out, its deposit failed, so its refund was never sent.
    sent = [b.decode() for b in producer.sent]
    assert sent.index(bodies[("order-a", "approve")]) < sent.index(bodies[("order-a",
                                                                           "deposit")])
    assert bodies[("order-a", "refund")] not in sent
    assert [b for b in sent if '"order-b"' in b] == [
        bodies[("order-b", k)] for k in ("approve", "deposit", "refund")]
    # Left on SQS: the failed deposit and the refund behind it, in their order.
    await asyncio.sleep(1.2)
    again = await client.receive_messages(url, wait_seconds=1)
    assert [m["Body"] for m in again] == [bodies[("order-a", "deposit")],
                                          bodies[("order-a", "refund")]]


class RecordingProducer(FailingProducer):
    def __init__(self) -> None:
        super().__init__(refuse=set())
        self.topics: list[tuple[str, bytes]] = []

    async def send(self, topic: str, value: bytes, key: bytes,
                   headers: list[tuple[str, bytes]]) -> asyncio.Future[None]:
        self.topics.append((topic, key))
        return await super().send(topic, value, key, headers)


def test_the_topic_attribute_picks_the_model_and_unknown_topics_are_refused() -> None:
    created = OrderCreated(order_id="order-c", customer_id="cust-order",
                           amount=Money.of("5.00", "USD"), correlation_id="corr",
                           occurred_at=datetime.now(UTC)).model_dump_json()
    accepted = validate_message(created, "order-c", ORDER_CREATED)
    assert isinstance(accepted, Accepted) and accepted.topic == ORDER_CREATED
    # A registration is not a payment request, nor the other way round.
    assert isinstance(validate_message(created, "order-c"), Rejected)
    assert isinstance(validate_message(_body("order-c", "deposit"), "order-c", ORDER_CREATED),
                      Rejected)
    refused = validate_message(created, "order-c", "payment-approved")
    assert isinstance(refused, Rejected) and "unknown topic" in refused.reason


async def test_an_orders_registration_and_requests_reach_their_topics_in_order(
    queue: tuple[SqsJsonClient, str],
) -> None:
    client, url = queue
    created = OrderCreated(order_id="order-c", customer_id="cust-order",
                           amount=Money.of("5.00", "USD"), correlation_id="corr",
                           occurred_at=datetime.now(UTC)).model_dump_json()
    await client.send_message(url, created, group_id="order-c", dedup_id=uuid.uuid4().hex,
                              attributes={QUEUE_TOPIC_ATTRIBUTE: ORDER_CREATED})
    await client.send_message(url, _body("order-c", "approve"), group_id="order-c",
                              dedup_id=uuid.uuid4().hex,
                              attributes={QUEUE_TOPIC_ATTRIBUTE: PAYMENT_REQUESTS})
    producer = RecordingProducer()
    bridge = SqsKafkaBridge(BridgeSettings(queue_name=url.rsplit("/", 1)[-1]))
    bridge._sqs, bridge.queue_url = client, url
    bridge._producer = producer
    handled = 0
    while handled < 2:
        handled += await bridge.run_once()
    assert producer.topics == [(ORDER_CREATED, b"order-c"), (PAYMENT_REQUESTS, b"order-c")]

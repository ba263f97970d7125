"""The edge's SQS client (JSON protocol, SigV4) and its batching sender, against ElasticMQ."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from edge_helpers import payment_request

from api_edge.enqueue import EnqueueError, PaymentQueue
from bridge_sqs.sqs_client import SqsError, SqsJsonClient
from devstack.ports import free_port
from devstack.sqs import sqs_client
from streams.channels import PAYMENT_QUEUE


def _drain_group(endpoint: str, group: str) -> list[dict[str, object]]:
    """Receive (and delete) every message of one order's group, in delivery order."""
    client = sqs_client(endpoint)
    url = client.get_queue_url(QueueName=PAYMENT_QUEUE)["QueueUrl"]
    mine: list[dict[str, object]] = []
    for _ in range(50):
        got = client.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                     AttributeNames=["All"], MessageAttributeNames=["All"],
                                     VisibilityTimeout=30, WaitTimeSeconds=0)
        messages = got.get("Messages", [])
        if not messages:
            break
        for m in messages:
            if m["Attributes"]["MessageGroupId"] == group:
                mine.append(m)
                client.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            else:  # another test's message: make it visible again at once
                client.change_message_visibility(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"],
                                                 VisibilityTimeout=0)
    return mine


async def test_actions_and_errors(sqs_endpoint: str) -> None:
    client = SqsJsonClient(sqs_endpoint, "us-east-1")
    try:
        url = await client.get_queue_url(PAYMENT_QUEUE)
        assert url.endswith(PAYMENT_QUEUE)
        attrs = await client.get_queue_attributes(url, ["FifoQueue"])
        assert attrs["FifoQueue"] == "true"
        with pytest.raises(SqsError) as missing:
            await client.get_queue_url("no-such-queue.fifo")
        assert missing.value.code == "QueueDoesNotExist"
        assert missing.value.status == 400
        group = f"sqs-json-{uuid.uuid4().hex[:8]}"
        answer = await client.send_message_batch(url, [
            {"Id": "0", "MessageBody": '{"ok": true}', "MessageGroupId": group,
             "MessageDeduplicationId": uuid.uuid4().hex},
            {"Id": "1", "MessageBody": "", "MessageGroupId": group,
             "MessageDeduplicationId": uuid.uuid4().hex},
        ])
        assert [ok["Id"] for ok in answer["Successful"]] == ["0"]
        assert [failed["Id"] for failed in answer["Failed"]] == ["1"]
    finally:
        await client.aclose()


def test_requests_are_signed_with_sigv4_from_the_aws_credential_chain(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAPAYSTREAMTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-a-real-secret")
    client = SqsJsonClient(None, "eu-west-1")
    assert client.endpoint_url == "https://sqs.eu-west-1.amazonaws.com"
    headers = client._signed_headers("SendMessageBatch", b"{}")
    assert headers["Authorization"].startswith(
        "AWS4-HMAC-SHA256 Credential=AKIAPAYSTREAMTEST/")
    assert "/eu-west-1/sqs/aws4_request" in headers["Authorization"]
    assert "not-a-real-secret" not in str(headers)
    assert headers["X-Amz-Target"] == "AmazonSQS.SendMessageBatch"
    assert headers["Content-Type"] == "application/x-amz-json-1.0"


async def test_unreachable_server_is_an_sqs_error() -> None:
    client = SqsJsonClient(f"http://127.0.0.1:{free_port()}", "us-east-1", timeout_seconds=1)
    try:
        with pytest.raises(SqsError) as info:
            await client.get_queue_url(PAYMENT_QUEUE)
        assert info.value.code == "Unreachable"
    finally:
        await client.aclose()


async def test_concurrent_sends_share_batches_and_keep_group_and_dedup(
    sqs_endpoint: str,
) -> None:
    queue = PaymentQueue(sqs_endpoint, PAYMENT_QUEUE, senders=1, linger_seconds=0.02)
    calls: list[int] = []
    real = queue._client.send_message_batch

    async def counting(url: str, entries: list[dict[str, object]]) -> dict[str, object]:
        calls.append(len(entries))
        return await real(url, entries)

    queue._client.send_message_batch = counting  # type: ignore[method-assign]
    await queue.start()
    order = f"sqs-batch-{uuid.uuid4().hex[:8]}"
    requests = [payment_request(order) for _ in range(7)]
    try:
        ids = await asyncio.gather(*(queue.send(r, r.idempotency_key) for r in requests))
        # The same dedup id again: SQS drops it, and the caller still gets a message id.
        again = await queue.send(requests[0], requests[0].idempotency_key)
    finally:
        await queue.stop()
    assert len(set(ids)) == 7 and again
    assert sum(calls) == 8 and len(calls) < 8  # seven concurrent sends needed fewer calls
    received = _drain_group(sqs_endpoint, order)
    assert sorted(m["Attributes"]["MessageDeduplicationId"]  # type: ignore[index]
                  for m in received) == sorted(r.idempotency_key for r in requests)
    kinds = {m["MessageAttributes"]["kind"]["StringValue"]  # type: ignore[index]
             for m in received}
    assert kinds == {"approve"}


async def test_a_refused_batch_fails_its_callers_only() -> None:
    queue = PaymentQueue(f"http://127.0.0.1:{free_port()}", PAYMENT_QUEUE, timeout_seconds=1)
    await queue.start()
    try:
        request = payment_request(f"sqs-down-{uuid.uuid4().hex[:8]}")
        with pytest.raises(EnqueueError, match="refused the batch"):
            await queue.send(request, request.idempotency_key)
    finally:
        await queue.stop()

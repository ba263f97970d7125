"""boto3 against the real SQS-protocol server: FIFO, deduplication, dead-letter queue."""

from __future__ import annotations

import json
import uuid

from devstack.sqs import sqs_client
from streams.channels import MAX_RECEIVE_COUNT, PAYMENT_DLQ, PAYMENT_QUEUE


def test_payment_queue_is_fifo_with_dead_letter_queue(sqs_endpoint: str) -> None:
    sqs = sqs_client(sqs_endpoint)
    url = sqs.get_queue_url(QueueName=PAYMENT_QUEUE)["QueueUrl"]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attrs["FifoQueue"] == "true"
    policy = json.loads(attrs["RedrivePolicy"])
    assert policy["deadLetterTargetArn"].endswith(PAYMENT_DLQ)
    assert int(policy["maxReceiveCount"]) == MAX_RECEIVE_COUNT


def test_fifo_send_receive_delete_with_deduplication(sqs_endpoint: str) -> None:
    sqs = sqs_client(sqs_endpoint)
    url = sqs.create_queue(QueueName=f"t-{uuid.uuid4().hex[:8]}.fifo",
                           Attributes={"FifoQueue": "true"})["QueueUrl"]
    for i, dedup in enumerate(["k1", "k2", "k1", "k3"]):
        sqs.send_message(QueueUrl=url, MessageBody=f"m{i}", MessageGroupId="order-1",
                         MessageDeduplicationId=dedup)
    bodies: list[str] = []
    for _ in range(10):
        resp = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        for msg in resp.get("Messages", []):
            bodies.append(msg["Body"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=msg["ReceiptHandle"])
        if len(bodies) >= 3:
            break
    # The third send reused dedup id k1 within the window, so it was dropped; order kept.
    assert bodies == ["m0", "m1", "m3"]
    empty = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
    assert not empty.get("Messages")


def test_message_moves_to_dead_letter_queue_after_max_receives(sqs_endpoint: str) -> None:
    sqs = sqs_client(sqs_endpoint)
    suffix = uuid.uuid4().hex[:8]
    dlq_url = sqs.create_queue(QueueName=f"dlq-{suffix}.fifo",
                               Attributes={"FifoQueue": "true"})["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    url = sqs.create_queue(QueueName=f"q-{suffix}.fifo", Attributes={
        "FifoQueue": "true",
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "2"}),
    })["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="poison", MessageGroupId="g",
                     MessageDeduplicationId="p1")
    receives = 0
    for _ in range(6):
        # Visibility 0 returns it at once: a consumer that keeps failing without deleting.
        resp = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, VisibilityTimeout=0,
                                   WaitTimeSeconds=1)
        receives += len(resp.get("Messages", []))
    assert receives == 2
    moved = sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=1, WaitTimeSeconds=2)
    assert [m["Body"] for m in moved["Messages"]] == ["poison"]

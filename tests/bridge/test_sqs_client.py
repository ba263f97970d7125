"""The bridge's side of the one SQS client (receive, delete, dead-letter send), against
ElasticMQ, on a FIFO queue of the test's own so other suites' bridges do not interfere."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from bridge_sqs.sqs_client import SqsJsonClient
from devstack.sqs import sqs_client


@pytest.fixture
async def fifo(sqs_endpoint: str) -> AsyncIterator[tuple[SqsJsonClient, str]]:
    name = f"bridge-client-{uuid.uuid4().hex[:8]}.fifo"
    url = sqs_client(sqs_endpoint).create_queue(
        QueueName=name, Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "false"},
    )["QueueUrl"]
    client = SqsJsonClient(sqs_endpoint, "us-east-1")
    try:
        yield client, str(url)
    finally:
        await client.aclose()


async def test_send_receive_delete_keep_group_order_and_attributes(
    fifo: tuple[SqsJsonClient, str],
) -> None:
    client, url = fifo
    for i in range(3):
        await client.send_message(url, f'{{"n": {i}}}', group_id="order-1",
                                  dedup_id=uuid.uuid4().hex, attributes={"reason": f"r{i}"})
    got = await client.receive_messages(url, max_messages=10, wait_seconds=1,
                                        attribute_names=("MessageGroupId",
                                                         "ApproximateReceiveCount"))
    assert [m["Body"] for m in got] == ['{"n": 0}', '{"n": 1}', '{"n": 2}']
    assert {m["Attributes"]["MessageGroupId"] for m in got} == {"order-1"}
    assert got[0]["Attributes"]["ApproximateReceiveCount"] == "1"
    assert got[1]["MessageAttributes"]["reason"]["StringValue"] == "r1"
    failed = await client.delete_message_batch(url, [m["ReceiptHandle"] for m in got])
    assert failed == []
    attrs = await client.get_queue_attributes(url, ["ApproximateNumberOfMessages",
                                                   "ApproximateNumberOfMessagesNotVisible"])
    assert attrs["ApproximateNumberOfMessages"] == "0"
    assert attrs["ApproximateNumberOfMessagesNotVisible"] == "0"


async def test_an_empty_long_poll_returns_nothing_after_the_wait(
    fifo: tuple[SqsJsonClient, str],
) -> None:
    client, url = fifo
    # The wait (1 s) is longer than each attempt's own timeout (0.5 s): the long poll
    # must extend it rather than fail as unreachable.
    short = SqsJsonClient(client.endpoint_url, "us-east-1", timeout_seconds=1.0)
    try:
        assert await short.receive_messages(url, wait_seconds=1) == []
    finally:
        await short.aclose()


async def test_a_stale_receipt_handle_is_reported_not_raised(
    fifo: tuple[SqsJsonClient, str],
) -> None:
    client, url = fifo
    failed = await client.delete_message_batch(url, ["not-a-receipt-handle"])
    assert [f["Id"] for f in failed] == ["0"]


def test_without_credentials_a_local_endpoint_is_unsigned_and_aws_is_refused(
    no_credentials: None,
) -> None:
    local = SqsJsonClient("http://127.0.0.1:9324", "us-east-1")
    assert "Authorization" not in local._signed_headers("ReceiveMessage", b"{}")
    remote = SqsJsonClient(None, "eu-west-1")
    with pytest.raises(Exception, match="NoCredentials"):
        remote._signed_headers("ReceiveMessage", b"{}")


class _Chain:
    """botocore's session as far as the client uses it, counting walks of the chain."""

    def __init__(self, found: object) -> None:
        self.found = found
        self.walks = 0

    def get_credentials(self) -> object:
        self.walks += 1
        return self.found


def test_the_credential_chain_is_walked_once(monkeypatch: pytest.MonkeyPatch) -> None:
    import bridge_sqs.sqs_client as module

    empty = _Chain(None)
    monkeypatch.setattr(module, "get_session", lambda: empty)
    local = SqsJsonClient("http://127.0.0.1:1", "us-east-1")
    for _ in range(3):
        assert local._signed_headers("SendMessageBatch", b"{}").get("Authorization") is None
    assert empty.walks == 1
    # AWS's own endpoint without credentials is an error, and asked again next time.
    aws = SqsJsonClient(None, "us-east-1")
    for _ in range(2):
        with pytest.raises(module.SqsError):
            aws._signed_headers("SendMessageBatch", b"{}")
    assert empty.walks == 3

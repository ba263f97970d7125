"""`paystream dlq` and the dead-letter figures of `paystream status`, against a real Kafka
and a real ElasticMQ. Both channels are shared with other tests in the session, so every
assertion looks at this test's own order ids or at differences."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from typer.testing import CliRunner

from devstack.dlq import (
    Parked,
    display_payload,
    read_kafka,
    read_sqs,
    replay,
    replay_sqs,
    show_record,
    sqs_depth,
    summarize,
    topic_partitions,
)
from devstack.sqs import sqs_client
from devstack.status import kafka_figures, parked_figures
from schemas.dead_letter import DeadLetter
from schemas.money import Money
from schemas.payment_request import PaymentRequest
from streams.channels import PAYMENT_DLQ, PAYMENT_QUEUE, PAYMENT_REQUESTS, PAYMENT_REQUESTS_DLQ
from streams.cli import app as cli_app
from streams.provision import ensure_topics

pytestmark = pytest.mark.stack


def request(order_id: str, kind: str, **fields: Any) -> PaymentRequest:
    return PaymentRequest(payment_id=f"pay_{uuid.uuid4().hex[:12]}",
                          idempotency_key=f"key-{uuid.uuid4().hex}", order_id=order_id,
                          customer_id="cust-shopper1", kind=kind,  # type: ignore[arg-type]
                          correlation_id=f"cid-{order_id}", requested_at=datetime.now(UTC),
                          **fields)


def letter(req: PaymentRequest, reason: str) -> DeadLetter:
    return DeadLetter(source=PAYMENT_REQUESTS, reason=reason, payload=req.model_dump_json(),
                      error_type="GatewayUnavailable", first_seen_at=datetime.now(UTC),
                      attempts=5, order_id=req.order_id, idempotency_key=req.idempotency_key)


async def park(bootstrap: str, letters: list[DeadLetter]) -> None:
    await ensure_topics(bootstrap, 4)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for item in letters:
            await producer.send_and_wait(PAYMENT_REQUESTS_DLQ, item.model_dump_json().encode(),
                                         key=(item.order_id or "").encode())
    finally:
        await producer.stop()


async def requests_for(bootstrap: str, order_id: str) -> list[PaymentRequest]:
    parts = await topic_partitions(bootstrap, PAYMENT_REQUESTS)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        ends = await consumer.end_offsets(parts)
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        found: list[PaymentRequest] = []
        while [tp for tp in parts if await consumer.position(tp) < ends[tp]]:
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                found += [PaymentRequest.model_validate_json(r.value or b"") for r in records
                          if r.key == order_id.encode()]
        return found
    finally:
        await consumer.stop()


def test_status_counts_every_kafka_dead_letter(kafka_bootstrap: str) -> None:
    before = asyncio.run(kafka_figures(kafka_bootstrap))["kafka_dead_letters"]
    oid = f"dlq-{uuid.uuid4().hex[:8]}"
    asyncio.run(park(kafka_bootstrap, [letter(request(oid, "reverse"), f"parked {i}")
                                       for i in range(7)]))
    after = asyncio.run(kafka_figures(kafka_bootstrap))["kafka_dead_letters"]
    assert after - before == 7


def test_list_and_show_kafka_dead_letters_redacted(kafka_bootstrap: str,
                                                   sqs_endpoint: str) -> None:
    oid = f"dlq-{uuid.uuid4().hex[:8]}"
    approve = request(oid, "approve", amount=Money(amount=Decimal("12.00"), currency="USD"),
                      payment_method_token="tok-secret-123", payment_method_type="credit_card")
    asyncio.run(park(kafka_bootstrap, [letter(approve, "gateway unavailable"),
                                       letter(request(oid, "reverse"), "gateway unavailable")]))
    mine = [p for p in asyncio.run(read_kafka(kafka_bootstrap)) if p.key == oid]
    assert len(mine) == 2
    summary = summarize(mine, datetime.now(UTC))
    assert summary["kafka"]["count"] == 2
    assert summary["kafka"]["reasons"] == {"GatewayUnavailable: gateway unavailable": 2}
    assert 0 <= summary["kafka"]["oldest_age_s"] < 120
    shown = show_record(mine[0], datetime.now(UTC))
    assert "tok-secret-123" not in json.dumps(shown)
    assert shown["payload"]["order_id"] == oid
    figures = parked_figures(kafka_bootstrap, sqs_endpoint)
    assert figures["kafka"]["count"] >= 2 and figures["kafka"]["oldest_age_s"] >= 0
    assert display_payload('{"number": "4111111111111111"}') == '{"number": "[masked]"}'


def test_kafka_replay_keeps_the_key_and_skips_redacted_approves(kafka_bootstrap: str,
                                                                sqs_endpoint: str) -> None:
    oid = f"dlq-{uuid.uuid4().hex[:8]}"
    deposit = request(oid, "deposit")
    approve = request(oid, "approve", amount=Money(amount=Decimal("5.00"), currency="USD"),
                      payment_method_nonce="fake-valid-visa-nonce",
                      payment_method_type="credit_card")
    asyncio.run(park(kafka_bootstrap, [letter(deposit, "gateway unavailable"),
                                       letter(approve, "gateway unavailable")]))
    mine = [p for p in asyncio.run(read_kafka(kafka_bootstrap)) if p.key == oid]
    first = replay(mine, kafka_bootstrap, sqs_endpoint)
    second = replay(mine, kafka_bootstrap, sqs_endpoint)
    assert len(first["replayed"]) == 1 and first == second
    assert "redacted" in next(iter(first["skipped"].values()))
    sent = asyncio.run(requests_for(kafka_bootstrap, oid))
    # Twice on the topic with the one original key: the executor runs it at most once.
    assert [r.idempotency_key for r in sent] == [deposit.idempotency_key] * 2
    assert all(r.kind == "deposit" for r in sent)


@pytest.fixture
def sqs(sqs_endpoint: str) -> Iterator[Any]:
    yield sqs_client(sqs_endpoint)


def _take_from_queue(sqs: Any, order_id: str) -> list[dict[str, Any]]:
    """This order's messages on the payment queue (deleted); others are left as they were."""
    url = sqs.get_queue_url(QueueName=PAYMENT_QUEUE)["QueueUrl"]
    mine: list[dict[str, Any]] = []
    others: list[dict[str, Any]] = []
    while msgs := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                      VisibilityTimeout=30, AttributeNames=["All"]
                                      ).get("Messages", []):
        for m in msgs:
            if m["Attributes"].get("MessageGroupId") == order_id:
                # Deleted at once: that releases the group's next messages.
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
                mine.append(m)
            else:
                others.append(m)
    for m in others:
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"],
                                      VisibilityTimeout=0)
    return mine


def test_sqs_dead_letters_list_show_and_replay_once(sqs: Any, sqs_endpoint: str,
                                                    kafka_bootstrap: str) -> None:
    oid = f"dlq-{uuid.uuid4().hex[:8]}"
    # More than one receive batch of one group: a FIFO queue hands out the rest of a
    # group only once the first batch is gone, so the replay has to go round.
    valid = [request(oid, "approve", amount=Money(amount=Decimal("7.00"), currency="USD"),
                     payment_method_nonce="fake-valid-visa-nonce",
                     payment_method_type="credit_card") for _ in range(12)]
    dlq = sqs.get_queue_url(QueueName=PAYMENT_DLQ)["QueueUrl"]
    depth_before = sqs_depth(sqs_endpoint)
    # Moved by the redrive policy (no reason attribute), and one parked by the bridge.
    for req in valid:
        sqs.send_message(QueueUrl=dlq, MessageBody=req.model_dump_json(), MessageGroupId=oid,
                         MessageDeduplicationId=uuid.uuid4().hex)
    bad_group = f"{oid}-bad"
    sqs.send_message(QueueUrl=dlq, MessageBody='{"kind": "approve"', MessageGroupId=bad_group,
                     MessageDeduplicationId=uuid.uuid4().hex, MessageAttributes={
                         "reason": {"DataType": "String", "StringValue": "invalid JSON"},
                         "source_queue": {"DataType": "String", "StringValue": PAYMENT_QUEUE}})

    def mine() -> list[Parked]:
        return [p for p in read_sqs(sqs_endpoint) if p.key in (oid, bad_group)]

    listed = mine()
    # A scan sees at least each group's oldest message (which others a receive batch
    # mixes in is the queue's choice), and reading leaves them all in place.
    assert {p.key for p in listed} == {oid, bad_group} and len(mine()) == len(listed)
    assert sqs_depth(sqs_endpoint) - depth_before == 13
    summary = summarize(listed, datetime.now(UTC), sqs_count=13)["sqs"]
    assert (summary["count"], summary["scanned"]) == (13, len(listed))
    assert set(summary["reasons"]) == {"Rejected: invalid JSON",
                                       "ReceiveCountExceeded: not deleted after 5 receives"}
    shown = show_record(next(p for p in listed if p.key == oid), datetime.now(UTC))
    assert "fake-valid-visa-nonce" not in json.dumps(shown)

    def choose(p: Parked) -> bool:
        return p.key in (oid, bad_group)

    result = replay_sqs(kafka_bootstrap, sqs_endpoint, choose)
    assert len(result["replayed"]) == 12 and len(result["skipped"]) == 1
    assert replay_sqs(kafka_bootstrap, sqs_endpoint, choose)["replayed"] == []
    back = _take_from_queue(sqs, oid)
    assert sorted(m["Attributes"]["MessageDeduplicationId"] for m in back) == sorted(
        r.idempotency_key for r in valid)
    assert [PaymentRequest.model_validate_json(m["Body"]) for m in back] == valid  # in order
    assert [p.key for p in mine()] == [bad_group]  # the invalid one stays parked


def test_dlq_commands_list_show_and_replay_through_the_cli(kafka_bootstrap: str,
                                                           sqs_endpoint: str) -> None:
    oid = f"dlq-{uuid.uuid4().hex[:8]}"
    asyncio.run(park(kafka_bootstrap, [letter(request(oid, "reverse"), "cli check")]))
    runner = CliRunner()
    where = ["--kafka", kafka_bootstrap, "--sqs", sqs_endpoint]
    listed = runner.invoke(cli_app, ["dlq", "list", *where])
    assert listed.exit_code == 0, listed.output
    record = next(r for r in json.loads(listed.output)["kafka"]["records"]
                  if r["order_id"] == oid)
    shown = runner.invoke(cli_app, ["dlq", "show", record["id"], *where])
    assert shown.exit_code == 0 and json.loads(shown.output)["reason"] == "cli check"
    replayed = runner.invoke(cli_app, ["dlq", "replay", record["id"], "--channel", "kafka",
                                       *where])
    assert replayed.exit_code == 0 and json.loads(replayed.output)["replayed"] == [record["id"]]

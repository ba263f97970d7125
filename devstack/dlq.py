"""`paystream dlq list|show|replay`: what is parked in the Kafka dead-letter topic
(`payment-requests-dlq`) and the SQS dead-letter queue (`payment-requests-dlq.fifo`), one
parked record's redacted payload, and re-injecting records where they came from.

A replay keeps each request's idempotency key: back on `payment-requests` (key = order
id) the executor de-duplicates by it; back on the SQS queue the key is the deduplication
id, as the edge sends it. So replaying twice changes nothing at the gateway. A Kafka dead
letter's payload had its payment credentials redacted when it was parked, so an approve
parked there cannot be replayed (the shopper has to check out again); the command says so
instead of sending a request that would fail.

Record ids: `kafka:<partition>:<offset>` and `sqs:<message id>`.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import typer
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from pydantic import ValidationError

from devstack.sqs import sqs_client
from schemas.dead_letter import REDACTED, DeadLetter, redact
from schemas.payment_request import PaymentRequest
from streams.channels import (
    ALL_TOPICS,
    MAX_RECEIVE_COUNT,
    PAYMENT_DLQ,
    PAYMENT_QUEUE,
    PAYMENT_REQUESTS,
    PAYMENT_REQUESTS_DLQ,
)

# Long digit runs are shown masked: a dead letter is read by people, and a payment
# request never needs one (amounts have a decimal point, ids are shorter).
_PAN_LIKE: Final = re.compile(r"\b\d{12,19}\b")
# How long a scanned SQS message stays hidden; the scan makes it visible again at once.
SCAN_VISIBILITY_S: Final = 30
REASON_GROUP_CHARS: Final = 120


@dataclass(frozen=True)
class Parked:
    """One parked record, from either dead-letter channel."""

    id: str
    channel: str  # kafka | sqs
    source: str  # where it came from: a topic, or the SQS queue
    reason: str
    error_type: str
    parked_at: datetime
    payload: str  # as parked; redact before showing
    key: str | None = None  # Kafka key / SQS message group (the order id)
    receipt: str | None = None  # SQS receipt handle while scanned

    def age_s(self, now: datetime) -> float:
        return max(0.0, (now - self.parked_at).total_seconds())


def display_payload(payload: str) -> str:
    return _PAN_LIKE.sub("[masked]", redact(payload))


# ------------------------------------------------------------------------- reading


async def topic_partitions(bootstrap: str, topic: str) -> list[TopicPartition]:
    """The topic's partitions, asked of the broker. (A consumer with no subscription
    answers partitions_for_topic with None, even after topics(): that is how `paystream
    status` came to report 0 dead letters while the topic held 7.)"""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    await admin.start()
    try:
        described = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return [TopicPartition(topic, p["partition"]) for d in described
            if d["topic"] == topic and not d["error_code"] for p in d["partitions"]]


async def read_kafka(bootstrap: str) -> list[Parked]:
    """Every record in the dead-letter topic, from the beginning."""
    parts = await topic_partitions(bootstrap, PAYMENT_REQUESTS_DLQ)
    if not parts:
        return []
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        ends = await consumer.end_offsets(parts)
        starts = await consumer.beginning_offsets(parts)
        todo = {tp: ends[tp] for tp in parts if ends[tp] > starts[tp]}
        if not todo:
            return []
        consumer.assign(list(todo))
        for tp in todo:
            consumer.seek(tp, starts[tp])
        found: list[Parked] = []
        while todo:
            batch = await consumer.getmany(timeout_ms=2000)
            if not batch:
                break
            for tp, records in batch.items():
                for rec in records:
                    if rec.offset < todo.get(tp, 0):
                        found.append(_from_kafka(tp.partition, rec.offset, rec.timestamp,
                                                 rec.key, rec.value))
                if records and records[-1].offset + 1 >= todo.get(tp, 0):
                    todo.pop(tp, None)
        return found
    finally:
        await consumer.stop()


def _from_kafka(partition: int, offset: int, timestamp_ms: int, key: bytes | None,
                value: bytes | None) -> Parked:
    rid = f"kafka:{partition}:{offset}"
    when = datetime.fromtimestamp(timestamp_ms / 1000, UTC)
    order_id = key.decode("utf-8", errors="replace") if key else None
    try:
        letter = DeadLetter.model_validate_json(value or b"")
    except ValidationError:
        return Parked(rid, "kafka", "unknown", "unreadable dead letter", "Unreadable", when,
                      (value or b"").decode("utf-8", errors="replace"), order_id)
    return Parked(rid, "kafka", letter.source, letter.reason, letter.error_type,
                  letter.first_seen_at, letter.payload, letter.order_id or order_id)


def sqs_depth(endpoint: str) -> int:
    """How many messages the SQS dead-letter queue holds, hidden ones included."""
    sqs = sqs_client(endpoint)
    url = sqs.get_queue_url(QueueName=PAYMENT_DLQ)["QueueUrl"]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(
        attrs["ApproximateNumberOfMessagesNotVisible"])


def read_sqs(endpoint: str, hold: bool = False) -> list[Parked]:
    """The SQS dead-letter queue's messages that can be received now. Receiving hides a
    message; unless `hold`, each is made visible again right away, so reading changes
    nothing. A FIFO queue hands out no message of a group while an earlier one of that
    group is hidden, so a scan sees the first batch of each group: always each group's
    oldest message, not necessarily all of them (sqs_depth counts them all; a replay goes
    round until nothing more comes back)."""
    sqs = sqs_client(endpoint)
    url = sqs.get_queue_url(QueueName=PAYMENT_DLQ)["QueueUrl"]
    found: list[Parked] = []
    while True:
        resp = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                                   VisibilityTimeout=SCAN_VISIBILITY_S,
                                   AttributeNames=["All"], MessageAttributeNames=["All"])
        messages = resp.get("Messages", [])
        if not messages:
            break
        for msg in messages:
            attrs = msg.get("Attributes", {})
            extra = {k: v.get("StringValue", "") for k, v in
                     msg.get("MessageAttributes", {}).items()}
            found.append(Parked(
                f"sqs:{msg['MessageId']}", "sqs", extra.get("source_queue", PAYMENT_QUEUE),
                extra.get("reason") or f"not deleted after {MAX_RECEIVE_COUNT} receives",
                "Rejected" if "reason" in extra else "ReceiveCountExceeded",
                datetime.fromtimestamp(int(attrs.get("SentTimestamp", "0")) / 1000, UTC),
                msg["Body"], attrs.get("MessageGroupId"), msg["ReceiptHandle"]))
    if not hold:
        for p in found:
            sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=p.receipt,
                                          VisibilityTimeout=0)
    return found


# ----------------------------------------------------------------------- summaries


def summarize(parked: list[Parked], now: datetime,
              sqs_count: int | None = None) -> dict[str, Any]:
    """Counts per channel and reason, and the oldest record's age; pure. `sqs_count`, the
    queue's own count, wins over the scanned records (see read_sqs)."""
    out: dict[str, Any] = {}
    for channel in ("kafka", "sqs"):
        mine = [p for p in parked if p.channel == channel]
        reasons: dict[str, int] = {}
        for p in mine:
            label = f"{p.error_type}: {p.reason[:REASON_GROUP_CHARS]}"
            reasons[label] = reasons.get(label, 0) + 1
        count = max(len(mine), sqs_count or 0) if channel == "sqs" else len(mine)
        out[channel] = {
            "count": count,
            "scanned": len(mine),
            "oldest_age_s": round(max((p.age_s(now) for p in mine), default=0.0), 1),
            "reasons": dict(sorted(reasons.items(), key=lambda kv: -kv[1])),
            "records": [{"id": p.id, "source": p.source, "order_id": p.key,
                         "age_s": round(p.age_s(now), 1), "reason": p.reason[:200]}
                        for p in mine],
        }
    return out


def show_record(p: Parked, now: datetime) -> dict[str, Any]:
    payload = display_payload(p.payload)
    try:
        parsed: Any = json.loads(payload)
    except ValueError:
        parsed = payload
    return {"id": p.id, "channel": p.channel, "source": p.source, "order_id": p.key,
            "reason": p.reason, "error_type": p.error_type,
            "parked_at": p.parked_at.isoformat(), "age_s": round(p.age_s(now), 1),
            "payload": parsed}


# -------------------------------------------------------------------------- replay


def replayable(p: Parked) -> tuple[PaymentRequest | None, str]:
    """The request to send again, or None and why not; pure."""
    if p.source not in (PAYMENT_REQUESTS, PAYMENT_QUEUE):
        if p.source in ALL_TOPICS:
            return None, f"from {p.source}: an event, not a request; not replayed"
        return None, f"unknown source {p.source!r}"
    if f'"{REDACTED}"' in p.payload and p.channel == "kafka":
        return None, "payment credential redacted when parked: the shopper must pay again"
    try:
        return PaymentRequest.model_validate_json(p.payload), "ok"
    except ValidationError as exc:
        return None, f"still not a valid payment request ({exc.error_count()} errors)"


async def _send_kafka(bootstrap: str, requests: list[PaymentRequest]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all",
                                enable_idempotence=True)
    await producer.start()
    try:
        for req in requests:
            await producer.send_and_wait(
                PAYMENT_REQUESTS, req.model_dump_json().encode(), key=req.order_id.encode(),
                headers=[("correlation_id", req.correlation_id.encode())])
    finally:
        await producer.stop()


def replay(parked: list[Parked], bootstrap: str, endpoint: str) -> dict[str, Any]:
    """Send each replayable record back where it came from; SQS dead letters that were
    sent are deleted from the dead-letter queue, the others made visible again."""
    sent: list[str] = []
    skipped: dict[str, str] = {}
    to_kafka: list[PaymentRequest] = []
    sqs = sqs_client(endpoint)
    dlq_url = sqs.get_queue_url(QueueName=PAYMENT_DLQ)["QueueUrl"]
    queue_url = sqs.get_queue_url(QueueName=PAYMENT_QUEUE)["QueueUrl"]
    for p in parked:
        request, why = replayable(p)
        if request is None:
            skipped[p.id] = why
            if p.receipt:
                sqs.change_message_visibility(QueueUrl=dlq_url, ReceiptHandle=p.receipt,
                                              VisibilityTimeout=0)
            continue
        if p.channel == "kafka":
            to_kafka.append(request)
        else:
            sqs.send_message(QueueUrl=queue_url, MessageBody=p.payload,
                             MessageGroupId=p.key or request.order_id,
                             MessageDeduplicationId=request.idempotency_key)
            sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=p.receipt)
        sent.append(p.id)
    if to_kafka:
        asyncio.run(_send_kafka(bootstrap, to_kafka))
    return {"replayed": sent, "skipped": skipped}


# ------------------------------------------------------------------------- command

dlq_app = typer.Typer(help="Dead letters on Kafka and SQS: list, show, replay",
                      no_args_is_help=True)


def _endpoints(kafka: str | None, sqs: str | None) -> tuple[str, str]:
    from devstack.platform import read_platform_state

    state = read_platform_state() or {}
    bootstrap, endpoint = kafka or state.get("kafka"), sqs or state.get("sqs")
    if not (bootstrap and endpoint):
        typer.echo("no running platform found: start `paystream up`, or pass --kafka and "
                   "--sqs", err=True)
        raise typer.Exit(2)
    return bootstrap, endpoint


def _select(parked: list[Parked], ids: list[str], channel: str | None) -> list[Parked]:
    return [p for p in parked if (not ids or p.id in ids)
            and (channel is None or p.channel == channel)]


KAFKA_OPT = typer.Option(None, "--kafka", help="Bootstrap servers (default: the platform's)")
SQS_OPT = typer.Option(None, "--sqs", help="SQS endpoint (default: the platform's)")


@dlq_app.command("list")
def list_cmd(kafka: str | None = KAFKA_OPT, sqs: str | None = SQS_OPT) -> None:
    """Counts per reason and the age of every parked record, on both channels."""
    bootstrap, endpoint = _endpoints(kafka, sqs)
    parked = asyncio.run(read_kafka(bootstrap)) + read_sqs(endpoint)
    print(json.dumps(summarize(parked, datetime.now(UTC), sqs_depth(endpoint)), indent=2))


@dlq_app.command("show")
def show_cmd(record_id: str, kafka: str | None = KAFKA_OPT, sqs: str | None = SQS_OPT) -> None:
    """One parked record with its payload; credentials and card-like numbers masked."""
    bootstrap, endpoint = _endpoints(kafka, sqs)
    parked = (asyncio.run(read_kafka(bootstrap)) if record_id.startswith("kafka:")
              else read_sqs(endpoint))
    match = [p for p in parked if p.id == record_id]
    if not match:
        typer.echo(f"no parked record {record_id}", err=True)
        raise typer.Exit(1)
    print(json.dumps(show_record(match[0], datetime.now(UTC)), indent=2))


@dlq_app.command("replay")
def replay_cmd(record_ids: list[str] = typer.Argument(None, help="Default: every record"),
               channel: str | None = typer.Option(None, "--channel",
                                                  help="Only kafka or only sqs"),
               kafka: str | None = KAFKA_OPT, sqs: str | None = SQS_OPT) -> None:
    """Send parked requests back where they came from, with their idempotency keys."""
    bootstrap, endpoint = _endpoints(kafka, sqs)
    ids = record_ids or []
    result: dict[str, Any] = {"replayed": [], "skipped": {}}
    if channel in (None, "kafka"):
        result = replay(_select(asyncio.run(read_kafka(bootstrap)), ids, "kafka"),
                        bootstrap, endpoint)
    if channel in (None, "sqs"):
        done = replay_sqs(bootstrap, endpoint, lambda p: not ids or p.id in ids)
        result = {"replayed": result["replayed"] + done["replayed"],
                  "skipped": {**result["skipped"], **done["skipped"]}}
    print(json.dumps(result, indent=2))


def replay_sqs(bootstrap: str, endpoint: str,
               choose: Callable[[Parked], bool]) -> dict[str, Any]:
    """Replay the chosen SQS dead letters, in rounds: deleting what was replayed releases
    the next messages of its group (see read_sqs)."""
    result: dict[str, Any] = {"replayed": [], "skipped": {}}
    while True:
        chosen = _take_sqs(endpoint, lambda p: choose(p) and p.id not in result["skipped"])
        if not chosen:
            return result
        done = replay(chosen, bootstrap, endpoint)
        result["replayed"] += done["replayed"]
        result["skipped"].update(done["skipped"])
        if not done["replayed"]:
            return result


def _take_sqs(endpoint: str, choose: Callable[[Parked], bool]) -> list[Parked]:
    """Hold the chosen SQS dead letters for a replay; release the others at once."""
    held = read_sqs(endpoint, hold=True)
    chosen = [p for p in held if choose(p)]
    client = sqs_client(endpoint)
    url = client.get_queue_url(QueueName=PAYMENT_DLQ)["QueueUrl"]
    for p in held:
        if p not in chosen:
            client.change_message_visibility(QueueUrl=url, ReceiptHandle=p.receipt,
                                             VisibilityTimeout=0)
    return chosen

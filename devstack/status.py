"""`paystream status`: what runs, consumer lag, queue depths, table sizes, dead letters."""

from __future__ import annotations

import asyncio
import json
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from typing import Any

import psutil
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from devstack.dlq import read_kafka, read_sqs, sqs_depth, summarize, topic_partitions
from devstack.sqs import sqs_client
from streams.channels import PAYMENT_DLQ, PAYMENT_QUEUE, PAYMENT_REQUESTS_DLQ


async def kafka_figures(bootstrap: str) -> dict[str, Any]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await admin.start()
    await consumer.start()
    try:
        lag: dict[str, dict[str, int]] = {}
        for group, _ in await admin.list_consumer_groups():
            offsets = await admin.list_consumer_group_offsets(group)
            if not offsets:
                continue
            ends = await consumer.end_offsets(list(offsets))
            per_topic: dict[str, int] = {}
            for tp, meta in offsets.items():
                per_topic[tp.topic] = per_topic.get(tp.topic, 0) + max(
                    0, ends[tp] - meta.offset)
            lag[group] = per_topic
        dlq_parts = await topic_partitions(bootstrap, PAYMENT_REQUESTS_DLQ)
        dead = 0
        if dlq_parts:
            ends = await consumer.end_offsets(dlq_parts)
            starts = await consumer.beginning_offsets(dlq_parts)
            dead = sum(ends[tp] - starts[tp] for tp in dlq_parts)
        return {"consumer_lag": lag, "kafka_dead_letters": dead}
    finally:
        await consumer.stop()
        await admin.close()


def sqs_figures(endpoint: str) -> dict[str, int]:
    sqs = sqs_client(endpoint)
    out = {}
    for name in (PAYMENT_QUEUE, PAYMENT_DLQ):
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        out[name] = int(attrs["ApproximateNumberOfMessages"]) + int(
            attrs["ApproximateNumberOfMessagesNotVisible"])
    return out


def table_sizes(worker_urls: list[str]) -> dict[str, int]:
    """Rows per table; each worker reports the partitions it holds, so they add up."""
    totals: dict[str, int] = {}
    for url in worker_urls:
        with urllib.request.urlopen(f"{url}/tables", timeout=5) as resp:
            sizes: dict[str, int] = json.loads(resp.read())
        for name, size in sizes.items():
            totals[name] = totals.get(name, 0) + size
    return totals


def service_token(token_endpoint: str) -> str:
    """The orchestrator client's token (development credentials) for the worker views."""
    from devstack.dev_realm import ORCHESTRATOR_CLIENT_ID, ORCHESTRATOR_CLIENT_SECRET

    data = urllib.parse.urlencode({
        "grant_type": "client_credentials", "client_id": ORCHESTRATOR_CLIENT_ID,
        "client_secret": ORCHESTRATOR_CLIENT_SECRET}).encode()
    with urllib.request.urlopen(token_endpoint, data=data, timeout=5) as resp:
        return str(json.loads(resp.read())["access_token"])


def drift_figures(worker_urls: list[str], token: str) -> dict[str, Any]:
    """The reconciler's last pass on each worker: drift found, repaired, examples."""
    totals: dict[str, Any] = {"drift": 0, "repaired": 0, "checked": 0, "examples": []}
    for url in worker_urls:
        request = urllib.request.Request(f"{url}/reconcile",
                                         headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=5) as resp:
            last: dict[str, Any] = json.loads(resp.read())
        for key in ("drift", "repaired", "checked"):
            totals[key] += int(last.get(key, 0))
        totals["examples"] += last.get("examples", [])[:3]
    return totals


def parked_figures(bootstrap: str, endpoint: str) -> dict[str, dict[str, Any]]:
    """Per dead-letter channel: how many records are parked and the oldest one's age."""
    parked = asyncio.run(read_kafka(bootstrap)) + read_sqs(endpoint)
    summary = summarize(parked, datetime.now(UTC), sqs_depth(endpoint))
    return {channel: {"count": figures["count"], "oldest_age_s": figures["oldest_age_s"]}
            for channel, figures in summary.items()}


def collect(state: dict[str, Any]) -> dict[str, Any]:
    running = {name: psutil.pid_exists(pid) for name, pid in state.get("pids", {}).items()}
    report: dict[str, Any] = {"running": running, "restarts": state.get("restarts", {})}
    try:
        report.update(asyncio.run(kafka_figures(state["kafka"])))
    except Exception as exc:  # a report, not a probe: say what failed and go on
        report["kafka_error"] = f"{type(exc).__name__}: {exc}"
    try:
        report["queue_depths"] = sqs_figures(state["sqs"])
    except Exception as exc:
        report["sqs_error"] = f"{type(exc).__name__}: {exc}"
    try:
        report["dead_letters"] = parked_figures(state["kafka"], state["sqs"])
    except Exception as exc:
        report["dlq_error"] = f"{type(exc).__name__}: {exc}"
    try:
        report["drift"] = drift_figures(state.get("workers") or [state["worker_views"]],
                                        service_token(state["token_endpoint"]))
    except Exception as exc:
        report["drift_error"] = f"{type(exc).__name__}: {exc}"
    try:
        report["table_sizes"] = table_sizes(state.get("workers") or [state["worker_views"]])
    except Exception as exc:
        report["worker_error"] = f"{type(exc).__name__}: {exc}"
    return report

"""Pure: how one SQS receive is split so that no message overtakes an earlier one of its
order (its FIFO message group)."""

from __future__ import annotations

from typing import Any

from streams.channels import QUEUE_TOPIC_ATTRIBUTE


def group_id(message: dict[str, Any]) -> str | None:
    group = message.get("Attributes", {}).get("MessageGroupId")
    return str(group) if group is not None else None


def topic_of(message: dict[str, Any]) -> str | None:
    """The Kafka topic the edge named for the message (`QUEUE_TOPIC_ATTRIBUTE`)."""
    attribute = message.get("MessageAttributes", {}).get(QUEUE_TOPIC_ATTRIBUTE) or {}
    value = attribute.get("StringValue")
    return str(value) if value is not None else None


def in_group_order(messages: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The messages per group, each group in receive order (which SQS FIFO makes the
    group's send order), groups in order of first appearance. Groups are independent of
    each other; within a group, message n+1 may only go out after message n."""
    groups: dict[str | None, list[dict[str, Any]]] = {}
    for message in messages:
        groups.setdefault(group_id(message), []).append(message)
    return list(groups.values())

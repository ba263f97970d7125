"""Topic declarations on a Faust app (the names live in `streams.channels`).

Every keyed topic has the same partition count so tables are co-partitioned with the
streams that feed them; keys are the order id as raw UTF-8 bytes, values are the
pydantic wire models as JSON (decoded by us, not by faust, so a malformed record can be
dead-lettered with its reason instead of being dropped inside the consumer).
"""

from __future__ import annotations

from dataclasses import dataclass

import faust

from streams.channels import (
    ANALYTICS_FACTS,
    FULFILLMENT_HOLDS,
    FULFILLMENT_REQUESTED,
    GATEWAY_NOTIFICATIONS,
    ORDER_ANOMALIES,
    ORDER_CREATED,
    ORDER_DISPUTES,
    OUTCOME_TOPICS,
    PAYMENT_DEPOSITED,
    PAYMENT_PENDING,
    PAYMENT_REQUESTS,
    PAYMENT_REQUESTS_DLQ,
    WALLET_COMMANDS,
    WALLET_REPLIES,
)


@dataclass(frozen=True)
class Topics:
    payment_requests: faust.TopicT
    dead_letters: faust.TopicT
    outcomes: dict[str, faust.TopicT]
    payment_pending: faust.TopicT
    order_created: faust.TopicT
    order_anomalies: faust.TopicT
    order_disputes: faust.TopicT
    fulfillment_requested: faust.TopicT
    # Worker-internal: wallet commands and replies, analytics facts by minute.
    wallet_commands: faust.TopicT
    wallet_replies: faust.TopicT
    analytics_facts: faust.TopicT
    # Agent sources spanning several topics (or one topic read by a second agent).
    order_events: faust.TopicT
    all_outcomes: faust.TopicT
    deposits: faust.TopicT

    def outcome(self, event_type: str) -> faust.TopicT:
        return self.outcomes[event_type]


def declare_topics(app: faust.App, partitions: int) -> Topics:
    def topic(name: str) -> faust.TopicT:
        return app.topic(name, key_type=bytes, value_type=bytes, key_serializer="raw",
                         value_serializer="raw", partitions=partitions)

    def source(*names: str) -> faust.TopicT:
        return app.topic(*names, key_type=bytes, value_type=bytes, key_serializer="raw",
                         value_serializer="raw")

    return Topics(
        payment_requests=topic(PAYMENT_REQUESTS),
        dead_letters=topic(PAYMENT_REQUESTS_DLQ),
        outcomes={name: topic(name) for name in OUTCOME_TOPICS},
        payment_pending=topic(PAYMENT_PENDING),
        order_created=topic(ORDER_CREATED),
        order_anomalies=topic(ORDER_ANOMALIES),
        order_disputes=topic(ORDER_DISPUTES),
        fulfillment_requested=topic(FULFILLMENT_REQUESTED),
        wallet_commands=topic(WALLET_COMMANDS),
        wallet_replies=topic(WALLET_REPLIES),
        analytics_facts=topic(ANALYTICS_FACTS),
        # payment-requests too: the order agent keeps each request's Idempotency-Key; and
        # gateway-notifications: settlement and disputes fold into the same row, and a
        # second writer of a row would lose updates between its read and its write.
        order_events=source(ORDER_CREATED, PAYMENT_PENDING, PAYMENT_REQUESTS, ORDER_ANOMALIES,
                            GATEWAY_NOTIFICATIONS, *OUTCOME_TOPICS),
        all_outcomes=source(*OUTCOME_TOPICS),
        deposits=source(PAYMENT_DEPOSITED),
    )


@dataclass(frozen=True)
class NotificationTopics:
    # gateway-notifications as read by the executor's agent (the order agent reads it
    # through `Topics.order_events`; faust wants one topic object per agent).
    settlements: faust.TopicT
    order_disputes: faust.TopicT
    dispute_holds: faust.TopicT
    fulfillment_holds: faust.TopicT
    payment_requests: faust.TopicT
    analytics_facts: faust.TopicT


def declare_notification_topics(app: faust.App, partitions: int) -> NotificationTopics:
    def topic(name: str) -> faust.TopicT:
        return app.topic(name, key_type=bytes, value_type=bytes, key_serializer="raw",
                         value_serializer="raw", partitions=partitions)

    return NotificationTopics(
        settlements=topic(GATEWAY_NOTIFICATIONS),
        order_disputes=topic(ORDER_DISPUTES), dispute_holds=topic(ORDER_DISPUTES),
        fulfillment_holds=topic(FULFILLMENT_HOLDS), payment_requests=topic(PAYMENT_REQUESTS),
        analytics_facts=topic(ANALYTICS_FACTS))

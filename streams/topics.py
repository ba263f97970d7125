"""Topic names and their declarations on a Faust app.

Every keyed topic has the same partition count so tables are co-partitioned with the
streams that feed them; keys are the order id as raw UTF-8 bytes, values are the
pydantic wire models as JSON (decoded by us, not by faust, so a malformed record can be
dead-lettered with its reason instead of being dropped inside the consumer).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import faust

PAYMENT_REQUESTS: Final = "payment-requests"
PAYMENT_REQUESTS_DLQ: Final = "payment-requests-dlq"
PAYMENT_APPROVED: Final = "payment-approved"
PAYMENT_DEPOSITED: Final = "payment-deposited"
PAYMENT_REVERSED: Final = "payment-reversed"
PAYMENT_REFUNDED: Final = "payment-refunded"
PAYMENT_DECLINED: Final = "payment-declined"
PAYMENT_FAILED: Final = "payment-failed"
ORDER_CREATED: Final = "order-created"
ORDER_ANOMALIES: Final = "order-anomalies"
FULFILLMENT_REQUESTED: Final = "fulfillment-requested"
# Internal to the workers: wallet commands (keyed by customer id), their replies (keyed
# by correlation id) and analytics facts (keyed by their one-minute window).
WALLET_COMMANDS: Final = "wallet-commands"
WALLET_REPLIES: Final = "wallet-replies"
ANALYTICS_FACTS: Final = "analytics-facts"

OUTCOME_TOPICS: Final[tuple[str, ...]] = (
    PAYMENT_APPROVED, PAYMENT_DEPOSITED, PAYMENT_REVERSED, PAYMENT_REFUNDED,
    PAYMENT_DECLINED, PAYMENT_FAILED,
)
ALL_TOPICS: Final[tuple[str, ...]] = (
    PAYMENT_REQUESTS, PAYMENT_REQUESTS_DLQ, *OUTCOME_TOPICS, ORDER_CREATED, ORDER_ANOMALIES,
    FULFILLMENT_REQUESTED, WALLET_COMMANDS, WALLET_REPLIES, ANALYTICS_FACTS,
)


@dataclass(frozen=True)
class Topics:
    payment_requests: faust.TopicT
    dead_letters: faust.TopicT
    outcomes: dict[str, faust.TopicT]
    order_created: faust.TopicT
    order_anomalies: faust.TopicT
    fulfillment_requested: faust.TopicT

    def outcome(self, event_type: str) -> faust.TopicT:
        return self.outcomes[event_type]


def declare_topics(app: faust.App, partitions: int) -> Topics:
    def topic(name: str) -> faust.TopicT:
        return app.topic(name, key_type=bytes, value_type=bytes, key_serializer="raw",
                         value_serializer="raw", partitions=partitions)

    return Topics(
        payment_requests=topic(PAYMENT_REQUESTS),
        dead_letters=topic(PAYMENT_REQUESTS_DLQ),
        outcomes={name: topic(name) for name in OUTCOME_TOPICS},
        order_created=topic(ORDER_CREATED),
        order_anomalies=topic(ORDER_ANOMALIES),
        fulfillment_requested=topic(FULFILLMENT_REQUESTED),
    )

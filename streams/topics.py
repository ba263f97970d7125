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
    FULFILLMENT_REQUESTED,
    ORDER_ANOMALIES,
    ORDER_CREATED,
    OUTCOME_TOPICS,
    PAYMENT_REQUESTS,
    PAYMENT_REQUESTS_DLQ,
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

"""Every topic and queue name paystream uses: the one registry.

Producers, consumers, the provisioner, benchmarks and tests import names from here, so a
channel is spelled once. Pure constants: importing this pulls in neither faust nor boto.
"""

from __future__ import annotations

from typing import Final

# Kafka topics. Every keyed topic has the same partition count (co-partitioned tables).
PAYMENT_REQUESTS: Final = "payment-requests"
PAYMENT_REQUESTS_DLQ: Final = "payment-requests-dlq"
PAYMENT_APPROVED: Final = "payment-approved"
PAYMENT_DEPOSITED: Final = "payment-deposited"
PAYMENT_REVERSED: Final = "payment-reversed"
PAYMENT_REFUNDED: Final = "payment-refunded"
PAYMENT_DECLINED: Final = "payment-declined"
PAYMENT_FAILED: Final = "payment-failed"
# A request whose gateway outcome is not known yet (not an outcome: no sequence).
PAYMENT_PENDING: Final = "payment-pending"
ORDER_CREATED: Final = "order-created"
ORDER_ANOMALIES: Final = "order-anomalies"
FULFILLMENT_REQUESTED: Final = "fulfillment-requested"
# Verified Braintree webhooks (keyed by order id, else dispute id), and the dispute changes
# the order agent derived from them (keyed by order id, deduplicated).
GATEWAY_NOTIFICATIONS: Final = "gateway-notifications"
ORDER_DISPUTES: Final = "order-disputes"
# Shipments held, released or cancelled because of a dispute (keyed by order id).
FULFILLMENT_HOLDS: Final = "fulfillment-holds"
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
    PAYMENT_REQUESTS, PAYMENT_REQUESTS_DLQ, *OUTCOME_TOPICS, PAYMENT_PENDING, ORDER_CREATED,
    ORDER_ANOMALIES,
    FULFILLMENT_REQUESTED, WALLET_COMMANDS, WALLET_REPLIES, ANALYTICS_FACTS,
    GATEWAY_NOTIFICATIONS, ORDER_DISPUTES, FULFILLMENT_HOLDS,
)

# SQS FIFO queues: what the edge accepted for an order, in the order's FIFO group (group =
# order id): its registration (dedup = event id) and its payment requests (dedup =
# idempotency key); and the dead-letter queue SQS moves a message to after
# MAX_RECEIVE_COUNT receives. A message's QUEUE_TOPIC_ATTRIBUTE names the Kafka topic the
# bridge forwards it to (one of QUEUED_TOPICS; absent: payment-requests).
PAYMENT_QUEUE: Final = "payment-requests.fifo"
QUEUE_TOPIC_ATTRIBUTE: Final = "topic"
QUEUED_TOPICS: Final[tuple[str, ...]] = (PAYMENT_REQUESTS, ORDER_CREATED)
PAYMENT_DLQ: Final = "payment-requests-dlq.fifo"
MAX_RECEIVE_COUNT: Final = 5
VISIBILITY_TIMEOUT_S: Final = 30

"""Render the published contract: one JSON Schema per message plus an AsyncAPI document.

Everything is rendered in memory first so `check()` can compare without writing,
and rendering is deterministic (sorted keys, fixed order) so a diff means a change.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

import yaml
from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import models_json_schema

from schemas.dead_letter import DeadLetter
from schemas.money import Money
from schemas.notifications import FulfillmentHold, GatewayNotification
from schemas.orders import FulfillmentRequested, OrderAnomaly, OrderCreated
from schemas.outcomes import (
    OutcomeEvent,
    PaymentApproved,
    PaymentDeclined,
    PaymentDeposited,
    PaymentFailed,
    PaymentRefunded,
    PaymentReversed,
)
from schemas.payment_request import PaymentRequest
from schemas.pending import PaymentPending
from streams.channels import PAYMENT_DLQ, PAYMENT_QUEUE
from tables.after_capture import DisputeChanged

GENERATED_DIR: Final = Path(__file__).resolve().parent / "generated"
ASYNCAPI_FILE: Final = "asyncapi.yaml"
JSON_SCHEMA_DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"

# File stem -> model. Order is the publication order; output is sorted anyway.
MESSAGES: Final[dict[str, type[BaseModel]]] = {
    "money": Money,
    "payment-request": PaymentRequest,
    "payment-approved": PaymentApproved,
    "payment-deposited": PaymentDeposited,
    "payment-reversed": PaymentReversed,
    "payment-refunded": PaymentRefunded,
    "payment-declined": PaymentDeclined,
    "payment-failed": PaymentFailed,
    "payment-pending": PaymentPending,
    "gateway-notification": GatewayNotification,
    "fulfillment-hold": FulfillmentHold,
    "order-dispute": DisputeChanged,
    "order-created": OrderCreated,
    "order-anomaly": OrderAnomaly,
    "fulfillment-requested": FulfillmentRequested,
    "dead-letter": DeadLetter,
}

# Kafka topic -> (model, description). Names from docs/CONTRACTS.md.
TOPICS: Final[dict[str, tuple[type[BaseModel], str]]] = {
    "payment-requests": (PaymentRequest, "Payment commands bridged from SQS; executor input."),
    "payment-approved": (PaymentApproved, "An authorization succeeded."),
    "payment-deposited": (PaymentDeposited, "A capture (full or partial) succeeded."),
    "payment-reversed": (PaymentReversed, "An authorization or unsettled capture was voided."),
    "payment-refunded": (PaymentRefunded, "A settled capture was (partially) refunded."),
    "payment-declined": (PaymentDeclined, "A request was refused by the gateway or by rule."),
    "payment-failed": (PaymentFailed, "A request could not be carried out (nothing moved, or "
                       "given up after the life of an idempotency key)."),
    "payment-pending": (PaymentPending, "A request whose gateway outcome is not known yet; "
                        "not an outcome, no sequence."),
    "payment-requests-dlq": (DeadLetter, "Requests that could not be processed."),
    "order-created": (OrderCreated, "An order awaiting payment."),
    "order-anomalies": (OrderAnomaly, "Outcome events the order lifecycle could not apply."),
    "fulfillment-requested": (FulfillmentRequested, "A paid order ready to ship."),
    "gateway-notifications": (GatewayNotification, "Verified Braintree webhooks: settlement, "
                              "settlement declined, disputes, disbursements."),
    "order-disputes": (DisputeChanged, "A dispute on an order moved (opened, under review, "
                       "won, lost, accepted, expired), as the order table folded it from "
                       "gateway-notifications; once per change."),
    "fulfillment-holds": (FulfillmentHold, "Hold, release or cancel shipments because of a "
                          "dispute."),
}

SQS_QUEUES: Final[dict[str, tuple[type[BaseModel], str]]] = {
    PAYMENT_QUEUE: (
        PaymentRequest,
        "Orchestrator -> bridge. MessageGroupId = order_id (per-order FIFO), "
        "MessageDeduplicationId = idempotency_key. The same group also carries the order's "
        "registration (an OrderCreated, message attribute topic = order-created, "
        "MessageDeduplicationId = its event_id), ahead of its requests.",
    ),
    PAYMENT_DLQ: (
        PaymentRequest,
        "SQS redrive target: the original bodies after maxReceiveCount failed receives.",
    ),
}


def _dump_json(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _dump_yaml(data: Any) -> str:
    text: str = yaml.safe_dump(
        data, sort_keys=True, allow_unicode=True, default_flow_style=False, width=100
    )
    return text


def json_schema_for(name: str, model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema(mode="validation")
    schema["$schema"] = JSON_SCHEMA_DIALECT
    schema["$id"] = f"{name}.schema.json"
    return schema


def outcome_union_schema() -> dict[str, Any]:
    """Schema of any outcome event (what a merged consumer of all outcome topics reads)."""
    schema = TypeAdapter(OutcomeEvent).json_schema(mode="validation")
    schema["$schema"] = JSON_SCHEMA_DIALECT
    schema["$id"] = "outcome.schema.json"
    schema["title"] = "OutcomeEvent"
    return schema


def asyncapi_document() -> dict[str, Any]:
    models = sorted(
        {model for model, _ in (*TOPICS.values(), *SQS_QUEUES.values())},
        key=lambda m: m.__name__,
    )
    _, defs = models_json_schema(
        [(model, "validation") for model in models],
        ref_template="#/components/schemas/{model}",
    )
    schemas: dict[str, Any] = defs.get("$defs", {})
    messages: dict[str, Any] = {}
    for model in models:
        messages[model.__name__] = {
            "name": model.__name__,
            "title": model.__name__,
            "contentType": "application/json",
            "payload": {"$ref": f"#/components/schemas/{model.__name__}"},
            # Ignored on SQS channels; there the order_id travels as MessageGroupId.
            "bindings": {
                "kafka": {
                    "bindingVersion": "0.4.0",
                    "key": {"type": "string", "description": "order_id, UTF-8"},
                }
            },
        }
    channels: dict[str, Any] = {}
    for topic, (model, description) in TOPICS.items():
        channels[topic] = {
            "description": description + " Keyed by order_id.",
            "servers": ["kafka"],
            "bindings": {"kafka": {"bindingVersion": "0.4.0", "topic": topic}},
            "subscribe": {
                "operationId": f"on-{topic}",
                "message": {"$ref": f"#/components/messages/{model.__name__}"},
                "bindings": {"kafka": {"bindingVersion": "0.4.0"}},
            },
        }
    for queue, (model, description) in SQS_QUEUES.items():
        queue_binding: dict[str, Any] = {
            "name": queue,
            "fifoQueue": True,
            "deduplicationScope": "messageGroup",
            "fifoThroughputLimit": "perMessageGroupId",
        }
        if queue == PAYMENT_QUEUE:
            queue_binding["redrivePolicy"] = {
                "deadLetterQueue": {"name": PAYMENT_DLQ},
            }
        channels[queue] = {
            "description": description,
            "servers": ["sqs"],
            "bindings": {"sqs": {"bindingVersion": "0.2.0", "queue": queue_binding}},
            "subscribe": {
                "operationId": f"on-{queue}",
                "message": {"$ref": f"#/components/messages/{model.__name__}"},
            },
        }
    return {
        "asyncapi": "2.6.0",
        "id": "urn:paystream:payments",
        "info": {
            "title": "paystream payment events",
            "version": "1.0.0",
            "description": (
                "Topics and queues of the paystream payment pipeline. Every Kafka message "
                "is keyed by order_id; amounts are decimal strings with an ISO 4217 currency."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {
            "kafka": {"url": "localhost:9092", "protocol": "kafka",
                      "description": "Local broker (paystream up)"},
            "sqs": {"url": "http://localhost:9324", "protocol": "sqs",
                    "description": "Local ElasticMQ (paystream up)"},
        },
        "channels": channels,
        "components": {
            "schemas": schemas,
            "messages": messages,
        },
    }


def render() -> dict[str, str]:
    """File name -> exact file content, for everything under generated/."""
    files = {f"{name}.schema.json": _dump_json(json_schema_for(name, model))
             for name, model in MESSAGES.items()}
    files["outcome.schema.json"] = _dump_json(outcome_union_schema())
    files[ASYNCAPI_FILE] = _dump_yaml(asyncapi_document())
    return dict(sorted(files.items()))


def stale_files(out_dir: Path = GENERATED_DIR) -> list[str]:
    """Names that are missing, differ, or should not be there; empty means fresh."""
    expected = render()
    stale = [
        name for name, content in expected.items()
        if not (out_dir / name).is_file() or (out_dir / name).read_text("utf-8") != content
    ]
    if out_dir.is_dir():
        stale += sorted(
            p.name for p in out_dir.iterdir()
            if p.is_file() and p.suffix in {".json", ".yaml"} and p.name not in expected
        )
    return stale


def write(out_dir: Path = GENERATED_DIR) -> list[str]:
    """Write every file (and remove leftovers); return the names that changed."""
    changed = stale_files(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    expected = render()
    for name in changed:
        path = out_dir / name
        if name in expected:
            path.write_text(expected[name], encoding="utf-8")
        else:
            path.unlink()
    return changed

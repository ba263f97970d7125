"""Schemathesis against the served OpenAPI of Payments-A, with a valid shopper token.

Every operation gets generated requests (valid and edge-case bodies, path ids, headers);
no response may be a 5xx, and every response must match the documented status codes,
content types and schemas. Bounded to stay well under a minute.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import hypothesis
import schemathesis
from edge_helpers import serve_edge
from hypothesis import HealthCheck, Phase
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api_edge.facade import EXAMPLE_ORDER_ID
from api_edge.settings import EdgeSettings
from devstack.bench.fake_views import FakeWorkerViews
from devstack.dev_issuer import DevIssuer
from devstack.dev_realm import MERCHANT_CLIENT_ID
from schemas.money import Money
from schemas.orders import OrderCreated
from tables.order_lifecycle import apply_order_created

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
MAX_EXAMPLES = 25
STATUSES: list[tuple[str, str, int]] = []


def test_public_api_conforms_to_its_openapi(
    edge_settings: EdgeSettings, edge_issuer: DevIssuer,
    fake_views: tuple[FakeWorkerViews, str],
) -> None:
    fake = fake_views[0]
    # Something real to find for the generated ids and tokens that happen to match.
    fake.put_method("cust-shopper1", token="pm_abc123")  # the documented example
    # The documented checkout examples' order, registered for this shopper at their price.
    fake.put_order(apply_order_created(None, OrderCreated(
        order_id=EXAMPLE_ORDER_ID, customer_id="cust-shopper1", amount=Money.of("25.00", "USD"),
        merchant_id=MERCHANT_CLIENT_ID, correlation_id="fuzz", occurred_at=datetime.now(UTC))))
    token = edge_issuer.mint_for_user("shopper1")
    with serve_edge(edge_settings) as (facade_url, _):
        schema = schemathesis.openapi.from_url(f"{facade_url}/openapi.json")
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) >= 10
        for operation in operations:
            strategy = operation.as_strategy()

            @hypothesis.given(case=strategy)
            @hypothesis.settings(
                max_examples=MAX_EXAMPLES, deadline=None, database=None, derandomize=True,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            def run(case: schemathesis.Case) -> None:
                headers = {"Authorization": f"Bearer {token}"}
                if case.method.upper() in ("POST", "PATCH", "DELETE"):
                    headers["Idempotency-Key"] = uuid.uuid4().hex
                response = case.call(base_url=facade_url, headers=headers, timeout=10)
                case.validate_response(response, checks=CHECKS)
                STATUSES.append((case.method, case.path, response.status_code))

            run()
    # The fuzzing reached past validation into B, not just the 4xx paths.
    assert {("POST", "/v1/checkouts", 202), ("POST", "/v1/wallet/methods", 201),
            ("GET", "/v1/wallet/methods", 200)} <= set(STATUSES)
    assert not [s for s in STATUSES if s[2] >= 500]

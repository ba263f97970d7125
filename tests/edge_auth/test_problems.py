"""Every error of the edge is RFC 7807 application/problem+json."""

from __future__ import annotations

import logging

import httpx
import pytest
from edge_auth_helpers import PROBLEM_JSON, bearer

from devstack.dev_issuer import DevIssuer


async def test_validation_error_is_422_naming_each_field(
    client: httpx.AsyncClient, dev_issuer: DevIssuer
) -> None:
    response = await client.post(
        "/payments",
        headers=bearer(dev_issuer.mint_for_user("shopper1")),
        json={"order_id": "", "card_number": "4111111111111111",
              "amount": {"value": "-5", "currency": "euro"}},
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM_JSON
    body = response.json()
    assert body["type"] == "urn:paystream:problem:validation-error"
    assert body["instance"] == "/payments"
    fields = {error["field"]: error["message"] for error in body["errors"]}
    assert set(fields) == {"order_id", "amount.value", "amount.currency"}
    assert all(message for message in fields.values())
    assert "amount.currency" in body["detail"]
    # The offending input is never echoed back: it could be a card number.
    assert "euro" not in response.text
    assert "4111111111111111" not in response.text


async def test_missing_body_field_is_named(
    client: httpx.AsyncClient, dev_issuer: DevIssuer
) -> None:
    response = await client.post(
        "/payments", headers=bearer(dev_issuer.mint_for_user("shopper1")),
        json={"order_id": "o-1"},
    )
    assert response.status_code == 422
    assert response.json()["errors"] == [{"field": "amount", "message": "Field required"}]


async def test_auth_runs_before_body_validation_is_reported(client: httpx.AsyncClient) -> None:
    # An anonymous caller learns nothing about the body schema from error details.
    response = await client.post("/payments", json={"order_id": 1})
    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM_JSON


async def test_unhandled_exception_is_a_generic_500(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="api_edge.problems")
    response = await client.get("/boom", headers={"X-Correlation-ID": "req-42"})
    assert response.status_code == 500
    assert response.headers["content-type"] == PROBLEM_JSON
    body = response.json()
    assert body["title"] == "Internal Server Error"
    assert body["correlation_id"] == "req-42"
    assert "req-42" in body["detail"]
    assert "hunter2" not in response.text
    assert "Traceback" not in response.text
    assert "RuntimeError" not in response.text
    # ... but the server log has the full story, keyed by the correlation id.
    record = next(r for r in caplog.records if r.name == "api_edge.problems")
    assert "req-42" in record.getMessage()
    assert record.exc_info is not None


async def test_http_exception_keeps_status_and_detail(client: httpx.AsyncClient) -> None:
    response = await client.get("/teapot")
    assert response.status_code == 418
    assert response.headers["content-type"] == PROBLEM_JSON
    body = response.json()
    assert body == {
        "type": "about:blank", "title": "I'm a Teapot", "status": 418,
        "detail": "Short and stout.", "instance": "/teapot",
        "correlation_id": body["correlation_id"],
    }


async def test_unknown_route_and_wrong_method(client: httpx.AsyncClient) -> None:
    missing = await client.get("/nowhere")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == PROBLEM_JSON
    assert missing.json()["title"] == "Not Found"
    assert "detail" not in missing.json()  # Starlette's default detail only repeats the title
    wrong = await client.delete("/payments")
    assert wrong.status_code == 405
    assert wrong.headers["content-type"] == PROBLEM_JSON
    assert "POST" in wrong.headers["allow"]


async def test_problem_exception(client: httpx.AsyncClient) -> None:
    response = await client.get("/conflict")
    assert response.status_code == 409
    assert response.json()["type"] == "urn:paystream:problem:duplicate-order"
    assert response.json()["detail"] == "Order o-1 already exists."


@pytest.mark.parametrize(
    ("supplied", "echoed"),
    [("abc-123", True), ("bad id\r\nX-Evil: 1", False), ("x" * 500, False)],
)
async def test_correlation_id_is_echoed_only_when_safe(
    client: httpx.AsyncClient, supplied: str, echoed: bool
) -> None:
    header = (b"X-Correlation-ID", supplied.encode())
    response = await client.get("/nowhere", headers=[header])
    cid = response.headers["x-correlation-id"]
    assert response.json()["correlation_id"] == cid
    assert (cid == supplied) is echoed
    assert "x-evil" not in response.headers

"""The public API end to end through A and B: merchant registration and order-created,
SQS messages, idempotency, problems, and an approve -> deposit -> refund (shopper, then
merchant) ending in the order table. Refusals of who may do what: tests/security."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from edge_auth.broken_tokens import mint_alg_none, mint_hs256_with_public_key, mint_with_foreign_key
from edge_helpers import (
    PROBLEM_JSON,
    Edge,
    bearer,
    complete_in_order_table,
    new_key,
    new_order_id,
    usd,
    views_away,
)

from api_edge.idempotency import downstream_key
from devstack.dev_realm import MERCHANT_CLIENT_ID
from schemas.money import Money
from schemas.orders import OrderCreated
from tables.order_lifecycle import apply_order_created


def _checkout(order_id: str, token: str | None = None, amount: str = "25.00") -> dict[str, object]:
    body: dict[str, object] = {"order_id": order_id, "amount": usd(amount)}
    if token:
        body["payment_method_token"] = token
    else:
        body["payment_method_nonce"] = "fake-valid-visa-nonce"
        body["payment_method_type"] = "credit_card"
    return body


async def test_merchant_registers_and_shopper_checks_out_at_the_price(edge: Edge) -> None:
    method = edge.fake.put_method("cust-shopper1")
    key = new_key()
    registered = await edge.public.post(
        "/v1/orders", json={"customer_id": "cust-shopper1", "amount": usd("25.00"),
                            "merchant_reference": "PO-4711"},
        headers={**edge.merchant(), "Idempotency-Key": key, "X-Correlation-ID": "cid-reg-1"})
    assert registered.status_code == 201, registered.text
    order_id = registered.json()["order_id"]
    assert order_id.startswith("ord_") and len(order_id) <= 36
    assert registered.json()["merchant_reference"] == "PO-4711"
    # The id is the server's and stable per (merchant, key): a retry names the same order.
    again = await edge.public.post(
        "/v1/orders", json={"customer_id": "cust-shopper1", "amount": usd("25.00"),
                            "merchant_reference": "PO-4711"},
        headers={**edge.merchant(), "Idempotency-Key": key})
    assert again.json()["order_id"] == order_id
    [created] = await edge.queue.registrations(order_id)
    assert created.customer_id == "cust-shopper1" and created.merchant_id == MERCHANT_CLIENT_ID
    assert created.amount == Money.of("25.00", "USD")
    assert created.correlation_id == "cid-reg-1"

    # Checkout before the order table shows the order: B remembers what it registered.
    resp = await edge.public.post(
        "/v1/checkouts", json=_checkout(order_id, method["token"]),
        headers={**edge.shopper(), "Idempotency-Key": key, "X-Correlation-ID": "cid-checkout-1"})
    assert resp.status_code == 202, resp.text
    body = resp.json()
    assert body["order_id"] == order_id and body["kind"] == "approve"
    assert body["status"] == "accepted"
    assert body["status_url"] == f"/v1/orders/{order_id}" == resp.headers["location"]
    assert resp.headers["x-correlation-id"] == "cid-checkout-1"

    [message] = await edge.queue.for_order(order_id)
    request = message.request
    assert message.group_id == order_id
    assert message.dedup_id == downstream_key("cust-shopper1", key) == request.idempotency_key
    assert message.attributes["correlation_id"] == "cid-checkout-1"
    assert message.attributes["kind"] == "approve"
    assert request.payment_id == body["payment_id"]
    assert request.customer_id == "cust-shopper1"  # the token's subject, the order's owner
    assert request.requested_by == "customer" and request.request_fingerprint
    assert request.payment_method_token == method["token"]
    assert request.payment_method_type == "credit_card"  # from the wallet
    assert request.amount == Money.of("25.00", "USD")
    # Checkout publishes nothing to Kafka: registration did.
    assert len(await edge.queue.registrations(order_id, timeout=2)) == 1


async def test_nonce_checkout_for_guest_style_payment(edge: Edge) -> None:
    order_id = await edge.register()
    resp = await edge.public.post("/v1/checkouts", json=_checkout(order_id),
                                  headers={**edge.shopper(), "Idempotency-Key": new_key()})
    assert resp.status_code == 202, resp.text
    [message] = await edge.queue.for_order(order_id)
    assert message.request.payment_method_nonce == "fake-valid-visa-nonce"
    assert message.request.payment_method_token is None


async def test_idempotent_replay_and_key_reuse(edge: Edge) -> None:
    order_id, key = await edge.register(), new_key()
    headers = {**edge.shopper(), "Idempotency-Key": key}
    first = await edge.public.post("/v1/checkouts", json=_checkout(order_id), headers=headers)
    again = await edge.public.post("/v1/checkouts", json=_checkout(order_id), headers=headers)
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers

    other = await edge.public.post("/v1/checkouts", json=_checkout(order_id, amount="26.00"),
                                   headers=headers)
    assert other.status_code == 422
    assert other.headers["content-type"] == PROBLEM_JSON
    assert other.json()["type"] == "urn:paystream:problem:idempotency-key-reused"

    # Scoped per shopper: another shopper's identical key is an unrelated request.
    theirs_id = await edge.register("cust-shopper2")
    theirs = await edge.public.post(
        "/v1/checkouts", json=_checkout(theirs_id),
        headers={**edge.shopper("shopper2"), "Idempotency-Key": key})
    assert theirs.status_code == 202
    assert theirs.json()["payment_id"] != first.json()["payment_id"]

    await edge.queue.drain(1.5)
    assert len(edge.queue.stash[order_id]) == 1


async def test_writes_require_an_idempotency_key(edge: Edge) -> None:
    resp = await edge.public.post("/v1/checkouts", json=_checkout(new_order_id()),
                                  headers=edge.shopper())
    assert resp.status_code == 400
    problem = resp.json()
    assert problem["type"] == "urn:paystream:problem:idempotency-key-missing"
    assert problem["errors"][0]["field"] == "header.Idempotency-Key"
    bad = await edge.public.post("/v1/checkouts", json=_checkout(new_order_id()),
                                 headers={**edge.shopper(), "Idempotency-Key": "no spaces"})
    assert bad.status_code == 400


async def test_schema_violations_name_the_field(edge: Edge) -> None:
    headers = {**edge.shopper(), "Idempotency-Key": new_key()}
    cases = [
        ({"order_id": "o-1", "amount": {"amount": 10.5, "currency": "USD"},
          "payment_method_token": "t"}, "amount.amount"),
        ({"order_id": "o-1", "amount": usd("10.001"), "payment_method_token": "t"}, "amount"),
        ({"order_id": "o/1", "amount": usd("10.00"), "payment_method_token": "t"}, "order_id"),
        ({"order_id": "o-1", "amount": usd("10.00")}, "payment_method_nonce"),
        ({"order_id": "o-1", "amount": usd("10.00"), "payment_method_nonce": "n"},
         "payment_method_type"),
        ({"order_id": "o-1", "amount": usd("0"), "payment_method_token": "t"}, "amount"),
        ({"order_id": "o-1", "amount": usd("1.00"), "payment_method_token": "t",
          "customer_id": "cust-shopper2"}, "customer_id"),
    ]
    for body, field in cases:
        resp = await edge.public.post("/v1/checkouts", json=body, headers=headers)
        assert resp.status_code == 422, (body, resp.text)
        assert resp.headers["content-type"] == PROBLEM_JSON
        problem = resp.json()
        assert problem["type"] == "urn:paystream:problem:validation-error"
        assert field in [e["field"] for e in problem["errors"]], (field, problem)
        assert field in problem["detail"]
        assert "Traceback" not in resp.text and "10.5" not in resp.text


async def test_unknown_or_foreign_payment_method_is_refused(edge: Edge) -> None:
    theirs = edge.fake.put_method("cust-shopper2")
    for token in ("tok_unknown", theirs["token"]):
        resp = await edge.public.post(
            "/v1/checkouts", json=_checkout(await edge.register(), token),
            headers={**edge.shopper(), "Idempotency-Key": new_key()})
        assert resp.status_code == 422, resp.text
        assert resp.json()["errors"][0]["field"] == "payment_method_token"
        assert theirs["token"] not in resp.text


async def test_refund_of_an_unpaid_order_is_a_clear_409(edge: Edge) -> None:
    order_id = await edge.register()
    accepted = await edge.public.post("/v1/checkouts", json=_checkout(order_id),
                                      headers={**edge.shopper(), "Idempotency-Key": new_key()})
    [message] = await edge.queue.for_order(order_id)
    complete_in_order_table(edge.fake, message.request)
    assert accepted.status_code == 202
    resp = await edge.public.post(f"/v1/orders/{order_id}/refunds", json={},
                                  headers={**edge.merchant(), "Idempotency-Key": new_key()})
    assert resp.status_code == 409
    problem = resp.json()
    assert problem["type"] == "urn:paystream:problem:order-state-conflict"
    assert "never paid" in problem["detail"]
    assert problem["instance"] == f"/v1/orders/{order_id}/refunds"


async def test_approve_deposit_refund_through_the_edge(edge: Edge) -> None:
    shopper, merchant = edge.shopper(), edge.merchant()
    method = edge.fake.put_method("cust-shopper1", token=f"tok_{new_key()[:10]}")
    order_id = await edge.register(amount="40.00")

    steps = [
        ("/v1/checkouts", _checkout(order_id, method["token"], "40.00"), shopper, "AUTHORIZED"),
        (f"/v1/orders/{order_id}/deposits", {}, merchant, "PAID"),
        (f"/v1/orders/{order_id}/refunds", {"amount": usd("15.00")}, merchant,
         "PARTIALLY_REFUNDED"),
        (f"/v1/orders/{order_id}/refunds", None, merchant, "REFUNDED"),
    ]
    for count, (path, body, who, state) in enumerate(steps, start=1):
        resp = await edge.public.post(path, json=body,
                                      headers={**who, "Idempotency-Key": new_key()})
        assert resp.status_code == 202, (path, resp.text)
        messages = await edge.queue.for_order(order_id, count)
        complete_in_order_table(edge.fake, messages[-1].request)
        for reader in (shopper, merchant):
            status = await edge.public.get(resp.json()["status_url"], headers=reader)
            assert status.status_code == 200, status.text
            assert status.json()["state"] == state

    requests = [m.request for m in edge.queue.stash[order_id]]
    assert [r.kind for r in requests] == ["approve", "deposit", "refund", "refund"]
    assert [r.requested_by for r in requests] == ["customer", "merchant", "merchant", "merchant"]
    # The merchant acts on the shopper's order: the request names the order's owner.
    assert {r.customer_id for r in requests} == {"cust-shopper1"}
    assert requests[2].amount == Money.of("15.00", "USD")
    view = status.json()
    assert view["captured_amount"] == {"amount": "40.00", "currency": "USD"}
    assert view["refunded_amount"] == {"amount": "40.00", "currency": "USD"}
    assert "request_keys" not in view
    assert [h["to_state"] for h in view["history"]] == [
        "AUTHORIZED", "PAID", "PARTIALLY_REFUNDED", "REFUNDED"]
    # Nothing is left to do with a fully refunded order.
    late = await edge.public.post(f"/v1/orders/{order_id}/reversals",
                                  headers={**merchant, "Idempotency-Key": new_key()})
    assert late.status_code == 409
    assert "already fully refunded" in late.json()["detail"]


async def test_wallet_methods_crud(edge: Edge) -> None:
    shopper = edge.shopper("shopper2")
    added = await edge.public.post("/v1/wallet/methods",
                                   json={"nonce": "fake-paypal-billing-agreement-nonce",
                                         "make_default": True},
                                   headers={**shopper, "Idempotency-Key": new_key()})
    assert added.status_code == 201, added.text
    token = added.json()["token"]
    assert added.json()["type"] == "paypal"
    listed = await edge.public.get("/v1/wallet/methods", headers=shopper)
    assert token in [m["token"] for m in listed.json()["methods"]]
    got = await edge.public.get(f"/v1/wallet/methods/{token}", headers=shopper)
    assert got.status_code == 200 and got.json()["is_default"]
    # Another shopper cannot see it.
    foreign = await edge.public.get(f"/v1/wallet/methods/{token}", headers=edge.shopper())
    assert foreign.status_code == 404
    patched = await edge.public.patch(f"/v1/wallet/methods/{token}",
                                      json={"expiration_month": "13"},
                                      headers={**shopper, "Idempotency-Key": new_key()})
    assert patched.status_code == 422
    assert patched.json()["errors"][0]["field"] == "expiration_month"
    patched = await edge.public.patch(f"/v1/wallet/methods/{token}",
                                      json={"make_default": True},
                                      headers={**shopper, "Idempotency-Key": new_key()})
    assert patched.status_code == 200, patched.text
    bad_nonce = await edge.public.post("/v1/wallet/methods", json={"nonce": "spent"},
                                       headers={**shopper, "Idempotency-Key": new_key()})
    assert bad_nonce.status_code == 422
    assert bad_nonce.headers["content-type"] == PROBLEM_JSON
    key = new_key()
    deleted = await edge.public.delete(f"/v1/wallet/methods/{token}",
                                       headers={**shopper, "Idempotency-Key": key})
    assert deleted.status_code == 204
    replay = await edge.public.delete(f"/v1/wallet/methods/{token}",
                                      headers={**shopper, "Idempotency-Key": key})
    assert replay.status_code == 204 and replay.headers["idempotent-replayed"] == "true"
    gone = await edge.public.delete(f"/v1/wallet/methods/{token}",
                                    headers={**shopper, "Idempotency-Key": new_key()})
    assert gone.status_code == 404


async def test_b_only_trusts_the_service_credential(edge: Edge) -> None:
    order_id = await edge.register("cust-shopper2", "5.00")
    body = {"kind": "approve", "order_id": order_id, "amount": usd("5.00"),
            "payment_method_nonce": "fake-valid-nonce", "payment_method_type": "credit_card"}
    base = {"X-Shopper-Subject": "cust-shopper2", "Idempotency-Key": new_key()}
    # A shopper calling B directly, claiming to be someone else: refused.
    as_shopper = await edge.internal.post("/internal/v1/payments", json=body,
                                          headers={**base, **edge.shopper()})
    assert as_shopper.status_code == 401  # wrong audience
    no_token = await edge.internal.post("/internal/v1/payments", json=body, headers=base)
    assert no_token.status_code == 401
    no_subject = await edge.internal.post("/internal/v1/payments", json=body,
                                          headers={**edge.service(), "Idempotency-Key": "k1"})
    assert no_subject.status_code == 400
    ok = await edge.internal.post("/internal/v1/payments", json=body,
                                  headers={**base, **edge.service()})
    assert ok.status_code == 202, ok.text


async def test_dependency_outage_is_a_retryable_503_without_internals(edge: Edge) -> None:
    # An order this orchestrator never saw (registered through another one): with the
    # order table away, nothing is known of it, so nothing can be promised.
    order_id = new_order_id()
    edge.fake.put_order(apply_order_created(None, OrderCreated(
        order_id=order_id, customer_id="cust-shopper1", amount=Money.of("25.00", "USD"),
        merchant_id=MERCHANT_CLIENT_ID, correlation_id="test", occurred_at=datetime.now(UTC))))
    with views_away(edge):
        resp = await edge.public.post("/v1/checkouts", json=_checkout(order_id),
                                      headers={**edge.shopper(), "Idempotency-Key": new_key()})
    assert resp.status_code == 503
    assert resp.headers["content-type"] == PROBLEM_JSON
    assert resp.headers["retry-after"] == "1"
    assert "127.0.0.1" not in resp.text and "Traceback" not in resp.text


async def test_known_orders_and_cards_are_admitted_while_the_tables_are_away(edge: Edge) -> None:
    """A worker restarting must not stop checkouts: an order and a saved card this
    orchestrator already saw are admitted from its last copy (the executor still judges
    the order's state); what the copy cannot prove is a 503, never a 404 or 422."""
    method = edge.fake.put_method("cust-shopper1")
    listed = await edge.public.get("/v1/wallet/methods", headers=edge.shopper())
    assert listed.status_code == 200, listed.text
    order_id = await edge.register()
    with views_away(edge):
        saved_card = await edge.public.post(
            "/v1/checkouts", json=_checkout(order_id, method["token"]),
            headers={**edge.shopper(), "Idempotency-Key": new_key()})
        unknown_card = await edge.public.post(
            "/v1/checkouts", json=_checkout(await edge.register(), "tok_never_seen"),
            headers={**edge.shopper(), "Idempotency-Key": new_key()})
        wrong_price = await edge.public.post(
            "/v1/checkouts", json=_checkout(order_id, method["token"], amount="1.00"),
            headers={**edge.shopper(), "Idempotency-Key": new_key()})
        # The copy says CREATED; the order may well be authorized by now: no 409 from it.
        # The deposit is queued behind the approve, and the executor judges it then.
        deposit = await edge.public.post(
            f"/v1/orders/{order_id}/deposits", json={},
            headers={**edge.merchant(), "Idempotency-Key": new_key()})
        # Refusals other than the price wait for the table, even for another's order.
        foreign = await edge.public.post(
            "/v1/checkouts", json=_checkout(await edge.register(customer="cust-other")),
            headers={**edge.shopper(), "Idempotency-Key": new_key()})
    assert saved_card.status_code == 202, saved_card.text
    message, deposited = await edge.queue.for_order(order_id, 2)
    assert message.request.payment_method_token == method["token"]
    assert message.request.payment_method_type == method["type"]
    assert message.request.amount == Money.of("25.00", "USD")
    assert unknown_card.status_code == 503, unknown_card.text
    assert wrong_price.status_code == 422, wrong_price.text  # the registered price is certain
    assert deposit.status_code == 202, deposit.text
    assert (message.request.kind, deposited.request.kind) == ("approve", "deposit")
    assert foreign.status_code == 503, foreign.text
    assert foreign.headers["retry-after"] == "1"


async def test_compact_auth_matrix_on_the_public_routes(edge: Edge) -> None:
    issuer = edge.issuer
    body = _checkout(await edge.register())
    cases = {
        "none": ({}, 401),
        "alg none": (bearer(mint_alg_none(issuer)), 401),
        "hmac with public key": (bearer(mint_hs256_with_public_key(issuer)), 401),
        "no kid": (bearer(issuer.mint(include_kid=False)), 401),
        "foreign key": (bearer(mint_with_foreign_key(issuer)), 401),
        "expired": (bearer(issuer.mint(expires_in=-300)), 401),
        "not yet valid": (bearer(issuer.mint(not_before=2**31 - 1)), 401),
        "wrong issuer": (bearer(issuer.mint(issuer="http://evil.test/realms/paystream")), 401),
        "wrong audience": (bearer(issuer.mint(audience="other-api")), 401),
        "service token": (edge.service(), 401),
        "merchant token": (edge.merchant(), 403),
        "missing scope": (bearer(issuer.mint(scopes="payments:read")), 403),
        "es256 ok": (bearer(issuer.mint(alg="ES256")), 202),
    }
    for name, (auth, status) in cases.items():
        resp = await edge.public.post("/v1/checkouts", json=body,
                                      headers={**auth, "Idempotency-Key": new_key()})
        assert resp.status_code == status, (name, resp.text)
        if status in (401, 403):
            assert resp.headers["content-type"] == PROBLEM_JSON, name
            assert "www-authenticate" in resp.headers, name
        body = _checkout(await edge.register())
    read_only = bearer(issuer.mint(scopes="payments:read"))
    wallet = await edge.public.get("/v1/wallet/methods", headers=read_only)
    assert wallet.status_code == 403
    assert "wallet:read" in wallet.json()["detail"]


async def test_ops_endpoints(edge: Edge) -> None:
    assert (await edge.public.get("/healthz")).json() == {"status": "ok"}
    ready = await edge.public.get("/readyz")
    assert ready.status_code == 200, ready.text
    # The public port says up or down; the details are on the internal ops port.
    assert ready.json() == {"status": "ready"}
    ops = httpx.AsyncClient(transport=httpx.ASGITransport(app=edge.public_app.state.ops),
                            base_url="http://ops.test")
    async with ops:
        detailed = await ops.get("/readyz")
        assert detailed.json()["checks"] == {"identity_provider": "ok", "orchestrator": "ok"}
        metrics = await ops.get("/metrics")
    assert (await edge.public.get("/metrics")).status_code == 404
    b_ready = await edge.internal.get("/readyz")
    assert b_ready.json()["checks"] == {"sqs": "ok", "identity_provider": "ok",
                                        "worker_views": "ok"}
    assert metrics.status_code == 200
    assert 'route="/v1/checkouts"' in metrics.text
    b_metrics = await edge.internal.get("/metrics")
    assert 'paystream_edge_payment_requests_total{kind="approve",outcome="accepted"' in \
        b_metrics.text
    openapi = await edge.public.get("/openapi.json")
    assert "/v1/checkouts" in openapi.json()["paths"]
    assert "/internal/v1/payments" not in openapi.json()["paths"]

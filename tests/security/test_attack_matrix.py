"""Who may move money, read as an attacker would try it: every case is refused, or
replayed with its first answer, as stated (issue #14's matrix).

The public edge runs in-process (tests/edge's fixtures: dev issuer, real ElasticMQ and
Kafka, a fake of the worker views) except for the view and vault cases, which run a real
Faust worker with its views enforcing service tokens, and the simulator as the vault.
Where the bridge and the order agent would record a request's key with its order, the
tests apply the agent's own pure step (`tables.request_keys.record_request`).
"""

from __future__ import annotations

import json
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from edge_fixtures import start_edge
from edge_helpers import PROBLEM_JSON, Edge, bearer, complete_in_order_table, new_key, usd

from api_edge.auth import AuthSettings, TokenVerifier
from api_edge.auth.jwks import jwks_uri_allowed
from api_edge.orchestrator import OrchestratorDeps
from api_edge.settings import EdgeSettings
from bridge_sqs.bridge import SqsKafkaBridge
from bridge_sqs.settings import BridgeSettings
from bridge_sqs.validation import Rejected, validate_message
from devstack.bench.fake_views import FakeWorkerViews
from devstack.dev_issuer import DevIssuer
from devstack.dev_realm import WORKER_AUDIENCE
from devstack.services import WorkerProcess
from gateway.simulator.runner import SimulatorHandle, run_simulator
from schemas.money import Money
from streams.settings import WorkerSettings
from streams.view_auth import view_guard
from tables.request_keys import record_request

Fixtures = tuple[EdgeSettings, DevIssuer, tuple[FakeWorkerViews, str], str, str, str]


@pytest.fixture
def parts(edge_settings: EdgeSettings, edge_issuer: DevIssuer,
          fake_views: tuple[FakeWorkerViews, str], sqs_endpoint: str, edge_queue_url: str,
          kafka_bootstrap: str) -> Fixtures:
    return edge_settings, edge_issuer, fake_views, sqs_endpoint, edge_queue_url, kafka_bootstrap


def _checkout(order_id: str, amount: str = "25.00") -> dict[str, object]:
    return {"order_id": order_id, "amount": usd(amount),
            "payment_method_nonce": "fake-valid-visa-nonce", "payment_method_type": "credit_card"}


async def _authorized(edge: Edge, amount: str = "25.00") -> str:
    """A registered order the shopper has checked out and the pipeline authorized."""
    order_id = await edge.register(amount=amount)
    resp = await edge.public.post("/v1/checkouts", json=_checkout(order_id, amount),
                                  headers={**edge.shopper(), "Idempotency-Key": new_key()})
    assert resp.status_code == 202, resp.text
    [message] = await edge.queue.for_order(order_id)
    complete_in_order_table(edge.fake, message.request)
    return order_id


async def _paid(edge: Edge) -> str:
    order_id = await _authorized(edge)
    resp = await edge.public.post(f"/v1/orders/{order_id}/deposits", json={},
                                  headers={**edge.merchant(), "Idempotency-Key": new_key()})
    assert resp.status_code == 202, resp.text
    messages = await edge.queue.for_order(order_id, 2)
    complete_in_order_table(edge.fake, messages[-1].request)
    return order_id


def _problem(resp: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == PROBLEM_JSON
    body: dict[str, Any] = resp.json()
    assert body["type"] == f"urn:paystream:problem:{slug}", body
    return body


# ------------------------------------------------------------ merchant operations (403)


async def test_shopper_cannot_capture(edge: Edge) -> None:
    order_id = await _authorized(edge)
    resp = await edge.public.post(f"/v1/orders/{order_id}/deposits", json={},
                                  headers={**edge.shopper(), "Idempotency-Key": new_key()})
    _problem(resp, 403, "insufficient-scope")


async def test_shopper_cannot_refund(edge: Edge) -> None:
    order_id = await _paid(edge)
    resp = await edge.public.post(f"/v1/orders/{order_id}/refunds",
                                  json={"amount": usd("25.00")},
                                  headers={**edge.shopper(), "Idempotency-Key": new_key()})
    _problem(resp, 403, "insufficient-scope")


async def test_shopper_cannot_reverse_after_capture(edge: Edge) -> None:
    order_id = await _paid(edge)
    resp = await edge.public.post(f"/v1/orders/{order_id}/reversals",
                                  headers={**edge.shopper(), "Idempotency-Key": new_key()})
    body = _problem(resp, 403, "forbidden")
    assert "only the merchant" in body["detail"]
    # The merchant may, and the request says who asked (the executor checks it again).
    resp = await edge.public.post(f"/v1/orders/{order_id}/reversals",
                                  headers={**edge.merchant(), "Idempotency-Key": new_key()})
    assert resp.status_code == 202, resp.text
    messages = await edge.queue.for_order(order_id, 3)
    assert messages[-1].request.requested_by == "merchant"


async def test_shopper_may_cancel_before_capture(edge: Edge) -> None:
    order_id = await _authorized(edge)
    resp = await edge.public.post(f"/v1/orders/{order_id}/reversals",
                                  headers={**edge.shopper(), "Idempotency-Key": new_key()})
    assert resp.status_code == 202, resp.text


# ---------------------------------------------------------------- prices (422)


@pytest.mark.parametrize("amount", ["0.01", "24.99", "25.01", "2500.00"])
async def test_checkout_amount_tampering_is_refused(edge: Edge, amount: str) -> None:
    order_id = await edge.register(amount="25.00")
    resp = await edge.public.post("/v1/checkouts", json=_checkout(order_id, amount),
                                  headers={**edge.shopper(), "Idempotency-Key": new_key()})
    body = _problem(resp, 422, "amount-mismatch")
    assert body["errors"][0]["field"] == "amount"
    await edge.queue.drain(1.0)
    assert order_id not in edge.queue.stash  # nothing was queued


# ------------------------------------------------------------- order ids and owners


async def test_order_ids_cannot_be_squatted(edge: Edge) -> None:
    # A shopper cannot register orders (and so cannot choose or claim an id)...
    resp = await edge.public.post(
        "/v1/orders", json={"customer_id": "cust-shopper1", "amount": usd("0.01")},
        headers={**edge.shopper(), "Idempotency-Key": new_key()})
    _problem(resp, 403, "insufficient-scope")
    # ...nor pay an id nobody registered (which would otherwise create it)...
    guessed = f"ord_{uuid.uuid4().hex[:24]}"
    resp = await edge.public.post("/v1/checkouts", json=_checkout(guessed),
                                  headers={**edge.shopper(), "Idempotency-Key": new_key()})
    _problem(resp, 404, "order-not-found")
    # ...and the server issues ids: the body has no say in them.
    resp = await edge.public.post(
        "/v1/orders", json={"order_id": guessed, "customer_id": "cust-shopper1",
                            "amount": usd("5.00")},
        headers={**edge.merchant(), "Idempotency-Key": new_key()})
    _problem(resp, 422, "validation-error")
    first = await edge.register()
    second = await edge.register()
    assert first != second and first.startswith("ord_")


async def test_a_foreign_order_by_guessed_id_looks_missing(edge: Edge) -> None:
    theirs = await _authorized(edge)  # shopper1's order
    missing = f"ord_{uuid.uuid4().hex[:24]}"
    intruder = edge.shopper("shopper2")
    answers = []
    for target in (theirs, missing):
        got = await edge.public.get(f"/v1/orders/{target}", headers=intruder)
        pay = await edge.public.post("/v1/checkouts", json=_checkout(target),
                                     headers={**intruder, "Idempotency-Key": new_key()})
        cancel = await edge.public.post(f"/v1/orders/{target}/reversals",
                                        headers={**intruder, "Idempotency-Key": new_key()})
        for resp in (got, pay, cancel):
            _problem(resp, 404, "order-not-found")
        answers.append([(r.json()["title"], r.json()["detail"]) for r in (got, pay, cancel)])
    assert answers[0] == answers[1]
    # The owner sees it.
    assert (await edge.public.get(f"/v1/orders/{theirs}", headers=edge.shopper())).status_code \
        == 200


# ------------------------------------------------------------------ limits (413, 429)


async def test_oversized_body_is_413_before_auth(edge: Edge) -> None:
    huge = json.dumps({"order_id": "o", "amount": usd("1.00"), "payment_method_nonce": "n" * 10,
                       "pad": "x" * (128 * 1024)})
    # No token at all: the size is refused first, the body never parsed.
    resp = await edge.public.post("/v1/checkouts", content=huge,
                                  headers={"Content-Type": "application/json"})
    _problem(resp, 413, "body-too-large")

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(100):
            yield b"x" * 4096

    streamed = await edge.public.post("/v1/wallet/methods", content=chunks(),
                                      headers={**edge.shopper(), "Idempotency-Key": new_key(),
                                               "Content-Type": "application/json"})
    _problem(streamed, 413, "body-too-large")


async def test_flood_from_one_shopper_is_429_with_retry_after(parts: Fixtures) -> None:
    settings = parts[0].model_copy(update={"rate_limit_per_subject": "5/minute"})
    async with start_edge(settings, *parts[1:]) as edge:
        answers = [await edge.public.get("/v1/wallet/methods", headers=edge.shopper("shopper2"))
                   for _ in range(8)]
        assert [r.status_code for r in answers[:5]] == [200] * 5
        flooded = answers[-1]
        _problem(flooded, 429, "rate-limited")
        assert 1 <= int(flooded.headers["retry-after"]) <= 60
        # Per subject: another shopper is not held back by the first one's flood.
        other = await edge.public.get("/v1/wallet/methods", headers=edge.shopper("shopper1"))
        assert other.status_code == 200


# -------------------------------------------------------- idempotency across restarts


async def _checkout_then_restart(parts: Fixtures) -> tuple[str, str, dict[str, Any]]:
    """Check out on one edge, let the order agent record the key, stop that edge."""
    settings, issuer, views = parts[0], parts[1], parts[2]
    async with start_edge(*parts) as first:
        order_id, key = await first.register(), new_key()
        resp = await first.public.post(
            "/v1/checkouts", json=_checkout(order_id),
            headers={**first.shopper(), "Idempotency-Key": key})
        assert resp.status_code == 202, resp.text
        [message] = await first.queue.for_order(order_id)
    # The order agent keeps the key with the order (what the bridge delivers to it).
    fake = views[0]
    fake.put_order(record_request(fake.orders[order_id], message.request))
    del settings, issuer
    return order_id, key, resp.json()


async def test_key_replay_after_an_edge_restart_gets_the_original_202(parts: Fixtures) -> None:
    order_id, key, original = await _checkout_then_restart(parts)
    async with start_edge(*parts) as restarted:
        replay = await restarted.public.post(
            "/v1/checkouts", json=_checkout(order_id),
            headers={**restarted.shopper(), "Idempotency-Key": key})
        assert replay.status_code == 202, replay.text
        assert replay.json() == original
        await restarted.queue.drain(1.5)
        # Answered from the order's record: no second request was queued.
        assert order_id not in restarted.queue.stash


async def test_same_key_other_body_after_restart_is_422(parts: Fixtures) -> None:
    order_id, key, _ = await _checkout_then_restart(parts)
    async with start_edge(*parts) as restarted:
        other = await restarted.public.post(
            "/v1/checkouts", json={**_checkout(order_id),
                                   "payment_method_nonce": "fake-valid-mastercard-nonce"},
            headers={**restarted.shopper(), "Idempotency-Key": key})
        _problem(other, 422, "idempotency-key-reused")


async def test_registration_and_checkout_need_no_kafka(parts: Fixtures) -> None:
    # Issue #12: the 202 is the truth; issue #13: the edge keeps taking orders while the
    # broker restarts. Registration and checkout send only to SQS (the bridge forwards
    # them once Kafka is back): an edge pointed at no broker at all still accepts both.
    settings = parts[0].model_copy(update={"kafka_bootstrap_servers": "127.0.0.1:9"})
    deps = OrchestratorDeps.from_settings(settings)
    async with start_edge(settings, *parts[1:], b_deps=deps) as edge:
        order_id = await edge.register()
        resp = await edge.public.post("/v1/checkouts", json=_checkout(order_id),
                                      headers={**edge.shopper(), "Idempotency-Key": new_key()})
        assert resp.status_code == 202, resp.text
        [message] = await edge.queue.for_order(order_id)
        assert message.request.amount == Money.of("25.00", "USD")
        [created] = await edge.queue.registrations(order_id)
        assert created.amount == Money.of("25.00", "USD")


# ---------------------------------------------- worker views and the vault (real worker)


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorHandle]:
    with run_simulator() as sim:
        yield sim


@pytest.fixture(scope="module")
def guarded_worker(kafka_bootstrap: str, edge_issuer: DevIssuer, simulator: SimulatorHandle,
                   tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerProcess]:
    tmp = Path(tmp_path_factory.mktemp("guarded"))
    env = {"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
           "BRAINTREE_SIMULATOR_URL": simulator.url,
           "PAYSTREAM_AUTH_ISSUER": edge_issuer.issuer,
           "PAYSTREAM_WORKER_APP_ID": f"security-{uuid.uuid4().hex[:6]}",
           "PAYSTREAM_WORKER_ROLES": '["orders", "wallets"]',
           "PAYSTREAM_WORKER_OFFSET_RESET": "latest"}
    worker = WorkerProcess(env, tmp / "data", tmp / "worker.log")
    worker.start()
    try:
        worker.wait_ready()
        yield worker
    finally:
        worker.stop()


def _view(worker: WorkerProcess, path: str, headers: dict[str, str]) -> tuple[int, Any]:
    request = urllib.request.Request(worker.url + path, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def test_views_refuse_no_token_and_shopper_tokens(guarded_worker: WorkerProcess,
                                                  edge_issuer: DevIssuer) -> None:
    paths = ["/orders/ord_x", "/wallets/cust-shopper1", "/wallets/cust-shopper1/methods"]
    shopper_for_views = edge_issuer.mint(audience=WORKER_AUDIENCE,
                                         scopes="orders:read wallet:admin")
    for path in paths:
        assert _view(guarded_worker, path, {})[0] == 401
        # A shopper's token is for the public API, not for the views...
        assert _view(guarded_worker, path, bearer(edge_issuer.mint_for_user("shopper1")))[0] \
            == 401
        # ...and a user token minted for the views' audience is still not a service.
        assert _view(guarded_worker, path, bearer(shopper_for_views))[0] == 403
    service = bearer(edge_issuer.mint_for_service())
    assert _view(guarded_worker, "/orders/ord_x", service)[0] == 404  # passes, no such order
    # Liveness stays open for the supervisor.
    assert _view(guarded_worker, "/health/live", {})[0] == 200


async def test_vault_retry_after_an_edge_restart_saves_one_method(
        parts: Fixtures, guarded_worker: WorkerProcess) -> None:
    settings = parts[0].model_copy(update={"worker_url": guarded_worker.url})
    key = new_key()
    body = {"nonce": "fake-valid-visa-nonce", "make_default": True}
    customer = "shopper2"
    answers = []
    for _ in range(2):  # the second time on a restarted edge: B's memory is gone
        async with start_edge(settings, *parts[1:]) as edge:
            resp = await edge.public.post("/v1/wallet/methods", json=body,
                                          headers={**edge.shopper(customer),
                                                   "Idempotency-Key": key})
            assert resp.status_code == 201, resp.text
            answers.append(resp.json()["token"])
            listed = await edge.public.get("/v1/wallet/methods",
                                           headers=edge.shopper(customer))
    assert answers[0] == answers[1]
    assert [m["token"] for m in listed.json()["methods"]] == [answers[0]]


# ------------------------------------------------------------------------------ leaks


class _CapturingSqs:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, str] | None]] = []

    async def send_message(self, queue_url: str, body: str, *, group_id: str | None = None,
                           dedup_id: str | None = None,
                           attributes: dict[str, str] | None = None) -> str:
        self.sent.append((body, attributes))
        return "m-1"


async def test_sqs_dead_letters_carry_no_credentials() -> None:
    bridge = SqsKafkaBridge(BridgeSettings())
    sqs = _CapturingSqs()
    bridge._sqs = sqs  # type: ignore[assignment]
    nonce, vault = "fake-valid-nonce-7f3a9c", "tok_secret_42"
    raw = json.dumps({"order_id": "o-1", "kind": "approve", "payment_method_nonce": nonce,
                      "payment_method_token": vault, "amount": "not money"})
    verdict = validate_message(raw, "o-1")
    assert isinstance(verdict, Rejected)
    await bridge._dead_letter({"MessageId": "m-1", "Body": raw, "Attributes": {}},
                              verdict.reason)
    [(body, attributes)] = sqs.sent
    assert nonce not in body and vault not in body and "[redacted]" in body
    assert attributes is not None and nonce not in attributes["reason"]


def test_jwks_only_over_https_except_on_loopback_and_no_default_issuer() -> None:
    assert jwks_uri_allowed("https://sso.example/realms/p/protocol/openid-connect/certs")
    assert jwks_uri_allowed("http://127.0.0.1:8180/realms/p/certs")
    assert jwks_uri_allowed("http://[::1]:8180/certs") and jwks_uri_allowed("http://localhost/c")
    for uri in ("http://sso.example/certs", "http://10.0.0.5/certs", "ftp://127.0.0.1/c",
                "https:///certs", "http://127.0.0.1.evil.example/certs"):
        assert not jwks_uri_allowed(uri), uri
    with pytest.raises(RuntimeError, match="PAYSTREAM_AUTH_ISSUER"):
        TokenVerifier(AuthSettings(issuer=""))


def test_views_beyond_loopback_need_an_issuer() -> None:
    exposed = WorkerSettings(web_host="0.0.0.0")
    with pytest.raises(RuntimeError, match="PAYSTREAM_AUTH_ISSUER"):
        view_guard(exposed, AuthSettings(issuer=""))
    assert not view_guard(WorkerSettings(), AuthSettings(issuer="")).enforced
    assert view_guard(exposed, AuthSettings(issuer="https://sso.example/realms/p")).enforced
    with pytest.raises(RuntimeError, match="PAYSTREAM_AUTH_ISSUER"):
        view_guard(WorkerSettings(views_auth="on"), AuthSettings(issuer=""))

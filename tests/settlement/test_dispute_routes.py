"""Merchant dispute routes through the public edge (A and B in-process, the fake worker
views) against the simulator's dispute API, through the dispute port.

A merchant sees and answers only disputes on its own orders: another merchant's is the
same 404 as an unknown dispute, and while the order table cannot say whose order it is the
answer is a 503 with Retry-After; in both cases nothing is written to the gateway."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest
from braintree.test.credit_card_numbers import CreditCardNumbers
from edge_fixtures import start_edge
from edge_helpers import PROBLEM_JSON, Edge, new_key, new_order_id, views_away
from fastapi import Body, FastAPI
from starlette.types import Message

from api_edge.disputes import (
    BODY_ALLOWANCES,
    EVIDENCE_MAX_BODY_BYTES,
    EVIDENCE_PATH,
    MAX_DOCUMENT_BYTES,
    EvidenceRequest,
    Ownership,
    dispute_order_id,
    ownership,
)
from api_edge.problems import install_problem_handlers
from api_edge.request_limits import BodyLimitMiddleware
from api_edge.settings import EdgeSettings
from devstack.bench.fake_views import FakeWorkerViews
from devstack.dev_issuer import DevIssuer
from devstack.dev_realm import MERCHANT_CLIENT_ID
from gateway.disputes import BraintreeDisputes, Dispute
from gateway.simulator.runner import SimulatorHandle, run_simulator
from schemas.money import Money
from schemas.orders import OrderCreated
from tables.order_lifecycle import apply_order_created


class RecordingDisputes:
    """The simulator-backed dispute port, noting every call made to the gateway."""

    def __init__(self, inner: BraintreeDisputes) -> None:
        self.inner = inner
        self.calls: list[tuple[str, str]] = []
        # The size of each document handed to the gateway (never its bytes).
        self.document_sizes: list[tuple[str, int]] = []

    def writes(self, dispute_id: str) -> list[str]:
        return [op for op, d in self.calls if d == dispute_id and op != "find"]

    def touched(self, dispute_id: str) -> list[str]:
        return [op for op, d in self.calls if d == dispute_id]

    async def find(self, dispute_id: str) -> Dispute:
        self.calls.append(("find", dispute_id))
        return await self.inner.find(dispute_id)

    async def accept(self, dispute_id: str) -> Dispute:
        self.calls.append(("accept", dispute_id))
        return await self.inner.accept(dispute_id)

    async def add_text_evidence(self, dispute_id: str, content: str,
                                category: str | None = None) -> str:
        self.calls.append(("text_evidence", dispute_id))
        return await self.inner.add_text_evidence(dispute_id, content, category)

    async def add_file_evidence(self, dispute_id: str, filename: str, content: bytes,
                                category: str | None = None) -> str:
        self.calls.append(("file_evidence", dispute_id))
        self.document_sizes.append((dispute_id, len(content)))
        return await self.inner.add_file_evidence(dispute_id, filename, content, category)

    async def finalize(self, dispute_id: str) -> Dispute:
        self.calls.append(("finalize", dispute_id))
        return await self.inner.finalize(dispute_id)


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorHandle]:
    with run_simulator() as handle:
        yield handle


@pytest.fixture(scope="module")
def port(sim: SimulatorHandle) -> RecordingDisputes:
    return RecordingDisputes(BraintreeDisputes(sim.gateway_settings()))


@pytest.fixture(scope="module")
async def edge(edge_settings: EdgeSettings, edge_issuer: DevIssuer,
               fake_views: tuple[FakeWorkerViews, str], sqs_endpoint: str,
               edge_queue_url: str, kafka_bootstrap: str,
               port: RecordingDisputes) -> AsyncIterator[Edge]:
    async with start_edge(edge_settings, edge_issuer, fake_views, sqs_endpoint,
                          edge_queue_url, kafka_bootstrap, disputes=port) as started:
        yield started


def open_dispute(sim: SimulatorHandle, order_id: str | None) -> str:
    bt = sim.sdk()
    sale_request: dict[str, object] = {
        "amount": "83.00", "options": {"submit_for_settlement": True},
        "credit_card": {"number": CreditCardNumbers.Disputes.Chargeback,
                        "expiration_date": "05/2030"}}
    if order_id is not None:
        sale_request["order_id"] = order_id
    sale = bt.transaction.sale(sale_request).transaction
    sim.settle(sale.id)
    (dispute,) = bt.transaction.find(sale.id).disputes
    return str(dispute.id)


def gateway_status(sim: SimulatorHandle, dispute_id: str) -> str:
    return str(sim.sdk().dispute.find(dispute_id).status)


def foreign_order(edge: Edge) -> str:
    """An order another merchant registered (the order table shows it)."""
    order_id = new_order_id()
    edge.fake.put_order(apply_order_created(None, OrderCreated(
        order_id=order_id, customer_id="cust-shopper1", amount=Money.of("83.00", "USD"),
        merchant_id="merchant-elsewhere", correlation_id="test",
        occurred_at=datetime.now(UTC))))
    return order_id


def writing(edge: Edge) -> dict[str, str]:
    return {**edge.merchant(), "Idempotency-Key": new_key()}


async def every_route(edge: Edge, dispute_id: str,
                      headers: dict[str, str] | None = None) -> list[httpx.Response]:
    """GET, accept, text and document evidence, finalize, as the merchant."""
    pdf = base64.b64encode(b"%PDF-1.4 proof of delivery").decode()
    base = f"/v1/disputes/{dispute_id}"
    return [
        await edge.public.get(base, headers=headers or edge.merchant()),
        await edge.public.post(f"{base}/accept", headers=headers or writing(edge)),
        await edge.public.post(f"{base}/evidence", json={"text": "delivered"},
                               headers=headers or writing(edge)),
        await edge.public.post(f"{base}/evidence",
                               json={"file_name": "delivery.pdf", "content_base64": pdf},
                               headers=headers or writing(edge)),
        await edge.public.post(f"{base}/finalize", headers=headers or writing(edge)),
    ]


# ------------------------------------------------------------------ own disputes


async def test_contest_with_text_and_file_evidence_then_finalize(
        sim: SimulatorHandle, edge: Edge) -> None:
    order_id = await edge.register(amount="83.00")
    dispute_id = open_dispute(sim, order_id)
    found = await edge.public.get(f"/v1/disputes/{dispute_id}", headers=edge.merchant())
    assert found.status_code == 200, found.text
    assert (found.json()["status"], found.json()["order_id"]) == ("open", order_id)
    assert found.json()["amount_disputed"] == {"amount": "83.00", "currency": "USD"}
    text = await edge.public.post(f"/v1/disputes/{dispute_id}/evidence",
                                  json={"text": "losing_evidence"}, headers=writing(edge))
    assert text.status_code == 201, text.text
    pdf = base64.b64encode(b"%PDF-1.4 proof of delivery").decode()
    doc = await edge.public.post(f"/v1/disputes/{dispute_id}/evidence",
                                 json={"file_name": "delivery.pdf", "content_base64": pdf},
                                 headers=writing(edge))
    assert doc.status_code == 201, doc.text
    done = await edge.public.post(f"/v1/disputes/{dispute_id}/finalize", headers=writing(edge))
    assert done.status_code == 200, done.text
    assert done.json()["status"] in ("disputed", "lost")
    assert set(done.json()["evidence_ids"]) >= {text.json()["evidence_id"],
                                               doc.json()["evidence_id"]}
    # A finalized dispute takes no more evidence: Braintree's 95701, as a 409.
    late = await edge.public.post(f"/v1/disputes/{dispute_id}/evidence", json={"text": "more"},
                                  headers=writing(edge))
    assert late.status_code == 409 and "95701" in late.json()["detail"]


async def test_accept_and_errors(sim: SimulatorHandle, edge: Edge) -> None:
    dispute_id = open_dispute(sim, await edge.register(amount="83.00"))
    accepted = await edge.public.post(f"/v1/disputes/{dispute_id}/accept", headers=writing(edge))
    assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"
    again = await edge.public.post(f"/v1/disputes/{dispute_id}/accept", headers=writing(edge))
    assert again.status_code == 409 and "95704" in again.json()["detail"]
    unknown = await edge.public.get("/v1/disputes/nosuchdispute", headers=edge.merchant())
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == PROBLEM_JSON
    both = await edge.public.post(
        f"/v1/disputes/{dispute_id}/evidence",
        json={"text": "x", "file_name": "a.pdf", "content_base64": "eA=="}, headers=writing(edge))
    assert both.status_code == 422
    keyless = await edge.public.post(f"/v1/disputes/{dispute_id}/accept",
                                     headers=edge.merchant())
    assert keyless.status_code == 400


# ------------------------------------------------------------------ body limits


def _pdf(size: int) -> bytes:
    """A stand-in PDF of `size` bytes (every byte value, so its base64 has "/" and "+")."""
    head = b"%PDF-1.4\n"
    return head + bytes(i % 256 for i in range(size - len(head)))


def _evidence_body(content: bytes) -> bytes:
    return json.dumps({"file_name": "delivery.pdf", "category": "PROOF_OF_FULFILLMENT",
                       "content_base64": base64.b64encode(content).decode()}).encode()


async def _chunked(body: bytes, sent: list[int], size: int = 64 * 1024) -> AsyncIterator[bytes]:
    """`body` without a Content-Length (chunked), counting the chunks handed over."""
    for start in range(0, len(body), size):
        sent.append(start)
        yield body[start:start + size]


def _too_large(answer: httpx.Response, limit: int) -> None:
    assert answer.status_code == 413, answer.text
    assert answer.headers["content-type"] == PROBLEM_JSON
    problem = answer.json()
    assert problem["type"] == "urn:paystream:problem:body-too-large"
    assert str(limit) in problem["detail"]


async def test_a_megabyte_pdf_reaches_the_gateway(sim: SimulatorHandle, edge: Edge,
                                                  port: RecordingDisputes) -> None:
    """Far over the edge's 64 KiB default: the evidence route has its own limit."""
    dispute_id = open_dispute(sim, await edge.register(amount="83.00"))
    pdf = _pdf(1024 * 1024)
    body = _evidence_body(pdf)
    assert len(body) > 20 * edge_default_limit(edge)
    declared = await edge.public.post(
        f"/v1/disputes/{dispute_id}/evidence", content=body,
        headers={**writing(edge), "Content-Type": "application/json"})
    assert declared.status_code == 201, declared.text
    sent: list[int] = []
    chunked = await edge.public.post(
        f"/v1/disputes/{dispute_id}/evidence", content=_chunked(body, sent),
        headers={**writing(edge), "Content-Type": "application/json"})
    assert chunked.status_code == 201, chunked.text
    assert port.writes(dispute_id) == ["file_evidence", "file_evidence"]
    # The whole document went to the gateway, both times, and is on the dispute there.
    assert port.document_sizes[-2:] == [(dispute_id, len(pdf))] * 2
    evidence = sim.sdk().dispute.find(dispute_id).evidence
    assert {declared.json()["evidence_id"], chunked.json()["evidence_id"]} <= \
        {e.id for e in evidence}


async def test_a_body_over_the_evidence_allowance_is_413_unread(
        sim: SimulatorHandle, edge: Edge, port: RecordingDisputes) -> None:
    dispute_id = open_dispute(sim, await edge.register(amount="83.00"))
    over = b"x" * (EVIDENCE_MAX_BODY_BYTES + 1)
    # Declared: refused on the Content-Length, before auth and before any route runs.
    declared = await edge.public.post(
        f"/v1/disputes/{dispute_id}/evidence", content=over,
        headers={**writing(edge), "Content-Type": "application/json"})
    _too_large(declared, EVIDENCE_MAX_BODY_BYTES)
    anonymous = await edge.public.post(f"/v1/disputes/{dispute_id}/evidence", content=over,
                                       headers={"Content-Type": "application/json"})
    _too_large(anonymous, EVIDENCE_MAX_BODY_BYTES)
    # Chunked: read up to the allowance, then refused; the rest is never read.
    sent: list[int] = []
    chunked = await edge.public.post(
        f"/v1/disputes/{dispute_id}/evidence", content=_chunked(over * 2, sent),
        headers={**writing(edge), "Content-Type": "application/json"})
    _too_large(chunked, EVIDENCE_MAX_BODY_BYTES)
    assert len(sent) * 64 * 1024 < len(over) * 2
    assert port.touched(dispute_id) == []
    # A document over 4 MB that fits in the allowance is the route's own 413.
    big = _evidence_body(b"%PDF" + b"\0" * MAX_DOCUMENT_BYTES)
    assert len(big) <= EVIDENCE_MAX_BODY_BYTES
    too_big = await edge.public.post(
        f"/v1/disputes/{dispute_id}/evidence", content=big,
        headers={**writing(edge), "Content-Type": "application/json"})
    assert too_big.status_code == 413 and too_big.headers["content-type"] == PROBLEM_JSON
    assert port.writes(dispute_id) == []


async def test_other_routes_keep_the_default_limit(sim: SimulatorHandle, edge: Edge,
                                                   port: RecordingDisputes) -> None:
    limit = edge_default_limit(edge)
    body = json.dumps({"text": "x" * (100 * 1024)}).encode()
    dispute_id = open_dispute(sim, await edge.register(amount="83.00"))
    for path, headers in (("/v1/checkouts", {**edge.shopper(), "Idempotency-Key": new_key()}),
                          (f"/v1/disputes/{dispute_id}/accept", writing(edge)),
                          (f"/v1/disputes/{dispute_id}/finalize", writing(edge))):
        answer = await edge.public.post(path, content=body,
                                        headers={**headers, "Content-Type": "application/json"})
        _too_large(answer, limit)
        sent: list[int] = []
        chunked = await edge.public.post(path, content=_chunked(body, sent, 4096),
                                         headers={**headers, "Content-Type": "application/json"})
        _too_large(chunked, limit)
        assert len(sent) * 4096 < len(body)
    assert port.touched(dispute_id) == []


def edge_default_limit(edge: Edge) -> int:
    limits = [m.kwargs["max_bytes"] for m in edge.public_app.user_middleware
              if m.cls is BodyLimitMiddleware]
    assert len(limits) == 1
    assert limits[0] == 64 * 1024
    return int(limits[0])


def test_the_allowance_is_the_evidence_route_alone() -> None:
    """Matched as Starlette matches the route: POST, one path segment for the id."""
    async def app(scope: object, receive: object, send: object) -> None: ...
    limits = BodyLimitMiddleware(app, 64 * 1024, BODY_ALLOWANCES)

    def limit(method: str, path: str, root_path: str = "") -> int:
        return limits.limit_for({"type": "http", "method": method, "path": path,
                                 "root_path": root_path})

    assert limit("POST", "/v1/disputes/dp_1/evidence") == EVIDENCE_MAX_BODY_BYTES
    assert limit("POST", "/api/v1/disputes/dp_1/evidence", "/api") == EVIDENCE_MAX_BODY_BYTES
    for method, path in (("PUT", "/v1/disputes/dp_1/evidence"),
                         ("POST", "/v1/disputes/dp_1/accept"),
                         ("POST", "/v1/disputes/a/b/evidence"),
                         ("POST", "/v1/disputes/dp_1/evidence/x"),
                         ("POST", "/v1/checkouts")):
        assert limit(method, path) == 64 * 1024, (method, path)
    # Room for the largest document in base64 (4 characters per 3 bytes) and its JSON.
    largest = _evidence_body(bytes(MAX_DOCUMENT_BYTES))
    assert len(largest) < EVIDENCE_MAX_BODY_BYTES < len(largest) + 256 * 1024


# ------------------------------------------------- the body after the merchant check


class CountingBody:
    """An ASGI `receive` handing out `body` in 64 KiB messages, counting what it handed."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.handed = 0
        self.calls = 0

    async def __call__(self) -> Message:
        self.calls += 1
        if self.calls > 1 and self.handed == len(self.body):
            return {"type": "http.disconnect"}
        piece = self.body[self.handed:self.handed + 64 * 1024]
        self.handed += len(piece)
        return {"type": "http.request", "body": piece,
                "more_body": self.handed < len(self.body)}


async def post_counted(edge: Edge, path: str, body: bytes, headers: dict[str, str], *,
                       chunked: bool = False
                       ) -> tuple[int, dict[str, str], Any, CountingBody]:
    """POST `body` (with its Content-Length, or chunked: without one) straight to
    Payments-A's ASGI app: the answer's status, headers and JSON, and how much of the body
    the app took."""
    receive = CountingBody(body)
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    length = {"Transfer-Encoding": "chunked"} if chunked else {
        "Content-Length": str(len(body))}
    wire = {**headers, "Content-Type": "application/json", **length, "Host": "edge.test"}
    await edge.public_app({
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "",
        "query_string": b"", "server": ("edge.test", 80), "client": ("127.0.0.1", 50000),
        "headers": [(k.lower().encode(), v.encode()) for k, v in wire.items()]},
        receive, send)
    (start,) = [m for m in sent if m["type"] == "http.response.start"]
    answer = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return (start["status"], {k.decode(): v.decode() for k, v in start["headers"]},
            json.loads(answer), receive)


def _forged(edge: Edge) -> str:
    """The merchant's token with another token's signature."""
    merchant = edge.issuer.mint_for_service(MERCHANT_CLIENT_ID)
    other = edge.issuer.mint_for_user("shopper1")
    return merchant.rsplit(".", 1)[0] + "." + other.rsplit(".", 1)[1]


@pytest.mark.parametrize("chunked", [False, True], ids=["declared", "chunked"])
@pytest.mark.parametrize(("who", "status"), [("nobody", 401), ("forged", 401),
                                             ("shopper", 403), ("keyless", 400)])
async def test_the_evidence_body_is_not_read_before_the_merchant_check_passes(
        sim: SimulatorHandle, edge: Edge, port: RecordingDisputes, who: str,
        status: int, chunked: bool) -> None:
    dispute_id = open_dispute(sim, await edge.register(amount="83.00"))
    body = _evidence_body(_pdf(2_300_000))
    assert 3_000_000 < len(body) <= EVIDENCE_MAX_BODY_BYTES
    headers = {"nobody": {"Idempotency-Key": new_key()},
               "forged": {"Authorization": f"Bearer {_forged(edge)}",
                          "Idempotency-Key": new_key()},
               "shopper": {**edge.shopper(), "Idempotency-Key": new_key()},
               "keyless": edge.merchant()}[who]
    answer, answer_headers, problem, taken = await post_counted(
        edge, f"/v1/disputes/{dispute_id}/evidence", body, headers, chunked=chunked)
    assert answer == status, problem
    assert answer_headers["content-type"] == PROBLEM_JSON
    assert problem["status"] == status
    # Not a byte of the 3 MB was asked for, chunked or not: the refusal came before the
    # body was read (nothing before the route's dependencies calls `receive`, and the body
    # limit reads no chunked body ahead on this route).
    assert (taken.calls, taken.handed) == (0, 0)
    assert port.touched(dispute_id) == []


@pytest.mark.parametrize("chunked", [False, True], ids=["declared", "chunked"])
async def test_a_merchant_s_evidence_body_is_read_through(
        sim: SimulatorHandle, edge: Edge, port: RecordingDisputes, chunked: bool) -> None:
    """The counting above sees reads: the same body from the merchant is read whole."""
    dispute_id = open_dispute(sim, await edge.register(amount="83.00"))
    pdf = _pdf(2_300_000)
    body = _evidence_body(pdf)
    answer, _, created, taken = await post_counted(
        edge, f"/v1/disputes/{dispute_id}/evidence", body, writing(edge), chunked=chunked)
    assert answer == 201, created
    assert taken.handed == len(body)
    assert port.document_sizes[-1] == (dispute_id, len(pdf))
    assert created["evidence_id"] in {e.id for e in sim.sdk().dispute.find(dispute_id).evidence}


async def test_a_chunked_body_over_the_allowance_is_413_once_read_past_it(
        sim: SimulatorHandle, edge: Edge, port: RecordingDisputes) -> None:
    """Counted as the route reads it: the merchant's body is read up to the allowance
    and refused on the message that takes it past; an anonymous one is not read at all."""
    dispute_id = open_dispute(sim, await edge.register(amount="83.00"))
    path = f"/v1/disputes/{dispute_id}/evidence"
    body = _evidence_body(_pdf(4_400_000))
    assert EVIDENCE_MAX_BODY_BYTES < len(body) < EVIDENCE_MAX_BODY_BYTES + 256 * 1024
    answer, answer_headers, problem, taken = await post_counted(
        edge, path, body, writing(edge), chunked=True)
    assert answer == 413, problem
    assert answer_headers["content-type"] == PROBLEM_JSON
    assert answer_headers["connection"] == "close"
    assert problem["type"] == "urn:paystream:problem:body-too-large"
    assert str(EVIDENCE_MAX_BODY_BYTES) in problem["detail"]
    # CountingBody hands out 64 KiB a message: one message past the allowance at most.
    assert EVIDENCE_MAX_BODY_BYTES < taken.handed <= EVIDENCE_MAX_BODY_BYTES + 64 * 1024
    assert taken.handed < len(body)
    anonymous, _, refused, untouched = await post_counted(
        edge, path, body, {"Idempotency-Key": new_key()}, chunked=True)
    assert anonymous == 401, refused
    assert (untouched.calls, untouched.handed) == (0, 0)
    assert port.touched(dispute_id) == []


def _declared_body_app() -> FastAPI:
    """How the edge answers a body FastAPI reads and validates itself (a declared body)."""
    app = FastAPI()
    install_problem_handlers(app)

    @app.post(EVIDENCE_PATH)
    async def declared(dispute_id: str, body: EvidenceRequest = Body(...)) -> dict[str, str]:
        return {}

    return app


BAD_BODIES: list[tuple[bytes, str | None]] = [
    (b"", "application/json"), (b"", None), (b"{}", "application/json"),
    (b'{"text": ""}', "application/json"), (b'{"text": 5}', "application/json"),
    (b'{"text": "x", "extra": 1}', "application/json"), (b"[1, 2]", "application/json"),
    (b"null", "application/json"), (b'{"text": ', "application/json"),
    (b'{"text": "x"} x', "application/json"), (b'{"text": "x"}', "text/plain"),
    (b'{"text": "x"}', None), (b'{"text": "\x80"}', "application/json"),
    (b"[" * 100_000 + b"]" * 100_000, "application/json"),
    (b'{"text": "x", "file_name": "a.pdf", "content_base64": "eA=="}',
     "application/vnd.evidence+json"),
    (b'{"file_name": "a.pdf"}', "application/json; charset=utf-8"),
    (b'{"file_name": "a.exe", "content_base64": "eA=="}', "application/json"),
]


async def test_a_bad_evidence_body_is_answered_as_a_declared_body_would_be(
        sim: SimulatorHandle, edge: Edge, port: RecordingDisputes) -> None:
    """Read after the merchant check, but refused as before: the edge's 422
    validation-error problem with the same field errors (400 for an undecodable body)."""
    dispute_id = open_dispute(sim, await edge.register(amount="83.00"))
    reference = httpx.AsyncClient(transport=httpx.ASGITransport(app=_declared_body_app()),
                                  base_url="http://edge.test")
    path = f"/v1/disputes/{dispute_id}/evidence"
    async with reference:
        for body, content_type in BAD_BODIES:
            typed = {"Content-Type": content_type} if content_type else {}
            answer = await edge.public.post(path, content=body,
                                            headers={**writing(edge), **typed})
            expected = await reference.post(path, content=body, headers=typed)
            assert answer.status_code == expected.status_code in (400, 422), body[:40]
            assert answer.headers["content-type"] == PROBLEM_JSON == \
                expected.headers["content-type"]
            mine, theirs = answer.json(), expected.json()
            del mine["correlation_id"], theirs["correlation_id"]
            assert mine == theirs, body[:40]
    assert port.touched(dispute_id) == []
    # The answers spelled out for the commonest mistakes.
    missing = await edge.public.post(path, headers=writing(edge))
    assert missing.status_code == 422 and missing.json()["type"] == \
        "urn:paystream:problem:validation-error"
    assert missing.json()["errors"] == [{"field": "body", "message": "Field required"}]
    extra = await edge.public.post(path, json={"text": "x", "note": "y"},
                                   headers=writing(edge))
    assert extra.status_code == 422
    assert extra.json()["errors"] == [{"field": "note",
                                       "message": "Extra inputs are not permitted"}]
    broken = await edge.public.post(path, content=b'{"text": ',
                                    headers={**writing(edge),
                                             "Content-Type": "application/json"})
    assert broken.status_code == 422
    assert broken.json()["errors"] == [{"field": "9", "message": "JSON decode error"}]


async def test_the_evidence_body_is_documented_as_before(edge: Edge) -> None:
    document = (await edge.public.get("/openapi.json")).json()
    operation = document["paths"][EVIDENCE_PATH]["post"]
    assert operation["operationId"] == "add_evidence_v1_disputes__dispute_id__evidence_post"
    assert operation["requestBody"] == {"required": True, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/EvidenceRequest"}}}}
    schema = document["components"]["schemas"]["EvidenceRequest"]
    assert set(schema["properties"]) == set(EvidenceRequest.model_fields)
    assert schema["additionalProperties"] is False
    assert [p["name"] for p in operation["parameters"]] == ["dispute_id", "Idempotency-Key"]
    assert operation["security"] == [{"bearerAuth": []}]


# ----------------------------------------------------------- not the caller's


def _same_problem(answer: httpx.Response, unknown: httpx.Response) -> None:
    assert answer.status_code == 404, answer.text
    assert answer.headers["content-type"] == PROBLEM_JSON
    mine, theirs = answer.json(), unknown.json()
    assert {k: mine[k] for k in ("type", "title", "detail")} == \
        {k: theirs[k] for k in ("type", "title", "detail")}


async def test_another_merchants_dispute_is_404_as_if_absent_and_nothing_is_written(
        sim: SimulatorHandle, edge: Edge, port: RecordingDisputes) -> None:
    dispute_id = open_dispute(sim, foreign_order(edge))
    unknown = await edge.public.get("/v1/disputes/nosuchdispute", headers=edge.merchant())
    for answer in await every_route(edge, dispute_id):
        _same_problem(answer, unknown)
    assert port.writes(dispute_id) == []
    assert gateway_status(sim, dispute_id) == "open"


async def test_a_dispute_on_no_order_of_ours_is_404(sim: SimulatorHandle, edge: Edge,
                                                    port: RecordingDisputes) -> None:
    unknown = await edge.public.get("/v1/disputes/nosuchdispute", headers=edge.merchant())
    # The order table (fully recovered) has no such order; a sale without an order id.
    for order_id in (new_order_id(), None):
        dispute_id = open_dispute(sim, order_id)
        for answer in await every_route(edge, dispute_id):
            _same_problem(answer, unknown)
        assert port.writes(dispute_id) == []
        assert gateway_status(sim, dispute_id) == "open"


async def test_while_the_owner_cannot_be_known_it_is_503_and_nothing_is_written(
        sim: SimulatorHandle, edge: Edge, port: RecordingDisputes) -> None:
    own = open_dispute(sim, await edge.register(amount="83.00"))
    foreign = open_dispute(sim, foreign_order(edge))
    with views_away(edge):
        answers = [*await every_route(edge, own), *await every_route(edge, foreign)]
    for answer in answers:
        assert answer.status_code == 503, answer.text
        assert answer.headers["content-type"] == PROBLEM_JSON
        assert int(answer.headers["retry-after"]) >= 1
        assert "127.0.0.1" not in answer.text
    assert port.writes(own) == [] and port.writes(foreign) == []
    assert gateway_status(sim, own) == gateway_status(sim, foreign) == "open"
    # Once the table answers again, the merchant's own dispute is its to answer.
    found = await edge.public.get(f"/v1/disputes/{own}", headers=edge.merchant())
    assert found.status_code == 200, found.text


async def test_a_shopper_token_is_403_before_the_gateway_is_asked(
        sim: SimulatorHandle, edge: Edge, port: RecordingDisputes) -> None:
    dispute_id = open_dispute(sim, await edge.register(amount="83.00"))
    for answer in await every_route(edge, dispute_id,
                                    {**edge.shopper(), "Idempotency-Key": new_key()}):
        assert answer.status_code == 403, answer.text
        assert answer.headers["content-type"] == PROBLEM_JSON
    assert port.touched(dispute_id) == []
    assert gateway_status(sim, dispute_id) == "open"


# ------------------------------------------------------------------ pure rules


def _dispute(order_id: str | None) -> Dispute:
    return Dispute(id="dp_1", status="open", kind="chargeback", reason="fraud",
                   amount_disputed=Money.of("1.00", "USD"), transaction_id="tx1",
                   order_id=order_id, reply_by=date(2030, 1, 1), evidence_ids=())


def test_only_an_order_id_we_could_have_issued_names_one_of_our_orders() -> None:
    assert dispute_order_id(_dispute("ord_Xb3kQ9vT2mLpR7wZ1cYhN5dF")) == \
        "ord_Xb3kQ9vT2mLpR7wZ1cYhN5dF"
    assert dispute_order_id(_dispute(None)) is None
    assert dispute_order_id(_dispute("../wallet/methods")) is None
    assert dispute_order_id(_dispute("x" * 37)) is None


def test_only_a_definite_answer_makes_a_promise() -> None:
    assert ownership(200, None) is Ownership.OWN
    assert ownership(404, "urn:paystream:problem:order-not-found") is Ownership.NOT_FOUND
    # The views recovering or away, B failing, or a 404 that is not B's "no such order".
    for status, kind in ((503, "urn:paystream:problem:dependency-unavailable"),
                         (404, "about:blank"), (404, None), (502, None), (400, None),
                         (409, None)):
        assert ownership(status, kind) is Ownership.UNKNOWN, (status, kind)

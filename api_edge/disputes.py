"""Merchant routes to answer disputes: look one up, accept it, or contest it with evidence.

Through the dispute port (`gateway.disputes`, Braintree's dispute API). Merchant role only
(a client-credentials token with `merchant:payments`); writes need an Idempotency-Key like
every write. What happens to the dispute afterwards (won, lost) arrives as a webhook.

A merchant sees and answers only disputes on its own orders. The dispute names its order
(the disputed sale's `order_id`); whether the caller may see that order is the one rule
every merchant route uses (`api_edge.flow.visible_to`, applied by Payments-B when it shows
an order), asked of B before anything is written to the gateway. A dispute on another
merchant's order, on an order B does not know, or on no order of ours is the same 404 as
an unknown dispute; while B cannot tell (the worker views down or recovering) the answer
is a 503 with Retry-After, never a 404.
"""

from __future__ import annotations

import base64
import binascii
import email.message
import json
import logging
import math
from collections.abc import Awaitable, Callable, Mapping
from enum import StrEnum
from typing import Annotated, Any, Final, Protocol, TypeVar
from urllib.parse import quote

from fastapi import Body, Depends, FastAPI, HTTPException, Path, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator
from starlette.requests import ClientDisconnect

from api_edge.http_common import INTERNAL
from api_edge.orchestrator_client import OrchestratorClient
from api_edge.problems import ProblemException, problem_responses, problem_type
from gateway.disputes import BraintreeDisputes, Dispute, DisputePort, DisputeRefused
from gateway.errors import GatewayError, NotFoundGatewayError
from schemas.types import OrderId

log = logging.getLogger(__name__)

DisputeIdPath = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$",
                                    description="Braintree's dispute id")]
# Braintree takes evidence documents up to 4 MB (pdf, png, jpeg).
MAX_DOCUMENT_BYTES = 4 * 1024 * 1024
EVIDENCE_PATH: Final = "/v1/disputes/{dispute_id}/evidence"
_MAX_DOCUMENT_BASE64: Final = 4 * math.ceil(MAX_DOCUMENT_BYTES / 3)
# The evidence route's body: the largest document in base64, plus room for the JSON around
# it (names, file name, category, whitespace) and for encoders that write each "/" as "\/"
# (PHP's json_encode; 1 base64 character in 64). A ceiling on what is read before the
# route runs; the document's own size is held to MAX_DOCUMENT_BYTES once decoded.
EVIDENCE_MAX_BODY_BYTES: Final = _MAX_DOCUMENT_BASE64 + _MAX_DOCUMENT_BASE64 // 32 + 16 * 1024
# The public edge's body limit is Payments-A's default (settings.max_body_bytes) for every
# route but these (`api_edge.request_limits.BodyLimitMiddleware`'s allowances).
BODY_ALLOWANCES: Final[Mapping[tuple[str, str], int]] = {("POST", EVIDENCE_PATH):
                                                      EVIDENCE_MAX_BODY_BYTES}
_ORDER_ID: Final = TypeAdapter(OrderId)
# Payments-B's answer for an order the caller may not see (missing, unregistered, foreign).
_ORDER_NOT_FOUND: Final = problem_type("order-not-found")
_Model = TypeVar("_Model", bound=BaseModel)


class EvidenceRequest(BaseModel):
    """Text evidence, or a document (base64) with its file name."""

    model_config = ConfigDict(extra="forbid")
    text: str | None = Field(default=None, min_length=1, max_length=3000)
    file_name: str | None = Field(default=None, pattern=r"^[\w.-]{1,100}\.(pdf|png|jpe?g)$")
    content_base64: str | None = Field(default=None, repr=False)
    category: str | None = Field(default=None, max_length=64)

    @model_validator(mode="after")
    def _one_kind(self) -> EvidenceRequest:
        if (self.text is None) == (self.file_name is None):
            raise ValueError("give either text or file_name with content_base64")
        if self.file_name is not None and not self.content_base64:
            raise ValueError("content_base64 is required with file_name")
        return self


def _parsed_as_json(content_type: str | None) -> bool:
    """Whether FastAPI would parse a declared body with this Content-Type as JSON: only
    application/json and application/*+json, and not without one (strict_content_type)."""
    if not content_type:
        return False
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json"))


async def read_body(request: Request, model: type[_Model]) -> _Model:
    """The request's body as `model`, for a route that must not have it read before its
    dependencies run (FastAPI reads a declared body first).

    Refused as FastAPI refuses a declared body (`fastapi.routing.get_request_handler`), so
    the answer is the edge's usual one (`api_edge.problems`): a 422 validation-error
    problem, the errors located under "body", or a 400 for a body that cannot be decoded.
    """
    try:
        raw = await request.body()
        value: Any = await request.json() if raw and _parsed_as_json(
            request.headers.get("content-type")) else raw
    except json.JSONDecodeError as exc:
        raise RequestValidationError(
            [{"type": "json_invalid", "loc": ("body", exc.pos), "msg": "JSON decode error",
              "input": {}, "ctx": {"error": exc.msg}}], body=exc.doc) from exc
    except (ValueError, RecursionError, ClientDisconnect) as exc:
        # Not UTF-8/16/32, nested too deep for the parser, or the client went away.
        raise HTTPException(400, "There was an error parsing the body") from exc
    if not raw:
        raise RequestValidationError(
            [{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}])
    try:
        # from_attributes: as FastAPI validates a body, so a non-object is the same error.
        return model.model_validate(value, from_attributes=True)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**error, "loc": ("body", *error["loc"])}
             for error in exc.errors(include_url=False)], body=value) from None


def dispute_body(d: Dispute) -> dict[str, Any]:
    return {"dispute_id": d.id, "status": d.status, "kind": d.kind, "reason": d.reason,
            "amount_disputed": d.amount_disputed.model_dump(mode="json")
            if d.amount_disputed else None,
            "transaction_id": d.transaction_id, "order_id": d.order_id,
            "reply_by": d.reply_by.isoformat() if d.reply_by else None,
            "evidence_ids": list(d.evidence_ids)}


class MerchantCaller(Protocol):
    """What the facade's merchant dependencies give: Payments-B, for this merchant."""

    @property
    def client(self) -> OrchestratorClient: ...


class Ownership(StrEnum):
    # The dispute's order is one the calling merchant may see.
    OWN = "own"
    # Definitely not the caller's: another merchant's order, an order the order table
    # does not hold (it answered so when fully recovered), or no order of ours at all.
    NOT_FOUND = "not-found"
    # Cannot be known right now (the views down or recovering, B away): no promise made.
    UNKNOWN = "unknown"


def dispute_order_id(dispute: Dispute) -> str | None:
    """The order a dispute is on, if it can be one of ours: a sale without an order id, or
    with one paystream never issues, is on no order of ours."""
    if dispute.order_id is None:
        return None
    try:
        return _ORDER_ID.validate_python(dispute.order_id)
    except ValidationError:
        return None


def ownership(status: int, problem: str | None) -> Ownership:
    """What Payments-B's answer to "show me this order" (for the calling merchant) says.

    B shows an order only to whom `api_edge.flow.visible_to` allows; its 404 for an order
    the caller may not see comes from a fully recovered table, so it is definite. Anything
    else but a 200 (a 503 while the views recover, B unreachable or failing) says nothing
    about the owner.
    """
    if status == 200:
        return Ownership.OWN
    if status == 404 and problem == _ORDER_NOT_FOUND:
        return Ownership.NOT_FOUND
    return Ownership.UNKNOWN


def no_such_dispute() -> ProblemException:
    """Unknown disputes and other merchants' disputes get the same answer."""
    return ProblemException(404, "Dispute not found", "There is no dispute with this id for you.",
                            type=problem_type("dispute-not-found"))


def owner_unknown(retry_after: str | None = None) -> ProblemException:
    return ProblemException(
        503, "Service temporarily unavailable",
        "Whose order this dispute is on cannot be checked right now; retry shortly (with the "
        "same Idempotency-Key on a write).", type=problem_type("dependency-unavailable"),
        headers={"Retry-After": retry_after or "1"})


async def check_owner(caller: MerchantCaller, dispute: Dispute) -> None:
    """Refuse (404) a dispute that is not on one of the caller's orders, or answer 503
    while that cannot be known; return if it is the caller's."""
    order_id = dispute_order_id(dispute)
    if order_id is None:
        raise no_such_dispute()
    try:
        answer: Response = await caller.client.call(
            "GET", f"{INTERNAL}/orders/{quote(order_id, safe='')}")
    except ProblemException as exc:
        # B unreachable, timing out or failing: nothing was written anywhere yet.
        log.warning("dispute owner check: the orchestrator answered %s", exc.status)
        raise owner_unknown(exc.headers.get("Retry-After")) from None
    verdict = ownership(answer.status_code, _problem_type(answer))
    if verdict is Ownership.OWN:
        return
    if verdict is Ownership.NOT_FOUND:
        raise no_such_dispute()
    log.warning("dispute owner check: the orchestrator answered %s", answer.status_code)
    raise owner_unknown(answer.headers.get("retry-after"))


def _problem_type(answer: Response) -> str | None:
    if answer.status_code < 400:
        return None
    try:
        body = json.loads(bytes(answer.body))
    except ValueError:
        return None
    kind = body.get("type") if isinstance(body, dict) else None
    return kind if isinstance(kind, str) else None


async def _answer(step: Awaitable[Any]) -> Any:
    try:
        return await step
    except NotFoundGatewayError:
        raise no_such_dispute() from None
    except DisputeRefused as exc:
        raise ProblemException(409, detail=f"{exc.message} ({', '.join(exc.codes)})") from None
    except GatewayError as exc:
        raise ProblemException(503, detail=f"gateway unavailable: {exc.message}",
                               headers={"Retry-After": "2"}) from None


def install_disputes(app: FastAPI, merchant_reader: Callable[..., Awaitable[MerchantCaller]],
                     merchant_writer: Callable[..., Awaitable[MerchantCaller]],
                     disputes: DisputePort | None = None) -> None:
    """The routes; `merchant_reader`/`merchant_writer` are the facade's merchant-role
    dependencies (a write's also requires the Idempotency-Key)."""
    port: DisputePort = disputes or BraintreeDisputes()
    read = problem_responses(401, 403, 404, 422, 429, 503)
    write = problem_responses(400, 401, 403, 404, 409, 413, 422, 429, 503)

    async def owned(dispute_id: str, caller: MerchantCaller) -> Dispute:
        """The dispute, once it is known to be on one of the caller's orders."""
        dispute: Dispute = await _answer(port.find(dispute_id))
        await check_owner(caller, dispute)
        return dispute

    @app.get("/v1/disputes/{dispute_id}", tags=["merchant"], responses=read,
             summary="A dispute (chargeback) on one of your payments")
    async def get_dispute(dispute_id: DisputeIdPath,
                          caller: MerchantCaller = Depends(merchant_reader)) -> JSONResponse:
        return JSONResponse(dispute_body(await owned(dispute_id, caller)))

    @app.post("/v1/disputes/{dispute_id}/accept", tags=["merchant"], responses=write,
              summary="Accept the dispute: the shopper's bank keeps the money")
    async def accept_dispute(dispute_id: DisputeIdPath,
                             caller: MerchantCaller = Depends(merchant_writer)) -> JSONResponse:
        await owned(dispute_id, caller)
        return JSONResponse(dispute_body(await _answer(port.accept(dispute_id))))

    evidence: dict[str, Any] = {
        "tags": ["merchant"], "responses": write, "status_code": 201,
        "summary": "Add text or document evidence to contest a dispute"}

    # The request itself, not a declared body: FastAPI reads and parses a declared body
    # before any dependency runs, and this one may be 5.8 MB. Read only once the
    # merchant's token, role and Idempotency-Key passed.
    @app.post(EVIDENCE_PATH, include_in_schema=False, **evidence)
    async def add_evidence(request: Request, dispute_id: DisputeIdPath,
                           caller: MerchantCaller = Depends(merchant_writer)) -> JSONResponse:
        body = await read_body(request, EvidenceRequest)
        content: bytes | None = None
        if body.text is None:
            try:
                content = base64.b64decode(body.content_base64 or "", validate=True)
            except (binascii.Error, ValueError):
                raise ProblemException(422, detail="content_base64 is not base64") from None
            if len(content) > MAX_DOCUMENT_BYTES:
                raise ProblemException(
                    413, detail=f"evidence documents are at most {MAX_DOCUMENT_BYTES} bytes")
        await owned(dispute_id, caller)
        if body.text is not None:
            evidence_id = await _answer(port.add_text_evidence(dispute_id, body.text,
                                                               body.category))
        else:
            assert body.file_name is not None and content is not None
            evidence_id = await _answer(port.add_file_evidence(
                dispute_id, body.file_name, content, body.category))
        return JSONResponse({"dispute_id": dispute_id, "evidence_id": evidence_id},
                            status_code=201)

    # `add_evidence`'s OpenAPI, with its body declared so FastAPI documents it as it does
    # every other body (the EvidenceRequest component, required, application/json).
    # Never served: Starlette hands a request to the first route that matches it, and
    # `add_evidence` comes first with the same method and path.
    @app.post(EVIDENCE_PATH, name="add_evidence", **evidence)
    async def document_evidence(dispute_id: DisputeIdPath, body: EvidenceRequest = Body(...),
                                caller: MerchantCaller = Depends(merchant_writer)
                                ) -> JSONResponse:
        raise AssertionError("add_evidence serves this route")

    @app.post("/v1/disputes/{dispute_id}/finalize", tags=["merchant"], responses=write,
              summary="Submit the evidence: the dispute goes to the processor")
    async def finalize_dispute(dispute_id: DisputeIdPath,
                               caller: MerchantCaller = Depends(merchant_writer)
                               ) -> JSONResponse:
        await owned(dispute_id, caller)
        return JSONResponse(dispute_body(await _answer(port.finalize(dispute_id))))


__all__ = ["BODY_ALLOWANCES", "EVIDENCE_MAX_BODY_BYTES", "EVIDENCE_PATH", "MAX_DOCUMENT_BYTES",
           "EvidenceRequest", "MerchantCaller", "Ownership", "check_owner", "dispute_order_id",
           "install_disputes", "ownership", "read_body"]

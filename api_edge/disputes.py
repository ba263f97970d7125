"""Merchant routes to answer disputes: look one up, accept it, or contest it with evidence.

Through the dispute port (`gateway.disputes`, Braintree's dispute API). Merchant role only
(a client-credentials token with `merchant:payments`); writes need an Idempotency-Key like
every write. What happens to the dispute afterwards (won, lost) arrives as a webhook.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Body, Depends, FastAPI, Path
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator

from api_edge.problems import ProblemException, problem_responses
from gateway.disputes import BraintreeDisputes, Dispute, DisputePort, DisputeRefused
from gateway.errors import GatewayError, NotFoundGatewayError

DisputeIdPath = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$",
                                    description="Braintree's dispute id")]
# Braintree takes evidence documents up to 4 MB (pdf, png, jpeg).
MAX_DOCUMENT_BYTES = 4 * 1024 * 1024


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


def dispute_body(d: Dispute) -> dict[str, Any]:
    return {"dispute_id": d.id, "status": d.status, "kind": d.kind, "reason": d.reason,
            "amount_disputed": d.amount_disputed.model_dump(mode="json")
            if d.amount_disputed else None,
            "transaction_id": d.transaction_id, "order_id": d.order_id,
            "reply_by": d.reply_by.isoformat() if d.reply_by else None,
            "evidence_ids": list(d.evidence_ids)}


async def _answer(step: Awaitable[Any]) -> Any:
    try:
        return await step
    except NotFoundGatewayError:
        raise ProblemException(404, detail="no such dispute") from None
    except DisputeRefused as exc:
        raise ProblemException(409, detail=f"{exc.message} ({', '.join(exc.codes)})") from None
    except GatewayError as exc:
        raise ProblemException(503, detail=f"gateway unavailable: {exc.message}") from None


def install_disputes(app: FastAPI, merchant_reader: Callable[..., Any],
                     merchant_writer: Callable[..., Any],
                     disputes: DisputePort | None = None) -> None:
    port: DisputePort = disputes or BraintreeDisputes()
    read = problem_responses(401, 403, 404, 503)
    write = problem_responses(400, 401, 403, 404, 409, 422, 503)

    @app.get("/v1/disputes/{dispute_id}", tags=["merchant"], responses=read,
             summary="A dispute (chargeback) on one of your payments")
    async def get_dispute(dispute_id: DisputeIdPath,
                          _: Any = Depends(merchant_reader)) -> JSONResponse:
        return JSONResponse(dispute_body(await _answer(port.find(dispute_id))))

    @app.post("/v1/disputes/{dispute_id}/accept", tags=["merchant"], responses=write,
              summary="Accept the dispute: the shopper's bank keeps the money")
    async def accept_dispute(dispute_id: DisputeIdPath,
                             _: Any = Depends(merchant_writer)) -> JSONResponse:
        return JSONResponse(dispute_body(await _answer(port.accept(dispute_id))))

    @app.post("/v1/disputes/{dispute_id}/evidence", tags=["merchant"], responses=write,
              status_code=201, summary="Add text or document evidence to contest a dispute")
    async def add_evidence(dispute_id: DisputeIdPath, body: EvidenceRequest = Body(...),
                           _: Any = Depends(merchant_writer)) -> JSONResponse:
        if body.text is not None:
            evidence_id = await _answer(port.add_text_evidence(dispute_id, body.text,
                                                               body.category))
        else:
            try:
                content = base64.b64decode(body.content_base64 or "", validate=True)
            except (binascii.Error, ValueError):
                raise ProblemException(422, detail="content_base64 is not base64") from None
            if len(content) > MAX_DOCUMENT_BYTES:
                raise ProblemException(413, detail="evidence documents are at most 4 MB")
            assert body.file_name is not None
            evidence_id = await _answer(port.add_file_evidence(
                dispute_id, body.file_name, content, body.category))
        return JSONResponse({"dispute_id": dispute_id, "evidence_id": evidence_id},
                            status_code=201)

    @app.post("/v1/disputes/{dispute_id}/finalize", tags=["merchant"], responses=write,
              summary="Submit the evidence: the dispute goes to the processor")
    async def finalize_dispute(dispute_id: DisputeIdPath,
                               _: Any = Depends(merchant_writer)) -> JSONResponse:
        return JSONResponse(dispute_body(await _answer(port.finalize(dispute_id))))


__all__ = ["EvidenceRequest", "install_disputes"]

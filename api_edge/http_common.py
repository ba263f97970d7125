"""HTTP helpers Payments-A (facade) and Payments-B (orchestrator) share.

The headers between them, the one Idempotency-Key check, and readiness probing.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Final, get_args

import httpx
from fastapi import Depends, Header
from fastapi.responses import JSONResponse
from pydantic import BaseModel, StringConstraints, TypeAdapter, ValidationError

from api_edge.auth import Principal, require_service
from api_edge.flow import Actor
from api_edge.problems import FieldError, ProblemException, problem_type
from schemas.types import IdempotencyKey

SHOPPER_HEADER: Final = "X-Shopper-Subject"
MERCHANT_HEADER: Final = "X-Merchant-Client"
IDEMPOTENCY_HEADER: Final = "Idempotency-Key"
INTERNAL: Final = "/internal/v1"
_SAFE_SUBJECT = re.compile(r"^[\x21-\x7e]{1,256}$")

# The client's key follows the wire rule for idempotency keys (schemas.types), so there
# is one rule to document; the edge still derives its own downstream key from it.
_KEY = TypeAdapter(IdempotencyKey)
_KEY_RULE: Final = next(m for m in get_args(IdempotencyKey)[1:]
                        if isinstance(m, StringConstraints))
KEY_RULE_TEXT: Final = (f"{_KEY_RULE.min_length}-{_KEY_RULE.max_length} characters "
                        f"matching {_KEY_RULE.pattern}")


def check_idempotency_key(key: str | None) -> str:
    if key is None or not key.strip():
        raise ProblemException(
            400, "Idempotency-Key required",
            "Every write needs an Idempotency-Key header (e.g. a UUID you generate per "
            "operation and reuse when retrying it).",
            type=problem_type("idempotency-key-missing"),
            errors=[FieldError(field="header.Idempotency-Key", message="Field required")])
    try:
        return _KEY.validate_python(key)
    except ValidationError:
        raise ProblemException(
            400, "Invalid Idempotency-Key",
            f"The Idempotency-Key header must be {KEY_RULE_TEXT}.",
            type=problem_type("idempotency-key-invalid"),
            errors=[FieldError(field="header.Idempotency-Key",
                               message=f"must be {KEY_RULE_TEXT}")]) from None


# The headers as route parameters (OpenAPI documents them from here), each declared
# once for the dependency trees and the hot routes' single dependencies alike.
IdempotencyKeyHeader = Annotated[str | None, Header(
    alias=IDEMPOTENCY_HEADER,
    description="Required on every write: a unique key per operation (e.g. a UUID), "
                "reused when retrying it. A replay returns the original response; "
                f"the same key with a different body is refused (422). "
                f"{KEY_RULE_TEXT}.")]
ShopperHeader = Annotated[str | None, Header(
    alias=SHOPPER_HEADER, description="The shopper (token subject) A acts for.")]
MerchantHeader = Annotated[str | None, Header(
    alias=MERCHANT_HEADER, description="The merchant back office (client id) A acts for.")]


async def idempotency_key(key: IdempotencyKeyHeader = None) -> str:
    return check_idempotency_key(key)


async def shopper_subject(
    _service: Principal = Depends(require_service()),
    subject: ShopperHeader = None,
) -> str:
    """The shopper B acts for: trusted only because the caller is the service."""
    if subject is None or not _SAFE_SUBJECT.match(subject):
        raise ProblemException(400, "Missing shopper identity",
                               f"The {SHOPPER_HEADER} header must name the shopper.",
                               type=problem_type("missing-shopper"))
    return subject


async def caller_actor(
    _service: Principal = Depends(require_service()),
    subject: ShopperHeader = None,
    merchant: MerchantHeader = None,
) -> Actor:
    """Who B acts for, shopper or merchant: trusted only because the caller is the service."""
    return actor_named(subject, merchant)


def actor_named(subject: str | None, merchant: str | None) -> Actor:
    """The actor A's headers name: exactly one of a shopper or a merchant."""
    if merchant is not None and subject is None and _SAFE_SUBJECT.match(merchant):
        return Actor("merchant", merchant)
    if subject is not None and merchant is None and _SAFE_SUBJECT.match(subject):
        return Actor("customer", subject)
    raise ProblemException(400, "Missing caller identity",
                           f"Exactly one of {SHOPPER_HEADER} or {MERCHANT_HEADER} must name "
                           "the caller.", type=problem_type("missing-shopper"))


def json_response(model: BaseModel, status: int = 200,
                  headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(model.model_dump(mode="json"), status_code=status, headers=headers)


# ----------------------------------------------------------------------- readiness


class CachedReadiness:
    """Caches dependency checks briefly so frequent probes do not load the dependencies."""

    def __init__(self, probe: Callable[[], Awaitable[dict[str, str]]], ttl: float = 2.0) -> None:
        self.probe = probe
        self.ttl = ttl
        self._at = -1e9
        self._result: dict[str, str] = {}
        self._lock = asyncio.Lock()

    async def checks(self) -> dict[str, str]:
        async with self._lock:
            if time.monotonic() - self._at > self.ttl:
                self._result = await self.probe()
                self._at = time.monotonic()
            return dict(self._result)


async def check(name: str, probe: Awaitable[Any], timeout: float = 2.0) -> tuple[str, str]:
    try:
        await asyncio.wait_for(probe, timeout)
    except Exception as exc:  # a probe reports, it never raises
        return name, f"unavailable ({type(exc).__name__}: {str(exc)[:120]})"
    return name, "ok"


async def issuer_reachable(issuer: str, timeout: float = 2.0) -> None:
    async with httpx.AsyncClient(timeout=timeout) as client:
        response = await client.get(f"{issuer.rstrip('/')}/.well-known/openid-configuration")
        response.raise_for_status()

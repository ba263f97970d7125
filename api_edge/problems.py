"""RFC 7807 problem details (`application/problem+json`) for every error the edge returns."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from http import HTTPStatus
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from api_edge.auth.errors import AuthError, IssuerUnavailableError
from api_edge.errors import (
    DependencyUnavailableError,
    EdgeError,
    NothingToUpdateError,
    OperationForbiddenError,
    OrderNotFoundError,
    OrderStateConflictError,
    PaymentMethodNotFoundError,
    PaymentMethodTypeMismatchError,
    PriceMismatchError,
    RateLimitedError,
    UnknownPaymentMethodError,
    WalletRefusedError,
)
from api_edge.idempotency import IdempotencyInProgressError, IdempotencyMismatchError

log = logging.getLogger(__name__)

PROBLEM_JSON: Final = "application/problem+json"
CORRELATION_HEADER: Final = "X-Correlation-ID"
PROBLEM_TYPE_BASE: Final = "urn:paystream:problem:"
# Accept a caller's correlation id only if it cannot smuggle anything into logs or headers.
_SAFE_CORRELATION_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def problem_type(slug: str) -> str:
    return f"{PROBLEM_TYPE_BASE}{slug}"


class FieldError(BaseModel):
    field: str = Field(description="Dotted path of the offending input, e.g. amount.currency")
    message: str


class Problem(BaseModel):
    """RFC 7807 problem details plus paystream's `errors` and `correlation_id` extensions."""

    model_config = ConfigDict(extra="forbid")

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[FieldError] | None = None
    correlation_id: str | None = None


class ProblemException(Exception):
    """Raise from a route to answer with a specific problem."""

    def __init__(
        self,
        status: int,
        title: str | None = None,
        detail: str | None = None,
        *,
        type: str = "about:blank",
        errors: Sequence[FieldError] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.status = status
        self.title = title or _phrase(status)
        self.detail = detail
        self.type = type
        self.errors = list(errors) if errors is not None else None
        self.headers = dict(headers or {})
        super().__init__(f"{status} {self.title}")


def correlation_id(request: Request) -> str:
    """The request's correlation id: set by middleware, else a safe client header, else new."""
    existing = getattr(request.state, "correlation_id", None)
    if isinstance(existing, str) and existing:
        return existing
    supplied = request.headers.get(CORRELATION_HEADER, "")
    value = supplied if _SAFE_CORRELATION_ID.match(supplied) else uuid.uuid4().hex
    request.state.correlation_id = value
    return value


def problem_response(request: Request, problem: ProblemException) -> JSONResponse:
    cid = correlation_id(request)
    body = Problem(
        type=problem.type,
        title=problem.title,
        status=problem.status,
        detail=problem.detail,
        instance=request.url.path,
        errors=problem.errors,
        correlation_id=cid,
    )
    return JSONResponse(
        body.model_dump(exclude_none=True),
        status_code=problem.status,
        media_type=PROBLEM_JSON,
        headers={**problem.headers, CORRELATION_HEADER: cid},
    )


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries documenting problem+json for these statuses."""
    return {
        status: {
            "description": _phrase(status),
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
            "model": Problem,
        }
        for status in statuses
    }


def field_errors(errors: Iterable[Mapping[str, Any]]) -> list[FieldError]:
    """pydantic/FastAPI error entries as dotted field paths with messages.

    Body fields are named from the document root (`amount.currency`); query, path, header
    and cookie parameters keep their location (`query.limit`) so nothing is ambiguous.
    The offending input is never echoed: it may be a card number or a secret.
    """
    result: list[FieldError] = []
    for error in errors:
        loc = [str(part) for part in error.get("loc", ())]
        if loc and loc[0] == "body":
            loc = loc[1:]
        path = ".".join(loc) or "body"
        result.append(FieldError(field=path, message=str(error.get("msg", "Invalid value"))))
    return result


def install_problem_handlers(app: FastAPI) -> None:
    """Answer every error of `app` with problem+json."""
    app.add_exception_handler(StarletteHTTPException, _http_exception)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(AuthError, _auth_error)  # type: ignore[arg-type]
    app.add_exception_handler(IssuerUnavailableError, _issuer_unavailable)  # type: ignore[arg-type]
    app.add_exception_handler(ProblemException, _problem_exception)  # type: ignore[arg-type]
    for refusal in (EdgeError, IdempotencyMismatchError, IdempotencyInProgressError):
        app.add_exception_handler(refusal, _refusal)
    app.add_exception_handler(Exception, _unhandled)


async def _http_exception(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    detail: str | None = exc.detail if isinstance(exc.detail, str) else None
    if detail == _phrase(exc.status_code):
        detail = None  # Starlette's default detail only repeats the title
    return problem_response(request, ProblemException(
        exc.status_code, detail=detail, headers=dict(exc.headers or {})))


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = field_errors(exc.errors())
    names = ", ".join(dict.fromkeys(error.field for error in errors))
    return problem_response(request, ProblemException(
        422,
        "Request validation failed",
        f"Invalid or missing: {names}." if names else "The request is invalid.",
        type=problem_type("validation-error"),
        errors=errors))


async def _auth_error(request: Request, exc: AuthError) -> JSONResponse:
    slug = exc.reason.replace("_", "-") if exc.reason else (
        "unauthorized" if exc.status == 401 else "forbidden"
    )
    headers = {"WWW-Authenticate": exc.www_authenticate} if exc.www_authenticate else {}
    return problem_response(request, ProblemException(
        exc.status, exc.title, exc.detail, type=problem_type(slug), headers=headers))


async def _issuer_unavailable(request: Request, exc: IssuerUnavailableError) -> JSONResponse:
    log.error("token issuer unavailable: %s", exc.detail)
    return problem_response(request, ProblemException(
        503,
        "Authentication temporarily unavailable",
        "The token issuer cannot be reached to verify credentials; retry shortly.",
        type=problem_type("issuer-unavailable"),
        headers={"Retry-After": "5"}))


async def _problem_exception(request: Request, exc: ProblemException) -> JSONResponse:
    return problem_response(request, exc)


async def _refusal(request: Request, exc: Exception) -> JSONResponse:
    return problem_response(request, problem_for(exc))


def problem_for(exc: Exception) -> ProblemException:
    """The one mapping of the edge's refusals (`api_edge.errors`) to problem details."""
    match exc:
        case OrderNotFoundError():
            return ProblemException(404, "Order not found",
                                    "There is no order with this id for you.",
                                    type=problem_type("order-not-found"))
        case OperationForbiddenError(reason=reason):
            return ProblemException(403, "Forbidden", f"Not allowed: {reason}.",
                                    type=problem_type("forbidden"))
        case PriceMismatchError(reason=reason):
            return ProblemException(
                422, "Amount does not match the order",
                f"The checkout amount must be the order's registered price: {reason}.",
                type=problem_type("amount-mismatch"),
                errors=[FieldError(field="amount", message="not the order's price")])
        case RateLimitedError(who=who, retry_after=retry_after):
            return ProblemException(
                429, "Too many requests",
                f"The request rate of this {who} is over its limit; retry later.",
                type=problem_type("rate-limited"), headers={"Retry-After": str(retry_after)})
        case OrderStateConflictError(reason=reason):
            return ProblemException(409, "Order state conflict", f"{reason}.",
                                    type=problem_type("order-state-conflict"))
        case DependencyUnavailableError(dependency=dependency):
            return ProblemException(
                503, "Service temporarily unavailable",
                f"The {dependency} cannot be reached right now; retry with the same "
                "Idempotency-Key.", type=problem_type("dependency-unavailable"),
                headers={"Retry-After": "1"})
        case UnknownPaymentMethodError():
            return ProblemException(
                422, "Unknown payment method",
                "payment_method_token is not a payment method in your wallet; list yours at "
                "GET /v1/wallet/methods or pay with a one-time nonce.",
                type=problem_type("unknown-payment-method"),
                errors=[FieldError(field="payment_method_token",
                                   message="not a payment method in your wallet")])
        case PaymentMethodTypeMismatchError(saved=saved, given=given):
            return ProblemException(
                422, "Payment method type mismatch",
                f"The saved method is a {saved}, not a {given}; omit payment_method_type "
                "for saved methods.", type=problem_type("payment-method-type-mismatch"),
                errors=[FieldError(field="payment_method_type",
                                   message=f"the saved method is a {saved}")])
        case PaymentMethodNotFoundError():
            return ProblemException(404, "Payment method not found",
                                    "There is no payment method with this token in your wallet.",
                                    type=problem_type("payment-method-not-found"))
        case WalletRefusedError(detail=detail, conflict=conflict, not_found=not_found):
            status = 404 if not_found else 409 if conflict else 422
            return ProblemException(status, "Wallet request refused",
                                    f"The wallet refused the request: {detail}",
                                    type=problem_type("wallet-refused"))
        case NothingToUpdateError():
            return ProblemException(422, "Nothing to update",
                                    "Give at least one of make_default, expiration_month, "
                                    "expiration_year, billing_postal_code.",
                                    type=problem_type("validation-error"))
        case IdempotencyMismatchError():
            return ProblemException(
                422, "Idempotency-Key reused",
                "This Idempotency-Key was already used for a different request; use a new "
                "key for a new operation.", type=problem_type("idempotency-key-reused"))
        case IdempotencyInProgressError():
            return ProblemException(
                409, "Request in progress",
                "A request with this Idempotency-Key is still being processed; retry shortly.",
                type=problem_type("idempotency-in-progress"), headers={"Retry-After": "1"})
    raise TypeError(f"not an edge refusal: {type(exc).__name__}") from exc


async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
    cid = correlation_id(request)
    # The traceback stays in the server log, keyed by correlation id; the client gets none.
    log.error(
        "unhandled error on %s %s (correlation_id=%s)", request.method, request.url.path, cid,
        exc_info=exc,
    )
    return problem_response(request, ProblemException(
        500,
        "Internal Server Error",
        f"An unexpected error occurred. Quote correlation id {cid} when reporting it.",
        type=problem_type("internal-error")))


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
